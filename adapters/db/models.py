"""Read-model schema. Cases and timelines are written only by the projection activities; the API
writes numbering, idempotency keys and staff; the calendar tables are admin data (T4).

Money is stored as integer fen (1 yuan = 100 fen) so that no float ever touches an amount.
"""

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, DateTime, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy import false as sa_false
from sqlalchemy import true as sa_true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Staff(Base):
    __tablename__ = "staff"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), index=True)
    display_name: Mapped[str] = mapped_column(String(128))
    # P7: the title people read beside the name ("张伟 · 工程部专人"); None: the role's, by department or
    # contractor (aftersales.org.default_title).
    title: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(256))
    department: Mapped[str | None] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # P1: the contractor a `contractor` account acts for (contractors.contractor_id).
    contractor_id: Mapped[str | None] = mapped_column(String(64))
    # Bumped by every change of the account (role, department, contractor, password, active): a token
    # carries the version it was issued for and is refused once the account has changed.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # P5: the account's scope: a project (its key, projects.key; company_id is then the project's company), a
    # company (company_id alone) or the group (neither).
    company_id: Mapped[str | None] = mapped_column(String(32), index=True)
    project: Mapped[str | None] = mapped_column(String(128))
    # P5 (E1, A1): the account's own group robot (WeCom / DingTalk webhook), beside its e-mail
    webhook_url: Mapped[str | None] = mapped_column(String(512))


class Company(Base):
    """P5: a city company (城市公司) of the group. `mailboxes` / `robots`: per role, the company's role mailbox
    and role robot, where a notice for the role goes when none of the company's accounts of the role can be
    reached (E1, A1, A2)."""

    __tablename__ = "companies"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    mailboxes: Mapped[dict] = mapped_column(JSON, default=dict)
    robots: Mapped[dict] = mapped_column(JSON, default=dict)


class Project(Base):
    """P5: a project (项目) and the company it belongs to; `key` as the property register compares project names
    (aftersales.properties.normalize_text), so the register's units and the cases find their project by it."""

    __tablename__ = "projects"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    company_id: Mapped[str] = mapped_column(String(32), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())


class Department(Base):
    """P7: the organisation's responsible departments (责任部门), the one list a case's department is chosen
    from (and a department account's)."""

    __tablename__ = "departments"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())


class CaseCategory(Base):
    """P7: the complaint categories (类别) a case is classified by, the one list intake and classify choose from."""

    __tablename__ = "case_categories"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())


class RepairTrade(Base):
    """P7, R1: the trades (工种) a repair names, the one list intake, open_repair and a revisit's points choose from."""

    __tablename__ = "repair_trades"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())


class StaffChange(Base):
    """P1: every change of a staff account, with who made it and when (never a password)."""

    __tablename__ = "staff_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    by: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(64), index=True)
    change: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict] = mapped_column(JSON)


class RevokedToken(Base):
    """P6: access tokens ended before their expiry (signed out). Every authenticated request reads the
    account and this table, so a sign-out ends the session at once in every API process; a row is kept
    until its token would have expired anyway."""

    __tablename__ = "revoked_tokens"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class StaffChangeRequest(Base):
    """P6: a change of an executive (deputy_gm, gm) or admin account, waiting for a second administrator's
    confirmation. `payload` is the change as sent (a new password only as its bcrypt hash)."""

    __tablename__ = "staff_change_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    by: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(64), index=True)
    change: Mapped[str] = mapped_column(String(32))          # create | update | password_reset
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | confirmed | withdrawn
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StaffNotice(Base):
    """P6: what the holder of an account is told of a change to it (who, when, what), read at
    GET /me/notices and on the workbench."""

    __tablename__ = "staff_notices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    username: Mapped[str] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(Text)


class PersonalDataAccess(Base):
    """P3: each showing of an owner's full phone number: who, when, which case, which endpoint."""

    __tablename__ = "personal_data_access"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(32))
    case_no: Mapped[str] = mapped_column(String(32), index=True)
    endpoint: Mapped[str] = mapped_column(String(128))


class CaseCounter(Base):
    """Unified numbering (C1): one counter per prefix and year; numbers are never reused."""

    __tablename__ = "case_counters"
    prefix: Mapped[str] = mapped_column(String(8), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class CaseNumber(Base):
    """Every number the counter hands out (C1: no silent gaps): `claimed` until its case is known to
    run in Temporal (`started`), or `void` (claimed, never started: the API died in between; marked
    by the worker's sweep) or `taken` (Temporal already held a case under it that this register did
    not know, e.g. after a restore from backups of different times), with the reason."""

    __tablename__ = "case_numbers"
    __table_args__ = (Index("ix_case_numbers_state_claimed_at", "state", "claimed_at"),)
    case_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    case_no: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# The register (GET /cases, newest first; aftersales/db/register.py): one index per filter, its column
# then the sort key, so a page is an index walk in order; then the common second filters, so that a
# combination (project + status, department + overdue …) is checked inside the index and a total is
# counted from the index alone, without reading the rows.
REGISTER_SORT_KEY = ("received_at", "case_no")
REGISTER_FILTERS = ("case_type", "status", "department", "project", "overdue", "escalation_level", "handler", "unit",
                    "company_id", "project_key")
# The scope's columns last (P5): a company's or a project's register is checked inside whichever index walks.
REGISTER_SECOND = ("case_type", "status", "department", "overdue", "project", "company_id", "project_key")


WAITING_COLUMNS = ("next_roles", "next_user", "department", "contractor_id", "project", "case_type", "company_id",
                   "project_key")


def _register_index(column: str | None) -> Index:
    second = (c for c in REGISTER_SECOND if c != column)
    if column is None:
        return Index("ix_cases_received", *REGISTER_SORT_KEY, *second)
    return Index(f"ix_cases_{column}_received", column, *REGISTER_SORT_KEY, *second)


class Case(Base):
    """One row per case (the register, 来电、来访登记表), upserted by projection with a monotonic seq."""

    __tablename__ = "cases"
    __table_args__ = (*(_register_index(column) for column in (None, *REGISTER_FILTERS)),
                      Index("ix_cases_project_building_key", "project", "building_key", "received_at"),
                      # 我的待办 (register.waiting_for_clause): the open cases only, newest first, with what the
                      # clause and a scope (P5) check inside the index — a few thousand entries of a million
                      Index("ix_cases_waiting", *REGISTER_SORT_KEY, *WAITING_COLUMNS,
                            sqlite_where=text("next_roles <> ''"), postgresql_where=text("next_roles <> ''")),
                      # ... and a department's (dept_head, dept_handler): else their department's whole register
                      Index("ix_cases_waiting_department", "department", *REGISTER_SORT_KEY,
                            *(c for c in WAITING_COLUMNS if c != "department"),
                            sqlite_where=text("next_roles <> ''"), postgresql_where=text("next_roles <> ''")),
                      # ... and a company's (P5): SQLite takes an index whose leading column the query narrows by, so a
                      # company's account walked its company's whole register (50,000 cases at a million) for the few
                      # dozen open cases waiting for a cs_manager; here it is the company's few hundred open cases
                      Index("ix_cases_waiting_company", "company_id", *REGISTER_SORT_KEY,
                            *(c for c in WAITING_COLUMNS if c != "company_id"),
                            sqlite_where=text("next_roles <> ''"), postgresql_where=text("next_roles <> ''")),
                      # The register's overdue=yes (E1: the cases past a deadline, a thousand of a million): the
                      # overdue index again over those cases only. SQLite's statistics know `overdue` by its average
                      # (half the register a value), so for "overdue + closed" it walked the status index through
                      # every closed case of the group; this index has the same leading term and a thousandth of the
                      # entries, so the planner takes it for any overdue=yes filter (the value is a bound parameter:
                      # SQLite plans again with it, as a partial index needs; overdue=no keeps the full index).
                      Index("ix_cases_overdue_yes", "overdue", *REGISTER_SORT_KEY,
                            *(c for c in REGISTER_SECOND if c != "overdue"),
                            sqlite_where=text("overdue = 1"), postgresql_where=text("overdue")))
    case_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(64))
    project: Mapped[str] = mapped_column(String(128))
    building: Mapped[str | None] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(64))
    # The registered unit (property register) the address was matched to; None: free text, unmatched.
    unit_id: Mapped[int | None] = mapped_column(Integer)
    # The building as C11 compares it ("5栋" and "5号楼" are one: aftersales.properties.normalize_building).
    building_key: Mapped[str | None] = mapped_column(String(64))
    department: Mapped[str | None] = mapped_column(String(64))
    handler: Mapped[str | None] = mapped_column(String(64))
    major: Mapped[bool] = mapped_column(Boolean, default=False)
    justified: Mapped[bool | None] = mapped_column(Boolean)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    customer_name: Mapped[str] = mapped_column(String(128))
    customer_phone_masked: Mapped[str] = mapped_column(String(32))
    customer_phone_hmac: Mapped[str | None] = mapped_column(String(40), index=True)  # look-up by phone
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(32))
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    linked_case_no: Mapped[str | None] = mapped_column(String(32))
    # P5: the case's project (its key) and company; who sees the case is decided within them
    # (adapters.db.visibility). None: a project no company holds (seen by the group's accounts only).
    company_id: Mapped[str | None] = mapped_column(String(32))
    project_key: Mapped[str | None] = mapped_column(String(128))
    # P2 (aftersales.access.visible_cases_clause): the contractor a repair's survey names, and the roles
    # of access.SEES_REACHED the case has reached, stored as ",finance,auditor," for a LIKE match.
    contractor_id: Mapped[str | None] = mapped_column(String(64), index=True)
    reached_roles: Mapped[str] = mapped_column(String(255), default="", server_default="")
    # who acts next ("|cs_staff|butler|", matched with LIKE) and the named person (the handler).
    next_roles: Mapped[str] = mapped_column(String(255), default="", server_default="")
    next_user: Mapped[str | None] = mapped_column(String(64), index=True)
    compensation_fen: Mapped[int | None] = mapped_column(BigInteger, doc="a complaint's compensation (A1)")
    compensation_paid: Mapped[bool | None] = mapped_column(Boolean, doc="finance recorded it as paid")
    paid_service: Mapped[bool] = mapped_column(Boolean, default=False, doc="an owner-paid repair (R3)")
    service_fee_fen: Mapped[int | None] = mapped_column(BigInteger, doc="R3: the quote's total")
    service_paid_fen: Mapped[int | None] = mapped_column(BigInteger, doc="R3: what the owner paid")
    # a repair's facts for the reports (K2, K3): rounds of work (2+ = reworked after a
    # revisit, R7), passed at its first inspection (R6), arrivals and those on time (R1), revisits (V3)
    work_rounds: Mapped[int | None] = mapped_column(Integer)
    first_pass: Mapped[bool | None] = mapped_column(Boolean)
    arrivals: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    arrivals_on_time: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    revisits: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # O4: who gave the satisfaction and the (latest) sign-off — "owner" themselves or "staff" (代录; every such fact
    # of a case opened before rules 4) — and the owner's answers to more time asked (R8), by who gave them
    satisfaction_by: Mapped[str | None] = mapped_column(String(8))
    sign_off_by: Mapped[str | None] = mapped_column(String(8))
    consents_owner: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    consents_owner_yes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    consents_staff: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    consents_staff_yes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    seq: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The case as last seen, for GET /cases/{no} once Temporal no longer keeps it: written when the case
    # closes, without its timeline (read from case_timeline); null while the case is open.
    view: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))


class TimelineEntry(Base):
    __tablename__ = "case_timeline"
    case_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    # O4: how the owner gave the fact (aftersales.provenance.Provenance as JSON); null for staff's own work
    provenance: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))


class RegisterStatus(Base):
    """C1: the register's own state, one row (id 1): `ok`; `behind` (it lacks cases Temporal holds: found empty
    while Temporal holds cases); `rebuilding` (`make rebuild-register` under way or interrupted: it resumes after
    `last_case_no`). The API refuses intakes unless ok (a retried intake's key may be among the cases missing)."""
    __tablename__ = "register_status"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_case_no: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CaseFile(Base):
    """D3: a file a case references (its timeline entry's FileRef), as the projection writes it: what the API
    serves a file by (after P2's check on the case), what the orphan sweep keeps, what a case's deletion (D4)
    removes. The bytes are in the blob store under `sha256` (and the thumbnail under `thumb`)."""
    __tablename__ = "case_files"
    case_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    file_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    thumb: Mapped[str | None] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    step: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(32))
    for_owner: Mapped[bool] = mapped_column(Boolean, default=False)
    shows_person: Mapped[bool] = mapped_column(Boolean, default=False)
    added_by: Mapped[str] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(32))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # O4: "owner" (the owner added it on their own pages) or "staff" (a staff member's upload)
    provenance: Mapped[str] = mapped_column(String(8), default="staff", server_default="staff")


class CaseDeadline(Base):
    """Each deadline of a case as last projected: the on-time rate per rule is counted here."""
    __tablename__ = "case_deadlines"
    case_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    rule: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    met_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    missed: Mapped[bool] = mapped_column(Boolean, default=False)
    waived: Mapped[bool] = mapped_column(Boolean, default=False)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    # E4 (rules 5): a deadline that does not escalate (a progress note, C5, R1/S3) is reminded of by the
    # register (activities/reminders.py), not by its case: to whom (roles, comma-separated; the department
    # for department roles), and when the next reminder is due (null: at due_at; reset when due_at moves).
    reminds: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    owners: Mapped[str] = mapped_column(String(128), default="", server_default="")
    department: Mapped[str | None] = mapped_column(String(64))
    next_remind_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reminded_by: Mapped[str | None] = mapped_column(String(128))  # the sweep that sent the last one (its retry resends)
    __table_args__ = (Index("ix_case_deadlines_rule_due", "rule", "due_at"),
                      Index("ix_case_deadlines_reminding", "reminds", "met_at", "waived", "due_at"))


class CalendarYear(Base):
    """A year whose holiday data is present (T4); years absent here run on the fallback."""

    __tablename__ = "calendar_years"
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CalendarDay(Base):
    """A statutory holiday (kind=holiday) or a make-up working day (kind=workday, 调休)."""

    __tablename__ = "calendar_days"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(64))


class NotificationDelivery(Base):
    """One row per notification, channel and recipient delivered, so a retried activity never
    sends the same message twice (E3)."""

    __tablename__ = "notification_deliveries"
    notification_id: Mapped[str] = mapped_column(String(96), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(512), primary_key=True)
    case_no: Mapped[str] = mapped_column(String(32), index=True)
    delivered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class NotificationSending(Base):
    """A delivery under way (E3): taken by one attempt right before it hands the message to the mail server
    or the robot, replaced by its notification_deliveries row once the server said yes (250, 2xx), dropped
    when it said no. While it is held no other attempt sends to that recipient (a deadline's in-task try cut
    by its bound finishes its transaction while the activity that follows it runs, perhaps on another
    worker); one older than the lease (activities/notify.py `sending_lease`) is an attempt whose worker died,
    and is taken over: at least once rather than dropped."""

    __tablename__ = "notification_sending"
    notification_id: Mapped[str] = mapped_column(String(96), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(512), primary_key=True)
    token: Mapped[str] = mapped_column(String(32))  # the attempt holding it
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Contractor(Base):
    """A contractor; its quality deposit is the sum of its deposit_entries (A3)."""

    __tablename__ = "contractors"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))


class DepositEntry(Base):
    """Quality-deposit ledger (A3): lodged, top_up, adjustment (an administrator's, who and why) or
    deduction (a type-A settlement: what the deposit covered, the rest as shortfall_fen). entry_key makes
    each entry happen exactly once; entries are never changed."""

    __tablename__ = "deposit_entries"
    __table_args__ = (UniqueConstraint("entry_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contractor_id: Mapped[str] = mapped_column(String(64), index=True)
    entry_key: Mapped[str] = mapped_column(String(96))
    case_no: Mapped[str | None] = mapped_column(String(32))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(16), server_default="deduction")
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    shortfall_fen: Mapped[int] = mapped_column(BigInteger, server_default="0", default=0)


class WorkerEvaluation(Base):
    """R9: one evaluation of one worker (an owner's sign-off or a revisit; `parts` 2 for a combined
    sign-off + revisit of the first release), never written over."""

    __tablename__ = "worker_evaluations"
    __table_args__ = (UniqueConstraint("evaluation_key", "worker"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    evaluation_key: Mapped[str] = mapped_column(String(96))
    worker: Mapped[str] = mapped_column(String(64))
    case_no: Mapped[str] = mapped_column(String(32), index=True)
    quarter: Mapped[str] = mapped_column(String(8), index=True)
    source: Mapped[str] = mapped_column(String(16))
    parts: Mapped[int] = mapped_column(Integer)
    quality: Mapped[int] = mapped_column(Integer)
    attitude: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StoredReport(Base):
    """A report as generated (K1–K3): its figures, definitions and targets, kept for good."""

    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_kind_period", "kind", "period", "generated_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(16))
    generated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    generated_by: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(JSON)


class ReportReview(Base):
    """K1: a scheduled report's review (the monthly complaint statistics by `gm`), written by its
    workflow (seq only grows): due time, escalation level (E1), who reviewed when, with what comment."""

    __tablename__ = "report_reviews"
    report_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(64))
    reviewer: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    escalation_level: Mapped[int] = mapped_column(Integer)
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    comment: Mapped[str | None] = mapped_column(Text)
    seq: Mapped[int] = mapped_column(Integer)


class CampaignProposal(Base):
    """V1/V2: a campaign proposed to `cs_manager` by the scheduled check, once per project (V1) or once
    per project and year (V2; year 0 for V1)."""

    __tablename__ = "campaign_proposals"
    project_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(String(128))
    proposed_on: Mapped[date] = mapped_column(Date)
    facts: Mapped[dict] = mapped_column(JSON)


class PropertyUnit(Base):
    """The property register (房产台账): one row per unit of a project's building, with its sold and
    occupied flags, handover date and owner. The owner's phone is personal data (P3/P4): kept masked
    for display and sealed (AES-256-GCM, the codec's keys) for the staff who call owners."""

    __tablename__ = "property_units"
    # the pickers' projects and buildings (P7) as an index walk, not a read of every unit
    __table_args__ = (UniqueConstraint("project_key", "building_key", "unit_key", name="uq_property_unit"),
                      Index("ix_property_units_project_building", "project", "building"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(128))
    building: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(64))
    project_key: Mapped[str] = mapped_column(String(128), index=True)
    building_key: Mapped[str] = mapped_column(String(64))
    unit_key: Mapped[str] = mapped_column(String(64))
    sold: Mapped[bool] = mapped_column(Boolean, default=False)
    occupied: Mapped[bool] = mapped_column(Boolean, default=False)
    handover_date: Mapped[date | None] = mapped_column(Date)
    owner_name: Mapped[str | None] = mapped_column(String(64))
    owner_phone_masked: Mapped[str | None] = mapped_column(String(32))
    owner_phone_sealed: Mapped[str | None] = mapped_column(Text)
    # O1: the keyed hash of the owner's phone (privacy.phone_lookup_hash): an owner signs in by it
    owner_phone_hmac: Mapped[str | None] = mapped_column(String(40), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(64))


class PropertyImport(Base):
    """Who imported which file when, and what it changed (the register's own audit trail)."""

    __tablename__ = "property_imports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    filename: Mapped[str] = mapped_column(String(256))
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)


class CampaignRow(Base):
    """A revisit campaign's progress (V1–V3), written by its workflow's projection (seq only grows)."""

    __tablename__ = "campaigns"
    campaign_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    planned: Mapped[int] = mapped_column(Integer)
    visited: Mapped[int] = mapped_column(Integer)
    escalation_level: Mapped[int] = mapped_column(Integer)
    summary: Mapped[dict] = mapped_column(JSON)
    seq: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CampaignHousehold(Base):
    """A household in a campaign's plan (V1: every occupied one; V2: the sample)."""

    __tablename__ = "campaign_households"
    campaign_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    building: Mapped[str] = mapped_column(String(64))


class CampaignVisit(Base):
    """One visit's survey form (V3), written once per (campaign, visit number)."""

    __tablename__ = "campaign_visits"
    campaign_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    visit_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(Integer, index=True)
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    form: Mapped[dict] = mapped_column(JSON)
class FeeScheduleVersion(Base):
    """One version of the paid-service fee schedule (有偿服务收费标准, R3); never changed once written."""

    __tablename__ = "fee_schedule_versions"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)


class FeeScheduleItem(Base):
    """An item of one fee-schedule version: name, unit and unit price (fen)."""

    __tablename__ = "fee_schedule_items"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(128))
    unit: Mapped[str] = mapped_column(String(16))
    unit_price_fen: Mapped[int] = mapped_column(BigInteger)


# ---- the owner's own channel (O1, O5) -------------------------------------------------------------------
class OwnerCode(Base):
    """O1: a one-time sign-in code asked for a number: kept hashed (keyed by the number's hash), with its tries.
    A row is written for an unknown number too (no SMS goes out), so the limits answer alike."""

    __tablename__ = "owner_codes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    phone_hmac: Mapped[str] = mapped_column(String(40), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    tries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OwnerSession(Base):
    """O1: an owner signed in: the cookie's token kept as its SHA-256 (`id`), revocable. A link's session is
    limited to its one case and purpose."""

    __tablename__ = "owner_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    phone_hmac: Mapped[str] = mapped_column(String(40), index=True)
    means: Mapped[str] = mapped_column(String(8))
    case_no: Mapped[str | None] = mapped_column(String(32))
    purpose: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OwnerLink(Base):
    """O1: a link sent by SMS for one case and one purpose, valid 7 days, used once; the URL carries its id and a
    signature of it, nothing else."""

    __tablename__ = "owner_links"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_no: Mapped[str] = mapped_column(String(32), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    phone_hmac: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OwnerPreference(Base):
    """O5: an owner stopped the SMS they may stop (all but sign-off and survey)."""

    __tablename__ = "owner_preferences"
    phone_hmac: Mapped[str] = mapped_column(String(40), primary_key=True)
    sms_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SmsMessage(Base):
    """O5: every SMS to an owner, the outbox the dispatcher sends from (adapters/sms): the number sealed and
    masked, never in clear; a sign-in code never stored (its text kept with the code blanked). `dedupe_key`
    makes a case's SMS for one timeline entry happen once. Status: queued, held (quiet hours or the day's cap),
    sent, undeliverable (E3), opted_out, throttled (the case's cap of the day)."""

    __tablename__ = "sms_messages"
    __table_args__ = (UniqueConstraint("dedupe_key"), Index("ix_sms_messages_due", "status", "send_at"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(96))
    kind: Mapped[str] = mapped_column(String(16))
    case_no: Mapped[str | None] = mapped_column(String(32), index=True)
    phone_hmac: Mapped[str] = mapped_column(String(40), index=True)
    phone_masked: Mapped[str] = mapped_column(String(32))
    phone_sealed: Mapped[str] = mapped_column(Text)
    params: Mapped[dict] = mapped_column(JSON)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    send_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str | None] = mapped_column(String(16))
    provider_ref: Mapped[str | None] = mapped_column(String(128))

"""The register's and 我的待办's query plans on SQLite for a group's scoped accounts (P5), on a generated group as the
million-case benchmark writes it (benchmarks.group_data: bulk load, then the planner statistics every start
gathers). Each statement the route runs (the page and its total) must walk an index that holds only what can match:

- a company's 我的待办 (cs_manager: a few dozen of its few hundred open cases): the company's open cases
  (ix_cases_waiting_company), not the company's whole register newest first (ix_cases_company_id_received);
- the register filtered by overdue=yes (E1) and closed, for a company or the whole group: the overdue cases only
  (ix_cases_overdue_yes), not every closed case of the group (ix_cases_status_received) or of the company.

Plans, not timings: a plan is the same on a busy machine; at a million cases the walks named above are what made
these pages 100–200 ms (docs/benchmarks.md)."""

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from adapters.db.session import make_engine, make_sessionmaker
from aftersales.actor import Actor
from aftersales.roles import Role
from api import cases as case_routes
from benchmarks.group_data import generate, make_group

COMPANY = "co00"


@pytest.fixture(scope="module")
def group_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("plans") / "group.db"
    generate(f"sqlite+aiosqlite:///{path}", make_group(20, 40, 4000), 20_000, "plans")
    yield path


async def route_statements(path: Path, actor: Actor, **params) -> tuple[list[tuple[str, tuple]], int]:
    """The SELECTs on `cases` that GET /cases runs for `actor` (as the workbench's pages call it), and its total."""
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    seen: list[tuple[str, tuple]] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _capture(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM cases" in statement:
            seen.append((statement, tuple(parameters)))

    try:
        async with make_sessionmaker(engine)() as session:
            page = await case_routes.list_cases(actor, session, **params)
    finally:
        await engine.dispose()
    return seen, page.total


def plans(path: Path, statements: list[tuple[str, tuple]]) -> list[str]:
    """Each statement's plan with its parameters bound, as it runs (SQLite plans again once a value it can use
    for a partial index is bound)."""
    db = sqlite3.connect(path)
    try:
        return [" | ".join(str(r[-1]) for r in db.execute("EXPLAIN QUERY PLAN " + sql, args).fetchall())
                for sql, args in statements]
    finally:
        db.close()


def count(path: Path, where: str, args: tuple) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute(f"SELECT count(*) FROM cases WHERE {where}", args).fetchone()[0]
    finally:
        db.close()


async def test_a_companys_my_work_walks_the_companys_open_cases(group_db: Path) -> None:
    manager = Actor(username="c.manager", role=Role.cs_manager, company_id=COMPANY)
    statements, total = await route_statements(group_db, manager, mine=True, page_size=100)
    assert len(statements) == 2  # the total and the page
    for plan in plans(group_db, statements):
        assert "USING COVERING INDEX ix_cases_waiting_company (company_id=?)" in plan \
            or "USING INDEX ix_cases_waiting_company (company_id=?)" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    assert total == count(group_db, "company_id = ? AND next_roles LIKE '%|cs_manager|%'", (COMPANY,)) > 0


@pytest.mark.parametrize("actor", [Actor(username="c.staff", role=Role.cs_staff, company_id=COMPANY),
                                   Actor(username="g.gm", role=Role.gm)], ids=["company", "group"])
async def test_the_register_filtered_by_overdue_walks_the_overdue_cases(group_db: Path, actor: Actor) -> None:
    for status, scope in (("closed", "status = 'closed'"), (None, "1")):
        statements, total = await route_statements(group_db, actor, overdue=True, status_=status, page_size=20)
        assert len(statements) == 2
        for plan in plans(group_db, statements):
            assert "INDEX ix_cases_overdue_yes (overdue=?)" in plan, (status, plan)
            assert "TEMP B-TREE" not in plan, plan
        where = f"overdue = 1 AND {scope}" + (" AND company_id = ?" if actor.company_id else "")
        assert total == count(group_db, where, (actor.company_id,) if actor.company_id else ())
    # overdue=no is most of the register: the partial index cannot serve it, the full one still does
    statements, _ = await route_statements(group_db, actor, overdue=False, page_size=20)
    assert not any("ix_cases_overdue_yes" in plan for plan in plans(group_db, statements))

"""Photos and documents as pure rules (D1–D3): a file's reference on a step, who adds it, 20 a step, and
D2's checks — a photo after the work before `complete_work`, the signed cost statement before a type-A
deduction — as configuration, from rules 2 on."""

import hashlib
from datetime import timedelta
from decimal import Decimal
from itertools import count

import pytest

from aftersales import actions as A
from aftersales.case import Ctx
from aftersales.files import FILES_PER_STEP, FileKind, FileRef, FileRules, FileStep
from aftersales.repair.state import DepositDeduction, RepairStatus
from aftersales.roles import Role
from aftersales.views import case_view
from tests.rules.driver import LADDER
from tests.rules.test_repair_machine import Run, pay

R = Role
ON = FileRules(after_work_photo=True, signed_cost_statement=True)
_ids = count(1)


def ref(step: FileStep = FileStep.after_work, kind: FileKind = FileKind.photo, **kw) -> FileRef:
    n = next(_ids)
    return FileRef(id=f"f{n:016x}", sha256=hashlib.sha256(str(n).encode()).hexdigest(), kind=kind, step=step,
                   size=123_456, content_type="image/jpeg" if kind == FileKind.photo else "application/pdf", **kw)


def attach(f: FileRef) -> A.AttachFile:
    return A.AttachFile(action="attach_file", file=f)


class D2Run(Run):
    """A repair whose configuration turns D2 on (as the settings do by default)."""
    rules = ON

    def ctx(self, action=None) -> Ctx:
        c = super().ctx(action)
        c.file_rules = self.rules
        return c


class D2RunV1(D2Run):
    rules_version = 1


def test_D1_a_file_reference_is_on_the_timeline_and_the_view_with_who_and_when():
    r = Run()
    f = ref(FileStep.intake)
    r.do(R.hotline, attach(f))
    [entry] = [t for t in r.s.timeline if t.kind == "file"]
    assert entry.file.id == f.id and entry.file.by == "hotline" and entry.file.role == R.hotline
    assert entry.file.at == entry.at and "受理" in entry.text and f.id in entry.text
    view = case_view(r.s, r.now, LADDER)
    assert [x["sha256"] for x in view["files"]] == [f.sha256]
    # entries without a file dump as before (no "file": null in every entry)
    assert "file" not in r.s.timeline[0].model_dump()


def test_D1_who_adds_a_file_to_which_step():
    r = Run()
    assert r.refused(R.finance, attach(ref(FileStep.after_work))).kind == "forbidden"
    assert r.refused(R.hotline, attach(ref(FileStep.cost_statement, FileKind.signed))).kind == "forbidden"
    r.do(R.repair_lead, attach(ref(FileStep.before_work)))
    r.do(R.finance, attach(ref(FileStep.receipt, FileKind.document)))


def test_D1_P1_a_contractor_adds_files_only_to_its_own_work():
    r = Run().dispatched(order_type="A", contractor_id="C-042", estimate="800", to_contractor=True)
    from tests.rules.driver import who
    other = who(R.contractor, "c2", contractor_id="C-099")
    assert r.refused(other, attach(ref())).kind == "forbidden"
    r.do(R.contractor, attach(ref()))   # bound to C-042 by the driver


def test_D1_at_most_20_files_a_step_and_each_file_once():
    r = Run()
    for _ in range(FILES_PER_STEP):
        r.do(R.repair_lead, attach(ref(FileStep.before_work)))
    refusal = r.refused(R.repair_lead, attach(ref(FileStep.before_work)))
    assert refusal.kind == "invalid" and "20" in refusal.message
    r.do(R.repair_lead, attach(ref(FileStep.after_work)))   # another step has room
    again = r.s.files[0]
    assert r.refused(R.repair_lead, attach(again.model_copy(update={"by": "", "role": None, "at": None}))).kind == "conflict"


def test_D1_a_complaint_has_no_work_steps():
    from tests.rules.test_complaint_machine import Run as ComplaintRun
    c = ComplaintRun()
    assert c.refused(R.cs_staff, attach(ref(FileStep.after_work))).kind == "invalid"
    c.do(R.cs_staff, attach(ref(FileStep.intake)))


def test_D2_complete_work_needs_a_photo_after_the_work():
    r = D2Run().dispatched()
    done = A.CompleteWork(action="complete_work", note="换了水管")
    refusal = r.refused(R.repair_lead, done)
    assert refusal.kind == "conflict" and "施工后" in refusal.message and "D2" in refusal.message
    r.do(R.repair_lead, attach(ref(FileStep.before_work)))              # before the work: not enough
    assert r.refused(R.repair_lead, done).kind == "conflict"
    r.do(R.repair_lead, attach(ref(FileStep.after_work, FileKind.document)))  # a document is not a photo
    assert r.refused(R.repair_lead, done).kind == "conflict"
    r.do(R.repair_lead, attach(ref(FileStep.after_work)))
    r.do(R.repair_lead, done)
    assert r.s.status == RepairStatus.awaiting_inspection


def test_D2_a_reopened_repair_needs_a_new_photo_of_its_new_round():
    r = D2Run().dispatched()
    r.do(R.repair_lead, attach(ref())).do(R.repair_lead, A.CompleteWork(action="complete_work", note="ok"))
    r.do(R.cs_staff, A.Inspect(action="inspect", passed=True)).do(R.repair_lead, A.Inspect(action="inspect", passed=True))
    r.do(R.butler, A.OwnerSignOff(action="owner_sign_off", told_via="phone", quality=2, attitude=2))
    r.now += timedelta(hours=1)
    r.do(R.cs_staff, A.Revisit(action="revisit", told_via="phone", satisfaction=1, quality=1, attitude=1, follow_up="reopen"))
    assert r.s.status == RepairStatus.in_progress
    done = A.CompleteWork(action="complete_work", note="返修完成")
    assert r.refused(R.repair_lead, done).kind == "conflict"
    r.now += timedelta(hours=1)
    r.do(R.repair_lead, attach(ref())).do(R.repair_lead, done)


class D2Off(D2Run):
    rules = FileRules(after_work_photo=False, signed_cost_statement=False)


def test_D2_is_configuration_off_means_no_check():
    r = D2Off().dispatched(order_type="A", contractor_id="C-042", estimate="800", to_contractor=True)
    r.do(R.contractor, A.CompleteWork(action="complete_work", note="ok"))
    assert r.s.status == RepairStatus.awaiting_inspection


def test_D2_a_case_opened_under_rules_1_is_not_checked():
    r = D2RunV1().dispatched()
    r.do(R.repair_lead, A.CompleteWork(action="complete_work", note="ok"))
    assert r.s.status == RepairStatus.awaiting_inspection


def settled_type_a(run: type[Run] = D2Run) -> Run:
    r = run().dispatched(order_type="A", contractor_id="C-042", estimate="800", to_contractor=True)
    r.do(R.contractor, attach(ref())).do(R.contractor, A.CompleteWork(action="complete_work", note="ok"))
    r.do(R.cs_staff, A.Inspect(action="inspect", passed=True)).do(R.repair_lead, A.Inspect(action="inspect", passed=True))
    r.do(R.butler, A.OwnerSignOff(action="owner_sign_off", told_via="phone", quality=5, attitude=5))
    r.do(R.cs_staff, A.Revisit(action="revisit", told_via="phone", satisfaction=5, quality=5, attitude=5))
    r.do(R.repair_lead, A.CostStatement(action="cost_statement", amount=Decimal("1200"), note="决算"))
    return r.approve_all()


def test_D2_A3_a_type_A_deduction_needs_the_signed_cost_statement():
    r = settled_type_a()
    refusal = r.refused(R.finance, pay("1200"))
    assert refusal.kind == "conflict" and "决算书" in refusal.message
    r.do(R.repair_lead, attach(ref(FileStep.cost_statement, FileKind.document)))   # unsigned: not enough
    assert r.refused(R.finance, pay("1200")).kind == "conflict"
    r.do(R.repair_lead, attach(ref(FileStep.cost_statement, FileKind.signed)))
    r.do(R.finance, pay("1200"))
    assert len(r.of(DepositDeduction)) == 1 and r.s.status == RepairStatus.closed


def test_D2_type_B_is_paid_without_a_cost_statement_file():
    r = D2Run().dispatched()
    r.do(R.repair_lead, attach(ref())).do(R.repair_lead, A.CompleteWork(action="complete_work", note="ok"))
    r.do(R.cs_staff, A.Inspect(action="inspect", passed=True)).do(R.repair_lead, A.Inspect(action="inspect", passed=True))
    r.do(R.butler, A.OwnerSignOff(action="owner_sign_off", told_via="phone", quality=5, attitude=5))
    r.do(R.cs_staff, A.Revisit(action="revisit", told_via="phone", satisfaction=5, quality=5, attitude=5))
    r.do(R.repair_lead, A.CostStatement(action="cost_statement", amount=Decimal("300"), note="决算")).approve_all()
    r.do(R.finance, pay("300"))
    assert r.s.status == RepairStatus.closed


@pytest.mark.parametrize("kind, shows_person, recorded", [
    (FileKind.signed, False, True), (FileKind.photo, True, True), (FileKind.photo, False, False),
    (FileKind.document, False, False)])
def test_P3_downloads_of_a_signature_or_a_person_are_recorded(kind, shows_person, recorded):
    assert ref(kind=kind, shows_person=shows_person).recorded_download is recorded


# ---- several files in one request; the owner's own photos (D1, O2, O3, O4) ---------------------------------
def attach_all(*refs: FileRef, provenance=None) -> "A.AttachFiles":
    return A.AttachFiles(action="attach_files", files=list(refs), provenance=provenance)


def test_D1_several_files_in_one_action_are_added_together_or_not_at_all():
    r = Run()
    first, second, third = (ref(FileStep.before_work) for _ in range(3))
    r.do(R.repair_lead, attach_all(first, second, third))
    assert [f.id for f in r.s.files] == [first.id, second.id, third.id]
    assert all(f.by == "repair_lead" and f.at == r.now for f in r.s.files)
    before = len(r.s.timeline)
    # one already on the case: the whole action refused, the new one not added either
    fresh = ref(FileStep.before_work)
    assert r.refused(R.repair_lead, attach_all(fresh, first.model_copy(update={"by": ""}))).kind == "conflict"
    # the same file twice in one action
    assert r.refused(R.repair_lead, attach_all(fresh, fresh)).kind == "invalid"
    # more than the step has room for: refused whole, naming the limit
    for _ in range(FILES_PER_STEP - 3 - 1):
        r.do(R.repair_lead, attach(ref(FileStep.before_work)))
    refusal = r.refused(R.repair_lead, attach_all(ref(FileStep.before_work), ref(FileStep.before_work)))
    assert refusal.kind == "invalid" and "20" in refusal.message and "1" in refusal.message
    # a step the role may not add to, among others it may: refused whole
    assert r.refused(R.repair_lead, attach_all(ref(FileStep.after_work), ref(FileStep.receipt))).kind == "forbidden"
    assert len(r.s.timeline) == before + FILES_PER_STEP - 4
    r.do(R.repair_lead, attach_all(ref(FileStep.before_work)))
    assert len(r.s.files) == FILES_PER_STEP


def test_O3_O4_an_owners_photos_go_to_the_intake_step_with_the_owners_provenance():
    from aftersales.provenance import Means, Provenance
    from tests.rules.driver import who
    r = Run()
    given = Provenance.by_owner(Means.code, r.now)
    owner_app = who(R.hotline, "owner_app")
    photo = ref(FileStep.intake, for_owner=True)
    r.do(owner_app, attach_all(photo, provenance=given))
    [entry] = [t for t in r.s.timeline if t.kind == "file"]
    assert entry.provenance == given and entry.file.by == "owner_app"
    assert "业主" in entry.text   # the timeline says the owner added it


@pytest.mark.parametrize("step, role, for_owner", [
    (FileStep.intake, R.hotline, True), (FileStep.before_work, R.repair_lead, True),
    (FileStep.after_work, R.contractor, True), (FileStep.inspection, R.cs_staff, True),
    (FileStep.repair_slip, R.butler, True), (FileStep.quote, R.cs_staff, True),
    (FileStep.receipt, R.cs_staff, True),          # the owner's own payment for a paid service (R3)
    (FileStep.receipt, R.finance, False),          # the company's payment to a contractor (A3): company costs
    (FileStep.survey, R.repair_lead, False), (FileStep.cost_statement, R.repair_lead, False)])
def test_O2_which_files_are_meant_for_the_owner_by_default(step, role, for_owner):
    from aftersales.files import default_for_owner
    assert default_for_owner(step, role) is for_owner


def test_O2_the_owner_never_sees_the_internal_steps_whatever_the_flag():
    from aftersales.files import owner_sees
    assert owner_sees(ref(FileStep.after_work, for_owner=True))
    assert not owner_sees(ref(FileStep.after_work, for_owner=False))     # staff chose to keep it internal
    for step in (FileStep.survey, FileStep.cost_statement):             # survey notes, company costs (O2)
        assert not owner_sees(ref(step, FileKind.signed if step == FileStep.cost_statement else FileKind.photo,
                                  for_owner=True))


def test_D3_an_uploads_reference_packs_to_about_a_hundred_bytes_and_back():
    import hashlib
    import json

    from aftersales.actions import AddFiles
    from aftersales.files import FileKind, FileRef, FileStep, file_id, pack

    sha, thumb = hashlib.sha256(b"a").hexdigest(), hashlib.sha256(b"b").hexdigest()
    ref = FileRef(id=file_id("WX-2026-000001", FileStep.after_work, sha), sha256=sha, kind=FileKind.photo,
                  step=FileStep.after_work, size=2_345_678, content_type="image/png", thumb=thumb, for_owner=True)
    pdf = ref.model_copy(update={"content_type": "application/pdf", "thumb": None, "sha256": thumb,
                                 "id": file_id("WX-2026-000001", FileStep.after_work, thumb)})
    a = AddFiles(action="add_files", step=FileStep.after_work, kind=FileKind.photo, for_owner=True,
                 files=[pack(ref), pack(pdf)])
    assert a.refs("WX-2026-000001") == [ref, pdf]
    assert len(json.dumps(pack(ref), separators=(",", ":"))) <= 110     # a FileRef's JSON is over 300
    import pydantic
    import pytest
    with pytest.raises(pydantic.ValidationError):
        AddFiles(action="add_files", step=FileStep.after_work, kind=FileKind.photo, files=[(sha, 1, "jpg", "")])

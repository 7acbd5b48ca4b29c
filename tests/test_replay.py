"""Recorded histories of every case path replay against today's workflow code: a change that would
break a running case (non-determinism) fails here. A change behind `workflow.patched` or a new rules
version adds the histories of its new behaviour (`make record-histories` with RECORD_HISTORIES_SUFFIX);
the existing ones are re-recorded only at a release baseline, when no running case holds the old code
(docs/architecture.md, "How to change a running workflow safely")."""

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from tests.support import codec
from worker import WORKFLOW_RUNNER, WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"
# One history per path, recorded at the release baseline (make record-histories); a change behind a patch
# or a new rules version adds the histories of its new behaviour beside these, which stay.
EXPECTED = {
    # complaints: C1–C11, C2 ruled, A1 compensation, a repair opened (C6), the ladder climbed on timers (E1),
    # and climbed with the mail server refusing (E3: one try in the timer's task, then the retries)
    "complaint_general", "complaint_major", "complaint_authority", "complaint_unjustified_ruled",
    "complaint_compensation", "complaint_with_repair", "complaint_escalated", "complaint_escalated_mail_refused",
    # repairs: R1–R9 under warranty, a reopened repair's two evaluations (R9), a deposit short of the
    # deduction (A3), a failed inspection and cs_manager's follow-up (R6, R7), the paid path (R3) paid
    # and declined, a late arrival, an extension (R8) and an escalation on timers
    "repair_warranty", "repair_reopened_two_evaluations", "repair_deposit_shortfall", "repair_follow_up",
    "repair_paid_service", "repair_paid_declined", "repair_late_extended_escalated",
    # bounded history: the first run of a case that continued as new, and a later one
    "complaint_continued_first_run", "complaint_continued_later_run",
    # the case's configuration and projection as local activities, as production opens cases
    "complaint_general_local_db_steps", "complaint_major_local_db_steps", "repair_warranty_local_db_steps",
    # V1 with E1: a first campaign escalated; K1 with E1: the gm's review escalated, then done
    "campaign_first_escalated", "report_review_escalated",
    # rules 2 (D1–D3): a warranty repair with file references, refused complete_work and payment without them (D2)
    "repair_warranty_files_rules_v2",
    # D1, O3, O4: one upload's files in one act (attach_files), the owner's photos with their provenance
    "repair_files_many_owner",
    # D1–D3: an upload's references in the compact add_files act (no entries answered back), retried by Update id
    # and by Idempotency-Key, counted by D2
    "repair_files_compact",
    # rules 3 (P5): a major complaint of 海景置业, its company and project kept, another company's manager refused,
    # its notices to its own people (role mailboxes) and the group's executive
    "complaint_major_company_rules_v3",
    # rules 4 (O3–O5): the owner accepts the proposed time, signs off and answers the survey (O4: the owner's own);
    # an owner silent 3 working days after the inspection, cs_staff told to call and recording the sign-off (O5)
    "repair_owner_acts_rules_v4", "repair_owner_silent_called_rules_v4",
    # K, P5: the scheduled statistics per company and the group's roll-up (patch reports-per-company), each company's
    # review told to its own people and refused to another company's gm and the group's
    "report_scheduled_per_company", "report_review_company",
    # and a run recorded before the patch (the roll-up alone, reviewed by any gm): it keeps replaying
    "report_scheduled_roll_up_before_companies",
    # P4 (patch start-vouched): a case's start sent straight to Temporal with a forged intake, refused before anything
    # else; a start the API vouched for, opened as before; a campaign started straight in Temporal, refused
    "complaint_start_forged_refused", "complaint_start_vouched", "campaign_start_forged_refused",
    # E3 (patch notice-outcome-unprojected): a notice's delivery recorded on the case without a projection of its
    # own: the general path (as activities and as local steps), the ladder climbed, and climbed with mail refused
    "complaint_general_notice_unprojected", "complaint_general_notice_unprojected_local_db_steps",
    "complaint_escalated_notice_unprojected", "complaint_escalated_mail_refused_notice_unprojected",
}


def test_every_case_path_has_a_recorded_history():
    assert EXPECTED <= {p.stem for p in HISTORIES.glob("*.json")}


def test_every_patch_a_workflow_checks_is_declared():
    """Each `workflow.patched(<id>)` in workflows/ names an id declared in PATCHES (with its date and reason);
    the only other marker is the rule book's, `rules-vN`, in opening_rules_version."""
    import ast
    import importlib
    from workflows.case_workflow import PATCHES
    for path in sorted((Path(__file__).parent.parent / "workflows").glob("*.py")):
        module = importlib.import_module(f"workflows.{path.stem}")
        tree = ast.parse(path.read_text())
        functions = {id(n): f.name for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                     for n in ast.walk(f)}
        for call in ast.walk(tree):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "patched"):
                continue
            [arg] = call.args
            if isinstance(arg, ast.JoinedStr):
                assert functions.get(id(call)) == "opening_rules_version", f"{path.name}:{call.lineno}"
                continue
            value = arg.value if isinstance(arg, ast.Constant) else getattr(module, ast.unparse(arg))
            assert value in PATCHES, f"{path.name}:{call.lineno}: patch {value!r} is not declared in PATCHES"


@pytest.mark.asyncio
@pytest.mark.parametrize("sandboxed", [False, True], ids=["unsandboxed", "sandboxed"])  # production, the tests
@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_history_replays(path: Path, sandboxed: bool):
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    replayer = Replayer(workflows=WORKFLOWS, data_converter=codec.converter(),
                        workflow_runner=WORKFLOW_RUNNER if sandboxed else UnsandboxedWorkflowRunner())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.stem} no longer replays: {result.replay_failure}"


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
def test_P4_every_history_is_encrypted_and_holds_no_phone_in_clear(path: Path):
    """The histories are recorded with the codec (the test server's client has the production data converter,
    test keys): their payloads are encrypted (so the replay above really decodes them), and the owner's
    number is nowhere in the file."""
    text = path.read_text()
    # metadata encoding = base64("binary/encrypted"); the shortest history (a scheduled roll-up's run) holds 8, a
    # start refused at once (P4) only its input — and its failure, in clear, names neither the sender's actor
    assert text.count('"YmluYXJ5L2VuY3J5cHRlZA=="') >= (1 if path.stem.endswith("_start_forged_refused") else 8)
    assert "mallory" not in text
    assert "1381234" not in text and "MTM4MTIzNDEyMzQ" not in text  # nor its base64


def worker_converter(accept_plain: bool = False):
    from adapters.config import Settings
    from adapters.temporal.codec import worker_data_converter

    return worker_data_converter(Settings(jwt_secret="x" * 40, phone_lookup_key="y" * 40, actor_assertion_key="z" * 40,
                                          worker_accept_plain_payloads=accept_plain, **codec.CODEC))


@pytest.mark.asyncio
@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_P4_every_history_replays_under_the_workers_strict_converter(path: Path):
    """The worker decodes only encrypted payloads (P4, worker_data_converter): every recorded case replays
    with it, as the production worker replays them."""
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    replayer = Replayer(workflows=WORKFLOWS, data_converter=worker_converter(), workflow_runner=UnsandboxedWorkflowRunner())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.stem}: {result.replay_failure}"


@pytest.mark.asyncio
async def test_P4_the_workers_converter_refuses_a_plain_payload_unless_told_to_accept_them():
    from adapters.temporal.codec import PlainPayloadRefused

    forged = {"actor": {"username": "mallory", "role": "cs_staff"}}
    plain = codec.converter().payload_converter.to_payloads([forged])   # as the `temporal` CLI sends it
    with pytest.raises(PlainPayloadRefused, match="unencrypted payload"):
        await worker_converter().decode(plain)
    assert await worker_converter(accept_plain=True).decode(plain, [dict]) == [forged]
    encrypted = await codec.converter().encode(["ok"])
    assert await worker_converter().decode(encrypted, [str]) == ["ok"]

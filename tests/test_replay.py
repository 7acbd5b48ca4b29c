"""Recorded histories of every case path replay against today's workflow code: a change that would
break a running case (non-determinism) fails here. Re-record with `make record-histories` only for a
change that is behind `workflow.patched` or that no running case can meet."""

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from tests.support import codec
from worker import WORKFLOW_RUNNER, WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"
EXPECTED = {"campaign_first_escalated", "complaint_general", "complaint_major", "complaint_authority", "complaint_unjustified",
            "complaint_with_repair", "repair_warranty", "repair_paid_follow_up",
            "complaint_general_encrypted",  # recorded with the codec (P4), test keys of tests/support/codec.py
            "repair_reopened_two_evaluations", "repair_deposit_shortfall",
            # bounded history: the first run of a case that continued as new, and a later one
            "complaint_continued_first_run", "complaint_continued_later_run",
            # ... and since the configuration is carried over too (queries answer before the new run loads it)
            "complaint_continued_first_run_config_carried", "complaint_continued_later_run_config_carried",
            # rules v3: paid service, declined, compensation, C2 ruling
            "repair_paid_service", "repair_paid_declined", "complaint_compensation", "complaint_unjustified_ruled",
            # rules v4: appointment and arrival times checked against the clock
            "repair_rules_v4_times",
            # K1 with E1: the gm's review of the monthly statistics, escalated, then done
            "report_review_escalated",
            # the case's configuration, projection and C11 count as local activities
            "complaint_general_local_db_steps", "complaint_major_local_db_steps", "repair_warranty_local_db_steps",
            # rules 5: progress notes reminded of by the register, not by the case's timers
            "complaint_general_rules_v5", "complaint_major_rules_v5", "repair_warranty_rules_v5",
            # one timer per wake-up time, kept across actions that do not move it
            "complaint_general_timer_kept", "complaint_major_timer_kept", "repair_warranty_timer_kept",
            # ... and cases of the generation marker cases-2026-12 (one marker for the patches before it)
            "complaint_general_gen_2026_12", "complaint_major_gen_2026_12", "repair_warranty_gen_2026_12",
            # ... a ladder climbed to the gm by timers, its notices sent as activities (cases-2026-12) ...
            "complaint_escalated_gen_2026_12",
            # ... and cases of cases-2026-12b: a deadline's notice as a local activity in its timer's task (§6)
            "complaint_general_gen_2026_12b", "complaint_major_gen_2026_12b", "repair_warranty_gen_2026_12b",
            "complaint_escalated_gen_2026_12b",
            # ... and of cases-2026-12c: a wake-up's notices sent before its one projection (§6)
            "complaint_general_gen_2026_12c", "complaint_major_gen_2026_12c", "repair_warranty_gen_2026_12c",
            "complaint_escalated_gen_2026_12c",
            # ... and of cases-2026-12d: opened with the configuration in the start, C11 counted with the projection (§5)
            "complaint_general_gen_2026_12d", "complaint_major_gen_2026_12d", "repair_warranty_gen_2026_12d",
            "complaint_escalated_gen_2026_12d",
            # ... and of cases-2026-12e: a deadline's notice tried once in its timer's task, then retried as an
            # activity (E3: delivery never holds the case), recorded with the mail server refusing too
            "complaint_general_gen_2026_12e", "complaint_major_gen_2026_12e", "repair_warranty_gen_2026_12e",
            "complaint_escalated_gen_2026_12e", "complaint_escalated_mail_refused"}


def test_every_case_path_has_a_recorded_history():
    assert EXPECTED <= {p.stem for p in HISTORIES.glob("*.json")}


@pytest.mark.asyncio
@pytest.mark.parametrize("sandboxed", [False, True], ids=["unsandboxed", "sandboxed"])  # production, the tests
@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_history_replays(path: Path, sandboxed: bool):
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    replayer = Replayer(workflows=WORKFLOWS, data_converter=codec.converter(),
                        workflow_runner=WORKFLOW_RUNNER if sandboxed else UnsandboxedWorkflowRunner())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.stem} no longer replays: {result.replay_failure}"


def test_P4_the_encrypted_history_holds_no_phone_in_clear():
    """complaint_general_encrypted was recorded with the codec: its payloads are encrypted (so its
    replay above really decodes them), and the owner's number is nowhere in the file."""
    text = (HISTORIES / "complaint_general_encrypted.json").read_text()
    assert text.count('"YmluYXJ5L2VuY3J5cHRlZA=="') > 10  # metadata encoding = base64("binary/encrypted")
    assert "1381234" not in text and "MTM4MTIzNDEyMzQ" not in text  # nor its base64

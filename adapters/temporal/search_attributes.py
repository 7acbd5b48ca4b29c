"""Custom search attributes ops filter on in the Temporal Web UI. No personal data here."""

from temporalio.common import SearchAttributeKey

CASE_TYPE = SearchAttributeKey.for_keyword("CaseType")
CASE_STATUS = SearchAttributeKey.for_keyword("CaseStatus")
DEPARTMENT = SearchAttributeKey.for_keyword("Department")
PROJECT = SearchAttributeKey.for_keyword("Project")
MAJOR = SearchAttributeKey.for_bool("Major")
ESCALATION_LEVEL = SearchAttributeKey.for_int("EscalationLevel")
OVERDUE = SearchAttributeKey.for_bool("Overdue")

ALL = [CASE_TYPE, CASE_STATUS, DEPARTMENT, PROJECT, MAJOR, ESCALATION_LEVEL, OVERDUE]

_CLI_TYPES = {"KEYWORD": "Keyword", "BOOL": "Bool", "INT": "Int"}


def cli_flags() -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`."""
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={_CLI_TYPES[key.indexed_value_type.name.removeprefix('INDEXED_VALUE_TYPE_')]}"]
    return flags

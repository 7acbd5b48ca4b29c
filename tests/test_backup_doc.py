"""C1: docs/operations-backup.md says of every table of the read model whether `make rebuild-register` brings it
back from Temporal, and those it says are rebuilt are the ones the drill compares field by field
(tests/e2e/test_register_rebuild.py): a table a merge adds must be placed there knowingly."""

import re
from pathlib import Path

from adapters.db.models import Base

DOC = Path(__file__).parent.parent / "docs" / "operations-backup.md"


def placed() -> dict[str, str]:
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1] in ("rebuilt", "can't", "needn't", "not yet"):
            rows.update((table, cells[1]) for table in re.findall(r"`([a-z_]+)`", cells[0]))
    return rows


def test_C1_every_table_of_the_read_model_is_placed_in_the_backup_doc():
    assert set(placed()) == set(Base.metadata.tables), set(Base.metadata.tables) ^ set(placed())


def test_C1_the_tables_said_rebuilt_are_those_the_drill_compares():
    from tests.e2e.test_register_rebuild import TABLES
    rebuilt = {t for t, how in placed().items() if how == "rebuilt"}
    assert rebuilt == {model.__tablename__ for model in TABLES}

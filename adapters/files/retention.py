"""How long files' bytes are kept (D4): as long as a case references them.

- `erase_case(session, store, case_no)`: a closed case's record deleted from the register (its row, timeline,
  deadlines and files) with the blobs no other case references. The audit of personal-data showings, the
  deposit ledger and case numbers are kept: they are other records (P3, A3, C1). Temporal's own copy of a
  closed case goes with the namespace's retention. `python -m adapters.files.retention erase CASE_NO`.
- `sweep_orphans(session, store, grace, now)`: blobs no case references, older than `grace` (an upload's bytes
  are stored before its case takes the reference: the grace covers that moment, a refused or abandoned upload,
  and a crash's temporary files), are removed. Run by the Temporal Schedule `files-orphan-sweep`.
"""

import asyncio
import sys
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.models import Case, CaseDeadline, CaseFile, TimelineEntry
from adapters.files.blobs import FileStore


async def referenced(session: AsyncSession, addresses: set[str] | None = None) -> set[str]:
    """The blob addresses (files and thumbnails) some case references (of `addresses`, when given)."""
    q = union(select(CaseFile.sha256), select(CaseFile.thumb).where(CaseFile.thumb.is_not(None)))
    found = {a for (a,) in (await session.execute(q)).all()}
    return found if addresses is None else found & addresses


async def erase_case(session: AsyncSession, store: FileStore, case_no: str) -> int:
    """D4: deletes a closed case's register record and its files; answers the blobs removed. An open case is
    refused (ValueError): its record is still being written."""
    case = await session.get(Case, case_no)
    if case is None:
        raise ValueError(f"no case {case_no} in the register")
    if case.closed_at is None:
        raise ValueError(f"case {case_no} is still open: only a closed case's record is deleted")
    files = list(await session.scalars(select(CaseFile).where(CaseFile.case_no == case_no)))
    addresses = {f.sha256 for f in files} | {f.thumb for f in files if f.thumb}
    for table, column in ((CaseFile, CaseFile.case_no), (TimelineEntry, TimelineEntry.case_no),
                          (CaseDeadline, CaseDeadline.case_no), (Case, Case.case_no)):
        await session.execute(delete(table).where(column == case_no))
    still = await referenced(session, addresses)   # the same photo on another case stays for that case
    await session.commit()
    gone = sorted(addresses - still)
    for address in gone:
        await store.delete(address)
    return len(gone)


async def sweep_orphans(session: AsyncSession, store: FileStore, grace: timedelta,
                        now: datetime | None = None) -> list[str]:
    """Removes blobs no case references that are older than `grace`; answers their keys."""
    cutoff = (now or datetime.now(timezone.utc)) - grace
    candidates = [info.key async for info in store.blobs.list() if info.modified < cutoff]
    if not candidates:
        return []
    keep = await referenced(session, set(candidates))
    removed = [key for key in candidates if key not in keep]
    for key in removed:
        if key.startswith(".tmp-"):   # a local write a crash interrupted
            await getattr(store.blobs, "delete_temporary")(key)
        else:
            await store.delete(key)
    return removed


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "erase":
        raise SystemExit("usage: python -m adapters.files.retention erase CASE_NO")
    from adapters.config import Settings
    from adapters.db.session import make_engine, make_sessionmaker
    from adapters.files.blobs import file_store

    async def run() -> int:
        settings = Settings()
        engine = make_engine(settings.database_url)
        store = file_store(settings)
        try:
            async with make_sessionmaker(engine)() as session:
                return await erase_case(session, store, args[1])
        finally:
            await store.aclose()
            await engine.dispose()

    print(f"case {args[1]} erased with {asyncio.run(run())} stored file(s)")


if __name__ == "__main__":
    main()

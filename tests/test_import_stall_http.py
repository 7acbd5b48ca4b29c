"""The property import keeps the API answering (issue of the security review: a 900 KB workbook of 650,000
rows, under the body cap, stopped every request for two minutes). The worst file is uploaded while
/health is asked every 20 ms on the same app (the same event loop, as uvicorn runs it): the import is
refused by its row limit, checked while the file streams, and /health stays answered; its p99 is printed.
The largest register an import accepts (50,000 units, each with its owner's phone sealed and hashed) is
imported the same way: /health keeps answering while it is read and written."""

import asyncio
import io
import time
import zipfile

import httpx
import pytest

from api.app import create_app

ROWS = 650_000
CONTENT_TYPES = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                 'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
                 'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override '
                 'PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
                 'spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType='
                 '"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>')
RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
WORKBOOK = ('<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
            '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
            '<sheet name="台账" sheetId="1" r:id="rId1"/></sheets></workbook>')
WORKBOOK_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                 'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                 'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')


def worst_workbook(rows: int = ROWS) -> bytes:
    """A valid .xlsx: the headings, then `rows` rows of one cell each (small: 20 MB unpacked, within the
    unpacked-size limit, so the row count is what stops it), deflated: repetitive rows pack tightly."""
    cell = '<c t="inlineStr"><is><t>{}</t></is></c>'
    heading = "<row>" + "".join(cell.format(h) for h in ("项目", "楼栋", "房号", "已售", "已入住")) + "</row>"
    unit = '<row><c t="b"><v>1</v></c></row>'
    sheet = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
             'spreadsheetml/2006/main"><sheetData>' + heading + unit * rows + "</sheetData></worksheet>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, text in (("[Content_Types].xml", CONTENT_TYPES), ("_rels/.rels", RELS), ("xl/workbook.xml", WORKBOOK),
                           ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS), ("xl/worksheets/sheet1.xml", sheet)):
            z.writestr(name, text)
    return out.getvalue()


SHARED_TYPE = ('<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.'
               'spreadsheetml.sharedStrings+xml"/>')
SHARED_REL = ('<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
              'sharedStrings" Target="sharedStrings.xml"/>')


def largest_register(rows: int = 50_000) -> bytes:
    """A valid register at the import's row limit, every unit with its owner's name and a phone of its own
    (shared strings, deflated: 0.4 MB, under the body cap): the most an import writes."""
    heads = ["项目", "楼栋", "房号", "已售", "已入住", "业主姓名", "业主电话", "融侨城", "王女士"]
    buildings = [f"{b}栋" for b in range(1, rows // 500 + 2)]
    strings = heads + buildings + [str(u) for u in range(101, 601)] + [f"138{i:08d}" for i in range(rows)]
    building0, unit0, phone0 = len(heads), len(heads) + len(buildings), len(heads) + len(buildings) + 500

    def c(i: int) -> str:
        return f'<c t="s"><v>{i}</v></c>'
    body = ["<row>" + "".join(c(i) for i in range(7)) + "</row>"]
    body += ["<row>" + c(7) + c(building0 + i // 500) + c(unit0 + i % 500) + '<c t="b"><v>1</v></c><c t="b"><v>1</v>'
             "</c>" + c(8) + c(phone0 + i) + "</row>" for i in range(rows)]
    sheet = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
             'spreadsheetml/2006/main"><sheetData>' + "".join(body) + "</sheetData></worksheet>")
    shared = ('<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
              '2006/main">' + "".join(f"<si><t>{s}</t></si>" for s in strings) + "</sst>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, text in (("[Content_Types].xml", CONTENT_TYPES.replace("</Types>", SHARED_TYPE + "</Types>")),
                           ("_rels/.rels", RELS), ("xl/workbook.xml", WORKBOOK),
                           ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS.replace("</Relationships>",
                                                                                SHARED_REL + "</Relationships>")),
                           ("xl/sharedStrings.xml", shared), ("xl/worksheets/sheet1.xml", sheet)):
            z.writestr(name, text)
    return out.getvalue()


async def upload_while_asking_health(api: httpx.AsyncClient, headers: dict, content: bytes, limit: float = 150):
    """Uploads `content` to the import and asks /health every 20 ms meanwhile on the same event loop: the
    import's answer, how long it took, /health's latencies (sorted) and the longest gap between answers."""
    await api.get("/health")  # warm
    started = time.perf_counter()
    upload = asyncio.create_task(api.post("/admin/properties/import", headers=headers,
                                          files={"file": ("register.xlsx", content, XLSX)}))
    latencies: list[float] = []
    gaps, last = [], time.perf_counter()
    while not upload.done() and time.perf_counter() - started < limit:
        t = time.perf_counter()
        answer = await api.get("/health")
        latencies.append(time.perf_counter() - t)
        gaps.append(time.perf_counter() - last)  # between two answers: a blocked loop shows here
        last = time.perf_counter()
        assert answer.status_code in (200, 503)  # answered (503: this app has no Temporal)
        await asyncio.sleep(0.02)
    assert upload.done(), f"the import did not finish in {limit:.0f} s"
    return upload.result(), time.perf_counter() - started, sorted(latencies), max(gaps, default=0.0)


@pytest.mark.asyncio
async def test_the_largest_register_an_import_accepts_is_written_while_the_api_keeps_answering(settings, sessionmaker):
    content = largest_register()
    assert len(content) < settings.max_body_bytes - 4096
    app = create_app(settings, temporal=object(), sessionmaker=sessionmaker)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test", timeout=300) as api:
        r = await api.post("/auth/token", data={"username": "cs_manager", "password": settings.demo_password})
        h = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r, took, latencies, longest = await upload_while_asking_health(api, h, content)
        assert r.status_code == 200, r.text[:500]
        assert r.json()["created"] == 50_000
        units = await api.get("/properties", headers=h)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"\nlargest register: {len(content) // 1024} KB, 50,000 units with phones; imported in {took:.1f} s; "
          f"/health answered {len(latencies)} times meanwhile, p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms; longest silence {longest * 1000:.0f} ms")
    assert units.status_code == 200 and sum(p["units"] for p in units.json()) == 50_000, units.text[:300]
    # What the fix guarantees is that the loop is never held for the import (before: one silence of 17 s);
    # how short each answer is depends on the machine's load, so the bound leaves room for a busy CI
    # and the figures above are printed for the benchmark's record.
    assert len(latencies) >= 10 and p99 < 3.0 and longest < 5.0, (p99, longest, len(latencies))


def bomb_workbook() -> bytes:
    """A workbook whose sheet unpacks to 200 MiB: refused from its zip directory, nothing unpacked."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, text in (("[Content_Types].xml", CONTENT_TYPES), ("_rels/.rels", RELS), ("xl/workbook.xml", WORKBOOK),
                           ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)):
            z.writestr(name, text)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            for _ in range(200):
                f.write(b" " * (1024 * 1024))
    return out.getvalue()


@pytest.mark.asyncio
async def test_the_worst_workbook_is_refused_while_streaming_and_the_api_keeps_answering(settings, sessionmaker):
    content = worst_workbook()
    assert len(content) < settings.max_body_bytes - 4096  # under the body cap, as the review's 884 KB file
    app = create_app(settings, temporal=object(), sessionmaker=sessionmaker)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test", timeout=300) as api:
        r = await api.post("/auth/token", data={"username": "cs_manager", "password": settings.demo_password})
        h = {"Authorization": f"Bearer {r.json()['access_token']}"}
        await api.get("/health")  # warm
        started = time.perf_counter()
        upload = asyncio.create_task(api.post("/admin/properties/import", headers=h,
                                              files={"file": ("register.xlsx", content, XLSX)}))
        latencies: list[float] = []
        gaps, last = [], time.perf_counter()
        while not upload.done() and time.perf_counter() - started < 150:
            t = time.perf_counter()
            answer = await api.get("/health")
            latencies.append(time.perf_counter() - t)
            gaps.append(time.perf_counter() - last)  # between two answers: a blocked loop shows here
            last = time.perf_counter()
            assert answer.status_code in (200, 503)  # answered (503: this app has no Temporal)
            await asyncio.sleep(0.02)
        assert upload.done(), "the import did not finish in 150 s"
        r = upload.result()
        took = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"\nworst workbook: {len(content) // 1024} KB, {ROWS:,} rows; refused in {took:.1f} s; "
          f"/health answered {len(latencies)} times meanwhile, p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms; longest silence {max(gaps) * 1000:.0f} ms")
    assert r.status_code == 413 and "50000" in r.text, (r.status_code, r.text)
    # Never held for the file (before: 113 s of silence); the bound leaves room for a loaded machine.
    assert len(latencies) >= 10 and p99 < 3.0 and max(gaps) < 5.0, (p99, max(gaps), len(latencies))
    assert took < 60


@pytest.mark.asyncio
async def test_a_workbook_that_unpacks_too_far_is_refused_before_it_is_unpacked(settings, sessionmaker):
    content = bomb_workbook()
    app = create_app(settings, temporal=object(), sessionmaker=sessionmaker)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test", timeout=120) as api:
        r = await api.post("/auth/token", data={"username": "cs_manager", "password": settings.demo_password})
        h = {"Authorization": f"Bearer {r.json()['access_token']}"}
        started = time.perf_counter()
        r = await api.post("/admin/properties/import", headers=h, files={"file": ("register.xlsx", content, XLSX)})
    assert r.status_code == 413 and "unpacks to 200 MiB" in r.text, r.text
    assert time.perf_counter() - started < 10


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

"""Photos and documents over HTTP against a real dev server and worker (D1–D3): the upload's edges — a type
known by content, 10 MB and 20 a step refused while the body streams, EXIF location removed, nothing left
behind by a refused file — the reference (not the bytes) on the case, and who may read a file: every demo
account, 404 for those who may not see the case (P2), signed links that expire."""

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from aftersales import access
from aftersales.actor import Actor
from adapters.db.staff import DEMO_ACCOUNTS, DEMO_SCOPES
from aftersales.roles import Role
from api.files import signed_link
from tests.e2e.conftest import eventually, post_action
from tests.support.images import location_of, pdf, photo



def repair() -> dict:
    """The repair intake, its requested visit (R1: in the future) reckoned when sent, not at import."""
    in_two_days = (datetime.now(timezone(timedelta(hours=8))) + timedelta(days=2)).replace(
        hour=10, minute=0, second=0, microsecond=0).isoformat()
    return {"customer": {"name": "周女士", "phone": "13700001111", "project": "融侨城", "building": "9栋", "unit": "802"},
            "trades": ["水电"], "description": "卫生间漏水", "requested_appointment": in_two_days, "paid_service": False}


def stored(settings) -> list[Path]:
    root = Path(settings.files_dir)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def upload(api: httpx.AsyncClient, headers: dict, no: str, data: bytes, *, step="after_work", kind="photo",
                 name="IMG_0001.jpg", ctype="image/jpeg", extra: dict | None = None) -> httpx.Response:
    return await api.post(f"/cases/{no}/files", params={"step": step, "kind": kind},
                          files={"file": (name, data, ctype)}, data=extra or {}, headers=headers)


async def new_repair(api, staff) -> str:
    r = await api.post("/repairs", json=repair(), headers=await staff.headers("hotline"))
    assert r.status_code == 201, r.text
    return r.json()["case_no"]


@pytest.mark.asyncio
async def test_D1_upload_edges_type_size_count_exif_and_nothing_left_behind(api, staff, settings):
    no = await new_repair(api, staff)
    lead = await staff.headers("repair_lead")

    # a GIF (or text) is refused by its content, whatever its name and Content-Type say: 415, nothing stored
    gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00" \
          b"\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;" + b"\x00" * 5000
    r = await upload(api, lead, no, gif, name="leak.jpg")
    assert r.status_code == 415 and "JPEG" in r.json()["detail"] and "内容" in r.json()["detail"]
    r = await upload(api, lead, no, b"just text, no picture" * 300, name="leak.jpg")
    assert r.status_code == 415
    # a damaged JPEG (its first bytes right, the rest cut): 422
    r = await upload(api, lead, no, photo("jpeg")[:1500])
    assert r.status_code == 422 and "损坏" in r.json()["detail"]
    # a PDF is not a photo
    r = await upload(api, lead, no, pdf(), kind="photo", name="a.pdf", ctype="application/pdf")
    assert r.status_code == 422 and "photo" in r.json()["detail"]
    # over 10 MB: refused with its limit named, declared (413 before reading) ...
    big = photo("jpeg", noise_bytes=16_000_000)
    assert len(big) > 10 * 1024 * 1024
    r = await upload(api, lead, no, big)
    assert r.status_code == 413 and "10 MB" in r.json()["detail"]

    async def chunked():   # ... or streamed without a length: refused when the count passes it
        body = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.jpg\"\r\n"
                b"Content-Type: image/jpeg\r\n\r\n")
        yield body + big[:65536]
        for i in range(65536, len(big), 65536):
            yield big[i:i + 65536]
        yield b"\r\n--b--\r\n"
    r = await api.post(f"/cases/{no}/files", params={"step": "after_work", "kind": "photo"}, content=chunked(),
                       headers={**lead, "Content-Type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413 and "10 MB" in r.json()["detail"]
    # a step this case type does not have, a kind that does not exist: 422 naming the choices
    r = await upload(api, lead, no, photo("jpeg"), kind="selfie")
    assert r.status_code == 422 and "kind" in r.json()["detail"]
    assert stored(settings) == []     # nothing refused left a byte behind
    view = (await api.get(f"/cases/{no}", headers=lead)).json()
    assert view["files"] == [] and not any(t["kind"] == "file" for t in view["timeline"])

    # a photo with its GPS location: stored without it, with a thumbnail; the case holds the reference
    original = photo("jpeg")
    assert location_of(original)
    r = await upload(api, lead, no, original, step="before_work")
    assert r.status_code == 201, r.text
    ref = r.json()
    assert ref["by"] == "repair_lead" and ref["step"] == "before_work" and ref["thumb"] and ref["for_owner"]
    got = await api.get(f"/cases/{no}/files/{ref['id']}", headers=lead)
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"] == f'inline; filename="{no}-before_work-{ref["id"]}.jpg"'
    assert location_of(got.content) == {} and hashlib.sha256(got.content).hexdigest() == ref["sha256"]
    thumb = await api.get(f"/cases/{no}/files/{ref['id']}", params={"variant": "thumbnail"}, headers=lead)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg" and len(thumb.content) < len(got.content) + 10_000
    # the blobs at rest are encrypted: neither the photo nor its EXIF in clear
    blobs = stored(settings)
    assert len(blobs) == 2 and all(b.read_bytes().startswith(b"AFB1") for b in blobs)
    assert not any(b"TestPhone" in b.read_bytes() for b in blobs)
    # the same file again: the same reference, nothing added
    again = await upload(api, lead, no, original, step="before_work")
    assert again.status_code == 200 and again.json()["id"] == ref["id"]
    view = (await api.get(f"/cases/{no}", headers=lead)).json()
    assert [f["id"] for f in view["files"]] == [ref["id"]]
    [entry] = [t for t in view["timeline"] if t["kind"] == "file"]
    assert entry["file"]["sha256"] == ref["sha256"] and ref["id"] in entry["text"]

    # every accepted type by content (PNG, WebP, HEIC, PDF), each without its location
    for fmt, kind in (("png", "photo"), ("webp", "photo"), ("heic", "photo")):
        r = await upload(api, lead, no, photo(fmt), step="survey", kind=kind, name=f"x.{fmt}",
                         ctype="application/octet-stream")
        assert r.status_code == 201, (fmt, r.text)
        assert r.json()["content_type"] == f"image/{fmt}"
        body = (await api.get(f"/cases/{no}/files/{r.json()['id']}", headers=lead)).content
        assert location_of(body) == {}, fmt
    r = await upload(api, lead, no, pdf(), step="survey", kind="document", name="survey.pdf", ctype="application/pdf")
    assert r.status_code == 201 and r.json()["content_type"] == "application/pdf" and r.json()["thumb"] is None

    # 20 a step: the 21st is refused before its body is read, naming the limit
    for i in range(19):
        r = await upload(api, lead, no, photo("png", color=(i, 10, 10), gps=False), step="before_work", name=f"{i}.png")
        assert r.status_code == 201, (i, r.text)
    before = stored(settings)
    r = await upload(api, lead, no, photo("png", color=(99, 99, 99)), step="before_work")
    assert r.status_code == 422 and "20" in r.json()["detail"] and "施工前" in r.json()["detail"]
    assert stored(settings) == before


@pytest.mark.asyncio
async def test_D1_P2_who_adds_and_who_reads_every_demo_account_404_for_the_unseen(api, staff, settings, sessionmaker):
    """The access matrix of files: for every demo account, reading the list, the file and its signed link
    answers 200 exactly when the account sees the case (P2), else 404 as for no file; adding is for the step's
    roles (403 for others who see the case, 404 for those who do not)."""
    no = await new_repair(api, staff)
    lead = await staff.headers("repair_lead")
    r = await upload(api, lead, no, photo("jpeg"), step="before_work")
    assert r.status_code == 201
    fid = r.json()["id"]
    view = (await api.get(f"/cases/{no}", headers=lead)).json()
    facts = access.case_facts(view)
    counts = {"see": 0, "not_found": 0}
    per_route: dict[str, dict[int, int]] = {}

    def count(route: str, status: int) -> None:
        per_route.setdefault(route, {}).setdefault(status, 0)
        per_route[route][status] += 1
    for i, (username, role, department, contractor_id) in enumerate(DEMO_ACCOUNTS):
        company_id, project = DEMO_SCOPES[username]  # P5: each account within its scope
        actor = Actor(username=username, role=role, department=department, contractor_id=contractor_id,
                      company_id=company_id, project=project)
        headers = await staff.headers(username)
        sees = access.may_see(actor, facts)
        listed = await api.get(f"/cases/{no}/files", headers=headers)
        got = await api.get(f"/cases/{no}/files/{fid}", headers=headers)
        thumb = await api.get(f"/cases/{no}/files/{fid}", params={"variant": "thumbnail"}, headers=headers)
        added = await upload(api, headers, no, photo("png", color=(i, 1, 2), gps=False), step="before_work")
        for route, answer in (("GET /cases/{no}/files", listed), ("GET /cases/{no}/files/{id}", got),
                              ("GET /cases/{no}/files/{id}?variant=thumbnail", thumb),
                              ("POST /cases/{no}/files", added)):
            count(route, answer.status_code)
        expected = 200 if sees else 404
        assert (listed.status_code, got.status_code, thumb.status_code) == (expected,) * 3, username
        if sees:
            link = listed.json()["files"][0]["url"]
            signed = await api.get(link)
            count("GET /files/{token}", signed.status_code)
            assert signed.status_code == 200, username                                # no session needed
            allowed = role in {Role.repair_lead, Role.engineering, Role.contractor, Role.cs_staff}
            assert added.status_code in ((201,) if allowed else (403,)), (username, added.text)
            counts["see"] += 1
        else:
            assert added.status_code == 404, (username, added.text)
            counts["not_found"] += 1
    print(f"\nfiles access matrix over {len(DEMO_ACCOUNTS)} demo accounts: {counts}")
    for route, statuses in per_route.items():
        print(f"  {route:48s} " + ", ".join(f"{n} × {code}" for code, n in sorted(statuses.items())))
    assert counts["see"] and counts["not_found"]

    # a signed link: tampered or expired is 404; made for an account that cannot see the case, 404
    from types import SimpleNamespace
    Req = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(settings=settings)))
    async with sessionmaker() as session:
        from adapters.db.models import CaseFile
        f = await session.get(CaseFile, (no, fid))
    hotline = Actor(username="hotline", role=Role.hotline)
    good, _ = signed_link(Req, hotline, f)
    assert (await api.get(good)).status_code == 200
    assert (await api.get(good[:-2] + ("AA" if not good.endswith("AA") else "BB"))).status_code == 404
    expired, _ = signed_link(Req, hotline, f, now=datetime.now(timezone.utc).timestamp() - 3600)
    assert (await api.get(expired)).status_code == 404
    unseen, _ = signed_link(Req, Actor(username="auditor", role=Role.auditor), f)
    assert (await api.get(unseen)).status_code == 404


@pytest.mark.asyncio
async def test_D2_P3_complete_work_needs_a_photo_and_a_signed_paper_download_is_recorded(api, staff):
    no = await new_repair(api, staff)
    now = datetime.now(timezone.utc)
    await post_action(api, staff, no, "cs_staff", {"action": "agree_appointment", "told_via": "phone", "appointment_at": now.isoformat()})
    await post_action(api, staff, no, "cs_staff", {"action": "record_survey", "responsible_party": "工程部",
                                                   "multi_trade": False, "estimate": "0", "order_type": "B"})
    for who in ("cs_staff", "engineering", "repair_lead"):
        await post_action(api, staff, no, who, {"action": "sign_survey"})
    await post_action(api, staff, no, "cs_staff", {"action": "dispatch", "workers": ["repair_lead"]})
    refused = await post_action(api, staff, no, "repair_lead", {"action": "complete_work", "note": "修好了"}, expect=409)
    assert "施工后" in refused["detail"] and "D2" in refused["detail"]
    lead = await staff.headers("repair_lead")
    assert (await upload(api, lead, no, photo("jpeg"), step="after_work")).status_code == 201
    await post_action(api, staff, no, "repair_lead", {"action": "complete_work", "note": "修好了"})
    # the signed repair slip: downloads recorded like a full phone showing (P3)
    butler = await staff.headers("butler")
    slip = await upload(api, butler, no, pdf(), step="repair_slip", kind="signed", name="slip.pdf", ctype="application/pdf")
    assert slip.status_code == 201, slip.text
    manager = await staff.headers("cs_manager")

    async def audit() -> list:
        return (await api.get("/audit/personal-data", params={"case_no": no}, headers=manager)).json()
    before = len(await audit())
    got = await api.get(f"/cases/{no}/files/{slip.json()['id']}", headers=butler)
    assert got.status_code == 200 and got.content == pdf()
    records = await eventually(lambda: _more(audit, before))
    assert any(slip.json()["id"] in str(r) for r in records)


async def _more(audit, before: int):
    records = await audit()
    return records if len(records) > before else None


@pytest.mark.asyncio
async def test_D3_the_history_holds_references_not_bytes(api, staff, dev_env):
    """Claim check: three photos of about 1 MB each grow the case's history by their references and the
    Updates that carried them (a few KB each), not by their bytes; no decoded payload holds the photo."""
    from temporalio.api.common.v1 import Payload
    from tests.support import codec
    no = await new_repair(api, staff)
    handle = dev_env.client.get_workflow_handle(no)
    before = (await handle.describe()).raw_description.workflow_execution_info.history_size_bytes
    lead = await staff.headers("repair_lead")
    sent = [photo("jpeg", noise_bytes=1_500_000) for _ in range(3)]
    refs = []
    for data in sent:
        r = await upload(api, lead, no, data, step="before_work")
        assert r.status_code == 201, r.text
        refs.append(r.json())
    after = (await handle.describe()).raw_description.workflow_execution_info.history_size_bytes
    assert sum(len(d) for d in sent) > 2_500_000 and after - before < 3 * 8 * 1024, (before, after)
    payloads: list[Payload] = []
    for event in (await handle.fetch_history()).events:
        stack = [event]
        while stack:   # every Payload anywhere in the event
            message = stack.pop()
            for _, value in message.ListFields():
                items = value if isinstance(value, (list, tuple)) or hasattr(value, "extend") else [value]
                for item in items:
                    if isinstance(item, Payload):
                        payloads.append(item)
                    elif hasattr(item, "ListFields"):
                        stack.append(item)
                    elif hasattr(item, "values") and callable(item.values):
                        stack.extend(v for v in item.values() if hasattr(v, "ListFields"))
    decoded = b"".join(p.data for p in codec.converter().payload_codec.decode_sync(payloads))
    from aftersales.files import pack_hash   # the references are there, packed (base64url hashes) ...
    assert all(pack_hash(r["sha256"]).encode() in decoded for r in refs)
    assert not any(d[:4096] in decoded for d in sent) and b"TestPhone" not in decoded   # ... the bytes are not

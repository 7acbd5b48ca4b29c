"""The owner's photos over HTTP on a real dev server and worker (O2, O3, O4; D1, D3): filing a repair with photos
on /o/ (checked before anything is filed or stored, a refused photo named), adding more to their open case, the
case page showing the photos meant for them through signed links (never the survey's), another owner's case and
files 404, and staff seeing the owner's photos with their provenance."""

import random
import re
from urllib.parse import unquote
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from adapters.db.properties import import_units
from adapters.temporal.sealing import Sealer
from aftersales.messages import BEIJING
from aftersales.privacy import phone_lookup_hash
from aftersales.properties import UnitRecord
from api.owner_files import owner_link
from tests.e2e.conftest import eventually
from tests.e2e.test_files_http import stored, upload
from tests.e2e.test_owner_http import _csrf, owner_signed_in
from tests.e2e.test_workbench_http import sign_in
from tests.support.images import location_of, photo

CASE_LINK = re.compile(r"/o/cases/([A-Z]{2}-\d{4}-\d{6})")


async def owner_with_unit(sessionmaker, settings, project: str) -> str:
    phone = f"137{random.randrange(10**8):08d}"
    async with sessionmaker() as session:
        await import_units(session, [UnitRecord(project=project, building="5栋", unit=str(random.randrange(100, 3000)),
                                                sold=True, occupied=True, owner_name="钱女士", owner_phone=phone)],
                           by="test", company_id="rq", filename="t.csv", now=datetime.now(timezone.utc),
                           seal=Sealer.from_settings(settings).seal,
                           phone_hash=lambda p: phone_lookup_hash(p, settings.phone_lookup_key))
    return phone


def jpeg(i: int) -> tuple[str, bytes, str]:
    return (f"手机照片{i}.jpg", photo("jpeg", color=(20 * i % 255, 90, 140)), "image/jpeg")


def photo_links(html: str) -> list[str]:
    return re.findall(r'href="(/o/files/[^"]+)"', html)


@pytest.mark.asyncio
async def test_O3_O2_the_owner_files_with_photos_adds_more_and_sees_those_meant_for_them(api, staff, settings,
                                                                                         sessionmaker):
    phone = await owner_with_unit(sessionmaker, settings, "照片花园")
    other = await owner_with_unit(sessionmaker, settings, "别家花园")
    await owner_signed_in(api, settings, phone)
    unit_id = re.search(r"/o/new/repair\?unit=(\d+)", (await api.get("/o/home")).text).group(1)
    page = (await api.get(f"/o/new/repair?unit={unit_id}")).text
    assert 'type="file"' in page and 'accept="image/*"' in page and "capture" in page and "multiple" in page
    key = re.search(r'name="key" value="([0-9a-f]+)"', page).group(1)
    form = {"csrf": _csrf(page), "key": key, "unit_id": unit_id, "trade": "水电", "description": "卫生间顶棚漏水",
            "requested_appointment": (datetime.now(BEIJING) + timedelta(days=1)).strftime("%Y-%m-%dT10:00")}

    # a photo that is no image: the form again, naming it, nothing filed, nothing stored (D1)
    bad = await api.post("/o/new/repair", data=form, files=[("file", jpeg(1)), ("file", ("漏水.jpg", b"GIF89a" + b"\0" * 5000, "image/jpeg"))])
    assert bad.status_code == 415 and "第 2 个文件（漏水.jpg）" in bad.text and "卫生间顶棚漏水" in bad.text, bad.text
    assert "暂无案件" in (await api.get("/o/home")).text and stored(settings) == []

    # two photos with the repair: filed, and both on its intake step with the owner's provenance
    filed = await api.post("/o/new/repair", data=form, files=[("file", jpeg(1)), ("file", jpeg(2))])
    assert filed.status_code == 303, filed.text
    case_no = CASE_LINK.search(filed.headers["location"]).group(1)
    again = await api.post("/o/new/repair", data=form, files=[("file", jpeg(1)), ("file", jpeg(2))])   # a double tap
    assert CASE_LINK.search(again.headers["location"]).group(1) == case_no
    cs = await staff.headers("cs_staff")
    view = (await api.get(f"/cases/{case_no}", headers=cs)).json()
    assert [f["step"] for f in view["files"]] == ["intake", "intake"] and all(f["for_owner"] for f in view["files"])
    entries = [t for t in view["timeline"] if t["kind"] == "file"]
    assert len(entries) == 2 and all(t["provenance"]["by"] == "owner" and t["provenance"]["means"] == "code"
                                     for t in entries) and all("业主上传" in t["text"] for t in entries)

    # staff add a survey photo (internal) and one before the work (for the owner)
    lead = await staff.headers("repair_lead")
    survey = (await upload(api, lead, case_no, photo("png", color=(1, 2, 3)), step="survey")).json()
    before = (await upload(api, lead, case_no, photo("png", color=(4, 5, 6)), step="before_work")).json()
    assert not survey["for_owner"] and before["for_owner"]

    async def listed() -> list[str]:
        html = (await api.get(f"/o/cases/{case_no}")).text
        links = photo_links(html)
        return links if len(links) == 3 else None   # the register follows the case within moments
    links = await eventually(listed, 30)
    assert all("/o/files/" in link for link in links) and case_no not in "".join(links)   # the link names no case
    got = await api.get(links[0])
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg" and location_of(got.content) == {}
    assert got.headers["x-content-type-options"] == "nosniff" and "inline" in got.headers["content-disposition"]
    html = (await api.get(f"/o/cases/{case_no}")).text
    assert html.count("我上传的") == 2 and "施工前" in html and "查勘" not in html            # O2: not the survey's
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(settings=settings)))
    assert (await api.get(owner_link(request, case_no, survey["id"]))).status_code == 404     # not even by a link
    expired = owner_link(request, case_no, before["id"], now=datetime.now(timezone.utc).timestamp() - 3600)
    assert (await api.get(expired)).status_code == 404
    assert (await api.get(links[0][:-3] + "AAA")).status_code == 404                            # tampered

    # more photos to the open case: all or nothing, a refused one named
    page = (await api.get(f"/o/cases/{case_no}")).text
    add = {"csrf": _csrf(page), "key": re.search(r'name="key" value="([0-9a-f]+)"', page).group(1)}
    refused = await api.post(f"/o/cases/{case_no}/files", data=add,
                             files=[("file", jpeg(3)), ("file", ("坏.jpg", photo("jpeg")[:1500], "image/jpeg"))])
    assert refused.status_code == 422 and "第 2 个文件（坏.jpg）" in refused.text, refused.text
    assert (await api.post(f"/o/cases/{case_no}/files", data={**add, "csrf": "0" * 32},
                           files=[("file", jpeg(3))])).status_code == 403                    # a stale form
    added = await api.post(f"/o/cases/{case_no}/files", data=add, files=[("file", jpeg(3)), ("file", jpeg(4))])
    assert added.status_code == 303 and "已添加 2 张照片" in unquote(added.headers["location"])
    retried = await api.post(f"/o/cases/{case_no}/files", data=add, files=[("file", jpeg(3)), ("file", jpeg(4))])
    assert retried.status_code == 303
    view = (await api.get(f"/cases/{case_no}", headers=cs)).json()
    assert [f["step"] for f in view["files"]].count("intake") == 4                             # once, not twice

    # another owner: the case, its photos and adding to it are not there (404)
    await owner_signed_in(api, settings, other)
    assert (await api.get(f"/o/cases/{case_no}")).status_code == 404
    assert (await api.get(links[0])).status_code == 404
    assert (await api.post(f"/o/cases/{case_no}/files", data=add, files=[("file", jpeg(5))])).status_code in (403, 404)
    page = (await api.get("/o/home")).text
    assert (await api.post(f"/o/cases/{case_no}/files", data={**add, "csrf": _csrf(page)},
                           files=[("file", jpeg(5))])).status_code == 404

    # staff see the owner's photos in the gallery with their provenance (uploaded by the owner, O4)
    await sign_in(api, "cs_staff", settings.demo_password)
    gallery = (await api.get(f"/app/cases/{case_no}")).text
    section = gallery[gallery.index('class="gallery"'):gallery.index('id="timeline"')]   # the gallery alone: the
    assert section.count("业主本人（验证码登录）") == 4 and "施工前" in section              # timeline says it too (O4)
    assert gallery[gallery.index('id="timeline"'):].count("业主本人（验证码登录）") == 5    # the intake and the 4 photos
    files = (await api.get(f"/cases/{case_no}/files", headers=cs)).json()["files"]
    assert sum(f["by_owner"] for f in files) == 4 and not any(f["by_owner"] for f in files if f["step"] != "intake")


async def owner_case_without_photos(api, settings, sessionmaker, project: str) -> tuple[str, str]:
    """An owner signed in who filed a repair (no photo): (their phone, the case's number)."""
    phone = await owner_with_unit(sessionmaker, settings, project)
    await owner_signed_in(api, settings, phone)
    unit_id = re.search(r"/o/new/repair\?unit=(\d+)", (await api.get("/o/home")).text).group(1)
    page = (await api.get(f"/o/new/repair?unit={unit_id}")).text
    form = {"csrf": _csrf(page), "key": re.search(r'name="key" value="([0-9a-f]+)"', page).group(1),
            "unit_id": unit_id, "trade": "水电", "description": "阳台渗水",
            "requested_appointment": (datetime.now(BEIJING) + timedelta(days=1)).strftime("%Y-%m-%dT10:00")}
    filed = await api.post("/o/new/repair", data=form)
    assert filed.status_code == 303, filed.text
    return phone, CASE_LINK.search(filed.headers["location"]).group(1)


@pytest.mark.asyncio
async def test_D1_P3_the_owners_retried_upload_that_filled_the_step_and_their_downloads_are_their_own(
        api, staff, settings, sessionmaker):
    phone, case_no = await owner_case_without_photos(api, settings, sessionmaker, "重试花园")
    page = (await api.get(f"/o/cases/{case_no}")).text
    add = {"csrf": _csrf(page), "key": re.search(r'name="key" value="([0-9a-f]+)"', page).group(1)}
    twenty = [("file", jpeg(30 + i)) for i in range(20)]
    first = await api.post(f"/o/cases/{case_no}/files", data=add, files=twenty)
    assert first.status_code == 303 and "已添加 20 张照片" in unquote(first.headers["location"]), first.text
    # D1: a retried request (the same form key and photos) that filled the step answers as the first time
    retried = await api.post(f"/o/cases/{case_no}/files", data=add, files=twenty)
    assert retried.status_code == 303, retried.text
    assert unquote(retried.headers["location"]) == unquote(first.headers["location"])
    cs = await staff.headers("cs_staff")
    assert len((await api.get(f"/cases/{case_no}", headers=cs)).json()["files"]) == 20

    # P3: the owner's download of a photo showing a person is recorded as that owner (an opaque id, no phone)
    lead = await staff.headers("repair_lead")
    shown = await api.post(f"/cases/{case_no}/files", params={"step": "before_work", "kind": "photo"},
                           files={"file": ("p.jpg", photo("jpeg", color=(9, 9, 9)), "image/jpeg")},
                           data={"shows_person": "true"}, headers=lead)
    assert shown.status_code == 201 and shown.json()["for_owner"] and shown.json()["shows_person"], shown.text
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(settings=settings)))

    async def registered():
        return (await api.get(owner_link(request, case_no, shown.json()["id"]))).status_code == 200 or None
    await eventually(registered, 30)
    manager = await staff.headers("cs_manager")
    records = [r for r in (await api.get("/audit/personal-data", params={"case_no": case_no}, headers=manager)).json()
               if shown.json()["id"] in r["endpoint"]]
    async with sessionmaker() as session:
        from sqlalchemy import select
        from adapters.db.models import OwnerSession
        hmacs = set(await session.scalars(select(OwnerSession.phone_hmac)))
    assert len(records) == 1, records
    assert records[0]["username"] != "owner_app" and records[0]["role"] == "owner", records
    assert records[0]["username"].removeprefix("owner:") in hmacs
    assert phone not in str(records)


@pytest.mark.asyncio
async def test_O4_D1_each_file_says_whether_the_owner_gave_it_or_staff_recorded_it_and_a_rebuild_keeps_it(
        api, staff, settings, sessionmaker, dev_env):
    from sqlalchemy import delete, select

    from activities.projection import write_projections
    from adapters.db.models import CaseFile
    from ops.rebuild_register import _ask

    _, case_no = await owner_case_without_photos(api, settings, sessionmaker, "来源花园")
    page = (await api.get(f"/o/cases/{case_no}")).text
    add = {"csrf": _csrf(page), "key": re.search(r'name="key" value="([0-9a-f]+)"', page).group(1)}
    assert (await api.post(f"/o/cases/{case_no}/files", data=add, files=[("file", jpeg(60))])).status_code == 303
    lead = await staff.headers("repair_lead")
    assert (await upload(api, lead, case_no, photo("png", color=(7, 7, 7)), step="before_work")).status_code == 201

    async def provenance() -> dict | None:
        async with sessionmaker() as session:
            rows = dict((await session.execute(select(CaseFile.added_by, CaseFile.provenance)
                                               .where(CaseFile.case_no == case_no))).all())
        return rows if len(rows) == 2 else None
    assert await eventually(provenance, 30) == {"owner_app": "owner", "repair_lead": "staff"}
    cs = await staff.headers("cs_staff")
    listed = (await api.get(f"/cases/{case_no}/files", headers=cs)).json()["files"]
    assert sorted((f["by"], f["provenance"]) for f in listed) == [("owner_app", "owner"), ("repair_lead", "staff")]
    await sign_in(api, "cs_staff", settings.demo_password)
    gallery = (await api.get(f"/app/cases/{case_no}")).text
    section = gallery[gallery.index('class="gallery"'):gallery.index('id="timeline"')]
    assert "上传人：业主本人" in section and "上传人：孙建国" in section, section   # the staff member by name

    # C1: the register rebuilt from Temporal brings the provenance back
    async with sessionmaker() as session, session.begin():
        await session.execute(delete(CaseFile).where(CaseFile.case_no == case_no))
    answer = await _ask(dev_env.client, case_no)
    async with sessionmaker() as session, session.begin():
        await write_projections(session, [answer.projection])
    assert await provenance() == {"owner_app": "owner", "repair_lead": "staff"}

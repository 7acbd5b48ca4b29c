"""Several files in one upload over HTTP against a real dev server and worker (D1, D3): each file checked —
its type by content, 10 MB, the step's room of 20, an image that decodes — before anything is stored; one bad
file is a 4xx naming that file and nothing is stored or attached (all or nothing); a retried request (the same
Idempotency-Key, or the same files without one) never attaches twice. And P3: each download of a photo marked
as showing a person is recorded."""

import pytest

from tests.e2e.conftest import eventually, unique_key
from tests.e2e.test_files_http import new_repair, stored
from tests.support.images import photo, pdf


async def upload_many(api, headers: dict, no: str, parts: list[tuple[str, bytes, str]], *, step="before_work",
                      kind="photo", key: str | None = None, extra: dict | None = None):
    return await api.post(f"/cases/{no}/files", params={"step": step, "kind": kind},
                          files=[("file", p) for p in parts], data=extra or {},
                          headers={**headers, **({"Idempotency-Key": key} if key else {})})


def jpeg(i: int) -> tuple[str, bytes, str]:
    return (f"IMG_{i:04d}.jpg", photo("jpeg", color=(i * 7 % 255, 30, 60)), "image/jpeg")


@pytest.mark.asyncio
async def test_D1_several_files_in_one_request_are_all_or_nothing_and_a_retry_attaches_once(api, staff, settings):
    no = await new_repair(api, staff)
    lead = await staff.headers("repair_lead")

    async def files_now() -> list[str]:
        return [f["id"] for f in (await api.get(f"/cases/{no}", headers=lead)).json()["files"]]

    # one bad file among good ones: the answer names it (its place and its name), nothing stored, nothing attached
    gif = b"GIF89a" + b"\x00" * 5000
    r = await upload_many(api, lead, no, [jpeg(1), jpeg(2), ("leak.jpg", gif, "image/jpeg")])
    assert r.status_code == 415 and "第 3 个文件" in r.json()["detail"] and "leak.jpg" in r.json()["detail"], r.text
    r = await upload_many(api, lead, no, [jpeg(1), ("cut.jpg", photo("jpeg")[:1500], "image/jpeg"), jpeg(2)])
    assert r.status_code == 422 and "第 2 个文件" in r.json()["detail"] and "cut.jpg" in r.json()["detail"], r.text
    big = photo("jpeg", noise_bytes=16_000_000)
    r = await upload_many(api, lead, no, [jpeg(1), ("big.jpg", big, "image/jpeg")])
    assert r.status_code == 413 and "第 2 个文件" in r.json()["detail"] and "10 MB" in r.json()["detail"], r.text
    r = await upload_many(api, lead, no, [jpeg(1), ("slip.pdf", pdf(), "application/pdf")])   # a PDF is no photo
    assert r.status_code == 422 and "第 2 个文件" in r.json()["detail"] and "slip.pdf" in r.json()["detail"]
    assert stored(settings) == [] and await files_now() == []

    # three good ones: all attached in one act, each with its own reference
    key = unique_key()
    r = await upload_many(api, lead, no, [jpeg(1), jpeg(2), jpeg(3)], key=key)
    assert r.status_code == 201, r.text
    added = r.json()["files"]
    assert len(added) == 3 and len({f["id"] for f in added}) == 3 and all(f["by"] == "repair_lead" for f in added)
    assert await files_now() == [f["id"] for f in added]
    assert len(stored(settings)) == 6   # each file and its thumbnail, encrypted
    # the same request again (same key): the same references, nothing attached twice
    again = await upload_many(api, lead, no, [jpeg(1), jpeg(2), jpeg(3)], key=key)
    assert again.status_code == 201 and again.json()["files"] == added   # the first answer again
    # ... and without a key: the same content on the same step is the same file
    again = await upload_many(api, lead, no, [jpeg(2), jpeg(3)])
    assert again.status_code == 200 and await files_now() == [f["id"] for f in added]
    # the key with other files: refused, nothing attached
    other = await upload_many(api, lead, no, [jpeg(4)], key=key)
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"], other.text
    assert len(await files_now()) == 3

    # the step's room: 3 are on it, 17 fit; 18 in one request are refused before they are stored, naming the limit
    before = stored(settings)
    r = await upload_many(api, lead, no, [jpeg(10 + i) for i in range(18)])
    assert r.status_code == 422 and "20" in r.json()["detail"] and "第 18 个文件" in r.json()["detail"], r.text
    assert stored(settings) == before and len(await files_now()) == 3
    r = await upload_many(api, lead, no, [jpeg(10 + i) for i in range(17)])
    assert r.status_code == 201 and len(r.json()["files"]) == 17


@pytest.mark.asyncio
async def test_P3_each_download_of_a_photo_showing_a_person_is_recorded(api, staff):
    no = await new_repair(api, staff)
    lead = await staff.headers("repair_lead")
    r = await upload_many(api, lead, no, [jpeg(1), jpeg(2)], extra={"shows_person": "true"})
    assert r.status_code == 201, r.text
    people = r.json()["files"]
    plain = (await upload_many(api, lead, no, [jpeg(3)], step="after_work")).json()
    manager = await staff.headers("cs_manager")

    async def audit() -> list:
        return (await api.get("/audit/personal-data", params={"case_no": no}, headers=manager)).json()
    assert all(f["shows_person"] for f in people) and not plain["shows_person"]
    start = len(await audit())
    assert (await api.get(f"/cases/{no}/files/{plain['id']}", headers=lead)).status_code == 200   # not recorded
    assert (await api.get(f"/cases/{no}/files/{people[0]['id']}", params={"variant": "thumbnail"},
                          headers=lead)).status_code == 200                                           # a thumbnail: not
    assert (await api.get(f"/cases/{no}/files/{people[0]['id']}", headers=lead)).status_code == 200
    listed = (await api.get(f"/cases/{no}/files", headers=manager)).json()["files"]
    link = next(f["url"] for f in listed if f["id"] == people[1]["id"])
    assert (await api.get(link)).status_code == 200                                                  # by signed link

    async def recorded():
        records = await audit()
        return records if len(records) >= start + 2 else None
    records = await eventually(recorded)
    texts = [str(r) for r in records]
    assert sum(people[0]["id"] in t for t in texts) == 1 and sum(people[1]["id"] in t for t in texts) == 1
    assert not any(plain["id"] in t for t in texts)
    assert any("repair_lead" in t for t in texts if people[0]["id"] in t)
    assert any("cs_manager" in t for t in texts if people[1]["id"] in t)


@pytest.mark.asyncio
async def test_D1_a_retried_upload_that_filled_its_step_answers_as_the_first_time(api, staff):
    """A retried request never acts twice and never answers differently: the same Idempotency-Key and files that
    filled the step to its 20 answer 201 with the same references again (not 422 for a full step)."""
    no = await new_repair(api, staff)
    lead = await staff.headers("repair_lead")
    assert (await upload_many(api, lead, no, [jpeg(1)], step="after_work")).status_code == 201
    key, batch = unique_key(), [jpeg(100 + i) for i in range(19)]
    first = await upload_many(api, lead, no, batch, step="after_work", key=key)
    assert first.status_code == 201 and len(first.json()["files"]) == 19, first.text
    again = await upload_many(api, lead, no, batch, step="after_work", key=key)
    assert again.status_code == 201, again.text
    assert again.json() == first.json()   # the same references: who, when, ids
    files = (await api.get(f"/cases/{no}", headers=lead)).json()["files"]
    assert len(files) == 20
    # the full step still refuses another request before its body (422 naming the limit) ...
    other = await upload_many(api, lead, no, [jpeg(200)], step="after_work", key=unique_key())
    assert other.status_code == 422 and "20" in other.json()["detail"], other.text
    # ... and the key with other files (422 naming the key), nothing attached
    other = await upload_many(api, lead, no, [jpeg(200)], step="after_work", key=key)
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"], other.text
    assert len((await api.get(f"/cases/{no}", headers=lead)).json()["files"]) == 20

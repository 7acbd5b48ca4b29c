"""Photos and documents (D1–D3): how much a case's history grows with its photos, and how fast photos
are taken in, on the embedded default (local folder) and on the S3 path (moto's S3 server on loopback).

    .venv/bin/python -m benchmarks.files_bench                       # 40 photos; 20 at once of 3 MB (and in one request)
    .venv/bin/python -m benchmarks.files_bench --photos 4 --concurrent 2 --mb 0.2   # toy size

A dev server (`temporal server start-dev`), a worker and the API in this process (httpx's ASGITransport),
SQLite. Real JPEGs with a GPS location (random pixels: incompressible), each through the whole upload:
streamed and counted, its type sniffed, decoded, saved without its location, a thumbnail made, both encrypted
and stored, the reference sent to the case's Update and projected. Prints figures; asserts nothing.
"""

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from adapters.bootstrap import prepare_database
from adapters.config import Settings
from adapters.db.session import make_engine, make_sessionmaker
from adapters.temporal import search_attributes as sa
from api.app import create_app
from tests.conftest import binary
from tests.support import codec
from tests.support.images import photo
from tests.support.s3 import S3Server
from tests.support.smtp import SMTPServer
from worker import build_worker

IN_TWO_DAYS = (datetime.now(timezone(timedelta(hours=8))) + timedelta(days=2)).replace(
    hour=10, minute=0, second=0, microsecond=0).isoformat()
REPAIR = {"customer": {"name": "测试", "phone": "13700002222", "project": "融侨城", "building": "1栋", "unit": "101"},
          "trades": ["水电"], "description": "基准测试", "requested_appointment": IN_TWO_DAYS}


async def token(api: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    r = await api.post("/auth/token", data={"username": username, "password": password})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def new_repair(api: httpx.AsyncClient, headers: dict) -> str:
    r = await api.post("/repairs", json=REPAIR, headers=headers, params={})
    assert r.status_code == 201, r.text
    return r.json()["case_no"]


async def upload(api: httpx.AsyncClient, headers: dict, no: str, data: bytes, step: str) -> int:
    r = await api.post(f"/cases/{no}/files", params={"step": step, "kind": "photo"},
                       files={"file": ("p.jpg", data, "image/jpeg")}, headers=headers)
    return r.status_code


async def upload_many(api: httpx.AsyncClient, headers: dict, no: str, batch: list[bytes], step: str) -> int:
    r = await api.post(f"/cases/{no}/files", params={"step": step, "kind": "photo"},
                       files=[("file", (f"p{i}.jpg", data, "image/jpeg")) for i, data in enumerate(batch)],
                       headers=headers)
    return r.status_code


def photos(n: int, mb: float) -> list[bytes]:
    return [photo("jpeg", noise_bytes=int(mb * 1.5e6)) for _ in range(n)]


async def history_bytes(env: WorkflowEnvironment, no: str) -> tuple[int, int]:
    d = await env.client.get_workflow_handle(no).describe()
    info = d.raw_description.workflow_execution_info
    return info.history_length, info.history_size_bytes


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="files-bench-") as folder:  # its photos and read model go with it
        await run_in(args, Path(folder))


async def run_in(args: argparse.Namespace, tmp: Path) -> None:
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=binary("temporal"),
                                                data_converter=codec.converter(), search_attributes=sa.ALL,
                                                ip="127.0.0.1", ui=False)
    with SMTPServer() as smtp, S3Server() as s3:
        base = dict(database_url=f"sqlite+aiosqlite:///{tmp / 'read-model.db'}", smtp_host="127.0.0.1",
                    smtp_port=smtp.port, bcrypt_rounds=4, task_queue=f"bench-{uuid.uuid4().hex[:8]}",
                    jwt_secret_file=str(tmp / "jwt"), phone_lookup_key_file=str(tmp / "phone"), **codec.CODEC)
        local = Settings(**base, files_dir=str(tmp / "files"))
        await prepare_database(local)
        engine = make_engine(local.database_url)
        maker = make_sessionmaker(engine)
        async with env, build_worker(env.client, local, maker):
            print(f"photos of ~{args.mb} MB (JPEG of random pixels, with EXIF GPS), each through the whole upload\n")
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(local, temporal=env.client,
                                                                                          sessionmaker=maker)),
                                         base_url="http://api", timeout=300) as api:
                hotline = await token(api, "hotline", local.demo_password)
                lead = await token(api, "repair_lead", local.demo_password)
                # ---- history: a case with N photos vs the same case with none -----------------------
                bare, with_photos = await new_repair(api, hotline), await new_repair(api, hotline)
                sent = 0
                for i, data in enumerate(photos(args.photos, args.mb)):
                    assert await upload(api, lead, with_photos, data, ("before_work", "after_work")[i % 2]) == 201
                    sent += len(data)
                (e0, b0), (e1, b1) = await history_bytes(env, bare), await history_bytes(env, with_photos)
                print(f"history of a repair, no photos:        {e0:5d} events {b0 / 1024:9.1f} KiB")
                print(f"history of a repair, {args.photos:3d} photos:       {e1:5d} events {b1 / 1024:9.1f} KiB "
                      f"(photos sent: {sent / 1024 / 1024:.1f} MiB)")
                print(f"history growth per photo:              {(e1 - e0) / max(args.photos, 1):5.1f} events "
                      f"{(b1 - b0) / max(args.photos, 1) / 1024:9.2f} KiB (its reference, the Update, the projection)")
                # D1: the same photos sent up to 20 a request (a step's room): one act per request
                batched = await new_repair(api, hotline)
                for step in ("before_work", "after_work"):
                    share = [d for i, d in enumerate(photos(args.photos, args.mb)) if ("before_work", "after_work")[i % 2] == step]
                    for at in range(0, len(share), 20):
                        assert await upload_many(api, lead, batched, share[at:at + 20], step) == 201
                e2, b2 = await history_bytes(env, batched)
                print(f"history of a repair, {args.photos:3d} photos, 20 a request: {e2:5d} events {b2 / 1024:9.1f} KiB "
                      f"(growth {(b2 - b0) / 1024:.1f} KiB)\n")
                await throughput(api, hotline, lead, args, "embedded default (local folder)")
            s3_settings = Settings(**base, **s3.settings())
            app = create_app(s3_settings, temporal=env.client, sessionmaker=maker)
            await app.state.files.blobs.ensure_bucket()
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api",
                                         timeout=300) as api:
                await throughput(api, await token(api, "hotline", local.demo_password),
                                 await token(api, "repair_lead", local.demo_password), args,
                                 "S3 path (moto's S3 server on loopback)")
            await app.state.files.aclose()
        await engine.dispose()


async def throughput(api, hotline, lead, args, label: str) -> None:
    no = await new_repair(api, hotline)
    batch = photos(args.concurrent, args.mb)
    started = time.perf_counter()
    codes = await asyncio.gather(*(upload(api, lead, no, data, "after_work") for data in batch))
    took = time.perf_counter() - started
    total = sum(len(d) for d in batch) / 1024 / 1024
    ok = codes.count(201)
    print(f"{label:40s} {args.concurrent} at once: {ok} stored, {len(codes) - ok} errors, {took:6.2f} s, "
          f"{ok / took:5.2f} photos/s, {total / took:5.2f} MiB/s")
    # D1: the same number of photos in one multipart request (each checked before any is stored, one act)
    no = await new_repair(api, hotline)
    batch = photos(args.concurrent, args.mb)
    started = time.perf_counter()
    code = await upload_many(api, lead, no, batch, "after_work")
    took = time.perf_counter() - started
    ok = len(batch) if code == 201 else 0
    print(f"{label + ', one request':52s} {args.concurrent} in it: {ok} stored, {len(batch) - ok} errors, "
          f"{took:6.2f} s, {ok / took:5.2f} photos/s, {total / took:5.2f} MiB/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=40, help="photos on the case whose history is measured")
    parser.add_argument("--concurrent", type=int, default=20, help="photos uploaded at once (at most 20 a step)")
    parser.add_argument("--mb", type=float, default=3.0, help="about how big each photo is")
    args = parser.parse_args()
    import logging

    from adapters.logging import configure_logging
    configure_logging("WARNING")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)   # moto's server logs each request
    asyncio.run(run(args))


if __name__ == "__main__":
    main()

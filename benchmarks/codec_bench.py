"""The payload codec's cost (P4): Update latency per action with and without the encryption codec, in
the same run on the same Temporal dev server (loopback, started and stopped here), plus the codec's
own time per payload. Prints figures; asserts nothing about time.

    .venv/bin/python -m benchmarks.codec_bench                  # 15 complaints per converter
    .venv/bin/python -m benchmarks.codec_bench --cases 100

Two in-process workers on two task queues of one dev server: one whose client uses the plain pydantic
converter (as before P4), one using adapters.temporal.codec.data_converter (what the API and the worker use
now). Cases alternate between them, one at a time, each a start + `opened` Update then three `act`
Updates (classify, assign_handler, department_feedback: what POST /cases/{no}/actions sends), so both
see the same server, load and drift. Every wait is bounded; everything is shut down at the end.
"""

import argparse
import asyncio
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from adapters.temporal import search_attributes as sa
from adapters.temporal.codec import codec_from_settings, converter_with, new_key
from adapters.config import Settings
from benchmarks.workflow_bench import (
    Results, bounded, free_port, intake, ms, one_case, opening, pct, read_model, stop_worker, temporal_cli,
)
from worker import build_worker


async def codec_micro(settings: Settings, rounds: int) -> tuple[float, float, int]:
    """(µs to encode, µs to decode) one payload the size of a complaint's intake, and its size in bytes."""
    codec = codec_from_settings(settings)
    payloads = pydantic_data_converter.payload_converter.to_payloads([intake("5栋").model_dump(mode="json")] * 8)
    t = time.perf_counter()
    for _ in range(rounds):
        encoded = codec.encode_sync(payloads)
    enc = (time.perf_counter() - t) / (rounds * len(payloads))
    t = time.perf_counter()
    for _ in range(rounds):
        codec.decode_sync(encoded)
    dec = (time.perf_counter() - t) / (rounds * len(payloads))
    return enc * 1e6, dec * 1e6, sum(p.ByteSize() for p in payloads) // len(payloads)


async def run(args: argparse.Namespace) -> None:
    from adapters.logging import configure_logging
    configure_logging(args.log_level)

    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="aftersales-codec-bench-"))
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp / 'read-model.db'}", smtp_host="127.0.0.1",
                        smtp_port=free_port(), bcrypt_rounds=4, codec_keys=dict([new_key()]))
    env = engine = None
    workers: list = []
    try:
        engine, maker = await read_model(settings)
        env = await bounded(WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(), search_attributes=sa.ALL, ip="127.0.0.1", ui=False),
            90, "Temporal dev server start")
        address = env.client.service_client.config.target_host
        modes: dict[str, tuple[Client, Settings]] = {}
        for name, converter in (("plain JSON (before P4)", pydantic_data_converter),
                                ("AES-256-GCM codec (P4)", converter_with(codec_from_settings(settings)))):
            client = await Client.connect(address, data_converter=converter)
            mode_settings = settings.model_copy(update={"task_queue": f"bench-{uuid.uuid4().hex[:8]}"})
            worker = build_worker(client, mode_settings, maker)
            workers.append((worker, asyncio.create_task(worker.run())))
            modes[name] = (client, mode_settings)

        results = {name: Results() for name in modes}
        n = 0
        for i in range(args.warmup + args.cases):  # alternate, one case at a time
            for name, (client, mode_settings) in (modes.items() if i % 2 == 0 else reversed(modes.items())):
                n += 1
                res = results[name] if i >= args.warmup else None
                await one_case(client, mode_settings, f"TS-2026-{n:06d}", f"{n}栋", res, args.step_timeout,
                               await opening(mode_settings, maker))

        print(f"\ncodec_bench: {args.cases} complaints per converter (+{args.warmup} warm-up each), alternating, "
              f"one at a time; Temporal dev server on 127.0.0.1")
        print(f"\n{'Update latency per action (ms)':<34}{'n':>5}{'p50':>9}{'p99':>9}{'max':>9}")
        print("-" * 66)
        p50s = {}
        for name, res in results.items():
            acts = [x for xs in res.act.values() for x in xs]
            p50s[name] = pct(acts, 50)
            print(f"{name:<34}{len(acts):>5}{ms(pct(acts, 50)):>9}{ms(pct(acts, 99)):>9}{ms(max(acts)):>9}")
            if res.errors:
                print(f"  errors: {res.errors[:3]}")
        plain, coded = p50s.values()
        print(f"{'difference at p50':<34}{'':>5}{ms(coded - plain):>9}")
        enc, dec, size = await codec_micro(settings, args.micro_rounds)
        print(f"\ncodec alone, per payload of {size} bytes: encode {enc:.1f} µs, decode {dec:.1f} µs")
    finally:
        for worker, task in workers:
            await stop_worker(worker, task)
        if env is not None:
            await bounded(env.shutdown(), 30, "dev server shutdown")
        if engine is not None:
            await engine.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\ncodec_bench done in {time.perf_counter() - started:.1f} s")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="python -m benchmarks.codec_bench")
    p.add_argument("--cases", type=int, default=15, help="complaints per converter (default 15: 45 acts each)")
    p.add_argument("--warmup", type=int, default=1, help="uncounted cases per converter first (default 1)")
    p.add_argument("--micro-rounds", type=int, default=2000, help="rounds of the codec-alone timing (default 2000)")
    p.add_argument("--step-timeout", type=float, default=30.0, help="bound on each start / Update, s (default 30)")
    p.add_argument("--log-level", default="ERROR", help="the app's log level, on stderr (default ERROR)")
    args = p.parse_args(argv)
    if args.cases < 1 or args.warmup < 0:
        p.error("--cases must be >= 1 and --warmup >= 0")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()

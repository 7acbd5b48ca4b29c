"""The preforking launcher of the test processes (tests/support/zygote.py): a child of it behaves as the
subprocess the command line would start (its own env, cwd, log, exit status, signals, the descriptor passed),
the launcher outlives a child's crash, and closing it leaves no process behind."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.zygote import Zygote, ZygoteChild, zygote

# Bounds, not speeds: a child's start and exit take milliseconds on a quiet machine and seconds on a loaded one
# (a whole suite beside two busy loops once took over 10 s to report a crash); the tests check what happens.
WAIT = 60

SCRIPT = """
import os, sys, time, socket
print("argv", sys.argv[1:], "cwd", os.getcwd(), flush=True)
print("env", sorted(os.environ.items()), flush=True)
print("fds", sorted(int(f) for f in os.listdir("/proc/self/fd")), flush=True)
print("pgid", os.getpgid(0) == os.getpid(), flush=True)
import signal
print("signals", [(s, str(signal.getsignal(s))) for s in sorted(signal.valid_signals()) if signal.getsignal(s) is not None],
      flush=True)
mode = sys.argv[1]
if mode == "write-to-closed":
    a, b = socket.socketpair()
    b.close()
    try:
        for _ in range(100):
            a.send(b"x" * 65536)
    except BrokenPipeError:
        print("BrokenPipeError", flush=True)
    sys.exit(0)
if mode == "exit":
    sys.exit(int(sys.argv[2]))
if mode == "crash":
    raise RuntimeError("boom")
if mode == "serve":
    s = socket.socket(fileno=int(sys.argv[2]))
    c, _ = s.accept(); c.sendall(b"hello from " + str(os.getpid()).encode()); c.close()
time.sleep(600)
"""


@pytest.fixture
def launcher():
    """The suite worker's own launcher, the one its end-to-end tests use (its start, the product imported, is
    the costly part): what a test checks of it holds whatever children it started before."""
    return zygote()


def children_of(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def start(z: Zygote, tmp_path: Path, *args: str, env=None, pass_fds=()) -> tuple[ZygoteChild, Path]:
    script = tmp_path / "child.py"
    script.write_text(SCRIPT)
    log = tmp_path / f"{args[0]}.log"
    return z.spawn([sys.executable, str(script), *args], cwd=tmp_path, env=env or {"ONLY": "this"}, log=log,
                   pass_fds=pass_fds), log


def wait_for_line(log: Path, prefix: str, timeout: float = WAIT) -> str:
    for _ in range(int(timeout / 0.05)):
        for line in log.read_text().splitlines() if log.exists() else []:
            if line.startswith(prefix):
                return line
        time.sleep(0.05)
    raise AssertionError(f"no {prefix!r} in {log}")


def test_a_child_has_exactly_its_env_cwd_log_and_exit_status(launcher, tmp_path, monkeypatch):
    monkeypatch.setenv("AFTERSALES_LEAK", "from the test process")
    child, log = start(launcher, tmp_path, "exit", "7")
    assert child.wait(timeout=WAIT) == 7 and child.poll() == 7 and child.returncode == 7
    text = log.read_text()
    assert f"argv ['exit', '7'] cwd {tmp_path}" in text
    assert "env [('ONLY', 'this')]" in text          # cleared, then exactly the given env
    assert "fds [0, 1, 2, 3]" in text                 # 3: listdir's own; none of the launcher's sockets
    assert "pgid True" in text


def test_kill_terminate_and_a_crash_are_reported_and_the_launcher_survives(launcher, tmp_path):
    sleeper, log = start(launcher, tmp_path, "sleep")
    wait_for_line(log, "pgid")
    assert sleeper.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        sleeper.wait(timeout=0.2)
    sleeper.kill()
    assert sleeper.wait(timeout=WAIT) == -signal.SIGKILL
    sleeper.kill()                                      # after the exit: nothing, like Popen
    other, log = start(launcher, tmp_path, "sleep2")
    wait_for_line(log, "pgid")
    other.terminate()                                   # default handlers: SIGTERM ends it
    assert other.wait(timeout=WAIT) == -signal.SIGTERM
    crash, log = start(launcher, tmp_path, "crash")
    assert crash.wait(timeout=WAIT) == 1
    assert "RuntimeError: boom" in log.read_text()
    again, _ = start(launcher, tmp_path, "exit", "0")
    assert again.wait(timeout=WAIT) == 0
    assert launcher.proc.poll() is None
    assert not set(children_of(launcher.proc.pid)) & {sleeper.pid, other.pid, crash.pid, again.pid}  # all reaped


def test_a_child_starts_with_the_signal_dispositions_of_a_plain_python(launcher, tmp_path):
    """A fresh interpreter ignores SIGPIPE: a peer that closed its socket (a browser dropping a keep-alive
    connection) is a BrokenPipeError for the API to handle, not a silent death by signal."""
    child, log = start(launcher, tmp_path, "write-to-closed")
    assert child.wait(timeout=WAIT) == 0, log.read_text()
    assert "BrokenPipeError" in log.read_text()
    plain = subprocess.run([sys.executable, str(tmp_path / "child.py"), "write-to-closed"], capture_output=True,
                           text=True, timeout=WAIT, env={"ONLY": "this"}, cwd=tmp_path)
    assert wait_for_line(log, "signals") == next(line for line in plain.stdout.splitlines()
                                                 if line.startswith("signals"))


class SlowToRegister(Zygote):
    """A test process slow to take the launcher's reply (a loaded machine): the child has exited, and its exit
    has been reported, before spawn() registers it."""

    def request(self, message: dict, fds=()) -> None:
        super().request(message, fds)
        if message["op"] == "spawn":
            time.sleep(1.0)


def test_a_child_that_exits_before_spawn_returns_still_reports_its_status(tmp_path):
    z = SlowToRegister()
    try:
        child, log = start(z, tmp_path, "exit", "3")
        assert child.wait(timeout=WAIT) == 3, log.read_text()
    finally:
        z.close()


def test_the_passed_socket_is_usable_in_the_child(launcher, tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        fd = listener.fileno()
        child, log = start(launcher, tmp_path, "serve", str(fd), pass_fds=(fd,))
        assert f" {fd}]" in wait_for_line(log, "fds") or f" {fd}," in wait_for_line(log, "fds")
        with socket.create_connection(listener.getsockname(), timeout=WAIT) as c:
            assert c.recv(100) == f"hello from {child.pid}".encode()
        child.kill()
        child.wait(timeout=WAIT)


def test_closing_the_launcher_leaves_no_process(tmp_path):
    z = Zygote()
    children = [start(z, tmp_path, f"sleep{i}")[0] for i in range(2)]
    for i in range(2):
        wait_for_line(tmp_path / f"sleep{i}.log", "pgid")
    zpid = z.proc.pid
    assert sorted(children_of(zpid)) == sorted(c.pid for c in children)
    z.close()
    assert z.proc.returncode == 0
    for pid in [zpid, *(c.pid for c in children)]:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert all(c.returncode == -signal.SIGKILL for c in children)
    assert zpid not in children_of(os.getpid())


def test_the_launcher_imports_without_threads_or_settings():
    """Forking keeps only the calling thread, and a child reads its own settings: importing the product must
    start neither (the launcher refuses to start otherwise)."""
    out = subprocess.run([sys.executable, "-c", "from tests.support.zygote import preload; preload(); print('ok')"],
                         capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "ok", out.stderr


def test_the_switch_starts_a_plain_subprocess(tmp_path, monkeypatch):
    from tests.support.zygote import NO_ZYGOTE_ENV, launch
    monkeypatch.setenv(NO_ZYGOTE_ENV, "1")
    proc = launch([sys.executable, "-c", "import os; print(sorted(os.environ))"], cwd=tmp_path, env={"ONLY": "this"},
                  log=tmp_path / "plain.log")
    assert isinstance(proc, subprocess.Popen) and proc.wait(timeout=30) == 0
    assert "'ONLY'" in (tmp_path / "plain.log").read_text()

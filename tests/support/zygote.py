"""A preforking launcher for the processes the tests start (`python worker.py`, `python -m api`): one helper
process per suite worker, started by the first test that needs it, imports the modules the worker and the API
import (nothing more: no Temporal runtime, event loop, engine, thread or Settings), then forks a child per
request that runs the script or module exactly as the command line would (runpy, run_name="__main__").
Each child is still its own process with its own environment (exactly the one given), working directory, log
file and the one descriptor handed over (the API's listening socket, sent with SCM_RIGHTS); the imports are
paid once per suite worker instead of once per process (~0.75 s CPU for the worker, ~1.85 s for the API).

The test side gets a Popen-like handle (pid, poll, wait, send_signal, terminate, kill, returncode): the
helper reaps its children and reports each exit status over its socket; signals go through the helper too,
so a pid is never signalled after it was reaped. Children die with the helper (PR_SET_PDEATHSIG), the
helper with the test process (its socket's EOF, and PR_SET_PDEATHSIG).

AFTERSALES_TEST_NO_ZYGOTE=1 starts every process with plain subprocess.Popen instead (to rule the helper out).

    proc = launch([sys.executable, "worker.py"], cwd=REPO, env=env, log=path)
    proc = launch([sys.executable, "-m", "api", "--fd", str(fd)], cwd=REPO, env=env, log=path, pass_fds=(fd,))
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

NO_ZYGOTE_ENV = "AFTERSALES_TEST_NO_ZYGOTE"
REPO = Path(__file__).resolve().parents[2]
_PR_SET_PDEATHSIG = 1
_MAX_MESSAGE = 1 << 20

# What `python worker.py` and `python -m api` import before they read their settings.
PRELOAD = ("worker", "api.app", "api.__main__", "adapters.logging", "adapters.temporal.setup", "workflows.schedules",
           "adapters.sms.providers", "adapters.sms.queue", "adapters.temporal.sealing",
           "uvicorn", "uvicorn.config", "uvicorn.server", "uvicorn.main", "uvicorn.protocols.http.auto",
           "uvicorn.protocols.websockets.auto", "uvicorn.lifespan.on", "uvicorn.loops.auto")


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the socket's EOF still ends the helper
        pass


# ---------------------------------------------------------------------------------------------- the helper
def preload() -> None:
    import importlib
    for name in PRELOAD:
        importlib.import_module(name)
    from adapters.config import get_settings
    # A forked child must read its own settings and must not inherit threads (fork keeps only the caller's)
    if get_settings.cache_info().currsize:
        raise RuntimeError("importing the product read Settings: move it from import to start")
    if threading.active_count() != 1:
        raise RuntimeError(f"importing the product started threads: {threading.enumerate()}")
    # What every child shares is set aside from the garbage collector (as CPython's docs advise before a
    # fork): a child's full collections then walk only what it made, not the 300,000 objects of its imports.
    import gc
    gc.collect()
    gc.freeze()


def _send(sock: socket.socket, message: dict, fds: list[int] = ()) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def _child(sock: socket.socket, wakeup: tuple[int, int], req: dict, received: list[int]) -> None:
    """In the forked child: become the process the command line would start, then run it; never returns."""
    code = 1
    try:
        # The dispositions a fresh `python` starts with, which the helper kept except for SIGCHLD and its
        # wakeup fd: SIGPIPE and SIGXFSZ stay ignored (Python's start-up ignores them, so a peer closing its
        # socket is an exception, not the death of the API), SIGINT stays KeyboardInterrupt.
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _die_with_parent()
        os.setsid()  # its own session and process group: a signal to it is a signal to it alone
        sock.close()
        for fd in wakeup:
            os.close(fd)
        # the passed descriptors to the numbers the command line names, nothing else of the helper's open
        targets = [int(t) for t in req.get("fds", [])]
        high = [os.dup(fd) for fd in received]
        for fd in received:
            os.close(fd)
        log = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        for src, dst in zip(high, targets):
            os.dup2(src, dst)
        keep = {0, 1, 2, *targets}
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        from adapters.config import get_settings
        get_settings.cache_clear()
        import random
        random.seed()  # not the helper's sequence
        argv = req["argv"][1:]
        import runpy
        if argv[0] == "-m":
            sys.argv = [argv[1], *argv[2:]]
            sys.path[0] = os.getcwd()
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = argv
            sys.path[0] = str(Path(argv[0]).resolve().parent)
            runpy.run_path(argv[0], run_name="__main__")
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if not isinstance(e.code, (int, type(None))):
            print(e.code, file=sys.stderr)
    except BaseException:
        import traceback
        traceback.print_exc()
        code = 1
    finally:
        try:
            import atexit as _atexit
            _atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve(fd: int) -> None:
    """The helper's loop: spawn on request, signal on request, report every exit; ends at the socket's EOF."""
    _die_with_parent()
    sock = socket.socket(fileno=fd)
    preload()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    children: set[int] = set()

    def reap() -> None:
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            children.discard(pid)
            _send(sock, {"op": "exit", "pid": pid, "returncode": os.waitstatus_to_exitcode(status)})

    _send(sock, {"op": "ready", "pid": os.getpid()})
    try:
        while True:
            ready, _, _ = select.select([sock, wake_r], [], [], 1.0)
            if wake_r in ready:
                try:
                    while os.read(wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            reap()
            if sock not in ready:
                continue
            data, fds, _, _ = socket.recv_fds(sock, _MAX_MESSAGE, 16)
            if not data:
                return
            req = json.loads(data)
            if req["op"] == "spawn":
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    _child(sock, (wake_r, wake_w), req, fds)
                for f in fds:
                    os.close(f)
                children.add(pid)
                _send(sock, {"op": "spawned", "id": req["id"], "pid": pid})
            elif req["op"] == "signal":
                if req["pid"] in children:  # not yet reaped: the pid is still this child's
                    os.kill(req["pid"], req["sig"])
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in list(children):
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


# ---------------------------------------------------------------------------------------------- the test side
class ZygoteChild:
    """A child of the helper, handled like a subprocess.Popen."""

    def __init__(self, zygote: "Zygote", pid: int, args: list[str]) -> None:
        self._zygote, self.pid, self.args = zygote, pid, args
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        with self._zygote.cond:
            if not self._zygote.cond.wait_for(lambda: self.returncode is not None, timeout):
                raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            self._zygote.request({"op": "signal", "pid": self.pid, "sig": int(sig)})

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Zygote:
    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.support.zygote", str(theirs.fileno())],
                                     cwd=REPO, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL)
        theirs.close()
        self.sock = ours
        self.cond = threading.Condition()
        self.lock = threading.Lock()
        self.children: dict[int, ZygoteChild] = {}
        self.replies: dict[int, dict] = {}
        self.early_exits: dict[int, int] = {}  # pid → exit status reported before its spawn() returned
        self.next_id = 0
        self.ready = False
        self.closed = False
        self.reader = threading.Thread(target=self._read, name="zygote-reader", daemon=True)
        self.reader.start()
        with self.cond:
            if not self.cond.wait_for(lambda: self.ready or self.closed, 120):
                raise RuntimeError("the test launcher did not start")
        if not self.ready:
            raise RuntimeError(f"the test launcher exited: {self.proc.wait()}")

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(_MAX_MESSAGE)
            except OSError:
                data = b""
            with self.cond:
                if not data:
                    self.closed = True
                    for child in self.children.values():  # killed with the helper (PR_SET_PDEATHSIG)
                        if child.returncode is None:
                            child.returncode = -signal.SIGKILL
                    self.cond.notify_all()
                    return
                msg = json.loads(data)
                if msg["op"] == "ready":
                    self.ready = True
                elif msg["op"] == "spawned":
                    self.replies[msg["id"]] = msg
                elif msg["op"] == "exit":
                    child = self.children.get(msg["pid"])
                    if child is None:  # it exited before spawn() took the reply: spawn() reads it here
                        self.early_exits[msg["pid"]] = msg["returncode"]
                    else:
                        child.returncode = msg["returncode"]
                self.cond.notify_all()

    def request(self, message: dict, fds: list[int] = ()) -> None:
        with self.lock:
            if self.closed:
                return
            _send(self.sock, message, fds)

    def spawn(self, argv: list[str], cwd: Path | str, env: dict[str, str], log: Path | str,
              pass_fds: tuple[int, ...] = ()) -> ZygoteChild:
        with self.cond:
            self.next_id += 1
            rid = self.next_id
        self.request({"op": "spawn", "id": rid, "argv": list(map(str, argv)), "cwd": str(cwd), "env": dict(env),
                      "log": str(log), "fds": list(pass_fds)}, list(pass_fds))
        with self.cond:
            if not self.cond.wait_for(lambda: rid in self.replies or self.closed, 60):
                raise RuntimeError("the test launcher did not answer")
            if self.closed:
                raise RuntimeError("the test launcher exited")
            child = ZygoteChild(self, self.replies.pop(rid)["pid"], list(map(str, argv)))
            child.returncode = self.early_exits.pop(child.pid, None)
            self.children[child.pid] = child
            return child

    def close(self) -> None:
        """EOF to the helper: it kills what is left of its children, reaps them and exits."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=5)


_ZYGOTE: Zygote | None = None
_ZYGOTE_LOCK = threading.Lock()


def zygote() -> Zygote:
    global _ZYGOTE
    with _ZYGOTE_LOCK:
        if _ZYGOTE is None or _ZYGOTE.closed:
            _ZYGOTE = Zygote()
            atexit.register(close_zygote)
        return _ZYGOTE


def close_zygote() -> None:
    global _ZYGOTE
    with _ZYGOTE_LOCK:
        if _ZYGOTE is not None:
            _ZYGOTE.close()
            _ZYGOTE = None


def enabled() -> bool:
    return os.environ.get(NO_ZYGOTE_ENV, "") in ("", "0")


def launch(argv: list[str], cwd: Path | str, env: dict[str, str], log: Path, pass_fds: tuple[int, ...] = ()):
    """`argv` (`python script.py ...` or `python -m module ...`) with exactly `env`, its stdout and stderr
    appended to `log`: a child of the helper, or with AFTERSALES_TEST_NO_ZYGOTE=1 a plain subprocess."""
    if enabled() and argv[0] == sys.executable and len(argv) > 1:
        return zygote().spawn(argv, cwd, env, log, pass_fds)
    with open(log, "ab") as out:
        return subprocess.Popen(argv, cwd=cwd, env=env, pass_fds=pass_fds, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT)


if __name__ == "__main__":
    serve(int(sys.argv[1]))

"""A throwaway PostgreSQL cluster on loopback, for tests that need the real thing (not SQLite).

    with TemporaryPostgres() as pg:                     # initdb + pg_ctl start, in a temp dir
        url = pg.url()                                  # postgresql+asyncpg://postgres@127.0.0.1:PORT/aftersales
        other = pg.create_database("scratch")           # another empty database, its URL
    # stopped (pg_ctl stop -m fast) and the temp dir removed

The cluster listens on 127.0.0.1 only, on a free port, with its unix socket in the temp dir, trust
authentication and fsync off (speed; the data is thrown away). PostgreSQL refuses to run as root: when
we are root, the server tools run as the `postgres` OS user (runuser, else su) and the temp dir is
chowned to it. Every wait is bounded. Raises PostgresUnavailable (with the reason) when the binaries
are missing or the server cannot be started.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

STARTUP_TIMEOUT = 30.0  # seconds: initdb, start and readiness each
STOP_TIMEOUT = 30.0


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries, no non-root user to run them as, or the server did not start."""


def _version_key(bin_dir: str) -> tuple[int, ...]:
    m = re.search(r"/postgresql/([\d.]+)/bin$", bin_dir)
    return tuple(int(p) for p in m.group(1).split(".") if p) if m else ()


def find_pg_bin() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres: /usr/lib/postgresql/<newest>/bin, else the
    directory of `pg_ctl` on PATH (symlinks resolved, so the client tools next to it are found too)."""
    needed = ("initdb", "pg_ctl", "postgres")
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for c in candidates:
        if all(os.access(Path(c) / n, os.X_OK) for n in needed):
            return Path(c)
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        for d in (Path(pg_ctl).resolve().parent, Path(pg_ctl).parent):
            if all(os.access(d / n, os.X_OK) for n in needed):
                return d
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (an exited child waiting to be reaped by init)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


class TemporaryPostgres:
    """Starts on __enter__ (or start()), stops and cleans up on __exit__ (or stop())."""

    host = "127.0.0.1"

    def __init__(self, *, bin_dir: Path | None = None, os_user: str = "postgres", superuser: str = "postgres",
                 dbname: str = "aftersales", timeout: float = STARTUP_TIMEOUT) -> None:
        self.bin_dir = bin_dir
        self.os_user_wanted = os_user
        self.superuser = superuser
        self.dbname = dbname
        self.timeout = timeout
        self.port: int | None = None
        self.tmp: Path | None = None
        self.run_as: str | None = None  # OS user the server runs as (None: ourselves)
        self._started = False

    # ---- paths -------------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        assert self.tmp is not None
        return self.tmp / "data"

    @property
    def log_file(self) -> Path:
        assert self.tmp is not None
        return self.tmp / "postgres.log"

    def _tool(self, name: str) -> str:
        assert self.bin_dir is not None
        path = self.bin_dir / name
        if os.access(path, os.X_OK):
            return str(path)
        found = shutil.which(name)
        if not found:
            raise PostgresUnavailable(f"PostgreSQL tool {name!r} not found in {self.bin_dir} nor on PATH")
        return found

    # ---- running the server tools as the right user --------------------------------------------
    def _as_server_user(self, argv: list[str]) -> list[str]:
        if self.run_as is None:
            return argv
        if shutil.which("runuser"):
            return ["runuser", "-u", self.run_as, "--", *argv]
        if shutil.which("su"):
            return ["su", self.run_as, "-s", "/bin/sh", "-c", shlex.join(argv)]
        raise PostgresUnavailable("running as root, and neither runuser nor su is available to drop privileges")

    def _run(self, argv: list[str], *, as_server: bool, timeout: float, what: str,
             check: bool = True) -> subprocess.CompletedProcess:
        cmd = self._as_server_user(argv) if as_server else argv
        try:
            # Output goes to a file, never a pipe: a daemon child holding a pipe would hang the wait.
            with tempfile.TemporaryFile(mode="w+") as out:
                proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                      cwd=self.tmp, timeout=timeout, text=True)
                out.seek(0)
                proc.stdout = out.read()
        except subprocess.TimeoutExpired:
            raise PostgresUnavailable(f"{what} did not finish within {timeout:.0f} s{self._log_tail()}") from None
        except OSError as e:
            raise PostgresUnavailable(f"{what} could not be run: {e}") from None
        if check and proc.returncode != 0:
            raise PostgresUnavailable(f"{what} failed (exit {proc.returncode}): {proc.stdout.strip()[-2000:]}"
                                      f"{self._log_tail()}")
        return proc

    def _log_tail(self) -> str:
        try:
            text = self.log_file.read_text(errors="replace").strip()
        except OSError:
            return ""
        return f"\n--- server log (tail) ---\n{text[-2000:]}" if text else ""

    # ---- life cycle --------------------------------------------------------------------------
    def start(self) -> "TemporaryPostgres":
        if self.bin_dir is None:
            self.bin_dir = find_pg_bin()
        if self.bin_dir is None:
            raise PostgresUnavailable("PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin, "
                                      "no pg_ctl on PATH)")
        missing = [n for n in ("initdb", "pg_ctl", "postgres") if not os.access(self.bin_dir / n, os.X_OK)]
        if missing:
            raise PostgresUnavailable(f"PostgreSQL server binaries {', '.join(missing)} not found in {self.bin_dir}")
        uid = None
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam(self.os_user_wanted)
            except KeyError:
                raise PostgresUnavailable(f"running as root and there is no {self.os_user_wanted!r} OS user to "
                                          "run PostgreSQL as (it refuses to run as root)") from None
            if pw.pw_uid == 0:
                raise PostgresUnavailable(f"OS user {self.os_user_wanted!r} is root; PostgreSQL refuses to run as root")
            self.run_as, uid, gid = pw.pw_name, pw.pw_uid, pw.pw_gid

        self.tmp = Path(tempfile.mkdtemp(prefix="aftersales-pg-"))
        try:
            if uid is not None:
                os.chown(self.tmp, uid, gid)
            os.chmod(self.tmp, 0o700)
            self._initdb()
            self._start_server()
            self._wait_ready()
            self._started_db()
        except BaseException:
            self.stop()
            raise
        return self

    def _initdb(self) -> None:
        self._run([self._tool("initdb"), "-D", str(self.data_dir), "-U", self.superuser, "--auth=trust",
                   "--encoding=UTF8", "--locale=C", "--no-sync"],
                  as_server=True, timeout=max(self.timeout, 60.0), what="initdb")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.tmp}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "100",
            "log_min_messages": "warning",
        }
        with open(self.data_dir / "postgresql.conf", "a") as conf:  # appending keeps the owner
            conf.write("\n# tests/support/postgres.py\n")
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())

    def _start_server(self) -> None:
        last: PostgresUnavailable | None = None
        for _ in range(3):  # the free port may be taken between probing and binding: try another
            self.port = free_port(self.host)
            proc = self._run([self._tool("pg_ctl"), "start", "-D", str(self.data_dir), "-l", str(self.log_file),
                              "-w", "-t", str(int(self.timeout)), "-o", f"-p {self.port}"],
                             as_server=True, timeout=self.timeout + 10, what="pg_ctl start", check=False)
            if proc.returncode == 0:
                self._started = True
                return
            last = PostgresUnavailable(f"pg_ctl start failed (exit {proc.returncode}): {proc.stdout.strip()[-2000:]}"
                                       f"{self._log_tail()}")
            self._started = self._postmaster_pid() is not None
            if self._started:  # started but not ready in time: do not retry on top of it
                raise last
        assert last is not None
        raise last

    def _wait_ready(self) -> None:
        pg_isready = self._tool("pg_isready")
        deadline = time.monotonic() + self.timeout
        while True:
            proc = self._run([pg_isready, "-h", self.host, "-p", str(self.port), "-U", self.superuser, "-d", "postgres",
                              "-t", "2"], as_server=False, timeout=10, what="pg_isready", check=False)
            if proc.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise PostgresUnavailable(f"PostgreSQL not ready on {self.host}:{self.port} after "
                                          f"{self.timeout:.0f} s: {proc.stdout.strip()}{self._log_tail()}")
            time.sleep(0.2)

    def _started_db(self) -> None:
        self.create_database(self.dbname)

    def create_database(self, name: str) -> str:
        """Creates an empty database; returns its async URL."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"database name {name!r}: use lower-case letters, digits and _")
        self._run([self._tool("createdb"), "-h", self.host, "-p", str(self.port), "-U", self.superuser, name],
                  as_server=False, timeout=self.timeout, what=f"createdb {name}")
        return self.url(dbname=name)

    def url(self, async_: bool = True, *, dbname: str | None = None) -> str:
        assert self.port is not None, "not started"
        driver = "postgresql+asyncpg" if async_ else "postgresql"
        return f"{driver}://{self.superuser}@{self.host}:{self.port}/{dbname or self.dbname}"

    def _postmaster_pid(self) -> int | None:
        try:
            first = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
            return int(first.strip())
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        """pg_ctl stop -m fast (bounded); if that fails, the postmaster we started is killed. Then the
        temp dir is removed. Safe to call twice."""
        if self.tmp is None:
            return
        try:
            if self._started or self._postmaster_pid() is not None:
                pid = self._postmaster_pid()
                try:
                    self._run([self._tool("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w",
                               "-t", str(int(STOP_TIMEOUT))], as_server=True, timeout=STOP_TIMEOUT + 10,
                              what="pg_ctl stop")
                except PostgresUnavailable:
                    if pid is not None:
                        self._kill(pid)
                self._started = False
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    @staticmethod
    def _kill(pid: int) -> None:
        """Immediate shutdown of our own postmaster (SIGQUIT), then SIGKILL if it lingers."""
        for sig, wait in ((signal.SIGQUIT, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if not _alive(pid):
                    return
                time.sleep(0.1)

    def running(self) -> bool:
        pid = self._postmaster_pid() if self.tmp is not None else None
        return pid is not None and _alive(pid)

    def __enter__(self) -> "TemporaryPostgres":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

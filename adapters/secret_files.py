"""Secrets the embedded default creates at its first start, under data/ (never committed: .gitignore):
the JWT signing secret (data/jwt-secret) and the payload-encryption keys (data/codec-keys.json, P4).
Production never uses these files: it reads its secrets from the environment.

One mechanism for both: `read_or_create(path, make)` returns the file's content, or writes `make()`
there first. The file is created with mode 0600 and atomically (written beside it, then hard-linked
into place), so the API and the worker starting at once end up with the same secret."""

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

import structlog

log = structlog.get_logger("adapters.secret_files")


def read_or_create(path: Path | str, make: Callable[[], str]) -> str:
    path = Path(path)
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(make())
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
            log.warning("secret created: back it up, it cannot be recreated", path=str(path))
        except FileExistsError:  # another process created it meanwhile: use theirs
            pass
    finally:
        os.unlink(tmp)
    return _read(path)


def _read(path: Path) -> str:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("secret file is readable by others: chmod 600 it", path=str(path), mode=oct(mode & 0o777))
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        raise ValueError(f"the secret file {path} is empty: restore it from the backup")
    return text

"""Staff accounts: bcrypt password hashes, authentication and the demo accounts (one per role).

    python -m aftersales.db.staff create --username U --role R [--email E] [--department D] [--display-name N]
    python -m aftersales.db.staff list
    python -m aftersales.db.staff deactivate --username U      # or: activate --username U

`create` reads the password from AFTERSALES_NEW_STAFF_PASSWORD, or prompts for it. The database is
AFTERSALES_DATABASE_URL (`aftersales.config.get_settings().database_url`), migrated beforehand
(`python -m aftersales.db.migrate`).

bcrypt is CPU-bound (about a quarter of a second at 12 rounds), so the async functions hash and
verify on a worker thread and never stall the event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from functools import lru_cache

import bcrypt
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aftersales.config import Settings
from aftersales.db.models import Staff
from aftersales.roles import ROLE_TITLES, Role

BCRYPT_MAX_BYTES = 72
DEMO_DEPARTMENT = "工程部"
DEMO_DEPARTMENT_ROLES = frozenset({Role.dept_handler, Role.dept_head})
NEW_PASSWORD_ENV = "AFTERSALES_NEW_STAFF_PASSWORD"
USERNAME_MAX = 64  # Staff.username is String(64)


# --- passwords -------------------------------------------------------------------------------------

def hash_password(password: str, rounds: int = 12) -> str:
    """A bcrypt hash (`$2b$...`). ValueError for an empty password or one over 72 bytes in UTF-8
    (bcrypt would silently ignore the rest; bcrypt 5 refuses it)."""
    raw = password.encode("utf-8")
    if not raw:
        raise ValueError("password must not be empty")
    if len(raw) > BCRYPT_MAX_BYTES:
        raise ValueError(f"password must be at most {BCRYPT_MAX_BYTES} bytes in UTF-8")
    return bcrypt.hashpw(raw, bcrypt.gensalt(rounds)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    """True when the password matches. False, never an exception, for a malformed or placeholder
    hash (e.g. "-") and for a password bcrypt cannot take (over 72 bytes)."""
    try:
        return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("utf-8"))
    except (ValueError, TypeError):
        return False


@lru_cache(maxsize=8)
def _dummy_hash(rounds: int) -> str:
    """Verified against for unknown usernames so that they take as long as known ones."""
    return hash_password("no-such-user-dummy-password", rounds)


# --- accounts --------------------------------------------------------------------------------------

async def get_staff(session: AsyncSession, username: str) -> Staff | None:
    return (await session.execute(select(Staff).where(Staff.username == username))).scalar_one_or_none()


async def create_staff(session: AsyncSession, *, username: str, role: Role, password: str,
                       display_name: str | None = None, email: str | None = None,
                       department: str | None = None, rounds: int = 12) -> Staff:
    """Adds an active account and commits. ValueError if the username exists (also when a
    concurrent insert wins), is empty or too long, or if the password is unusable.
    display_name defaults to the role's title (ROLE_TITLES)."""
    username = username.strip()
    if not username:
        raise ValueError("username must not be empty")
    if len(username) > USERNAME_MAX:
        raise ValueError(f"username must be at most {USERNAME_MAX} characters")
    role = Role(role)
    if await get_staff(session, username) is not None:
        raise ValueError(f"staff account {username!r} already exists")
    password_hash = await asyncio.to_thread(hash_password, password, rounds)
    staff = Staff(username=username, role=role.value, display_name=display_name or ROLE_TITLES[role],
                  email=email, department=department, password_hash=password_hash, active=True)
    session.add(staff)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise ValueError(f"staff account {username!r} already exists") from None
    return staff


def touch(staff: Staff) -> None:
    """Records that an account changed: tokens issued before no longer work (see Staff.version)."""
    staff.version = (staff.version or 1) + 1


async def set_active(session: AsyncSession, username: str, active: bool) -> Staff:
    """Activates or deactivates an account and commits (a deactivated account cannot log in, and its
    tokens stop working at once). LookupError for an unknown username."""
    staff = await get_staff(session, username)
    if staff is None:
        raise LookupError(f"no staff account {username!r}")
    staff.active = active
    touch(staff)
    await session.commit()
    return staff


async def authenticate(session: AsyncSession, username: str, password: str, *, rounds: int = 12) -> Staff | None:
    """The account when the username and password match an active account, else None (unknown user,
    wrong password and inactive account alike). An unknown user is verified against a dummy hash of
    `rounds` cost (pass settings.bcrypt_rounds), so its answer takes about as long as a known one."""
    staff = await get_staff(session, username)
    if staff is None:
        await asyncio.to_thread(verify_password, password, _dummy_hash(rounds))
        return None
    ok = await asyncio.to_thread(verify_password, password, staff.password_hash)
    if not ok or not staff.active:
        return None
    return staff


async def seed_demo_staff(session: AsyncSession, settings: Settings) -> list[str]:
    """One demo account per role: username = role id, password settings.demo_password, display name
    from ROLE_TITLES, email <role>@example.com, department 工程部 for dept_handler and dept_head.
    Idempotent: existing usernames are left untouched (password included). Returns the usernames
    created by this call, in role order; commits. RuntimeError in a production configuration: a
    production database gets no demo accounts. (Whether to call it at all, settings.seed_demo_users,
    is the caller's decision.)"""
    if settings.environment == "production":
        raise RuntimeError("refusing to seed demo staff accounts: environment is 'production'")
    existing = set((await session.execute(
        select(Staff.username).where(Staff.username.in_([r.value for r in Role])))).scalars())
    missing = [r for r in Role if r.value not in existing]
    if not missing:
        return []
    hashes = await asyncio.gather(*(asyncio.to_thread(hash_password, settings.demo_password, settings.bcrypt_rounds)
                                    for _ in missing))
    rows = [Staff(username=r.value, role=r.value, display_name=ROLE_TITLES[r], email=f"{r.value}@example.com",
                  department=DEMO_DEPARTMENT if r in DEMO_DEPARTMENT_ROLES else None, password_hash=h, active=True)
            for r, h in zip(missing, hashes)]
    session.add_all(rows)
    try:
        await session.commit()
        return [r.username for r in rows]
    except IntegrityError:  # another process (API / worker start-up) seeded some at the same time
        await session.rollback()
    created: list[str] = []
    for row in rows:
        if await get_staff(session, row.username) is not None:
            continue
        session.add(Staff(username=row.username, role=row.role, display_name=row.display_name, email=row.email,
                          department=row.department, password_hash=row.password_hash, active=True))
        try:
            await session.commit()
            created.append(row.username)
        except IntegrityError:
            await session.rollback()
    return created


async def list_staff(session: AsyncSession) -> list[Staff]:
    return list((await session.execute(select(Staff).order_by(Staff.username))).scalars())


# --- CLI -------------------------------------------------------------------------------------------

def _read_new_password() -> str:
    password = os.environ.get(NEW_PASSWORD_ENV)
    if password:
        return password
    if not sys.stdin.isatty():
        raise SystemExit(f"no password: set {NEW_PASSWORD_ENV} or run interactively")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != password:
        raise SystemExit("passwords do not match")
    return password


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m aftersales.db.staff", description="Staff accounts.")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help=f"add an account (password from {NEW_PASSWORD_ENV} or a prompt)")
    create.add_argument("--username", required=True)
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--email")
    create.add_argument("--department")
    create.add_argument("--display-name")
    sub.add_parser("list", help="list accounts")
    for name in ("deactivate", "activate"):
        p = sub.add_parser(name, help=f"{name} an account")
        p.add_argument("--username", required=True)
    return parser.parse_args(argv)


async def _run(args: argparse.Namespace, database_url: str, rounds: int) -> int:
    from aftersales.db.session import make_engine, make_sessionmaker

    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            if args.command == "create":
                password = _read_new_password()
                try:
                    staff = await create_staff(session, username=args.username, role=Role(args.role), password=password,
                                               display_name=args.display_name, email=args.email,
                                               department=args.department, rounds=rounds)
                except ValueError as e:
                    print(f"error: {e}", file=sys.stderr)
                    return 1
                print(f"created {staff.username} ({staff.role})")
            elif args.command == "list":
                for s in await list_staff(session):
                    print("\t".join([s.username, s.role, s.display_name, s.email or "-", s.department or "-",
                                     "active" if s.active else "inactive"]))
            else:
                try:
                    staff = await set_active(session, args.username, args.command == "activate")
                except LookupError as e:
                    print(f"error: {e}", file=sys.stderr)
                    return 1
                print(f"{staff.username}: {'active' if staff.active else 'inactive'}")
    finally:
        await engine.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    from aftersales.config import get_settings

    args = _parse_args(argv)
    settings = get_settings()
    return asyncio.run(_run(args, settings.database_url, settings.bcrypt_rounds))


if __name__ == "__main__":
    sys.exit(main())

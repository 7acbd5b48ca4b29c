"""Photos and documents of a case (D1–D4) over HTTP.

- `POST /cases/{no}/files?step=…&kind=…` (multipart, one part `file`): the body is read as it streams, never
  whole before the checks: a declared length over the limit is 413 before a byte is read; the case must be
  one the user sees (404), the step one the user may add to (403), open (409) and not full (422: 20 a step),
  all before the body; while it streams the file's first bytes name its type (415 unless JPEG, PNG, WebP,
  HEIC or PDF, whatever the name or Content-Type say) and its size is counted (413 past 10 MB). Then the
  image is decoded, saved without its location (EXIF GPS, XMP) and a thumbnail made; both are stored
  encrypted in the blob store under their hash, and the case gets the reference alone through its `act`
  Update (claim check, D3). A refused file stores nothing. The file's id comes from the case, the step and
  the content: sending the same file again answers the reference already there (200), never a second copy.
- `GET /cases/{no}/files`: the case's files with short-lived signed links (D3), for those who see the case.
- `GET /cases/{no}/files/{id}[?variant=thumbnail]`: the bytes, for those who see the case (404 otherwise).
- `GET /files/{token}`: a signed link (minutes; `files_link_minutes`): the account it was made for must still
  be active and still see the case. Answers carry Content-Disposition and `X-Content-Type-Options: nosniff`.
  A download of a signed paper or of a photo showing a person is recorded like a full phone showing (P3).
"""

import asyncio
import base64
import hashlib
import hmac
import json
import re
import tempfile
import time
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from adapters.db.models import Case, CaseFile
from adapters.db.numbering import request_fingerprint, scoped_key
from adapters.db.personal_data import record_shown
from adapters.db.staff import get_staff
from adapters.db.visibility import visible_cases_clause
from adapters.files.blobs import FileStore, content_hash
from adapters.files.images import BadFile, Prepared, prepare, sniff
from adapters.temporal import actor_assertion
from aftersales import access
from aftersales.actions import ActionRequest, AddFiles
from aftersales.actor import Actor
from aftersales.errors import Rejection
from aftersales.files import (
    ACCEPTED_NAMES, ACCEPTED_TYPES, CASE_STEPS, FILES_PER_STEP, MAX_FILE_BYTES, STEP_NAMES, FileKind, FileRef,
    FileStep, default_for_owner, file_id, pack, room_left, too_many,
)
from aftersales.provenance import Provenance
from aftersales.messages import CASE_TYPE_NAMES
from api import cases as case_routes
from api import choices
from api.auth import actor_of, current_actor
from api.deps import db_session
from api.problems import REFUSAL_STATUS
from workflows.case_workflow import CaseWorkflow

router = APIRouter(tags=["files"])
log = structlog.get_logger()

# A multipart body holds the file and a few short fields; what a body may carry beyond the file's limit.
MULTIPART_OVERHEAD = 64 * 1024
# D1: several files in one request, each under its own limit, at most a step's worth
MAX_FILES_PER_REQUEST = FILES_PER_STEP
UPLOAD_MAX_BODY = MAX_FILES_PER_REQUEST * (MAX_FILE_BYTES + MULTIPART_OVERHEAD)
SPOOL_BYTES = 1024 * 1024   # a file of the body beyond this waits in a temporary file, not in memory
UPLOAD_PATHS = re.compile(r"^/((app/)?cases/[^/]+/files|o/cases/[^/]+/files|o/new/(repair|complaint))$")   # BodyLimit lets these stream (api/problems.py)
SNIFF_AT = 4096   # bytes of the file read before its type is decided (every accepted signature is shorter)
MB = f"{MAX_FILE_BYTES // (1024 * 1024)} MB"
TOO_BIG = f"超过 {MB} 上限（每个文件最多 {MAX_FILE_BYTES:,} 字节，D1）"
REQUEST_TOO_BIG = f"请求超过上限（每次最多 {MAX_FILES_PER_REQUEST} 个文件，每个最多 {MB}，D1）"


def file_store(request: Request) -> FileStore:
    return request.app.state.files


class FileOut(BaseModel):
    """A file of a case (D1, D3): its reference, and signed links (valid `files_link_minutes`)."""
    id: str
    case_no: str
    sha256: str
    kind: FileKind
    step: FileStep
    step_name: str
    size: int
    content_type: str
    for_owner: bool
    shows_person: bool
    by: str
    role: str | None
    by_owner: bool = Field(default=False, description="O4: added by the owner on their own pages")
    provenance: Literal["owner", "staff"] = Field(default="staff", description="O4: the owner gave it (their own "
                                                  "pages) or staff recorded it")
    uploaded_by: str = Field(default="", description="O4: who added it, as people read it: 业主本人, or the staff "
                                                     "member's name")
    at: str
    url: str = Field(description="a signed link to the file, valid for minutes")
    thumbnail_url: str | None = Field(default=None, description="a signed link to its thumbnail (images)")
    expires_at: int = Field(description="when the links stop working (Unix seconds)")


class FilesOut(BaseModel):
    case_no: str
    files: list[FileOut]
    per_step_limit: int = FILES_PER_STEP
    max_bytes: int = MAX_FILE_BYTES


# ---- the streamed multipart body ------------------------------------------------------------------------
class Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff/\\\\]")


@dataclass
class Part:
    """One file of the body: spooled (in memory up to SPOOL_BYTES, then a temporary file) while it streams."""
    index: int                      # 1-based: "第 2 个文件"
    filename: str                   # as the client named it, cleaned, for messages only (never stored or logged)
    spool: Any = field(default_factory=lambda: tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES))
    size: int = 0
    head: bytearray = field(default_factory=bytearray)
    content_type: str | None = None

    @property
    def label(self) -> str:
        return f"第 {self.index} 个文件（{self.filename}）" if self.filename else f"第 {self.index} 个文件"

    def data(self) -> bytes:
        self.spool.seek(0)
        return self.spool.read()


@dataclass
class Upload:
    """What the body brought: its short fields and its files, each read under the limits."""
    fields: dict[str, str] = field(default_factory=dict)
    parts: list[Part] = field(default_factory=list)
    room: int | None = None         # how many files the step still takes (known once the step is)

    def close(self) -> None:
        for part in self.parts:
            part.spool.close()


def _filename(raw: bytes | None) -> str:
    name = (raw or b"").decode("utf-8", "replace").replace("\\", "/").rsplit("/", 1)[-1]
    return _UNSAFE_NAME.sub("", name).strip()[:60]


async def read_upload(request: Request, before_file, too_many=None, max_field: int = 256,
                      files_optional: bool = False) -> Upload:
    """Parses the multipart body as it streams: `before_file(fields, up)` runs when the first file part begins
    (the checks that need the step; it sets `up.room`); each file's type is decided from its first bytes and its
    size counted as it comes, and a file past the step's room refused as its part begins (`too_many(part, up)`
    names the limit), so a wrong, too big or one too many file is refused without reading the rest. Several files
    are parts named `file` (or `files`). The caller closes the upload (its spooled files)."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise Refused(415, "请用 multipart/form-data 上传，文件放在 file 字段（D1）")
    up = Upload()
    part: dict[str, Any] = {}
    header: dict[str, bytes] = {}
    pending: list[Any] = []   # a check to run between two chunks (callbacks cannot await)
    began: list[bool] = []    # the first file part began (its checks are queued once)

    def on_part_begin() -> None:
        part.clear()
        part.update(headers={}, value=bytearray(), file=None)

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header["field"] = header.get("field", b"") + data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header["value"] = header.get("value", b"") + data[start:end]

    def on_header_end() -> None:
        part["headers"][header.get("field", b"").decode("latin-1").lower()] = header.get("value", b"")
        header.clear()

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(part["headers"].get("content-disposition", b""))
        part["name"] = disposition.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in disposition or part["name"] in ("file", "files"):
            f = Part(index=len(up.parts) + 1, filename=_filename(disposition.get(b"filename")))
            up.parts.append(f)
            part["file"] = f
            if part["name"] not in ("file", "files"):
                raise Refused(422, f"{f.label}：文件须放在 file 字段（D1）")
            if f.index > MAX_FILES_PER_REQUEST:
                raise Refused(422, f"{f.label}：每次最多上传 {MAX_FILES_PER_REQUEST} 个文件（D1）")
            if not began:
                began.append(True)
                pending.append(before_file)
            elif up.room is not None and f.index > up.room and too_many is not None:
                too_many(f, up)

    def on_part_data(data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        f: Part | None = part.get("file")
        if f is None:
            if len(part["value"]) + len(chunk) > max_field:
                raise Refused(422, f"字段 {part.get('name')} 太长")
            part["value"] += chunk
            return
        if f.size + len(chunk) > MAX_FILE_BYTES:
            raise Refused(413, f"{f.label}{TOO_BIG}")
        was = f.size
        f.size += len(chunk)
        f.spool.write(chunk)
        if was < SNIFF_AT:
            f.head += chunk[:SNIFF_AT - was]
            if len(f.head) >= SNIFF_AT:
                decide_type(f)

    def decide_type(f: Part) -> None:
        f.content_type = sniff(bytes(f.head))
        if f.content_type is None:
            raise Refused(415, f"{f.label}：不支持的文件类型，只接受 {ACCEPTED_NAMES}（按文件内容识别，D1）")

    def on_part_end() -> None:
        f: Part | None = part.get("file")
        if f is not None:
            if not f.size and not f.filename:   # a form's file input left empty: no file
                up.parts.remove(f)
                f.spool.close()
                return
            if not f.size:
                raise Refused(422, f"{f.label}是空的（D1）")
            if f.content_type is None:
                decide_type(f)
        elif part.get("name"):
            up.fields[part["name"]] = part["value"].decode("utf-8", "replace").strip()

    parser = MultipartParser(params[b"boundary"], callbacks=dict(
        on_part_begin=on_part_begin, on_part_data=on_part_data, on_part_end=on_part_end,
        on_header_field=on_header_field, on_header_value=on_header_value, on_header_end=on_header_end,
        on_headers_finished=on_headers_finished), max_size=UPLOAD_MAX_BODY)
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > UPLOAD_MAX_BODY:
                raise Refused(413, REQUEST_TOO_BIG)
            try:
                parser.write(chunk)
            except Refused:
                raise
            except Exception as e:  # python-multipart's own errors: a malformed body
                raise Refused(400, f"multipart 内容无法解析：{type(e).__name__}") from None
            while pending:
                await pending.pop(0)(up.fields, up)
                if too_many is not None and up.room is not None and len(up.parts) > up.room:
                    too_many(up.parts[up.room], up)   # files that began in the same chunk as the first
        if not up.parts and not files_optional:
            raise Refused(422, "没有文件：请把文件放在 file 字段（D1）")
    except BaseException:
        up.close()
        raise
    return up


# ---- upload ---------------------------------------------------------------------------------------------
def _choice(value: str | None, enum: type, name: str, names: dict) -> Any:
    try:
        return enum(value)
    except ValueError:
        options = "、".join(f"{m.value}（{names.get(m, m.value)}）" for m in enum)
        raise Refused(422, f"{name}：须为 {options} 之一") from None


def _flag(value: str | None) -> bool | None:
    if value in (None, ""):
        return None
    return value.lower() in ("1", "true", "on", "yes")


@dataclass
class Checked:
    """A file of the upload that passed every check (D1), ready to store: its content after its location was
    removed (spooled), its thumbnail, and what its reference needs."""
    sha256: str
    size: int
    content_type: str
    data: Any
    thumbnail: bytes | None
    had_location: bool
    ref: FileRef | None = None   # set once the case and the step are known (`with_refs`)

    def close(self) -> None:
        self.data.close()


def _check_part(part: Part, kind: FileKind) -> Checked:
    """D1 for one file (in a thread): a photo must be an image; the image decodes; saved again without its
    location it is still within the limit. Raises Refused naming the file."""
    ctype = part.content_type or ""
    if kind == FileKind.photo and not ctype.startswith("image/"):
        raise Refused(422, f"{part.label}：kind=photo（照片）须为图片：JPEG、PNG、WebP 或 HEIC（D1）")
    try:
        prepared: Prepared = prepare(part.data(), ctype)
    except BadFile as e:
        raise Refused(422, f"{part.label}：{e}（D1）") from None
    if len(prepared.data) > MAX_FILE_BYTES:   # saved again, a photo may grow a little
        raise Refused(413, f"{part.label}去除位置信息后超过 {MB} 上限（D1）")
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    spool.write(prepared.data)
    return Checked(sha256=content_hash(prepared.data), size=len(prepared.data), content_type=ctype, data=spool,
                   thumbnail=prepared.thumbnail, had_location=prepared.had_location)


async def check_parts(up: Upload, kind: FileKind) -> list[Checked]:
    """Every file of the upload checked (D1), one at a time (one decoded image in memory, not all of them); the
    first refused refuses them all (Refused naming it; nothing kept)."""
    checked: list[Checked] = []
    try:
        for part in up.parts:
            checked.append(await asyncio.to_thread(_check_part, part, kind))
            part.spool.close()
    except BaseException:
        for c in checked:
            c.close()
        raise
    return checked


def with_refs(checked: list[Checked], case_no: str, step: FileStep, kind: FileKind, *, for_owner: bool,
              shows_person: bool) -> list[Checked]:
    for c in checked:
        c.ref = FileRef(id=file_id(case_no, step, c.sha256), sha256=c.sha256, kind=kind, step=step, size=c.size,
                        content_type=c.content_type, thumb=content_hash(c.thumbnail) if c.thumbnail else None,
                        for_owner=for_owner, shows_person=shows_person)
    return checked


async def upload_files(request: Request, session: AsyncSession, actor: Actor, case_no: str, *,
                       step: str | None = None, kind: str | None = None, check_fields=None,
                       view: dict[str, Any] | None = None, provenance: Provenance | None = None,
                       idempotency_key: str | None = None, key_scope: str | None = None,
                       key_field: str | None = None, for_owner: bool | None = None) -> tuple[int, list[dict[str, Any]]]:
    """The upload as the API, the workbench and the owner's pages do it: (status, the files' references, in the
    request's order). Every file is checked before any is stored, and all are attached by one act (all or
    nothing); raises Refused naming the file at fault.
    `check_fields(fields)`: the caller's own check of the fields before the files (a form's CSRF token).
    `view`: the case as the caller found it (the owner's pages: their own case, O2), else read for `actor` (P2).
    `idempotency_key`: applied once per (case, `key_scope` or the user, key); the key with other files is 422;
    `key_field`: the form field that carries it instead (the owner's form)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > UPLOAD_MAX_BODY:
        raise Refused(413, REQUEST_TOO_BIG)  # before a byte of the body is read
    if view is None:
        try:
            view = await case_routes._visible_view(request, session, case_no, actor)   # P2: else 404
        except HTTPException as e:
            raise Refused(e.status_code, str(e.detail)) from None
    chosen: dict[str, Any] = {}
    refs_before = [FileRef.model_validate(f) for f in view.get("files") or []]

    async def before_file(fields: dict[str, str], up: Upload) -> None:
        if check_fields is not None:
            check_fields(fields)
        s = _choice(step or fields.get("step"), FileStep, "step（环节）", STEP_NAMES)
        k = _choice(kind or fields.get("kind"), FileKind, "kind（类别）", {})
        case_type = view["case_type"]
        if s not in CASE_STEPS[case_type]:
            raise Refused(422, f"step：{CASE_TYPE_NAMES.get(case_type, '')}案件没有「{STEP_NAMES[s]}」环节（D1）")
        try:
            access.check_attaching(_Facts(view), s, actor)
        except Rejection as r:
            raise Refused(REFUSAL_STATUS[r.kind], r.message) from None
        if view.get("closed_at"):
            raise Refused(409, f"案件 {case_no} 已结案，不能再上传文件")
        up.room = room_left(refs_before, s)
        key = idempotency_key or (fields.get(key_field) if key_field else None)
        if key and up.room < MAX_FILES_PER_REQUEST:
            # D1: a retry of an upload already applied (it may have filled the step) is answered as the first
            # time, whatever room is left: the case says before the body is read whether this key was applied
            chosen["applied"] = await applied_fingerprint(request, case_no, upload_key(case_no, actor, key, key_scope))
            if chosen["applied"] is not None:
                up.room = MAX_FILES_PER_REQUEST
        if up.room <= 0:
            raise Refused(422, too_many(s))
        chosen.update(step=s, kind=k)

    up = await read_upload(request, before_file, over_room(lambda: chosen["step"]))
    try:
        s, k = chosen["step"], chosen["kind"]
        flagged = _flag(up.fields.get("for_owner")) if for_owner is None else for_owner
        checked = with_refs(await check_parts(up, k), case_no, s, k,
                            for_owner=default_for_owner(s, actor.role) if flagged is None else flagged,
                            shows_person=bool(_flag(up.fields.get("shows_person"))))
        if key_field and not idempotency_key:
            idempotency_key = up.fields.get(key_field) or None
    finally:
        up.close()
    try:
        return await attach_checked(request, session, actor, case_no, view, checked, provenance, idempotency_key,
                                    key_scope, applied=chosen.get("applied"))
    finally:
        for c in checked:
            c.close()


def over_room(step_of):
    """The refusal of a file past the step's room, as its part begins (D1: 20 a step)."""
    def refuse(part: Part, up: Upload) -> None:
        s = step_of()
        raise Refused(422, f"{part.label}：「{STEP_NAMES[s]}」环节最多 {FILES_PER_STEP} 个文件，已有 "
                           f"{FILES_PER_STEP - (up.room or 0)} 个，本次最多再传 {up.room} 个（D1）")
    return refuse


def upload_key(case_no: str, actor: Actor, idempotency_key: str, key_scope: str | None) -> str:
    """An upload's Idempotency-Key as the case keeps it: scoped to the case and the user (or `key_scope`)."""
    return scoped_key("files", case_no, key_scope or actor.username, idempotency_key)


async def applied_fingerprint(request: Request, case_no: str, request_key: str) -> str | None:
    """The fingerprint of the request the case applied under this key, or None (also when the case cannot say:
    a worker of before the query; the upload is then checked as a new one)."""
    handle = case_routes._handle(case_routes.temporal(request), case_no)
    try:
        return await asyncio.wait_for(handle.query(CaseWorkflow.applied_request, request_key),
                                      request.app.state.settings.read_timeout_seconds)
    except Exception as e:  # noqa: BLE001 — only a shortcut for retries: never a reason to refuse an upload
        log.warning("applied request not known", case_no=case_no, error=type(e).__name__)
        return None


KEY_REUSED = "Idempotency-Key 已用于另一个请求（内容不同）：同一键只能对应同一操作"


async def attach_checked(request: Request, session: AsyncSession, actor: Actor, case_no: str, view: dict[str, Any],
                         checked: list[Checked],
                         provenance: Provenance | None, idempotency_key: str | None,
                         key_scope: str | None, applied: str | None = None) -> tuple[int, list[dict[str, Any]]]:
    """Stores the checked files' blobs (those not on the case yet) and attaches their references by one act
    (claim check, D3): (status, the references in the request's order); 200 when all were there already and
    no Idempotency-Key says this request was the one that added them. `applied`: the fingerprint the case holds
    for this key (applied_fingerprint), when asked before the body.
    A retried request (the same key and files) answers as the first time, 201 with the same references: the
    Update goes out again under the same id and Temporal answers the first outcome (or, after the case continued
    as new, the case answers the repeat without applying it)."""
    on_case = {f["id"]: f for f in view.get("files") or []}
    order = list(dict.fromkeys(c.ref.id for c in checked))     # the same content twice in one request: one file
    unique = list({c.ref.id: c for c in checked}.values())
    new = [c for c in unique if c.ref.id not in on_case]
    fingerprint = request_fingerprint({"files": sorted(order)})
    if applied is not None and applied != fingerprint:
        raise Refused(422, KEY_REUSED)
    if not new and not idempotency_key:   # all of them are on the case already (a retry): their references
        return 200, [on_case[i] for i in order]
    if new and applied is None:
        room = room_left([FileRef.model_validate(f) for f in on_case.values()], new[0].ref.step)
        if len(new) > room:
            raise Refused(422, f"「{STEP_NAMES[new[0].ref.step]}」环节最多 {FILES_PER_STEP} 个文件，本次新增 {len(new)} 个，"
                               f"只能再加 {room} 个（D1）")
    store = file_store(request)
    for c in new:   # the blobs first: a case never references bytes that are not there
        c.data.seek(0)
        await store.put(c.data.read())
        if c.thumbnail:
            await store.put(c.thumbnail)
    sent = new or unique   # a keyed retry whose files are all on the case: sent again, answered as the first time
    first = sent[0].ref
    fids = [c.ref.id for c in sent]
    handle = case_routes._handle(case_routes.temporal(request), case_no)
    # D3: the references in their compact form (aftersales.files.pack): ~100 bytes a file in the history
    attach = ActionRequest(action=AddFiles(action="add_files", step=first.step, kind=first.kind,
                                           for_owner=first.for_owner, shows_person=first.shows_person,
                                           files=[pack(c.ref) for c in sent], provenance=provenance), actor=actor)
    if idempotency_key:
        # as for actions: the key scoped to the case and the user, with the request's fingerprint (all its files);
        # the case applies the key once and refuses it with other files (422)
        attach.request_key = upload_key(case_no, actor, idempotency_key, key_scope)
        attach.fingerprint = fingerprint
        # the Update's id is in the history several times: a hash of the key and the request, 38 characters
        update_id = "files-" + hashlib.sha256(f"{attach.request_key}|{fingerprint}".encode()).hexdigest()[:32]
    else:
        update_id = "files-" + hashlib.sha256("|".join(sorted(fids)).encode()).hexdigest()[:32]
    # P4: the case's validator refuses an act the API did not vouch for; a file reference is one too
    attach.assertion = actor_assertion.sign(handle.id, attach, request.app.state.settings.actor_assertion_key)
    try:
        answer = await case_routes._update(request, handle, CaseWorkflow.act, attach, update_id=update_id)
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        if isinstance(cause, ApplicationError) and cause.type in REFUSAL_STATUS:
            if cause.type == "conflict" and any(f in cause.message for f in fids):   # a retry of this upload meanwhile
                view = await case_routes._read_view(request, session, case_no)
                now = {f["id"]: f for f in view.get("files") or []}
                if all(i in now for i in order):
                    return 200, [now[i] for i in order]
            # the blobs stay for the orphan sweep: another upload of the same content may be on its way
            raise Refused(REFUSAL_STATUS[cause.type], cause.message) from None
        raise
    if answer.at is None:   # the same Idempotency-Key and files, applied before: what the case holds, as then
        view = await case_routes._read_view(request, session, case_no)
        on_case = {f["id"]: f for f in view.get("files") or []}
        return 201, [on_case[i] for i in order if i in on_case]
    for c in new:
        log.info("file attached", file_id=c.ref.id, step=c.ref.step.value, kind=c.ref.kind.value, size=c.ref.size,
                 had_location=c.had_location, by_owner=provenance is not None)
    # the references as the case holds them (who and when from the Update: the case does not send them back)
    added = {c.ref.id: c.ref.model_copy(update={"by": actor.username, "role": actor.role, "at": answer.at})
             .model_dump(mode="json") for c in sent}
    return 201, [on_case.get(i) or added[i] for i in order]


async def upload_file(request: Request, session: AsyncSession, actor: Actor, case_no: str, *,
                      step: str | None = None, kind: str | None = None,
                      check_fields=None) -> tuple[int, dict[str, Any]]:
    """One file's upload (the first of the request's): (status, its reference)."""
    status, refs = await upload_files(request, session, actor, case_no, step=step, kind=kind,
                                      check_fields=check_fields)
    return status, refs[0]


class _Facts:
    """The case view as `access.check_attaching` reads a state (department, contractor, number)."""

    def __init__(self, view: dict[str, Any]) -> None:
        self.case_no, self.department = view["case_no"], view.get("department")
        self.survey = type("S", (), {"contractor_id": (view.get("survey") or {}).get("contractor_id")})() \
            if view.get("survey") else None


UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary",
                 "description": f"the file: {ACCEPTED_NAMES}, known by its content; at most {MAX_FILE_BYTES} bytes. "
                                f"Several files: repeat the part (at most {MAX_FILES_PER_REQUEST}, within the step's "
                                f"room of {FILES_PER_STEP}); all are attached or none"},
        "step": {"type": "string", "enum": [s.value for s in FileStep], "description": "if not in the query"},
        "kind": {"type": "string", "enum": [k.value for k in FileKind], "description": "if not in the query"},
        "for_owner": {"type": "boolean", "description": "O2: shown to the owner (default: by step)"},
        "shows_person": {"type": "boolean", "description": "P3: the photo shows a person: downloads are recorded"},
    }}}}}}


class FilesAdded(BaseModel):
    """Several files of one upload (D1): their references in the request's order."""
    case_no: str
    files: list[FileRef]


@router.post("/cases/{case_no}/files", status_code=201, summary="Add photos or documents to a step of a case (D1)",
             response_model=FileRef | FilesAdded, openapi_extra=UPLOAD_BODY,
             responses={200: {"description": "The same files were already on this step (or the same Idempotency-Key "
                                             "was applied): their references", "model": FileRef | FilesAdded},
                        409: {"description": "The case is closed"},
                        413: {"description": f"A file is over {MAX_FILE_BYTES} bytes (10 MB)"},
                        415: {"description": f"A file is not {ACCEPTED_NAMES} by its content, or not multipart"}})
async def post_file(case_no: str, request: Request, actor: Annotated[Actor, Depends(current_actor)],
                    session: Annotated[AsyncSession, Depends(db_session)],
                    step: Annotated[FileStep | None, Query(description="D1: the step the file belongs to")] = None,
                    kind: Annotated[FileKind | None, Query(description="photo, signed (a signed paper) or document")] = None,
                    idempotency_key: Annotated[str | None, Header(
                        alias="Idempotency-Key", min_length=1, max_length=128,
                        description="the same key (same user, same case) attaches the files once; the key with "
                                    "other files is 422")] = None,
                    ) -> Response:
    """One file answers its reference (`FileRef`); several (the `file` part repeated) answer `FilesAdded`. Each
    file is checked — type by content, 10 MB, the step's room — before any is stored; one refused file refuses
    the request (its detail names the file: 第 N 个文件（name）) and nothing is stored."""
    try:
        status, refs = await upload_files(request, session, actor, case_no, step=step and step.value,
                                          kind=kind and kind.value, idempotency_key=idempotency_key)
    except Refused as r:
        from api.problems import problem_response
        headers = {"Connection": "close"} if r.status in (413, 415) else None
        return problem_response(r.status, r.detail, headers=headers)
    if len(refs) == 1:
        return JSONResponse(refs[0], status_code=status, headers={"Location": f"/cases/{case_no}/files/{refs[0]['id']}"})
    return JSONResponse({"case_no": case_no, "files": refs}, status_code=status,
                        headers={"Location": f"/cases/{case_no}/files"})


# ---- reading: P2 on the register, signed links ------------------------------------------------------
async def visible_file(session: AsyncSession, actor: Actor, case_no: str, fid: str) -> CaseFile:
    """The file if its case is one the user sees (P2, by the register's rule), else 404 as for no file."""
    found = await session.scalar(select(CaseFile).join(Case, Case.case_no == CaseFile.case_no).where(
        CaseFile.case_no == case_no, CaseFile.file_id == fid, visible_cases_clause(actor)))
    if found is None:
        raise HTTPException(404, f"no file {fid} on case {case_no}")
    return found


async def visible_files(session: AsyncSession, actor: Actor, case_no: str) -> list[CaseFile]:
    case = await session.scalar(select(Case.case_no).where(Case.case_no == case_no, visible_cases_clause(actor)))
    if case is None:
        raise case_routes.no_case(case_no)
    return list(await session.scalars(select(CaseFile).where(CaseFile.case_no == case_no)
                                      .order_by(CaseFile.added_at, CaseFile.file_id)))


Variant = Literal["original", "thumbnail"]


def _link_key(request: Request) -> bytes:
    return hmac.new(request.app.state.settings.jwt_secret.encode(), b"aftersales file links (D3)", "sha256").digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_link(request: Request, actor: Actor, f: CaseFile, variant: Variant = "original",
                now: float | None = None) -> tuple[str, int]:
    """D3: a link to one file for one account, valid `files_link_minutes`: (path, expiry)."""
    return link_to(request, actor, f.case_no, f.file_id, variant, now)


def link_to(request: Request, actor: Actor, case_no: str, fid: str, variant: Variant = "original",
            now: float | None = None) -> tuple[str, int]:
    expires = int((now or time.time()) + request.app.state.settings.files_link_minutes * 60)
    body = _b64(json.dumps([case_no, fid, variant, actor.username, expires], separators=(",", ":")).encode())
    sig = _b64(hmac.new(_link_key(request), body.encode(), "sha256").digest()[:20])
    return f"/files/{body}.{sig}", expires


def file_out(request: Request, actor: Actor, f: CaseFile, names: dict[str, str] | None = None) -> FileOut:
    url, expires = signed_link(request, actor, f)
    thumb = signed_link(request, actor, f, "thumbnail")[0] if f.thumb else None
    return FileOut(id=f.file_id, case_no=f.case_no, sha256=f.sha256, kind=f.kind, step=f.step,
                   step_name=STEP_NAMES[FileStep(f.step)], size=f.size, content_type=f.content_type,
                   for_owner=f.for_owner, shows_person=f.shows_person, by=f.added_by, role=f.role,
                   by_owner=f.provenance == "owner", provenance=f.provenance,
                   uploaded_by="业主本人" if f.provenance == "owner" else (names or {}).get(f.added_by, f.added_by),
                   at=f.added_at.isoformat(), url=url, thumbnail_url=thumb, expires_at=expires)


async def serve(request: Request, session: AsyncSession, actor: Actor, f: CaseFile, variant: Variant,
                viewer: tuple[str, str] | None = None) -> Response:
    """The file's bytes. `viewer`: who is recorded (P3) when it is not `actor` — (their id, their role): the owner
    pages act as one technical account, the owner who looks is recorded by their opaque id."""
    address = f.thumb if variant == "thumbnail" else f.sha256
    if address is None:
        raise HTTPException(404, f"file {f.file_id} has no thumbnail")
    data = await file_store(request).get(address)
    if data is None:
        log.error("file blob missing", file_id=f.file_id)
        raise HTTPException(404, f"file {f.file_id}: its content is missing from the store")
    if variant == "original" and (f.kind == FileKind.signed or f.shows_person):
        # P3: a signature or a person shown: recorded like a full phone showing (who, when, which case, what)
        username, role = viewer or (actor.username, actor.role.value)
        await record_shown(session, username, role, f.case_no, f"GET file {f.file_id} ({f.kind})")
    ctype = "image/jpeg" if variant == "thumbnail" else f.content_type
    ext = "jpg" if variant == "thumbnail" else ACCEPTED_TYPES.get(f.content_type, "bin")
    name = f"{f.case_no}-{f.step}-{f.file_id}{'-thumb' if variant == 'thumbnail' else ''}.{ext}"
    disposition = "inline" if ctype.startswith("image/") or ctype == "application/pdf" else "attachment"
    return Response(data, media_type=ctype, headers={
        "Content-Disposition": f'{disposition}; filename="{name}"', "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store", "Content-Security-Policy": "default-src 'none'; sandbox"
        if ctype == "application/pdf" else "default-src 'none'"})


@router.get("/cases/{case_no}/files", summary="The files of a case, with signed links (D3)", response_model=FilesOut)
async def list_files(case_no: str, request: Request, actor: Annotated[Actor, Depends(current_actor)],
                     session: Annotated[AsyncSession, Depends(db_session)]) -> FilesOut:
    files = await visible_files(session, actor, case_no)
    names = await choices.staff_names(session) if files else {}
    return FilesOut(case_no=case_no, files=[file_out(request, actor, f, names) for f in files])


FILE_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"description": "The file's bytes", "content": {
    t: {"schema": {"type": "string", "format": "binary"}} for t in [*ACCEPTED_TYPES]}}}


@router.get("/cases/{case_no}/files/{file_id}", summary="A file of a case (D3)", response_class=Response,
            responses=FILE_RESPONSES)
async def get_file(case_no: str, file_id: str, request: Request, actor: Annotated[Actor, Depends(current_actor)],
                   session: Annotated[AsyncSession, Depends(db_session)], variant: Variant = "original") -> Response:
    return await serve(request, session, actor, await visible_file(session, actor, case_no, file_id), variant)


@router.get("/files/{token}", summary="A file by its signed link (D3: valid for minutes)", response_class=Response,
            responses=FILE_RESPONSES)
async def get_signed(token: str, request: Request, session: Annotated[AsyncSession, Depends(db_session)]) -> Response:
    """No session needed: the link is the proof, for the account it was made for, until it expires; that
    account must still be active and still see the case (else 404, as for no file)."""
    gone = HTTPException(404, "no such file link, or it has expired")
    body, _, sig = token.partition(".")
    expected = _b64(hmac.new(_link_key(request), body.encode(), "sha256").digest()[:20])
    if not sig or not hmac.compare_digest(sig, expected):
        raise gone
    try:
        case_no, fid, variant, username, expires = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, TypeError):
        raise gone from None
    if time.time() > expires or variant not in ("original", "thumbnail"):
        raise gone
    staff = await get_staff(session, username)
    if staff is None or not staff.active:
        raise gone
    actor = actor_of(staff)
    try:
        f = await visible_file(session, actor, case_no, fid)
    except HTTPException:
        raise gone from None
    return await serve(request, session, actor, f, variant)

"""The owner's photos on their own pages (O2, O3, O4; D1, D3), beside api/owners.py.

- Filing a repair or complaint on /o/new/{kind} may carry photos (multipart, `file` repeated; the phone's camera
  or album: accept="image/*" capture): the form's CSRF token is checked before any file is read, each photo is
  checked as every upload is (type by content, 10 MB, 20 a step, decodes; location removed) before the case is
  filed, and they are attached to the new case's intake step by one act with the owner's provenance (O4).
  A refused photo files nothing and stores nothing; a double tap (the form's key) files one case and attaches
  its photos once.
- POST /o/cases/{no}/files: more photos of what the owner reports (the leak, the crack, the work they are unhappy
  with), to their own open case, on its intake step (aftersales.files.OWNER_STEP: never a step a rule counts).
- The case page lists the case's photos meant for the owner (aftersales.files.owner_sees: flagged for them, never
  the survey's or the company's cost statement) through short-lived signed links, GET /o/files/{token}: valid
  `files_link_minutes`, and only in a session of an owner who still sees the case (another owner's file, or a
  link past its time, is 404 as for no file). Downloads of a photo showing a person or of a signed paper are
  recorded (P3) as the owner who looked, by their opaque id (`owner:` and the keyed hash of their phone).
"""

import base64
import hashlib
import hmac
import json
import time
from datetime import datetime, timezone
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.models import CaseFile, OwnerSession
from aftersales.files import FILES_PER_STEP, KIND_NAMES, OWNER_STEP, STEP_NAMES, FileKind, FileStep, owner_sees
from aftersales.provenance import Means, Provenance
from api import cases as case_routes
from api import files as file_routes
from api import owners
from api.deps import db_session

router = APIRouter(include_in_schema=False)


def install(app) -> None:
    """The routes, and this module as the owner pages' photo part (api/owners.py reads it from PHOTOS)."""
    import sys
    app.include_router(router)
    if not owners.PHOTOS:
        owners.PHOTOS.append(sys.modules[__name__])
log = structlog.get_logger()
MAX_FORM_FIELD = 8 * 1024   # the filing form's description: 2,000 characters of Chinese in UTF-8


class PhotosRefused(Exception):
    """A photo of the owner's form refused (D1): the status, the reason naming the photo, the form's fields."""

    def __init__(self, status: int, detail: str, fields: dict[str, str]) -> None:
        super().__init__(detail)
        self.status, self.detail, self.fields = status, detail, fields


def _csrf_check(request: Request):
    cookie = request.cookies.get(owners.OWNER_COOKIE, "")

    def check(fields: dict[str, str]) -> None:
        if not cookie or not hmac.compare_digest(fields.get("csrf", ""), owners.csrf_token(cookie)):
            raise file_routes.Refused(403, "表单已过期，请刷新页面后重试")
    return check


def _multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith("multipart/form-data")


def _provenance(owner: OwnerSession) -> Provenance:
    return Provenance.by_owner(Means(owner.means), datetime.now(timezone.utc))


# ---- filing with photos ------------------------------------------------------------------------------------
async def filing_form(request: Request) -> tuple[dict[str, str], list[file_routes.Checked]]:
    """The filing form's fields and its photos, checked (D1) — or PhotosRefused. A form without photos (or sent
    url-encoded) is read as before."""
    if not _multipart(request):
        return await owners.checked_form(request), []
    check = _csrf_check(request)
    fields: dict[str, str] = {}

    async def before_file(got: dict[str, str], up: file_routes.Upload) -> None:
        fields.update(got)
        check(got)
        up.room = FILES_PER_STEP   # a new case: its intake step is empty

    try:
        up = await file_routes.read_upload(request, before_file, file_routes.over_room(lambda: OWNER_STEP),
                                           max_field=MAX_FORM_FIELD, files_optional=True)
    except file_routes.Refused as r:
        raise PhotosRefused(r.status, r.detail, {k: v for k, v in fields.items() if k != "csrf"}) from None
    form = {k: v for k, v in up.fields.items() if k != "csrf"}
    try:
        if not up.parts:   # no photo chosen: the fields alone, their CSRF token checked as any form's
            try:
                check(up.fields)
            except file_routes.Refused as r:
                raise PhotosRefused(r.status, r.detail, form) from None
            return form, []
        try:
            return form, await file_routes.check_parts(up, FileKind.photo)
        except file_routes.Refused as r:
            raise PhotosRefused(r.status, r.detail, form) from None
    finally:
        up.close()


async def attach_to_filed(request: Request, session: AsyncSession, owner: OwnerSession, case_no: str,
                          photos: list[file_routes.Checked], key: str) -> str | None:
    """The filing's photos onto the case just filed (its intake step), once per form key: None, or what the owner
    is told when they could not be attached (the case is filed all the same)."""
    if not photos:
        return None
    try:
        view = await case_routes._read_view(request, session, case_no)
        file_routes.with_refs(photos, case_no, OWNER_STEP, FileKind.photo, for_owner=True, shows_person=False)
        await file_routes.attach_checked(request, session, owners.OWNER_APP, case_no, view, photos, _provenance(owner),
                                         key or None, f"owner:{owner.phone_hmac}")
    except (file_routes.Refused, Exception) as e:  # noqa: BLE001 — the case stands; the owner adds them later
        log.warning("owner photos not attached at filing", case_no=case_no, error=type(e).__name__)
        return "照片未能上传，请在案件页面重新添加"
    finally:
        for c in photos:
            c.close()
    return None


# ---- the case page's photos, and adding more --------------------------------------------------------------
def _link_key(request: Request) -> bytes:
    return hmac.new(request.app.state.settings.jwt_secret.encode(), b"aftersales owner file links (D3, O2)",
                    "sha256").digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def owner_link(request: Request, case_no: str, fid: str, variant: str = "original", now: float | None = None) -> str:
    """D3: a link to one file for the owner's pages, valid `files_link_minutes`; it names no one (no phone, no
    session): it works only in the session of an owner who sees the case."""
    expires = int((now or time.time()) + request.app.state.settings.files_link_minutes * 60)
    body = _b64(json.dumps([case_no, fid, variant, expires], separators=(",", ":")).encode())
    sig = _b64(hmac.new(_link_key(request), body.encode(), "sha256").digest()[:20])
    return f"/o/files/{body}.{sig}"


async def case_photos(request: Request, session: AsyncSession, case_no: str) -> list[dict[str, Any]]:
    """O2: the case's files meant for the owner, oldest first, with signed links."""
    rows = await session.scalars(select(CaseFile).where(CaseFile.case_no == case_no)
                                 .order_by(CaseFile.added_at, CaseFile.file_id))
    return [{"url": owner_link(request, f.case_no, f.file_id),
             "thumb_url": owner_link(request, f.case_no, f.file_id, "thumbnail") if f.thumb else None,
             "step": STEP_NAMES[FileStep(f.step)], "kind": KIND_NAMES[FileKind(f.kind)], "at": f.added_at,
             "mine": f.added_by == owners.OWNER_APP.username}
            for f in rows if owner_sees(f)]


def page_context(case, photos: list[dict[str, Any]]) -> dict[str, Any]:
    """What the case page's photo section needs (api/templates/owner/_photos.html)."""
    return {"photos": photos, "photo_form": case.closed_at is None, "photo_key": hashlib.sha256(
        f"{case.case_no}{time.time_ns()}".encode()).hexdigest()[:32]}


@router.post("/o/cases/{case_no}/files", response_class=HTMLResponse)
async def add_photos(case_no: str, request: Request, owner: Annotated[OwnerSession, Depends(owners.owner_session)],
                     session: Annotated[AsyncSession, Depends(db_session)]) -> Response:
    """O3: photos added to the owner's own open case (its intake step), checked as every upload, all or none."""
    case = await owners._owner_case_or_404(session, owner, case_no)   # another owner's case: 404 (O2)
    if case.closed_at is not None:
        return _refused(request, case_no, 409, "案件已结案，不能再添加照片")
    try:
        view = await case_routes._read_view(request, session, case_no)
        status, refs = await file_routes.upload_files(
            request, session, owners.OWNER_APP, case_no, step=OWNER_STEP.value, kind=FileKind.photo.value,
            check_fields=_csrf_check(request), view=view, provenance=_provenance(owner), key_field="key",
            key_scope=f"owner:{owner.phone_hmac}", for_owner=True)
    except file_routes.Refused as r:
        if r.status == 404:
            raise owners.OwnerNotFound() from None
        return _refused(request, case_no, r.status, r.detail)
    notice = f"已添加 {len(refs)} 张照片" if status == 201 else "这些照片已添加过"
    log.info("owner added photos", case_no=case_no, count=len(refs), new=status == 201)
    return RedirectResponse(f"/o/cases/{case_no}?notice={notice}", status_code=303, headers=owners.HEADERS)


def _refused(request: Request, case_no: str, status: int, detail: str) -> HTMLResponse:
    return owners.render(request, "photos_refused.html", status, case_no=case_no,
                         error=f"照片未能添加：{owners.owner_text(detail)}",
                         photo_key=hashlib.sha256(f"{case_no}{time.time_ns()}".encode()).hexdigest()[:32])


@router.get("/o/files/{token}")
async def owner_file(token: str, request: Request, owner: Annotated[OwnerSession, Depends(owners.owner_session)],
                     session: Annotated[AsyncSession, Depends(db_session)]) -> Response:
    """D3, O2: a file by the owner's signed link, for an owner who sees its case and only a file meant for them."""
    body, _, sig = token.partition(".")
    expected = _b64(hmac.new(_link_key(request), body.encode(), "sha256").digest()[:20])
    if not sig or not hmac.compare_digest(sig, expected):
        raise owners.OwnerNotFound()
    try:
        case_no, fid, variant, expires = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, TypeError):
        raise owners.OwnerNotFound() from None
    if time.time() > expires or variant not in ("original", "thumbnail"):
        raise owners.OwnerNotFound()
    await owners._owner_case_or_404(session, owner, case_no)
    f = await session.get(CaseFile, (case_no, fid))
    if f is None or not owner_sees(f):
        raise owners.OwnerNotFound()
    # P3: the owner who looked, by their opaque id (the keyed hash of their phone: no number in clear)
    return await file_routes.serve(request, session, owners.OWNER_APP, f, variant,
                                   viewer=(f"owner:{owner.phone_hmac}", "owner"))

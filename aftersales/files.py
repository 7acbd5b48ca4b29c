"""Photos and documents of a case (D1–D4), as the rules see them: references, never bytes.

A case holds `FileRef`s (claim check, D3): the file's id, the hash of its content, its kind and step, its
size and type, who added it and when. The bytes live in a blob store outside the workflow engine
(adapters/files); the case's history holds only these few hundred bytes per file whatever the file weighs.

- D1: a file belongs to a step of the case; JPEG, PNG, WebP, HEIC and PDF known by their content; at most
  MAX_FILE_BYTES each and FILES_PER_STEP per step (`check_room`).
- D2: completing the work needs a photo after the work, a type-A deduction the signed cost statement
  (`missing_after_work_photo`, `missing_signed_cost_statement`); whether each applies is configuration
  (`FileRules`, from the settings; docs/decisions.md says why both are on by default).
- Who may add a file to which step: ATTACH_ROLES (the roles that do or witness the step), within P1's scope.

Pure: no I/O.
"""

import base64
import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from aftersales.roles import Role

MAX_FILE_BYTES = 10 * 1024 * 1024   # D1: 10 MB a file (10,485,760 bytes)
FILES_PER_STEP = 20                 # D1: 20 files a step
THUMBNAIL_PIXELS = 320              # the gallery's thumbnails: the longer side


class FileStep(StrEnum):
    """D1: the step of a case a file belongs to."""
    intake = "intake"                  # what the owner reported (C1, R1)
    survey = "survey"                  # the site survey (R2) or a complaint's investigation (C3)
    before_work = "before_work"        # before the work (R5)
    after_work = "after_work"          # after the work (R5, D2)
    inspection = "inspection"          # the completion inspection (R6)
    repair_slip = "repair_slip"        # the repair slip the owner signed (R3, 维修单)
    cost_statement = "cost_statement"  # the cost statement (A2/A3, 决算书), signed by the contractor
    quote = "quote"                    # a quote (R3)
    receipt = "receipt"                # a payment receipt (R3, A1 compensation, A3)


class FileKind(StrEnum):
    """D1: what a file is. `signed`: a signed paper (slip, statement, sign-off): its downloads are recorded
    like a full phone showing (P3), as are photos marked as showing a person."""
    photo = "photo"
    signed = "signed"
    document = "document"


STEP_NAMES = {
    FileStep.intake: "受理", FileStep.survey: "查勘", FileStep.before_work: "施工前", FileStep.after_work: "施工后",
    FileStep.inspection: "验收", FileStep.repair_slip: "维修单（业主签字）", FileStep.cost_statement: "决算书（签字）",
    FileStep.quote: "报价", FileStep.receipt: "付款收据",
}
KIND_NAMES = {FileKind.photo: "照片", FileKind.signed: "签字文件", FileKind.document: "文件"}

ContentType = Literal["image/jpeg", "image/png", "image/webp", "image/heic", "application/pdf"]
ACCEPTED_TYPES: dict[str, str] = {   # D1: the types accepted, as their content names them, and their extension
    "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/heic": "heic", "application/pdf": "pdf",
}
ACCEPTED_NAMES = "JPEG、PNG、WebP、HEIC、PDF"

# The steps of each case type (a complaint has no work order, survey co-signature or settlement).
CASE_STEPS: dict[str, tuple[FileStep, ...]] = {
    "complaint": (FileStep.intake, FileStep.survey, FileStep.receipt),
    "repair": tuple(FileStep),
}

R = Role
_CASE_DESK = (R.hotline, R.cs_staff, R.butler, R.cs_manager)
_WORK = (R.repair_lead, R.engineering, R.contractor, R.cs_staff)
# D1 and P1: who adds a file to each step — those who do the step or witness it. Department roles add
# to a complaint's investigation (their own department's cases: check_acting's scope applies on top).
ATTACH_ROLES: dict[FileStep, frozenset[Role]] = {
    FileStep.intake: frozenset(_CASE_DESK),
    FileStep.survey: frozenset({R.cs_staff, R.engineering, R.repair_lead, R.contractor, R.dept_handler, R.dept_head}),
    FileStep.before_work: frozenset(_WORK),
    FileStep.after_work: frozenset(_WORK),
    FileStep.inspection: frozenset({R.cs_staff, R.repair_lead, R.butler}),
    FileStep.repair_slip: frozenset({R.cs_staff, R.butler, R.repair_lead}),
    FileStep.cost_statement: frozenset({R.repair_lead, R.auditor, R.contractor, R.deputy_chief_engineer}),
    FileStep.quote: frozenset({R.cs_staff, R.repair_lead}),
    FileStep.receipt: frozenset({R.finance, R.cs_staff, R.butler}),
}
# O2: the steps whose files are meant for the owner by default (their own home before and after the work,
# the inspection, what they signed, their quote and receipt); survey notes and the company's cost statement
# are internal.
FOR_OWNER_STEPS = frozenset({FileStep.intake, FileStep.before_work, FileStep.after_work, FileStep.inspection,
                             FileStep.repair_slip, FileStep.quote, FileStep.receipt})

# O3: the step an owner's own photos go to (what they report: the leak, the crack, the work they are unhappy
# with) — never a step whose files a rule counts (D2: the photo after the work is the worker's evidence).
OWNER_STEP = FileStep.intake


def default_for_owner(step: FileStep, role: Role | None) -> bool:
    """O2: whether a file is meant for the owner unless its uploader says otherwise: the steps of their own home
    and of what they sign or pay; a receipt only when it is not finance's (finance's receipts are the company's
    payments to contractors, A3: company costs)."""
    return step in FOR_OWNER_STEPS and not (step == FileStep.receipt and role == R.finance)


def owner_sees(ref: "FileRef") -> bool:
    """O2: the owner sees a file meant for them (`for_owner`), and never one of an internal step (the survey's
    notes, the company's cost statement) whatever its flag says."""
    return ref.for_owner and ref.step in FOR_OWNER_STEPS


FILE_ID_PATTERN = r"^f[0-9a-f]{16}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"


class FileRef(BaseModel):
    """D3: what a case holds of a file (claim check). `sha256` addresses the blob (the content after EXIF
    location was removed), `thumb` its thumbnail's blob (images only)."""
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=FILE_ID_PATTERN)
    sha256: str = Field(pattern=SHA256_PATTERN)
    kind: FileKind
    step: FileStep
    size: int = Field(gt=0, le=MAX_FILE_BYTES)
    content_type: ContentType
    thumb: str | None = Field(default=None, pattern=SHA256_PATTERN)
    for_owner: bool = False      # O2: shown to the owner
    shows_person: bool = False   # P3: a photo showing a person: its downloads are recorded
    by: str = ""                 # set by the case from the actor (D1: who added it) ...
    role: Role | None = None
    at: datetime | None = None   # ... and when

    @property
    def recorded_download(self) -> bool:
        """P3: a download of a file that shows a person or a signature is recorded."""
        return self.kind == FileKind.signed or self.shows_person


def file_id(case_no: str, step: FileStep, sha256: str) -> str:
    """The same content on the same step of a case is one file: a retried upload finds it (never two)."""
    return "f" + hashlib.sha256(f"{case_no}|{step.value}|{sha256}".encode()).hexdigest()[:16]


# D3: an upload's references as the case's `add_files` Update carries them, so that a case's history grows by
# about a hundred bytes a file: the step, kind and flags once for the upload (one upload is one step and kind),
# each file as [content hash, size, type, thumbnail hash] with the hashes in base64url (43 characters, not 64),
# the type by its extension; the id is the case's to compute (`file_id`), who and when the Update's own.
PACKED_HASH = r"^[A-Za-z0-9_-]{43}$"
TYPE_CODES = {v: k for k, v in ACCEPTED_TYPES.items()}   # "jpg" -> "image/jpeg"
TypeCode = Literal["jpg", "png", "webp", "heic", "pdf"]
PackedFile = tuple[Annotated[str, Field(pattern=PACKED_HASH)], Annotated[int, Field(gt=0, le=MAX_FILE_BYTES)],
                   TypeCode, Annotated[str, Field(pattern=r"^$|" + PACKED_HASH)]]


def pack_hash(sha256: str) -> str:
    return base64.urlsafe_b64encode(bytes.fromhex(sha256)).rstrip(b"=").decode()


def unpack_hash(packed: str) -> str:
    return base64.urlsafe_b64decode(packed + "=").hex()


def pack(ref: "FileRef") -> PackedFile:
    return (pack_hash(ref.sha256), ref.size, ACCEPTED_TYPES[ref.content_type], pack_hash(ref.thumb) if ref.thumb else "")


def unpack(case_no: str, step: FileStep, kind: FileKind, for_owner: bool, shows_person: bool,
           packed: PackedFile) -> "FileRef":
    sha, size, code, thumb = packed
    sha256 = unpack_hash(sha)
    return FileRef(id=file_id(case_no, step, sha256), sha256=sha256, kind=kind, step=step, size=size,
                   content_type=TYPE_CODES[code], thumb=unpack_hash(thumb) if thumb else None, for_owner=for_owner,
                   shows_person=shows_person)


class FileRules(BaseModel):
    """D2 as configuration: which actions need which files. Off unless the case's configuration turns them
    on (Settings: on by default); a case opened under rules before 6 never checks them."""
    after_work_photo: bool = False          # complete_work needs a photo of step after_work
    signed_cost_statement: bool = False     # a type-A deduction needs a signed file of step cost_statement


def in_step(files: list[FileRef], step: FileStep, kind: FileKind | None = None) -> list[FileRef]:
    return [f for f in files if f.step == step and (kind is None or f.kind == kind)]


def room_left(files: list[FileRef], step: FileStep) -> int:
    """D1: how many more files the step takes."""
    return max(0, FILES_PER_STEP - len(in_step(files, step)))


def too_many(step: FileStep) -> str:
    return f"「{STEP_NAMES[step]}」环节最多 {FILES_PER_STEP} 个文件（D1），已满"


def missing_after_work_photo(files: list[FileRef], rules: FileRules, work_round_started: datetime | None) -> str | None:
    """D2: the refusal's reason when the work is reported done without a photo after the work (of this round
    of work: a reworked repair needs a new photo), else None."""
    if not rules.after_work_photo:
        return None
    photos = [f for f in in_step(files, FileStep.after_work, FileKind.photo)
              if work_round_started is None or (f.at is not None and f.at >= work_round_started)]
    if photos:
        return None
    return "报告完工前须上传至少一张「施工后」照片（D2）"


def missing_signed_cost_statement(files: list[FileRef], rules: FileRules) -> str | None:
    """D2: the refusal's reason when a type-A settlement would be deducted from the contractor's deposit
    without the signed cost statement, else None."""
    if not rules.signed_cost_statement or in_step(files, FileStep.cost_statement, FileKind.signed):
        return None
    return "A 类工单从质量保证金扣款前须上传施工单位签字的决算书（「决算书（签字）」环节，签字文件）（D2、A3）"


def file_note(ref: FileRef, by_owner: bool = False) -> str:
    """The timeline's line for a file added (D1): what, which step, how big (no file name: it may name a person);
    `by_owner`: the owner added it themselves (O3, O4)."""
    size = f"{ref.size / 1024 / 1024:.1f} MB" if ref.size >= 1024 * 1024 else f"{max(1, round(ref.size / 1024))} KB"
    who = "业主" if by_owner else ""
    return f"{who}上传{KIND_NAMES[ref.kind]}（{STEP_NAMES[ref.step]}，{size}，编号 {ref.id}）（D1）"

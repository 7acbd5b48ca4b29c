"""What a file is, known by its content, and what is kept of it (D1).

- `sniff(head)`: the type from the first bytes (filetype's signatures), one of D1's five or None — never from
  the name or the Content-Type the client sent.
- `prepare(data, content_type)`: an image is decoded whole (a damaged or truncated one, or one of more than
  MAX_PIXELS, is refused), saved again without its location — the EXIF GPS directory and any XMP packet (which
  can carry GPS too) are dropped, the rest of the EXIF (orientation, camera, time) kept — and a JPEG thumbnail
  made (THUMBNAIL_PIXELS on the longer side, orientation applied). A PDF must look like one (%PDF- … %%EOF) and
  is kept as sent (it has no EXIF); it has no thumbnail.

CPU work: callers run it in a thread.
"""

import io
from dataclasses import dataclass

import filetype
from PIL import Image, ImageOps, UnidentifiedImageError

from aftersales.files import ACCEPTED_TYPES, THUMBNAIL_PIXELS

try:  # HEIC (iPhones' photos): pillow-heif registers the format with Pillow
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - a dependency
    pass

SNIFF_BYTES = 8192       # filetype reads no further
MAX_PIXELS = 60_000_000  # a 60-megapixel photo; more is refused before it is decoded (a decompression bomb)
GPS_IFD = 0x8825
_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/heic": "HEIF"}


class BadFile(ValueError):
    """The content is not an acceptable file of its type (the message says why, in Chinese)."""


def sniff(head: bytes) -> str | None:
    kind = filetype.guess(head[:SNIFF_BYTES])
    mime = kind.mime if kind is not None else None
    return mime if mime in ACCEPTED_TYPES else None


@dataclass
class Prepared:
    data: bytes                 # what is stored: an image without its location, a PDF as sent
    thumbnail: bytes | None     # JPEG, images only
    had_location: bool          # EXIF GPS or XMP was removed


def prepare(data: bytes, content_type: str) -> Prepared:
    if content_type == "application/pdf":
        if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-2048:]:
            raise BadFile("PDF 文件不完整或已损坏")
        return Prepared(data=data, thumbnail=None, had_location=False)
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise BadFile(f"图片过大：{width}×{height} 像素，最多 {MAX_PIXELS // 1_000_000} 百万像素")
        image.load()   # decodes every pixel: a truncated or damaged image fails here
    except BadFile:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise BadFile(f"图片无法解码（已损坏或不完整）：{type(e).__name__}") from None
    exif = image.getexif()
    had_location = GPS_IFD in exif or bool(image.info.get("xmp")) or bool(image.info.get("XML:com.adobe.xmp"))
    if GPS_IFD in exif:
        del exif[GPS_IFD]
    return Prepared(data=_saved(image, content_type, exif), thumbnail=_thumbnail(image), had_location=had_location)


def _saved(image: Image.Image, content_type: str, exif: Image.Exif) -> bytes:
    """The image saved again with `exif` (its location removed) and without XMP."""
    out = io.BytesIO()
    options: dict = {"exif": exif.tobytes()} if len(exif) else {}
    if icc := image.info.get("icc_profile"):
        options["icc_profile"] = icc
    fmt = _FORMATS[content_type]
    if fmt == "JPEG":
        # the camera's own quantization tables and subsampling: re-encoded as near as JPEG allows
        options.update(quality="keep", subsampling="keep") if image.format == "JPEG" else options.update(quality=92)
    elif fmt == "WEBP":
        options.update(quality=92, method=4)
    elif fmt == "HEIF":
        options.update(quality=90, xmp=None)
    frame = image if image.mode in ("RGB", "RGBA", "L", "LA", "P", "I;16", "CMYK") or fmt != "JPEG" else image.convert("RGB")
    frame.info.pop("xmp", None)
    frame.save(out, format=fmt, **options)
    return out.getvalue()


def _thumbnail(image: Image.Image) -> bytes:
    thumb = ImageOps.exif_transpose(image.copy())
    thumb.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
    if thumb.mode not in ("RGB", "L"):
        background = Image.new("RGB", thumb.size, "white")
        rgba = thumb.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        thumb = background
    out = io.BytesIO()
    thumb.save(out, format="JPEG", quality=80, optimize=True)
    return out.getvalue()

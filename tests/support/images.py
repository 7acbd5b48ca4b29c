"""Real image files made in the test (Pillow, pillow-heif): photos with a GPS location in their EXIF, as a
phone writes them, of a chosen size."""

import io
import os

from PIL import Image

GPS_IFD = 0x8825
# Shanghai, as a phone writes it: N 31°13'48", E 121°28'12"
GPS = {1: "N", 2: (31.0, 13.0, 48.0), 3: "E", 4: (121.0, 28.0, 12.0)}
FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "heic": "HEIF"}


def photo(fmt: str = "jpeg", *, size: tuple[int, int] = (640, 480), gps: bool = True, noise_bytes: int = 0,
          color: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    """An image of `fmt` with EXIF (camera, orientation, and a GPS location unless gps=False). `noise_bytes`
    of random pixels make it about that big (incompressible), for size limits and throughput."""
    if noise_bytes:
        side = int((noise_bytes / 3) ** 0.5) + 1
        image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    else:
        image = Image.new("RGB", size, color)
    exif = Image.Exif()
    exif[0x010F] = "TestPhone"      # Make
    exif[0x0112] = 1                # Orientation
    if gps:
        exif[GPS_IFD] = GPS
    if fmt == "heic":
        from pillow_heif import register_heif_opener
        register_heif_opener()
    out = io.BytesIO()
    options = {"quality": 100} if fmt in ("jpeg", "webp") and noise_bytes else {}
    image.save(out, format=FORMATS[fmt], exif=exif.tobytes(), **options)
    return out.getvalue()


def location_of(data: bytes) -> dict:
    """The GPS directory of an image's EXIF ({} when there is none)."""
    from pillow_heif import register_heif_opener
    register_heif_opener()
    image = Image.open(io.BytesIO(data))
    return dict(image.getexif().get_ifd(GPS_IFD))


def pdf() -> bytes:
    """A minimal valid one-page PDF."""
    body = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
            b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
    return body

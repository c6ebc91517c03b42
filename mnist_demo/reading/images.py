"""From an uploaded file to an image array that `preprocess` reads, refusing what would hurt the server.

An upload is untrusted: it may be no image at all, a damaged one, or a small
file whose header declares a huge image (a decompression bomb: 50 KB of
compressed zeros can declare 20000x20000 pixels, 400 MB once decoded). Every
check here happens before the expensive step it protects:

1. the size in bytes, before the file is read (`os.stat`) and again while
   reading at most `max_bytes + 1` of it, so a file that grows or a device
   that never ends is not read whole;
2. the format and the dimensions, from the header alone (`Image.open` reads no
   pixels), before any pixel is decoded; only common image formats are tried;
3. the full decode (`load`), so a truncated or damaged file fails here and not
   later inside preprocessing;
4. the conversion of any mode (1-bit, 16-bit, float, CMYK, palette, LA, ...)
   to uint8 gray, RGB or RGBA: alpha is kept wherever the file has
   transparency, because preprocessing reads the ink from alpha when the
   border is transparent (a drawing layer, a transparent palette PNG).

Whatever goes wrong comes out as `UploadRejected`, a ValueError whose message
is one sentence for people; PIL's own exception is kept as its cause for logs.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import os
import re
import stat
import threading
import warnings
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # a drawing or photo of one digit is far smaller
MAX_PIXELS = 4096 * 4096  # 16.8 M pixels: at most 64 MB as RGBA once decoded
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")  # what browsers and phones produce; no exotic decoders

NOT_AN_IMAGE = "That file is not an image (or not a format we read: PNG, JPEG, WebP, GIF, BMP)"
DAMAGED = "That image is truncated or damaged"
TRANSPARENT = "That image is fully transparent: nothing to read"
EMPTY_FILE = "That file is empty"
NO_FILE = "No file was uploaded"
NON_FINITE = "That image has NaN or infinite pixel values"
NOT_A_DATA_URL = "That is not a data URL (expected data:image/png;base64,...)"
NOT_BASE64 = "That data URL is not base64-encoded (expected ;base64, before the data)"
BAD_BASE64 = "That data URL's base64 is damaged"

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]

# `warnings.catch_warnings` swaps the process-wide filter list; one upload at a time opens its header
# under it (microseconds), so two uploads in two threads cannot restore each other's filters.
_OPEN_LOCK = threading.Lock()


class UploadRejected(ValueError):
    """An upload that cannot be read; `str(exc)` is one sentence to show the person who sent it."""


# ---------------------------------------------------------------- public API


def read_upload(source: Source | None, *, max_bytes: int = MAX_UPLOAD_BYTES,
                max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An uploaded image file (a path or its bytes) as a uint8 array `preprocess` accepts.

    Returns (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA; RGBA exactly when the
    file has transparency. Raises `UploadRejected` with a message for people
    when the file is missing or empty, above `max_bytes`, not an image in one
    of `FORMATS`, declares more than `max_pixels` pixels, is truncated or
    damaged, or is fully transparent. Memory stays bounded by `max_bytes` for
    the file plus about twice `max_pixels` RGBA pixels for the decode.
    """
    data = _read_bytes(source, max_bytes)
    image = _open(data, max_pixels)
    try:
        try:
            image.load()  # the whole decode: a truncated file fails here, not inside preprocessing
        except Exception as exc:  # PIL's decoders raise OSError, SyntaxError, ValueError, EOFError, ...
            raise UploadRejected(DAMAGED) from exc
        return _to_array(_upright(image))
    finally:
        image.close()


def decode_data_url(text: str, *, max_bytes: int = MAX_UPLOAD_BYTES) -> bytes:
    """The bytes of a base64 data URL ("data:image/png;base64,iVBOR..."), as API clients send images.

    The length of the text is checked before anything is decoded, so a huge
    string costs no second copy. The media type is not trusted: pass the bytes
    to `read_upload`, which looks at the content. Line breaks in the base64 and
    missing padding are tolerated. Raises `UploadRejected`.
    """
    if not isinstance(text, str):
        raise UploadRejected(NOT_A_DATA_URL)
    # 4 base64 characters carry 3 bytes; allow 5% for line breaks (MIME wraps at 76 with CRLF) and
    # 200 characters for the header. Checked first: every step below copies the text.
    if len(text) > 4 * math.ceil(max_bytes / 3) * 21 // 20 + 200:
        raise UploadRejected(_too_many_bytes((len(text) - text.find(",", 0, 200) - 1) * 3 // 4, max_bytes))
    head, comma, payload = text.strip().partition(",")
    if not comma or not head[:5].lower() == "data:":
        raise UploadRejected(NOT_A_DATA_URL)
    if ";base64" not in head.lower():
        raise UploadRejected(NOT_BASE64)
    payload = "".join(payload.split())
    payload += "=" * (-len(payload) % 4)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UploadRejected(BAD_BASE64) from exc
    if len(data) > max_bytes:
        raise UploadRejected(_too_many_bytes(len(data), max_bytes))
    if not data:
        raise UploadRejected(EMPTY_FILE)
    return data


# ---------------------------------------------------------------- the steps


def _read_bytes(source: Source | None, max_bytes: int) -> bytes:
    """The upload's bytes, never reading more than max_bytes + 1 of a file."""
    if source is None:
        raise UploadRejected(NO_FILE)
    if isinstance(source, (bytes, bytearray, memoryview)):
        size = memoryview(source).nbytes
        if size > max_bytes:
            raise UploadRejected(_too_many_bytes(size, max_bytes))
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        try:
            info = os.stat(source)
            if not stat.S_ISREG(info.st_mode):
                raise UploadRejected("That is not a file")
            if info.st_size > max_bytes:
                raise UploadRejected(_too_many_bytes(info.st_size, max_bytes))
            with open(source, "rb") as f:
                data = f.read(max_bytes + 1)  # the file may have grown since stat
        except UploadRejected:
            raise
        except FileNotFoundError as exc:
            raise UploadRejected("That file does not exist") from exc
        except (OSError, ValueError) as exc:  # permissions, a name too long, a NUL in the name
            raise UploadRejected("That file could not be read") from exc
        if len(data) > max_bytes:
            raise UploadRejected(_too_many_bytes(len(data), max_bytes, at_least=True))
    else:
        raise TypeError(f"expected a path or bytes, got {type(source).__name__}")
    if not data:
        raise UploadRejected(EMPTY_FILE)
    return data


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """The image with only its header read, refused when it is no image or too large to decode."""
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            # PIL warns above Image.MAX_IMAGE_PIXELS and raises above twice that; both are refusals here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)) / 1e6:.0f} million pixels" if found else "more pixels than PIL allows"
        raise UploadRejected(_too_many_pixels(size, max_pixels)) from exc
    except UnidentifiedImageError as exc:
        raise UploadRejected(NOT_AN_IMAGE) from exc
    except Exception as exc:  # a header that parses as one of FORMATS, then breaks
        raise UploadRejected(DAMAGED) from exc
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise UploadRejected(_too_many_pixels(f"{width}x{height} pixels", max_pixels))
    if width == 0 or height == 0:
        image.close()
        raise UploadRejected(DAMAGED)
    return image


def _upright(image: Image.Image) -> Image.Image:
    """Turned as the EXIF orientation says (phone photos are often stored sideways); as is if that fails."""
    try:
        turned = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block is no reason to refuse the pixels
        return image
    return image if turned is None else turned


def _to_array(image: Image.Image) -> np.ndarray:
    """Any PIL mode -> uint8 gray, RGB or RGBA (RGBA only when the image has transparency)."""
    mode = image.mode
    if mode.startswith("I") or mode == "F":  # I;16*, I (16-bit PNGs), F: wider than 8 bits
        return _wide_to_uint8(np.asarray(image), mode)
    if mode == "1":
        image = image.convert("L")
    elif mode in ("LA", "La", "PA", "RGBa") or (mode != "RGBA" and _has_transparency(image)):
        image = image.convert("RGBA")  # palette and gray transparency become alpha
    elif mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGB")  # CMYK, YCbCr, LAB, HSV, P without transparency, RGBX
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] == 4 and not arr[..., 3].any():
        raise UploadRejected(TRANSPARENT)
    return arr


def _has_transparency(image: Image.Image) -> bool:
    found = getattr(image, "has_transparency_data", None)
    return bool(found) if found is not None else "transparency" in image.info


def _wide_to_uint8(arr: np.ndarray, mode: str) -> np.ndarray:
    """16-bit and 32-bit gray to 8 bits by its full range (PIL's own convert("L") clips 16-bit at 255)."""
    a = arr.astype(np.float32)
    if mode == "F":
        if not np.isfinite(a).all():
            raise UploadRejected(NON_FINITE)
        peak = float(a.max())
        # As preprocessing reads floats: [0, 1], else 0..255, else 16-bit.
        scale = 255.0 if peak <= 1.0 else (1.0 if peak <= 255.0 else 255.0 / 65535.0)
    else:
        scale = 255.0 / 65535.0  # "I" holds 16-bit files too
    return np.clip(np.rint(a * scale), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- messages


def _size_text(n: float, round_up: bool = False) -> str:
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if n >= scale:
            value = (math.ceil if round_up else math.floor)(n / scale * 10) / 10
            return f"{value:g} {unit}"
    return f"{int(n)} bytes"


def _too_many_bytes(size: int, max_bytes: int, at_least: bool = False) -> str:
    shown = ("more than " if at_least else "") + _size_text(size, round_up=True)
    return f"That file is too large: {shown}; at most {_size_text(max_bytes)}"


def _too_many_pixels(size: str, max_pixels: int) -> str:
    side = math.isqrt(max_pixels)
    limit = f"{max_pixels / 1e6:.1f} million pixels" + (f" ({side}x{side})" if side * side == max_pixels else "")
    return f"That image is too large: {size}; at most {limit}"

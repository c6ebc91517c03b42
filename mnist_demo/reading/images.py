"""The one image reader: a file, its bytes, or an image in memory to a uint8 array `preprocess` reads.

A file (an upload or a path, `read_image`) is untrusted: it may be no image at
all, a damaged one, or a small file whose header declares a huge image (a decompression bomb: 50 KB of
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

An image already in memory (`to_array`: a PIL image, a numpy array, a torch
tensor) goes through the same mode conversion (step 4), so a 16-bit image
reads the same from a file and from memory; a path given to `to_array` is
read as a file, with the limits above.
"""

from __future__ import annotations

import io
import math
import os
import re
import stat
import threading
import warnings
from typing import Any, Union

import numpy as np
import torch
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

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]

# `warnings.catch_warnings` swaps the process-wide filter list; one upload at a time opens its header
# under it (microseconds), so two uploads in two threads cannot restore each other's filters.
_OPEN_LOCK = threading.Lock()


class UploadRejected(ValueError):
    """An upload that cannot be read; `str(exc)` is one sentence to show the person who sent it."""


# ---------------------------------------------------------------- public API


def read_image(source: Source | None, *, max_bytes: int = MAX_UPLOAD_BYTES,
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
    arr = _pil_to_array(image)
    if arr.ndim == 3 and arr.shape[-1] == 4 and not arr[..., 3].any():
        raise UploadRejected(TRANSPARENT)
    return arr


def _pil_to_array(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode.startswith("I") or mode == "F":  # I;16*, I (16-bit PNGs), F: wider than 8 bits
        return _wide_to_uint8(np.asarray(image), mode)
    if mode == "1":
        image = image.convert("L")
    elif mode in ("LA", "La", "PA", "RGBa") or (mode != "RGBA" and _has_transparency(image)):
        image = image.convert("RGBA")  # palette and gray transparency become alpha
    elif mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGB")  # CMYK, YCbCr, LAB, HSV, P without transparency, RGBX
    return np.asarray(image)


def _has_transparency(image: Image.Image) -> bool:
    found = getattr(image, "has_transparency_data", None)
    return bool(found) if found is not None else "transparency" in image.info


def _wide_to_uint8(arr: np.ndarray, mode: str) -> np.ndarray:
    """16-bit and 32-bit gray to 8 bits by its full range (PIL's own convert("L") clips 16-bit at 255)."""
    if mode == "F":
        if not np.isfinite(arr).all():
            raise UploadRejected(NON_FINITE)
        return to_uint8(arr)  # floats as an array's: [0, 1], else 0..255, else 16-bit
    return np.clip(np.rint(arr.astype(np.float32) * (255.0 / 65535.0)), 0, 255).astype(np.uint8)  # "I": 16-bit


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


# ---------------------------------------------------------------- images in memory


def to_array(value: Any) -> np.ndarray:
    """A PIL image, numpy array, torch tensor or file path -> uint8 (H, W), (H, W, 3) or (H, W, 4).

    Arrays may be uint8, bool, or float in [0, 1] (larger floats are taken as
    0..255, or 0..65535); torch's channels-first layout and batches of one are
    accepted. Raises ValueError for an array that is no image or holds NaN or
    infinite values, and `UploadRejected` for a path that is not a readable image.
    """
    if isinstance(value, (str, os.PathLike)):
        return read_image(value)
    if isinstance(value, Image.Image):
        return _pil_to_array(value)
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    while arr.ndim > 3 and arr.shape[0] == 1:  # (1, 1, H, W) or (1, H, W, C) batches of one
        arr = arr[0]
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # channels first, as torch keeps them
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)) or arr.size == 0:
        raise ValueError(f"expected a gray, RGB or RGBA image, got an array of shape {arr.shape}")
    return to_uint8(arr)


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """An array of gray levels as uint8: bool as 0/255, floats in [0, 1] (else 0..255, else 16-bit)."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    a = _finite(arr)
    peak = float(a.max()) if a.size else 0.0
    scale = 255.0 if peak <= 1.0 else (1.0 if peak <= 255.0 else 255.0 / 65535.0)
    return np.clip(np.rint(a * scale), 0, 255).astype(np.uint8)


def _finite(arr: np.ndarray) -> np.ndarray:
    """float32 copy of an array that holds no NaN or infinity; ValueError otherwise.

    A NaN or infinite pixel has no gray level: reading it as background or as ink would be a
    guess, and a whole image of them would come out as "Nothing drawn yet", which is untrue.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # float64 beyond float32's range: caught below
        a = arr.astype(np.float32)
    if not np.isfinite(a).all():
        if arr.dtype.kind != "f" or not np.isfinite(arr).all():
            raise ValueError(NON_FINITE)
        a = np.clip(arr, -1e30, 1e30).astype(np.float32)  # huge but finite: clipped to 255 anyway
    return a


def gray(arr: np.ndarray) -> np.ndarray:
    """uint8 gray of a gray, RGB or RGBA array (ITU-R 601 luma, as PIL converts; alpha ignored)."""
    if arr.ndim == 2:
        return arr
    mode = "RGBA" if arr.shape[-1] == 4 else "RGB"
    return np.asarray(Image.fromarray(np.ascontiguousarray(arr), mode).convert("L"))

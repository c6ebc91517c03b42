"""Image files for the bad-input tests: a drawn 7 in many formats, a truncated PNG, a PNG of any declared size."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

from mnist_demo.handwriting.pen_digits import PadPlacement
from mnist_demo.reading.sketchpad import sketchpad_value

SEVEN = [[(60, 0), (180, -5), (300, -10), (330, 0), (280, 100), (230, 200), (190, 300), (170, 400)]]  # y down


def drawn_seven() -> dict:
    """A pen 7 as the sketchpad hands it over: black ink on white, and its transparent drawing layer."""
    return sketchpad_value(PadPlacement(height=170, center=(140, 140), radius=9, canvas=280).sketch(SEVEN))


def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of width x height black pixels, built by hand: kilobytes that decode to width*height bytes.

    PIL would need the whole image in memory to save one this big; here the
    rows of zeros go through zlib a thousand at a time.
    """
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"\0" * ((1 + (width + 7) // 8) * 1000)  # filter byte + packed bits, per row
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(rows) for _ in range(height // 1000))
    idat += packer.compress(rows[:(1 + (width + 7) // 8) * (height % 1000)]) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, gray, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def truncated_png() -> bytes:
    whole = encoded(Image.fromarray(drawn_seven()["composite"]))
    return whole[: len(whole) // 2]


def unusual_formats(seven: dict) -> dict[str, tuple[bytes, int]]:
    """The 7 in each format, and the channels read_image should give (2 = gray, 3 = RGB, 4 = RGBA)."""
    rgb = seven["composite"][..., :3]
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    ink = seven["layers"][0][..., 3]
    # Black ink on a transparent black background: without its alpha the image is all black, nothing to read.
    marks = Image.fromarray((ink >= 128).astype(np.uint8), "P")
    marks.putpalette([0, 0, 0, 0, 0, 0])
    return {
        "16-bit gray PNG": (encoded(Image.fromarray(gray.astype(np.uint16) * 257)), 2),
        "CMYK JPEG": (encoded(Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=95), 3),
        "palette PNG": (encoded(Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)), 3),
        "palette PNG with transparency": (encoded(marks, transparency=0), 4),
        "LA PNG": (encoded(Image.fromarray(np.dstack([np.zeros_like(ink), ink]), "LA")), 4),
        "1-bit PNG": (encoded(Image.fromarray(gray >= 128)), 2),
        "RGBA PNG, transparent background": (encoded(Image.fromarray(seven["layers"][0])), 4),
        "GIF": (encoded(Image.fromarray(rgb), "GIF"), 3),
        "WebP": (encoded(Image.fromarray(rgb), "WEBP", lossless=True), 3),
        "BMP": (encoded(Image.fromarray(gray), "BMP"), 2),
    }

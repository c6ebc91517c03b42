"""Bad input through the library: each kind gets a clear message, nothing crashes, memory stays bounded.

Files and bytes go through `images.read_image`; arrays go straight to
`preprocess` and `Reader.read`.
Unusual but good formats (16-bit, CMYK, palette, LA, ...) must still be read
as the digit that was drawn.

Run as a script (`PYTHONPATH=. python tests/test_bad_input.py`) to print what
the library does with each bad input, as the table in docs/bad_inputs.md.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from mnist_demo.base.status import Problem
from mnist_demo.reading.images import (
    DAMAGED,
    EMPTY_FILE,
    MAX_PIXELS,
    MAX_UPLOAD_BYTES,
    NO_FILE,
    NON_FINITE,
    NOT_AN_IMAGE,
    TRANSPARENT,
    UploadRejected,
    read_image,
)
from mnist_demo.reading.preprocess import preprocess
from mnist_demo.reading.reader import Reader
from mnist_demo.reading.weights import Weights
from tests.support.images import drawn_seven, encoded, png_declaring, truncated_png, unusual_formats

REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- making inputs


def rejection(source, **limits) -> str:
    with pytest.raises(UploadRejected) as caught:
        read_image(source, **limits)
    return str(caught.value)


@pytest.fixture(scope="module")
def trained(shipped_weights) -> Reader:
    return Reader.load(shipped_weights, "cpu")


@pytest.fixture(scope="module")
def seven() -> dict:
    return drawn_seven()


# ---------------------------------------------------------------- nothing, or nothing drawn


def test_an_empty_upload_is_rejected_as_empty(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    assert rejection(b"") == EMPTY_FILE
    assert rejection(empty) == EMPTY_FILE
    assert rejection(None) == NO_FILE
    assert "does not exist" in rejection(tmp_path / "missing.png")


def test_a_blank_drawing_is_read_as_nothing_drawn(trained, tmp_path):
    blank_png = tmp_path / "blank.png"
    Image.new("RGB", (280, 280), "white").save(blank_png)
    canvas = drawn_seven()
    canvas["layers"][0][...] = 0
    canvas["composite"][...] = canvas["background"]
    for value in (read_image(blank_png), canvas, np.full((280, 280), 255, np.uint8)):
        p = trained.read(value)
        assert (p.status, p.message, p.top) == ("empty", Problem.NOTHING_DRAWN.message, [])


def test_a_1x1_image_is_read_as_nothing_drawn(trained, tmp_path):
    for colour in ("black", "white"):
        path = tmp_path / f"{colour}.png"
        Image.new("L", (1, 1), colour).save(path)
        p = trained.read(read_image(path))
        assert (p.status, p.message) == ("empty", Problem.NOTHING_DRAWN.message)
    opaque_ink = np.array([[[0, 0, 0, 255]]], np.uint8)
    assert trained.read(opaque_ink).message == Problem.NOTHING_DRAWN.message


def test_a_fully_transparent_image_is_rejected_and_a_transparent_array_is_empty(trained):
    # A file: refused at once, saying why (its colours are there, but nothing is visible).
    assert rejection(encoded(Image.new("RGBA", (64, 64), (0, 0, 0, 0)))) == TRANSPARENT
    assert rejection(encoded(Image.new("LA", (64, 64), (255, 0)))) == TRANSPARENT
    # An array, as a sketchpad layer: nothing drawn yet.
    layer = np.zeros((280, 280, 4), np.uint8)
    layer[..., :3] = 255
    assert trained.read(layer).message == Problem.NOTHING_DRAWN.message


# ---------------------------------------------------------------- not an image, or a damaged one


@pytest.mark.parametrize("data", [
    b"hello, this is text",
    np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
    b"\x89PNG\r\n\x1a\n" + b"\0" * 100,
    encoded(Image.new("L", (32, 32)), "TIFF"),  # an image, but not a format uploads are read in
], ids=["text", "random-bytes", "png-signature-then-zeros", "tiff"])
def test_bytes_that_are_not_an_image_are_rejected(data, tmp_path):
    assert rejection(data) == NOT_AN_IMAGE
    path = tmp_path / "upload.png"
    path.write_bytes(data)
    assert rejection(path) == NOT_AN_IMAGE


def test_a_truncated_png_is_rejected_as_damaged(tmp_path):
    data = truncated_png()
    assert Image.open(io.BytesIO(data)).size == (280, 280)  # the header is intact: only decoding finds out
    assert rejection(data) == DAMAGED
    path = tmp_path / "truncated.png"
    path.write_bytes(data)
    assert rejection(path) == DAMAGED


# ---------------------------------------------------------------- too large


def test_a_file_over_the_upload_limit_is_rejected_without_being_read(tmp_path):
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as f:
        f.write(encoded(Image.new("L", (8, 8))))
        f.truncate(64 * 1024 * 1024)  # sparse: 64 MB on paper, nothing on disk
    tracemalloc.start()
    try:
        message = rejection(huge)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert message == "That file is too large: 64 MB; at most 5 MB"
    assert peak < 1024 * 1024  # the file was never read into memory
    assert "too large" in rejection(b"\0" * (MAX_UPLOAD_BYTES + 1))
    assert "at most 1 KB" in rejection(encoded(Image.new("L", (64, 64), "white"), "BMP"), max_bytes=1024)


def test_a_decompression_bomb_is_refused_from_its_header_without_decoding_its_pixels(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_declaring(20_000, 20_000))
    assert bomb.stat().st_size < 100_000  # 50 KB that decode to 400 M pixels
    # In a fresh interpreter, so its peak memory is this read's alone: decoding would take 400 MB.
    script = textwrap.dedent("""
        import resource, sys
        from mnist_demo.reading.images import UploadRejected, read_image
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            read_image(sys.argv[1])
        except UploadRejected as exc:
            print(exc)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", script, str(bomb)], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    message, grown_kb = done.stdout.splitlines()
    assert message.startswith("That image is too large: 400 million pixels; at most")
    assert int(grown_kb) < 20 * 1024


def test_an_image_over_the_pixel_limit_is_refused_before_its_pixels_are_decoded(monkeypatch):
    big = png_declaring(5000, 5000)  # 25 M pixels: PIL's own bomb check lets it through, MAX_PIXELS does not
    assert Image.open(io.BytesIO(big)).size == (5000, 5000) and 5000 * 5000 > MAX_PIXELS
    decoded = []
    original_load = ImageFile.ImageFile.load

    def load(self):
        decoded.append(self.size)
        return original_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    assert rejection(big) == "That image is too large: 5000x5000 pixels; at most 16.8 million pixels (4096x4096)"
    assert decoded == []
    read_image(png_declaring(50, 40))
    assert set(decoded) == {(50, 40)}  # the spy does see a decode when one happens
    assert rejection(png_declaring(50, 40), max_pixels=1000).startswith("That image is too large: 50x40 pixels")


# ---------------------------------------------------------------- arrays with NaN or infinity


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "minus-inf"])
def test_nan_or_infinity_in_an_array_is_refused_with_a_clear_message(trained, seven, bad):
    gray = np.asarray(Image.fromarray(seven["composite"]).convert("L"), np.float32) / 255
    one_pixel = gray.copy()
    one_pixel[0, 0] = bad
    everywhere = np.full((28, 28), bad)
    for value in (one_pixel, everywhere, torch.from_numpy(one_pixel), Image.fromarray(one_pixel, "F")):
        with pytest.raises(ValueError, match=NON_FINITE):
            preprocess(value)
        with pytest.raises(ValueError, match=NON_FINITE):
            trained.read(value)
    assert trained.read(gray).digit == 7  # the same drawing without the bad pixel reads fine


# ---------------------------------------------------------------- unusual formats that are fine


UNUSUAL = list(unusual_formats(drawn_seven()))


@pytest.mark.parametrize("name", UNUSUAL)
def test_a_digit_in_an_unusual_format_is_still_read(trained, seven, name):
    data, channels = unusual_formats(seven)[name]
    arr = read_image(data)
    assert arr.dtype == np.uint8 and arr.shape[:2] == (280, 280)
    assert (2 if arr.ndim == 2 else arr.shape[-1]) == channels
    reference = preprocess(seven).image.astype(np.int16)
    assert np.abs(preprocess(arr).image - reference).mean() < 4  # the same 28x28 the model sees
    p = trained.read(arr)
    assert (p.status, p.digit) == ("ok", 7)


def test_a_sideways_phone_photo_is_turned_upright(trained, seven):
    stored = Image.fromarray(seven["composite"][..., :3]).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: show rotated 90 degrees clockwise
    arr = read_image(encoded(stored, "JPEG", quality=95, exif=exif))
    reference = preprocess(seven).image.astype(np.int16)
    assert np.abs(preprocess(arr).image - reference).mean() < 4
    assert np.abs(preprocess(np.asarray(stored)).image - reference).mean() > 20  # as stored: lying on its side
    assert trained.read(arr).digit == 7


# ---------------------------------------------------------------- the table in docs/bad_inputs.md


def observed() -> list[tuple[str, str, str]]:
    """(input, what the library does, its message) for each bad input, measured now."""
    seven = drawn_seven()
    reader = Reader.load(Weights.DEFAULT.file, "cpu")
    kinds = {2: "gray", 3: "RGB", 4: "RGBA"}

    def predict(value) -> tuple[str, str]:
        try:
            p = reader.read(value)
        except ValueError as exc:
            return "`predict` raises `ValueError`", str(exc)
        return f"`predict`: status {p.status}", p.message

    def upload(source) -> tuple[str, str]:
        try:
            arr = read_image(source)
        except UploadRejected as exc:
            return "`read_image` raises `UploadRejected`", str(exc)
        what, message = predict(arr)
        kind = kinds[2 if arr.ndim == 2 else arr.shape[-1]]
        return f"`read_image` gives a {arr.shape[0]}x{arr.shape[1]} {kind} array; {what}", message

    blank = np.full((280, 280), 255, np.uint8)
    infinite = np.zeros((280, 280))
    infinite[50:200, 130:140] = np.inf
    rows = [
        ("empty file (0 bytes)", upload(b"")),
        ("blank drawing: a white PNG", upload(encoded(Image.fromarray(blank)))),
        ("blank drawing: a white array", predict(blank)),
        ("bytes that are not an image (text)", upload(b"hello, this is text")),
        ("an image in another format (TIFF)", upload(encoded(Image.new("L", (32, 32)), "TIFF"))),
        ("truncated PNG (first half of the file)", upload(truncated_png())),
        ("1x1 PNG", upload(encoded(Image.new("L", (1, 1))))),
        ("1x1 array", predict(np.zeros((1, 1), np.uint8))),
        ("20000x20000 PNG, 48 KB (decompression bomb)", upload(png_declaring(20_000, 20_000))),
        ("5000x5000 PNG (over `MAX_PIXELS`)", upload(png_declaring(5000, 5000))),
        ("fully transparent PNG", upload(encoded(Image.new("RGBA", (64, 64))))),
        ("fully transparent RGBA array", predict(np.zeros((280, 280, 4), np.uint8))),
        ("array of NaN", predict(np.full((280, 280), np.nan))),
        ("array with a stroke of +infinity", predict(infinite)),
        ("6 MB file (over `MAX_UPLOAD_BYTES`)", upload(b"\0" * (6 * 1024 * 1024))),
    ]
    for name, (data, _) in unusual_formats(seven).items():
        rows.append((f"a drawn 7 as {name}", upload(data)))
    return [(name, what, message) for name, (what, message) in rows]


if __name__ == "__main__":
    print("| input | what the library does | message |")
    print("|---|---|---|")
    for name, what, message in observed():
        print(f"| {name} | {what} | {message} |")

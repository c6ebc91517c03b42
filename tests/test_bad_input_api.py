"""Bad input through the app's API (gradio_client): a clear message each time, and the server stays up.

Pictures go to `/predict_image` (the Draw tab's upload), strokes to `/predict`
(the pad). The bad files are the ones tests/test_bad_input.py makes.

Run as a script (`PYTHONPATH=. python tests/test_bad_input_api.py`) to print
the README's table of what a visitor sees for each bad input.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from mnist_demo.reading import images as uploads
from mnist_demo.reading import sketch
from mnist_demo.reading.weights import Weights
from tests.support.drawings import held_out_digits, pad_value
from tests.support.images import drawn_seven, encoded, png_declaring, truncated_png, unusual_formats
from tests.support.servers import app_settings, served_app

LIMIT_MB = 1  # the test server's upload limit, so the over-limit file stays small


def bad_files() -> dict[str, tuple[bytes, str]]:
    """name -> (file content, what the visitor must be told)."""
    return {
        "empty file (0 bytes)": (b"", uploads.EMPTY_FILE),
        "bytes that are not an image (text)": (b"hello, this is text", uploads.NOT_AN_IMAGE),
        "an image in another format (TIFF)": (encoded(Image.new("L", (32, 32)), "TIFF"), uploads.NOT_AN_IMAGE),
        "truncated PNG (first half of the file)": (truncated_png(), uploads.DAMAGED),
        "1x1 PNG": (encoded(Image.new("L", (1, 1))), "Nothing drawn yet"),
        "blank drawing: a white PNG": (encoded(Image.fromarray(np.full((280, 280), 255, np.uint8))),
                                       "Nothing drawn yet"),
        "20000x20000 PNG, 48 KB (decompression bomb)": (png_declaring(20_000, 20_000), "too large"),
        "fully transparent PNG": (encoded(Image.new("RGBA", (64, 64))), uploads.TRANSPARENT),
    }


def bad_strokes() -> dict[str, tuple[str, str]]:
    """name -> (the pad's value, what the visitor must be told)."""
    return {
        "strokes: not JSON": ("{not json", "not valid JSON"),
        "strokes: a path instead of a drawing (/etc/passwd)": ("/etc/passwd", "not valid JSON"),
        "strokes: NaN coordinates": ('{"strokes": [[[1, NaN], [2, 3]]]}', "finite"),
        "strokes: text coordinates": ('{"strokes": [[[1, "x"]]]}', "must be a number"),
        "strokes: 201 strokes": (json.dumps({"strokes": [[[1, 1]]] * (sketch.MAX_STROKES + 1)}), "too many strokes"),
        "strokes: 2 MB of text": ("x" * 2_000_000, "too large"),
        "strokes: none (empty pad)": ('{"strokes": []}', "Nothing drawn yet"),
    }


@pytest.fixture(scope="module")
def server(shipped_weights):
    with served_app(app_settings(shipped_weights, max_upload_bytes=LIMIT_MB * 2**20)) as url:
        yield url


@pytest.fixture(scope="module")
def client(server):
    return Client(server, verbose=False)


def upload(client: Client, content: bytes, folder: Path, name: str = "upload.png"):
    path = folder / name
    path.write_bytes(content)
    return client.predict(handle_file(path), 3, api_name="/predict_image")


def no_guess(label) -> bool:
    return label is None or not label.get("confidences")


@pytest.mark.parametrize("name", list(bad_files()))
def test_each_bad_picture_gets_its_message_and_no_guess(client, tmp_path, name):
    content, says = bad_files()[name]
    label, status, preview = upload(client, content, tmp_path)
    assert says in status, status
    assert no_guess(label) and "<img" not in preview


@pytest.mark.parametrize("name", list(bad_strokes()))
def test_each_bad_drawing_gets_its_message_and_no_guess(client, name):
    value, says = bad_strokes()[name]
    label, status, _ = client.predict(value, 3, api_name="/predict")
    assert says in status, status
    assert no_guess(label)


def test_a_picture_over_the_upload_limit_is_refused_and_the_server_stays_up(client, server, tmp_path):
    limit = LIMIT_MB * 2**20
    too_big = b"\0" * (limit + 1)
    # gradio_client reads the server's limit from its config and refuses before sending...
    with pytest.raises(ValueError, match=f"exceeds the maximum file size of {limit} bytes"):
        upload(client, too_big, tmp_path)
    # ...and a client that sends it anyway is refused by the server: HTTP 413, before the app sees it.
    response = httpx.post(f"{server}gradio_api/upload", files={"files": ("big.png", too_big, "image/png")})
    assert response.status_code == 413, response.text
    assert response.text == f"File size exceeded maximum allowed size of {limit} bytes."
    label, _, _ = client.predict(pad_value(held_out_digits((3,))[0]), 3, api_name="/predict")
    assert label["label"] == "3"


@pytest.mark.parametrize("name", ["16-bit gray PNG", "CMYK JPEG", "palette PNG with transparency", "LA PNG"])
def test_a_digit_in_an_unusual_format_is_read_through_the_api(client, tmp_path, name):
    content, _ = unusual_formats(drawn_seven())[name]
    label, status, _ = upload(client, content, tmp_path)
    assert label["label"] == "7", status


def test_after_every_bad_input_drawings_are_still_read(client, tmp_path):
    for content, _ in bad_files().values():
        upload(client, content, tmp_path)
    for value, _ in bad_strokes().values():
        client.predict(value, 3, api_name="/predict")
    for digit in held_out_digits((0, 5, 8)):
        label, _, _ = client.predict(pad_value(digit), 3, api_name="/predict")
        assert label["label"] == str(digit.label)


def observed(url: str, folder: Path) -> list[tuple[str, str]]:
    """(input, the status line a visitor sees) for each bad input, through the API now."""
    client = Client(url, verbose=False)
    rows = []
    for name, (content, _) in bad_files().items():
        rows.append((name, upload(client, content, folder)[1]))
    for name, (value, _) in bad_strokes().items():
        rows.append((name, client.predict(value, 3, api_name="/predict")[1]))
    try:
        status = upload(client, b"\0" * (LIMIT_MB * 2**20 + 1), folder)[1]
    except Exception as exc:  # Gradio refuses the upload itself
        status = f"upload refused by Gradio: {str(exc).splitlines()[0][:120]}"
    rows.append((f"file over the upload limit ({LIMIT_MB} MB here)", status))
    return rows


if __name__ == "__main__":
    import tempfile

    with served_app(app_settings(Weights.DEFAULT.file, max_upload_bytes=LIMIT_MB * 2**20)) \
            as url, tempfile.TemporaryDirectory() as tmp:
        rows = observed(url, Path(tmp))
    print("| input | what the visitor sees (status line) |")
    print("|---|---|")
    for name, status in rows:
        print(f"| {name} | {status.replace('|', '/')} |")

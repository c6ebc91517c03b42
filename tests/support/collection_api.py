"""A visitor of the Draw tab's collection through the app's API (gradio_client), answers by name."""

from __future__ import annotations

from gradio_client import Client

from mnist_demo.app.collecting import COLLECTION_API_OUTPUTS, DOWNLOAD_OUTPUTS
from tests.support.drawings import pad_value


def visitor(url: str) -> Client:
    """A new client is a new visitor, with a session (and a collection) of their own."""
    return Client(url, verbose=False)


def named(output: tuple) -> dict:
    """A collection event's answer by name (COLLECTION_API_OUTPUTS)."""
    assert len(output) == len(COLLECTION_API_OUTPUTS)
    return dict(zip(COLLECTION_API_OUTPUTS, output))


def keep(c: Client, digit, label) -> dict:
    return named(c.predict(pad_value(digit), label, api_name="/keep_drawing"))


def download(c: Client) -> dict:
    """/download_drawings' answer by name (DOWNLOAD_OUTPUTS): the file, written now, and a message."""
    return dict(zip(DOWNLOAD_OUTPUTS, c.predict(api_name="/download_drawings")))


def labels(answer: dict) -> list[int]:
    return [d["label"] for d in answer["listing"]["drawings"]]


def rounded(label) -> dict:
    """A reading's probabilities by digit (the app's own label dict), to 4 places."""
    return {k: round(v, 4) for k, v in label.items()} if isinstance(label, dict) else {}


def confidences(label: dict) -> dict:
    """The same from what gradio_client gets for a gr.Label."""
    return {c["label"]: round(c["confidence"], 4) for c in (label or {}).get("confidences") or []}

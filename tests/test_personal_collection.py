"""A visitor's collection of labelled drawings: changes, limits, and its file (mnist_demo/personal/collection.py)."""

from __future__ import annotations

import gzip
import json
import sys

import numpy as np
import pytest

from mnist_demo.personal import collection as col
from mnist_demo.personal import collection_file
from mnist_demo.personal.collection import Collection, CollectionError
from mnist_demo.personal.collection_file import dumps, load, loads, save
from mnist_demo.reading.preprocess import preprocess
from mnist_demo.reading.sketch import MAX_POINTS, parse_sketch

SEVEN = '{"strokes": [[[250, 200], [550, 200], [400, 620]]]}'
ONE = '{"size": 800, "version": 5, "strokes": [{"r": 18, "points": [[400, 150], [405, 400], [410, 650]]}]}'
ZERO = {"strokes": [[[400 + 180 * np.sin(t), 400 - 260 * np.cos(t)] for t in np.linspace(0, 2 * np.pi, 40)]]}


def sample() -> Collection:
    c = Collection()
    c.add(SEVEN, 7)
    c.add(ONE, 1)
    c.add(ZERO, 0)
    c.add(SEVEN, 7)
    return c


def test_add_count_group_remove():
    c = sample()
    assert len(c) == 4
    assert c.counts() == {0: 1, 1: 1, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 7: 2, 8: 0, 9: 0}
    groups = c.by_digit()
    assert [d.label for d in groups[7]] == [7, 7] and groups[5] == []
    assert len({d.id for d in c}) == 4
    one = groups[1][0]
    assert one.image.shape == (28, 28) and one.image.dtype == np.uint8
    # The same 28x28 a reading of the pad would show the model.
    assert np.array_equal(one.image, preprocess(parse_sketch(ONE)).image)
    assert one.sketch.version == 0  # the page's counter is not kept
    c.remove(one.id)
    assert one.id not in c and c.counts()[1] == 0 and len(c) == 3
    with pytest.raises(KeyError):
        c.remove(one.id)
    images, labels = c.tensors()
    assert images.shape == (3, 28, 28) and labels.tolist() == [7, 0, 7]


def test_relabel_keeps_the_drawing():
    c = sample()
    first = next(iter(c))
    c.relabel(first.id, 1)
    assert c[first.id].label == 1 and c[first.id].sketch == first.sketch
    with pytest.raises(CollectionError):
        c.relabel(first.id, 10)


@pytest.mark.parametrize("label", [-1, 10, "7", 7.0, True, None])
def test_labels_are_digits(label):
    c = sample()
    with pytest.raises(CollectionError, match="0 to 9"):
        c.add(SEVEN, label)
    assert len(c) == 4


@pytest.mark.parametrize("sketch, message", [
    ("", "empty"),
    ('{"strokes": []}', "empty"),
    ("not json", "not valid JSON"),
    ('{"strokes": [[[1, "x"]]]}', "must be a number"),
    ('{"strokes": [[[400, 400]]]}', "cannot be read as a digit"),  # a dot
    (json.dumps({"strokes": [[[i % 800, i % 700] for i in range(MAX_POINTS + 1)]]}), "too many points"),
])
def test_bad_drawings_are_refused(sketch, message):
    c = sample()
    with pytest.raises(CollectionError, match=message):
        c.add(sketch, 3)
    assert len(c) == 4 and c.counts()[3] == 0


def test_full_collection_refuses_more(monkeypatch):
    monkeypatch.setattr(col, "MAX_DRAWINGS", 3)
    c = Collection()
    for _ in range(3):
        c.add(SEVEN, 7)
    with pytest.raises(CollectionError, match="full"):
        c.add(ONE, 1)
    assert len(c) == 3
    other = Collection()
    other.add(ONE, 1)
    with pytest.raises(CollectionError, match="at most 3"):
        c.extend(other)
    assert len(c) == 3


def test_round_trip_through_a_file(tmp_path):
    c = sample()
    path = save(c, tmp_path / "mine.json.gz")
    assert path.stat().st_size < 5_000  # strokes and labels: a small file
    back = load(path)
    assert back == c
    assert [d.id for d in back] == [d.id for d in c]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(back, c))
    assert dumps(back) == dumps(c)  # same collection, same bytes
    # Plain JSON reads too (a script may write one).
    assert loads(json.dumps(c.to_dict()).encode()) == c


def test_extend_merges_an_upload_and_skips_what_is_there(tmp_path):
    c = sample()
    other = loads(dumps(c))
    other.add(ONE, 1)
    c.extend(other)
    assert len(c) == 5 and c.counts()[1] == 2


def bad_files():
    good = sample().to_dict()
    wrong_label = json.loads(json.dumps(good))
    wrong_label["drawings"][2]["label"] = 12
    bad_sketch = json.loads(json.dumps(good))
    bad_sketch["drawings"][1]["sketch"] = {"strokes": "nope"}
    bad_id = json.loads(json.dumps(good))
    bad_id["drawings"][0]["id"] = "../../etc"
    dup = json.loads(json.dumps(good))
    dup["drawings"][1]["id"] = dup["drawings"][0]["id"]
    return [
        (b"", "not JSON"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "not JSON"),
        (b'{"format": "something/else", "version": 1, "drawings": []}', "not a collection"),
        (b"[1, 2, 3]", "not a collection"),
        (json.dumps({**good, "version": 99}).encode(), "newer version"),
        (json.dumps({**good, "version": "1"}).encode(), "no valid version"),
        (json.dumps({**good, "drawings": {}}).encode(), "no list of drawings"),
        (json.dumps(wrong_label).encode(), "drawing 3 of the file: a label"),
        (json.dumps(bad_sketch).encode(), "drawing 2 of the file: strokes must be a list"),
        (json.dumps(bad_id).encode(), "drawing 1 of the file: a drawing's id"),
        (json.dumps(dup).encode(), "same id"),
        (gzip.compress(json.dumps(good).encode())[:-10], "damaged gzip"),
        (b"x" * (col.MAX_FILE_BYTES + 1), "too large"),
        (gzip.compress(b" " * (col.MAX_JSON_BYTES + 10)), "unpacks to more than"),
    ]


@pytest.mark.parametrize("data, message", bad_files())
def test_bad_or_foreign_files_are_refused_and_change_nothing(tmp_path, data, message):
    c = sample()
    before = dumps(c)
    path = tmp_path / "upload.json.gz"
    path.write_bytes(data)
    with pytest.raises(CollectionError, match=message):
        c.extend(load(path))
    assert dumps(c) == before


def test_too_many_drawings_in_a_file(monkeypatch):
    data = dumps(sample())
    monkeypatch.setattr(collection_file, "MAX_DRAWINGS", 3)
    with pytest.raises(CollectionError, match="holds 4 drawings"):
        loads(data)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CollectionError, match="cannot read"):
        load(tmp_path / "nothing.json.gz")


def test_a_collection_holds_what_one_file_carries_and_says_so_when_full(monkeypatch):
    """Its limit is its file's size (unzipped), kept up to date drawing by drawing: every collection can be
    downloaded and uploaded again, and a visitor's drawings take no more memory than that."""
    c = sample()
    assert c.file_bytes == len(gzip.decompress(dumps(c)))
    monkeypatch.setattr(col, "MAX_JSON_BYTES", c.file_bytes + 50)  # room for no more than a small drawing
    before = dumps(c)
    with pytest.raises(CollectionError, match=r"the collection is full: its file would hold .* MB of strokes, and "
                                              r"one file holds .* MB\. Remove some drawings, or download them"):
        c.add(ZERO, 0)
    with pytest.raises(CollectionError, match="the collection is full"):
        c.extend(loads(dumps(sample())))  # other ids: new drawings
    assert dumps(c) == before
    c.remove(next(iter(c)).id)
    c.add(SEVEN, 7)  # room again
    c.relabel(next(iter(c)).id, 1)
    assert c.file_bytes == len(gzip.decompress(dumps(c)))


def test_a_full_collection_of_drawings_at_the_limits_takes_about_its_file_s_size_in_memory():
    """500 drawings of 20,000 points used to hold 2.5 GB. Now the collection stops at one file's size (5 MB of
    JSON, 14 such drawings), and holds less than that in memory (float32 points: 8 bytes, their JSON 16)."""
    from tests.support.costs import held_bytes
    from tests.support.drawings import at_the_limits

    value, c = at_the_limits("dense digit"), Collection()
    with pytest.raises(CollectionError, match="the collection is full"):
        for _ in range(col.MAX_DRAWINGS):
            c.add(value, 2)
    assert 10 <= len(c) < 20 and c.file_bytes <= col.MAX_JSON_BYTES
    held = sum(held_bytes(d.sketch) + d.image.nbytes + sys.getsizeof(d) for d in c)
    assert held < c.file_bytes, (held, c.file_bytes)
    assert loads(dumps(c)) == c  # a full collection's file loads again

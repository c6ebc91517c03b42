"""Rendered training drawings are kept on disk: the next training (a new process) reads them back in a moment,
and a change to the code or the data that made them, a damaged file or a read-only disk never gives wrong data."""

from __future__ import annotations

import os
import time

import pytest
import torch

from mnist_demo.training import drawn_cache
from mnist_demo.training.data import Split
from mnist_demo.training.drawn_cache import CACHE_ENV, cache_path, cached


class Renderer:
    """A stand-in for rendering: a fresh random set each call, counted."""

    def __init__(self, n: int = 50, seed: int = 0) -> None:
        self.calls, self.n, self.seed = 0, n, seed

    def __call__(self) -> Split:
        self.calls += 1
        g = torch.Generator().manual_seed(self.seed + self.calls)
        return Split(torch.randint(0, 256, (self.n, 28, 28), dtype=torch.uint8, generator=g),
                     torch.randint(0, 11, (self.n,), generator=g))


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def same(a: Split, b: Split) -> bool:
    return torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)


def test_a_set_is_rendered_once_and_read_back_the_same(folder):
    render = Renderer()
    first = cached("pen-digits", {"seed": 1, "renders": 2}, render)
    again = cached("pen-digits", {"seed": 1, "renders": 2}, render)
    assert render.calls == 1 and same(first, again)
    assert len(list(folder.glob("pen-digits-*.safetensors"))) == 1
    # Other parameters are another set.
    cached("pen-digits", {"seed": 2, "renders": 2}, render)
    assert render.calls == 2


def test_a_change_to_the_code_or_the_data_that_draws_them_renders_again(folder, tmp_path, monkeypatch):
    data = tmp_path / "strokes.jsonl"
    data.write_text('{"label": 1}\n')
    render = Renderer()
    cached("non-digits", {"seed": 1, "n": 10}, render, (data,))
    data.write_text('{"label": 7}\n')  # the pen digits changed
    drawn_cache._source_digest.cache_clear()
    cached("non-digits", {"seed": 1, "n": 10}, render, (data,))
    assert render.calls == 2
    # The drawing code changed (here: one more source file counts).
    monkeypatch.setattr(drawn_cache, "SOURCES", drawn_cache.SOURCES + ("models/registry.py",))
    drawn_cache._source_digest.cache_clear()
    cached("non-digits", {"seed": 1, "n": 10}, render, (data,))
    assert render.calls == 3


@pytest.mark.parametrize("damage", [b"", b"not a safetensors file", None])
def test_a_damaged_or_foreign_file_is_rendered_again_and_replaced(folder, damage):
    render = Renderer()
    cached("pen-digits", {"seed": 1}, render)
    (path,) = folder.glob("*.safetensors")
    if damage is None:  # a real safetensors file, of the wrong shapes
        from safetensors.torch import save_file
        save_file({"images": torch.zeros(3, 5), "labels": torch.zeros(3)}, str(path))
    else:
        path.write_bytes(damage)
    fresh = cached("pen-digits", {"seed": 1}, render)
    assert render.calls == 2 and len(fresh) == 50
    assert same(cached("pen-digits", {"seed": 1}, render), fresh) and render.calls == 2  # the file was replaced


def test_off_renders_every_time_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, "off")
    monkeypatch.chdir(tmp_path)
    render = Renderer()
    cached("pen-digits", {"seed": 1}, render)
    cached("pen-digits", {"seed": 1}, render)
    assert render.calls == 2 and list(tmp_path.iterdir()) == []


def test_a_folder_that_cannot_be_written_gives_the_same_data_without_a_cache(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("the cache folder would have to be inside a file")  # unwritable even for root
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))
    render = Renderer()
    assert len(cached("pen-digits", {"seed": 1}, render)) == 50
    assert len(cached("pen-digits", {"seed": 1}, render)) == 50 and render.calls == 2


def test_only_the_most_recently_used_sets_are_kept_and_nothing_else_is_touched(folder, monkeypatch):
    monkeypatch.setattr(drawn_cache, "KEEP", 3)
    folder.mkdir(parents=True)
    mine = folder / "my-model.safetensors"  # a user pointed the cache at a folder of their own
    mine.write_bytes(b"a user's weights")
    os.utime(mine, (1, 1))  # older than everything
    render = Renderer(n=5)
    for seed in range(3):  # used minutes apart, seed 0 first
        cached("pen-digits", {"seed": seed}, render)
        used = time.time() - 60 * (3 - seed)
        os.utime(cache_path("pen-digits", {"seed": seed}), (used, used))
    cached("pen-digits", {"seed": 0}, render)  # used again: now the newest
    cached("pen-digits", {"seed": 3}, render)  # a fourth: the least recently used (seed 1) goes
    assert len(list(folder.glob("pen-digits-*.safetensors"))) == 3 and render.calls == 4
    assert mine.read_bytes() == b"a user's weights"
    cached("pen-digits", {"seed": 0}, render)
    assert render.calls == 4
    cached("pen-digits", {"seed": 1}, render)
    assert render.calls == 5


@pytest.mark.slow
def test_a_recipe_s_pen_digits_non_digits_and_uploads_come_back_from_the_cache_as_rendered(folder, monkeypatch):
    from mnist_demo.base.recipe import Recipe
    from mnist_demo.training import drawn_data as dd

    def clear():
        dd._pen_training_split.cache_clear(), dd._non_digit_split.cache_clear(), dd._uploads_split.cache_clear()

    assert dd.already_drawn(Recipe(), 5)  # nothing to draw: nothing to wait for
    recipe = Recipe(pen_digits=True, pen_renders=1, non_digits=60, uploads=50)
    clear()
    assert not dd.already_drawn(recipe, 5)  # the Train tab says the first time takes a minute or two
    rendered = dd.drawn_data(recipe, 5, 11, [])
    assert dd.already_drawn(recipe, 5) and not dd.already_drawn(recipe, 6)
    assert not dd.already_drawn(Recipe(pen_digits=True, pen_renders=1, non_digits=61, uploads=50), 5)
    assert not dd.already_drawn(Recipe(pen_digits=True, pen_renders=1, non_digits=60, uploads=51), 5)
    assert {p.name.split("-")[0] for p in folder.glob("*.safetensors")} == {"pen", "non", "uploads"}
    assert 45 <= len(rendered[2]) <= 50 and (rendered[2].labels == 10).sum() == 10

    # A new process would have empty memory caches: the sets come from disk, with no rendering at all.
    clear()
    def no_rendering(*args, **kwargs):
        raise AssertionError("rendered again")
    for maker in ("pen_training_images", "non_digit_training_images", "upload_training_images"):
        monkeypatch.setattr(dd, maker, no_rendering)
    notes: list[str] = []
    again = dd.drawn_data(recipe, 5, 11, notes)
    assert all(same(a, b) for a, b in zip(rendered, again)) and len(again) == 3
    assert any("pen digits" in n for n in notes) and any("uploaded pictures" in n for n in notes)
    clear()


def test_uploads_need_a_model_with_a_not_a_digit_output():
    from mnist_demo.base.recipe import Recipe
    from mnist_demo.training import drawn_data as dd

    with pytest.raises(ValueError, match="uploads needs a model with an 'other' class"):
        dd.drawn_data(Recipe(uploads=10), 0, 10, [])


def test_a_recipe_a_ten_output_model_cannot_learn_is_refused_before_anything_is_drawn(monkeypatch):
    from mnist_demo.base.recipe import Recipe
    from mnist_demo.training import drawn_data as dd

    drawn: list[str] = []
    monkeypatch.setattr(dd, "_pen_training_split", lambda *args: drawn.append("pen digits"))
    with pytest.raises(ValueError, match="non_digits needs a model with an 'other' class"):
        dd.drawn_data(Recipe(pen_digits=True, pen_renders=1, non_digits=10), 0, 10, [])
    assert drawn == []  # the minute of rendering pen digits is not spent on a run that cannot start


@pytest.mark.parametrize("error", [PermissionError, FileNotFoundError])
def test_a_set_read_from_a_cache_it_cannot_mark_as_used_is_still_read(folder, monkeypatch, error):
    """A read-only cache (a shared one, or another user's), or a file another process pruned a moment after
    it was read: marking it used fails, and the training goes on with the set."""
    render = Renderer()
    first = cached("pen-digits", {"seed": 1}, render)

    def refuse(*args, **kwargs):
        raise error("not allowed here")
    monkeypatch.setattr(drawn_cache.os, "utime", refuse)
    assert same(cached("pen-digits", {"seed": 1}, render), first) and render.calls == 1


def test_two_threads_writing_the_same_set_leave_one_whole_file(folder, monkeypatch):
    """Two trainings in one process (a fit drawing ahead while another renders) write the same set at once:
    the file left is one of theirs, whole, and no partial file stays behind."""
    import threading

    from safetensors.torch import save

    both_halfway = threading.Barrier(2, timeout=10)

    def save_in_two_halves(tensors, filename):  # save_file, slowed down to let the threads interleave
        data = save(tensors)
        with open(filename, "wb") as f:
            f.write(data[: len(data) // 2])
            f.flush()
            both_halfway.wait()
            f.write(data[len(data) // 2:])
    monkeypatch.setattr(drawn_cache, "save_file", save_in_two_halves)
    path = cache_path("pen-digits", {"seed": 1})
    sets = [Renderer(seed=10)(), Renderer(seed=20)()]  # the same shapes: the halves line up
    threads = [threading.Thread(target=drawn_cache._write, args=(path, s)) for s in sets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    kept = drawn_cache._read(path)
    assert kept is not None and any(same(kept, s) for s in sets)
    assert [p.name for p in folder.iterdir()] == [path.name]

"""Each visitor's files are theirs alone (mnist_demo/app/visitor_files.py): no session id names another's folder
or a root, a visitor who leaves takes their files, and what they started writes nothing after they left."""

from __future__ import annotations

import re

import pytest

from mnist_demo.app.visitor_files import Part, VisitorFiles, folder_name

VICTIM, NEIGHBOUR = "a.b", "3f9c01ab"  # two visitors who stay


def write(files: VisitorFiles, owner: str, part: Part, name: str = "mine.bin") -> None:
    errand = files.begin(owner)
    with files.writing(errand, part) as folder:
        (folder / name).write_bytes(b"drawn")
    files.end(errand)


def everything(files: VisitorFiles) -> set[str]:
    return {str(p.relative_to(files.root)) for p in files.root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("sneaky", ["handwriting", "collections", "trainings", "stops", "..", ".", "/", "../..",
                                    "a_b", folder_name(VICTIM), f"../{folder_name(VICTIM)}", "x" * 10_000, "é\udcff"])
def test_a_visitor_who_leaves_deletes_no_one_else_s_files(sneaky):
    """A client that opens and closes /gradio_api/heartbeat/<id> makes the server forget the session <id>:
    whatever that id is, only its own folders go."""
    files = VisitorFiles()
    for owner in (VICTIM, NEIGHBOUR):
        for part in Part:
            write(files, owner, part)
    write(files, sneaky, Part.COLLECTIONS)
    before = everything(files)
    files.forget(sneaky)
    assert everything(files) == {f for f in before if folder_name(sneaky) not in f}
    assert len(everything(files)) == 4 and files.root.is_dir()


def test_two_session_ids_never_share_a_folder():
    files = VisitorFiles()
    ids = ["a.b", "a_b", "a/b", "a b", "A.B", "", "local"]
    folders = {files.folder(i, part) for i in ids for part in Part}
    assert len(folders) == len(ids) * len(Part)
    assert all(f.parent.parent == files.root and f.name.isalnum() for f in folders)


def test_what_a_visitor_began_before_leaving_writes_nothing_after_but_a_new_visit_does():
    files = VisitorFiles()
    leaving = files.begin(VICTIM)  # e.g. a training that stops within a batch, then keeps its model
    files.forget(VICTIM)
    with files.writing(leaving, Part.TRAININGS) as folder:
        assert folder is None
    assert files.end(leaving)  # it was forgotten: what it wrote before goes too
    assert not files.folder(VICTIM, Part.TRAININGS).exists()
    back = files.begin(VICTIM)  # the page reconnected after a network blip: the same session goes on
    with files.writing(back, Part.TRAININGS) as folder:
        assert folder is not None
    assert not files.end(back)


def test_the_files_go_with_their_owner():
    files = VisitorFiles()
    root = files.root
    write(files, VICTIM, Part.COLLECTIONS)
    del files
    assert not root.exists()


@pytest.fixture(scope="module")
def webapp(shipped_weights):
    from mnist_demo.app.handlers import WebApp
    from tests.support.servers import app_settings

    return WebApp(app_settings(shipped_weights, train_in_process=True))


def test_a_training_whose_visitor_leaves_keeps_no_weights_file(webapp, monkeypatch):
    """The visitor closes the page mid-training: the training stops within a batch and reports the best model
    so far, but writes no weights file into the folder that just went (it used to reappear there)."""
    import threading

    from mnist_demo.app import trainer as trainer_module
    from mnist_demo.app.trainer import TrainingReport
    from mnist_demo.training.engine import EpochResult

    # The training waits after its first epoch until the visitor has left: it cannot end first on a busy machine.
    left, engine = threading.Event(), trainer_module.train

    def paced(*args, **kwargs):
        for event in engine(*args, **kwargs):
            yield event
            if isinstance(event, EpochResult):
                left.wait(30)

    monkeypatch.setattr(trainer_module, "train", paced)
    trainer = webapp.trainer
    events = trainer.run("leaving", "mlp-50", trainer.recipe_for("mlp-50", epochs=3))
    seen = []
    for event in events:
        seen.append(event)
        if isinstance(event, EpochResult) and not left.is_set():
            trainer.forget("leaving")
            left.set()
    report = next(e for e in seen if isinstance(e, TrainingReport))
    assert report.loaded is not None and report.stopped  # there was a model to keep...
    assert report.weights_file is None  # ...and no file of it
    assert not list(trainer.files.root.rglob("*.safetensors")) and not trainer.busy


def test_a_call_without_a_session_trains_nothing_and_writes_nothing(webapp):
    """A raw HTTP call without a session_hash: no training (nobody could stop it, nor would its file go), no
    file; all such calls used to share one owner, "local"."""
    from types import SimpleNamespace

    from tests.support.drawings import held_out_digits, pad_value

    raw = SimpleNamespace(session_hash=None)  # what Gradio hands a handler for such a call
    final = list(webapp.train("mlp-50", raw, epochs=1))[-1]
    assert "Not trained" in final.status and "session" in final.status
    assert "No training of yours" in webapp.stop(raw)
    shown = webapp.handwriting.keep(pad_value(held_out_digits((4,))[0]), 4)
    assert "Kept as a **4**" in shown["message"]
    assert webapp.handwriting.download(shown["collection"], raw)["file"] is None
    webapp.forget_visitor(raw)
    assert not [p for p in webapp.trainer.files.root.rglob("*") if p.is_file()]


def test_what_the_page_says_about_deleting_drawings_is_true(shipped_weights):
    """It said they "go when you leave", but Gradio keeps a closed page's state an hour, and the copies of
    the files it served until its cache sweep: the page says how long, from the settings the app runs with."""
    from gradio.state_holder import SessionState

    from mnist_demo.app import collecting
    from mnist_demo.app.page import build_app
    from tests.support.servers import app_settings

    demo = build_app(app_settings(shipped_weights))
    said = next(b.value for b in demo.blocks.values() if getattr(b, "elem_id", None) == "kept_how_long")
    minutes = int(re.search(r"within (\d+) minutes of your leaving", said).group(1))
    sweep, age = demo.delete_cache
    assert minutes * 60 >= max(sweep + age, SessionState(demo).STATE_TTL_WHEN_CLOSED)
    assert minutes == collecting.GONE_WITHIN_MIN and "go when you leave" not in said

"""What a finished (or stopped) training leaves a visitor: a `TrainingReport`, made from the engine's
`TrainingDone` with the kept model's test evaluation and its weights file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mnist_demo.models.checkpoint import LoadedModel
from mnist_demo.training.data import Split
from mnist_demo.training.engine import EpochResult, TrainingDone
from mnist_demo.training.evaluation import EvalResult, evaluate


class TrainingFailed(RuntimeError):
    """A training that broke off with an error; the message says what happened."""


@dataclass
class TrainingReport:
    """What a finished (or stopped) training leaves: the kept model and how it does on the test digits."""

    model_name: str
    history: list[EpochResult]
    stopped: bool
    loaded: LoadedModel | None  # None when stopped before the first epoch ended
    evaluation: EvalResult | None = None
    test_data: Split | None = None
    weights_file: Path | None = None
    notes: list[str] = field(default_factory=list)
    time_limited: bool = False  # stopped by the server's time limit, not by its visitor

    def summary(self) -> str:
        if self.loaded is None:
            if self.time_limited:
                return ("Stopped at this server's time limit before the first epoch ended: there is no model to "
                        "keep. Ask for fewer steps an epoch (a larger batch size), or train on your own machine.")
            return "Stopped before the first epoch ended: there is no model to keep."
        best = self.loaded.info.get("best_epoch", len(self.history))
        how = "Stopped at the time limit" if self.time_limited else "Stopped early" if self.stopped else "Done"
        return (f"{how} after {len(self.history)} epoch(s). Kept the model of epoch {best}: "
                f"{100 * (self.loaded.test_accuracy or 0):.2f}% on {len(self.test_data or [])} test digits.")


def make_report(model: str, done: TrainingDone, test_data: Split, time_note: str | None) -> TrainingReport:
    """The report of `done`, with its kept model's test evaluation (its weights file is the trainer's to
    write). `time_note`: what the server's time limit says, when it stopped the training."""
    report = TrainingReport(model, done.history, done.stopped, done.loaded, notes=list(done.notes),
                            time_limited=time_note is not None and done.stopped)
    if report.time_limited:
        report.notes.append(time_note)
    if done.loaded is not None:
        device = next(done.loaded.model.parameters()).device
        # The engine evaluated the kept model in its epoch; only a resumed run's kept epoch predates it.
        report.evaluation = done.evaluation or evaluate(done.loaded.model, test_data, device)
        report.test_data = test_data
    return report

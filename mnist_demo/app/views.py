"""Training results as tables, text and figures for the web app (pandas and matplotlib, no Gradio)."""

from __future__ import annotations

import html
from dataclasses import dataclass, fields
from typing import Any, Sequence, get_type_hints

import pandas as pd
import torch
from matplotlib.figure import Figure

from mnist_demo.base.recipe import Recipe
from mnist_demo.models.registry import get_spec
from mnist_demo.training.engine import EpochResult, Progress
from mnist_demo.training.plots import misclassified_figure


@dataclass(frozen=True)
class TrainField:
    """A recipe field the Train tab lets people edit, as the Recipe's metadata describes it."""

    name: str
    label: str
    kind: type  # int, float, str or bool
    choices: tuple[str, ...] | None = None


_KINDS = get_type_hints(Recipe)
# The Train tab's fields, in the Recipe's order: those its metadata marks `app` (epochs has its own slider).
TRAIN_FIELDS = tuple(TrainField(f.name, f.metadata["label"], _KINDS[f.name], f.metadata.get("choices"))
                     for f in fields(Recipe) if f.metadata.get("app"))


def model_summary(name: str) -> str:
    """Markdown: where a registry model comes from and how big it is."""
    spec = get_spec(name)
    reported = f" The tutorial reports {spec.reported_accuracy:g}%." if spec.reported_accuracy else ""
    return f"{spec.source}. {spec.parameter_count():,} parameters.{reported}"


def recipe_values(recipe: Recipe) -> dict[str, Any]:
    """`recipe` as the Train tab's field values."""
    values: dict[str, Any] = {f.name: getattr(recipe, f.name) for f in TRAIN_FIELDS}
    for f in TRAIN_FIELDS:
        if f.kind is bool:
            values[f.name] = "yes" if values[f.name] else "no"
    return values


def recipe_changes(values: dict[str, Any]) -> dict[str, Any]:
    """Field values from the Train tab or an API client (None: keep the model's own) as
    `Recipe.with_changes` arguments: "yes"/"no" to bool, whole numbers to int. Other names, and numbers
    that are not whole (1.5, nan), pass through, for `Recipe.with_changes` to refuse by name."""
    kinds = {f.name: f.kind for f in TRAIN_FIELDS}
    changes = dict(values)
    for name, value in values.items():
        if isinstance(value, str) and kinds.get(name) is bool:
            changes[name] = value.strip().lower() in ("yes", "true", "1", "on")
        elif isinstance(value, float) and kinds.get(name) is int and value.is_integer():
            changes[name] = int(value)
    return changes


def progress_html(p: Progress | None, epochs: int, note: str = "") -> str:
    """A progress bar for the current epoch, with its running loss and accuracy and the time so far."""
    if p is None:
        return f"<div class='train-progress'>{html.escape(note)}</div>" if note else ""
    pct = 100 * p.fraction
    text = (f"Epoch {p.epoch}/{epochs}: batch {p.batch}/{p.batches}, loss {p.loss:.4f}, "
            f"accuracy {100 * p.accuracy:.1f}%, {p.seconds:.0f} s")
    return (f"<div class='train-progress'><progress max='100' value='{pct:.1f}' "
            f"aria-label='progress of epoch {p.epoch}'></progress> "
            f"<span>{html.escape(text)}</span></div>")


EPOCH_COLUMNS = ["epoch", "test accuracy %", "train loss", "test loss", "validation loss", "seconds", "lr", "kept"]


def epochs_table(history: Sequence[EpochResult]) -> pd.DataFrame:
    """One row an epoch; what the API's `train` streams so a client can read every epoch."""
    rows = [[h.epoch, round(100 * h.test_accuracy, 2), round(h.train_loss, 4), round(h.test_loss, 4),
             None if h.val_loss is None else round(h.val_loss, 4), round(h.seconds, 1), h.lr,
             "yes" if h.kept else ""] for h in history]
    return pd.DataFrame(rows, columns=EPOCH_COLUMNS)


PER_CLASS_COLUMNS = ["digit", "test digits", "accuracy %", "most often read as"]
CONFUSION_COLUMNS = ["true / read"] + [str(d) for d in range(10)]


def per_class_table(confusion: torch.Tensor | None, other: list[int] | None = None) -> pd.DataFrame:
    """Accuracy of each digit, and what it is most often mistaken for (no rows before a training).
    `other`: how many of each digit a model with an "other" class called "not a digit"."""
    rows = []
    if confusion is None:
        return pd.DataFrame(rows, columns=PER_CLASS_COLUMNS)
    for d in range(10):
        row = confusion[d].clone()
        total = int(row.sum()) + (other[d] if other else 0)
        right = int(row[d])
        row[d] = -1
        worst = int(row.argmax())
        mistaken = f"{worst} ({int(row[worst])}x)" if int(row[worst]) > 0 else "-"
        rows.append([d, total, round(100 * right / max(total, 1), 2), mistaken])
    return pd.DataFrame(rows, columns=PER_CLASS_COLUMNS)


def confusion_table(confusion: torch.Tensor | None) -> pd.DataFrame:
    """Rows: the true digit; columns: what the model read (no rows before a training)."""
    if confusion is None:
        return pd.DataFrame([], columns=CONFUSION_COLUMNS)
    return pd.DataFrame([[t, *confusion[t].tolist()] for t in range(10)], columns=CONFUSION_COLUMNS)


def misclassified(images: torch.Tensor, labels: torch.Tensor, predictions: torch.Tensor,
                  limit: int = 48) -> Figure:
    return misclassified_figure(images, labels, predictions, limit=limit)


def recipe_text(recipe: Recipe) -> str:
    r = recipe
    parts = [f"{r.optimizer} lr {r.lr:g}", f"batch {r.batch_size}", f"{r.epochs} epoch(s)"]
    if r.momentum:
        parts.append(f"momentum {r.momentum:g}")
    if r.schedule != "none":
        parts.append(f"{r.schedule} schedule")
    if r.augment != "none":
        parts.append(f"{r.augment} augmentation")
    return ", ".join(parts)

"""Figures: training curves and a grid of misclassified digits (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: CLI, tests and the app's server thread
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def curves_figure(history: Sequence[dict[str, Any]]) -> Figure:
    """Test accuracy, and train and test loss, by epoch."""
    epochs = [h["epoch"] for h in history]
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax_acc.plot(epochs, [100 * h["test_accuracy"] for h in history], "o-", color="tab:green")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", title="Test accuracy")
    ax_loss.plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
    ax_loss.plot(epochs, [h["test_loss"] for h in history], "o-", label="test")
    if any(h.get("val_loss") is not None for h in history):
        ax_loss.plot(epochs, [h.get("val_loss") for h in history], "o-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="Loss")
    ax_loss.legend()
    for ax in (ax_acc, ax_loss):
        ax.grid(alpha=0.3)
        ax.set_xticks(epochs if len(epochs) <= 12 else ax.get_xticks())  # whole epochs, even for one
    fig.tight_layout()
    return fig


def misclassified_figure(images: torch.Tensor, labels: torch.Tensor, predictions: torch.Tensor,
                         limit: int = 64) -> Figure:
    """A grid of misclassified digits titled 'pred P / true T': one picture of them all on one axes (an axes
    each, laid out tight, took seconds: the last wait of a training in the app)."""
    wrong = (predictions.cpu() != labels.cpu()).nonzero().flatten()[:limit].tolist()
    cols, side, pad, title = 8, 28, 6, 12  # 8 digits a row; a title above each, a gap around
    rows = max(1, -(-len(wrong) // cols))
    width, height = side + 2 * pad, side + title + pad
    grid = np.zeros((rows * height, cols * width), dtype=np.float32)  # 0: white, in the reversed gray map
    fig = Figure(figsize=(cols * 1.2, rows * 1.45))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.axis("off")
    for k, i in enumerate(wrong):
        top, left = (k // cols) * height, (k % cols) * width
        grid[top + title:top + title + side, left + pad:left + pad + side] = images[i].cpu().float().numpy()
        said = predictions[i].item()
        ax.text(left + width / 2, top + title - 2, f"pred {said if said < 10 else 'other'} / true {labels[i].item()}",
                ha="center", va="bottom", fontsize=7, color="tab:red")
    ax.imshow(grid, cmap="gray_r", interpolation="nearest", aspect="auto")
    if not wrong:
        ax.text(cols * width / 2, height / 2, "no misclassified digits", ha="center", va="center", fontsize=9)
    return fig


def confusion_text(confusion: torch.Tensor) -> str:
    """The confusion matrix as text: rows are the truth, columns the prediction."""
    lines = ["true\\pred " + " ".join(f"{d:>5}" for d in range(10))]
    for t in range(10):
        lines.append(f"{t:>9} " + " ".join(f"{v:>5}" for v in confusion[t].tolist()))
    return "\n".join(lines)


def save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

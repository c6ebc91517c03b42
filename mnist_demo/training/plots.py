"""Figures: training curves and a grid of misclassified digits (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: CLI, tests and the app's server thread
import matplotlib.pyplot as plt  # noqa: E402
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
    """A grid of misclassified digits titled 'pred P / true T'."""
    wrong = (predictions.cpu() != labels.cpu()).nonzero().flatten()[:limit]
    cols = 8
    rows = max(1, -(-len(wrong) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.45), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong.tolist()):
        ax.imshow(images[i].cpu().numpy(), cmap="gray_r")
        said = predictions[i].item()
        ax.set_title(f"pred {said if said < 10 else 'other'} / true {labels[i].item()}", fontsize=7,
                     color="tab:red")
    if len(wrong) == 0:
        axes.flat[0].set_title("no misclassified digits", fontsize=9)
    fig.tight_layout()
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

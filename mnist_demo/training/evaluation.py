"""Test-set evaluation: loss, accuracy, per-class accuracy, confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from mnist_demo.base.mnist import DIGITS, OTHER_CLASS
from mnist_demo.models.registry import inputs_of
from mnist_demo.training.data import Split


@dataclass
class EvalResult:
    loss: float
    accuracy: float  # fraction in [0, 1]
    per_class: list[float]  # accuracy of each digit 0..9
    confusion: torch.Tensor  # (10, 10) int64, rows = truth, columns = the digit read
    predictions: torch.Tensor  # (N,) int64; OTHER_CLASS where a model with an "other" class said "not a digit"
    other: list[int] = field(default_factory=lambda: [0] * DIGITS)  # of each digit, read as "not a digit"


@torch.inference_mode()
def evaluate(model: nn.Module, split: Split, device: torch.device | str = "cpu",
             batch_size: int = 1000, other_offset: float = 0.0) -> EvalResult:
    """`other_offset`: "not a digit" lowered by this much before the answer is read (its loss is the model's)."""
    was_training = model.training
    inputs = inputs_of(model)  # pictures, or pen paths for a stroke reader
    model.eval()
    total_loss = 0.0
    preds = []
    for start in range(0, len(split), batch_size):
        x = inputs.prepare(split.images[start:start + batch_size].to(device))
        y = split.labels[start:start + batch_size].to(device)
        out = model(x)
        # Models end in logits or log-probabilities; cross_entropy gives the right loss for both.
        total_loss += F.cross_entropy(out, y, reduction="sum").item()
        if other_offset and out.shape[1] > OTHER_CLASS:
            out = out.clone()
            out[:, OTHER_CLASS] -= other_offset
        preds.append(out.argmax(1).cpu())
    model.train(was_training)
    predictions = torch.cat(preds) if preds else torch.empty(0, dtype=torch.long)
    labels = split.labels.cpu()
    # A model with an 11th "other" class may call a digit "not a digit": that counts as wrong,
    # outside the digits' confusion matrix.
    classes = DIGITS + 1
    full = torch.bincount(labels * classes + predictions.clamp(max=DIGITS), minlength=DIGITS * classes)
    full = full[:DIGITS * classes].view(DIGITS, classes)
    confusion, other = full[:, :DIGITS].contiguous(), full[:, DIGITS].tolist()
    support = full.sum(1).clamp(min=1)
    per_class = (confusion.diag().float() / support).tolist()
    n = max(len(split), 1)
    return EvalResult(total_loss / n, confusion.diag().sum().item() / n, per_class, confusion, predictions, other)

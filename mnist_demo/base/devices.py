"""Which torch device to run on."""

from __future__ import annotations

import torch


def pick_device(name: str | None = None) -> torch.device:
    """`name` forces a device ("cpu", "cuda", "cuda:1", "mps"); None or "auto" picks CUDA, then MPS, then CPU."""
    if name and name != "auto":
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {name!r} was asked for but CUDA is not available here")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"device {name!r} was asked for but Apple MPS is not available here")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")

"""The first layer's filters, as small images: what a network looks for first, drawn as it learns."""

from __future__ import annotations

import numpy as np
from torch import nn

MAX_FILTERS = 32


def first_layer_filters(model: nn.Module, limit: int = MAX_FILTERS) -> np.ndarray | None:
    """float32 (n, h, w) of the first layer that looks at the image, each scaled to [-1, 1].

    A convolution on the one input channel gives its kernels (5x5, 3x3, ...);
    a fully connected first layer gives each unit's 784 weights as a 28x28
    image. None for a model whose first weighted layer is neither.
    """
    for layer in model.modules():
        if isinstance(layer, nn.Conv2d) and layer.in_channels == 1:
            w = layer.weight.detach()[:limit, 0]
            break
        if isinstance(layer, nn.Linear) and layer.in_features == 28 * 28:
            w = layer.weight.detach()[:limit].reshape(-1, 28, 28)
            break
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            return None
    else:
        return None
    w = w.float().cpu().numpy()
    scale = np.abs(w).reshape(len(w), -1).max(axis=1).clip(min=1e-8)
    return (w / scale[:, None, None]).astype(np.float32)

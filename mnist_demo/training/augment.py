"""Batch augmentation for what drawings do and MNIST lacks.

Everything runs on whole batches with tensor ops on the training device:
one affine resample for rotation, slant, scale and shift, then max-pool
morphology for thick and thin strokes, then small erasures for broken strokes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class DrawnAugment:
    p: float = 0.85  # share of samples augmented; the rest stay as MNIST drew them
    rotation_deg: float = 15.0
    slant: float = 0.3  # horizontal shear
    scale: tuple[float, float] = (0.85, 1.1)
    aspect: tuple[float, float] = (0.85, 1.15)
    shift_px: float = 2.0
    p_thicker: float = 0.3
    p_thinner: float = 0.2
    p_break: float = 0.15

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x: (N, 1, 28, 28) in [0, 1] (ink = 1). Returns a new tensor of the same shape."""
        n, device = x.shape[0], x.device

        def uniform(lo: float, hi: float) -> torch.Tensor:
            return torch.rand(n, generator=generator, device=device) * (hi - lo) + lo

        def chance(p: float) -> torch.Tensor:
            return torch.rand(n, generator=generator, device=device) < p

        on = chance(self.p)
        angle = uniform(-self.rotation_deg, self.rotation_deg) * (math.pi / 180) * on
        shear = uniform(-self.slant, self.slant) * on
        s = torch.where(on, uniform(*self.scale), torch.ones(n, device=device))
        a = torch.where(on, uniform(*self.aspect), torch.ones(n, device=device))
        t = uniform(-self.shift_px, self.shift_px).mul(2 / 28) * on, uniform(-self.shift_px, self.shift_px).mul(2 / 28) * on
        cos, sin = torch.cos(angle), torch.sin(angle)
        # affine_grid maps output to input coordinates, so this is the inverse transform.
        sx, sy = 1 / (s * a.sqrt()), a.sqrt() / s
        theta = torch.stack([
            torch.stack([sx * cos, sx * (-sin + shear * cos), t[0]], dim=1),
            torch.stack([sy * sin, sy * (cos + shear * sin), t[1]], dim=1),
        ], dim=1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

        # Stroke thickness: blend towards a dilated or eroded copy by a random amount.
        thicker = (chance(self.p_thicker) & on).view(n, 1, 1, 1)
        thinner = (chance(self.p_thinner) & on & ~thicker.view(n)).view(n, 1, 1, 1)
        amount = uniform(0.3, 1.0).view(n, 1, 1, 1)
        dilated = F.max_pool2d(x, 3, 1, 1)
        eroded = -F.max_pool2d(-x, 3, 1, 1)
        x = torch.where(thicker, x + amount * (dilated - x), x)
        x = torch.where(thinner, x + amount * 0.6 * (eroded - x), x)
        # Drawn strokes are full-intensity after preprocessing; erosion and resampling dim them.
        x = x / x.amax(dim=(1, 2, 3), keepdim=True).clamp(min=1e-3)

        # Broken strokes: erase one small square per chosen sample.
        broken = chance(self.p_break) & on
        if broken.any():
            cy = torch.randint(6, 22, (n,), generator=generator, device=device).view(n, 1, 1, 1)
            cx = torch.randint(6, 22, (n,), generator=generator, device=device).view(n, 1, 1, 1)
            ys = torch.arange(28, device=device).view(1, 1, 28, 1)
            xs = torch.arange(28, device=device).view(1, 1, 1, 28)
            hole = ((ys - cy).abs() <= 1) & ((xs - cx).abs() <= 1) & broken.view(n, 1, 1, 1)
            x = x.masked_fill(hole, 0.0)
        return x.clamp_(0.0, 1.0)

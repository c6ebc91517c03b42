"""MNIST's format, in one place: what every model here reads and every drawing is turned into.

LeCun's digits are white ink on black in a 28x28 field, each scaled (aspect
kept, anti-aliased) so its longer side is 20 px, with its centre of mass at the
centre. Models see them normalised by the training set's mean and standard
deviation; the preprocessing version names how a drawing is brought to this
form, and weights record the one they were trained for.
"""

from __future__ import annotations

import torch

SIZE = 28  # the field
BOX = 20  # digits are scaled to fit this box
CENTER = (SIZE - 1) / 2  # 13.5: the field's centre in array coordinates
MEAN = 0.1307  # of the training images' pixels in [0, 1]
STD = 0.3081
DIGITS = 10  # classes 0-9
OTHER_CLASS = 10  # a model with 11 outputs: the 11th says "not a digit" (see handwriting.non_digits)
# Bump when `mnist_demo.reading.preprocess` changes what a drawing becomes: weights trained on
# drawings preprocessed one way are checked against it when loaded.
PREPROCESSING_VERSION = 1


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) or float in [0, 1] -> normalised float (N, 1, 28, 28)."""
    x = images.float()
    if images.dtype == torch.uint8:
        x = x / 255.0
    if x.dim() == 3:
        x = x.unsqueeze(1)
    return (x - MEAN) / STD

"""Every model of the tutorials we follow, and our own, by name from one registry.

Each entry carries its source and its tutorial's recipe, the way torchvision's
weights entries carry their transforms and metrics.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from mnist_demo.base.mnist import normalize
from mnist_demo.base.recipe import Recipe
from mnist_demo.base.strokes import FEATURES, POINTS

DEFAULT_MODEL = "fastnet"  # what the Train tab and `train` start from: 99% in seconds on a CPU


class Inputs(enum.Enum):
    """What a model reads, and how a batch of it is made ready."""

    IMAGE = "image"  # a 28x28 picture: MNIST's, or a drawing after preprocessing
    STROKES = "strokes"  # the pad's path (reading.strokes): only drawings made with the pen have one

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """A stored batch (uint8 (N, 28, 28) images, or float (N, POINTS, FEATURES) paths) as the model's input."""
        return normalize(x) if self is Inputs.IMAGE else x.float()

    def example(self, n: int = 1) -> torch.Tensor:
        return torch.zeros(n, 1, 28, 28) if self is Inputs.IMAGE else torch.zeros(n, POINTS, FEATURES)


def inputs_of(model: nn.Module) -> Inputs:
    """What `model` reads: pictures, unless it says otherwise (`StrokeNet.inputs`)."""
    return getattr(model, "inputs", Inputs.IMAGE)


class MLP50(nn.Module):
    def __init__(self, dropout: float = 0.5) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 50)
        self.fc2 = nn.Linear(50, 10)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dropout(F.relu(self.fc1(x.flatten(1))))
        return F.log_softmax(self.fc2(x), dim=1)


class CNN1020(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.conv2_drop = nn.Dropout2d()
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = F.dropout(F.relu(self.fc1(x.flatten(1))), training=self.training)
        return F.log_softmax(self.fc2(x), dim=1)


def mlp(*hidden: int, dropout: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    width = 784
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers)


def cnn_simple() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 10, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, stride=1), nn.Dropout(0.2),
        nn.Flatten(), nn.Linear(27 * 27 * 10, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def lenet5() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(16, 120, 5), nn.Tanh(), nn.Flatten(),
        nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10),
    )


class PytorchExampleNet(nn.Module):
    """pytorch/examples mnist/main.py, layer for layer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = self.dropout1(x)
        x = self.dropout2(F.relu(self.fc1(x.flatten(1))))
        return F.log_softmax(self.fc2(x), dim=1)


def _conv_bn(cin: int, cout: int, k: int, pad: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, padding=pad, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def drawnet(width: int = 24, dropout: float = 0.1, classes: int = 10) -> nn.Sequential:
    """Our default: three conv layers with batch norm, sized for a 2-core CPU.

    5x5 kernels early see whole stroke segments at 28x28; no padding in the last
    conv keeps the classifier small (64*5*5 -> classes). About 73k parameters.
    The shipped one has 11 classes: the digits, and "not a digit".
    """
    w = width
    return nn.Sequential(
        *_conv_bn(1, w, 5, 2), nn.MaxPool2d(2),
        *_conv_bn(w, 2 * w, 5, 2), nn.MaxPool2d(2),
        *_conv_bn(2 * w, 64, 3, 0),
        nn.Flatten(), nn.Dropout(dropout), nn.Linear(64 * 5 * 5, classes),
    )


class StrokeNet(nn.Module):
    """The stroke reader: 1-d convolutions along the pen's path (`reading.strokes`), then the mean and
    the max over the path. About 116k parameters; reading one drawing takes well under a millisecond.

    It reads how a digit was drawn, which the picture loses (a flagged 1 and a 7, a 9 with a tiny loop),
    and reads beside a picture model, never alone (`reading.reader`, `training.calibration_data.pair`).
    """

    inputs = Inputs.STROKES

    def __init__(self, width: int = 64, dropout: float = 0.2, classes: int = 11) -> None:
        super().__init__()
        w = width

        def block(cin: int, cout: int, k: int) -> list[nn.Module]:
            return [nn.Conv1d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm1d(cout), nn.ReLU(inplace=True)]

        self.body = nn.Sequential(*block(FEATURES, w, 5), *block(w, w, 5), nn.MaxPool1d(2),
                                  *block(w, 2 * w, 5), nn.MaxPool1d(2), *block(2 * w, 2 * w, 3))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(4 * w, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, POINTS, FEATURES)
        h = self.body(x.transpose(1, 2))
        return self.fc(self.dropout(torch.cat([h.mean(2), h.amax(2)], 1)))


def fastnet() -> nn.Sequential:
    """Our quick default: 99% on MNIST's test set within seconds of training on two CPU cores.

    A strided 5x5 stem without batch norm takes the image to 14x14 at once: batch norm
    and convolutions at the full 28x28 are where a CPU spends its time. Then three
    3x3 conv-BN-ReLU blocks (16, 32, 64) with pooling. About 30k parameters and
    0.66M multiply-adds an image (drawnet: 6.8M).
    """
    return nn.Sequential(
        nn.Conv2d(1, 8, 5, stride=2, padding=2), nn.ReLU(inplace=True),
        *_conv_bn(8, 16, 3, 1), nn.MaxPool2d(2),
        *_conv_bn(16, 32, 3, 1), nn.MaxPool2d(2),
        *_conv_bn(32, 64, 3, 1),
        nn.Flatten(), nn.Linear(64 * 3 * 3, 10),
    )


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[..., nn.Module]
    source: str
    recipe: Recipe
    reported_accuracy: float | None = None  # what the tutorial reported, in percent
    default_args: dict[str, Any] = field(default_factory=dict)
    inputs: Inputs = Inputs.IMAGE

    def create(self, **args: Any) -> nn.Module:
        return self.build(**{**self.default_args, **args})

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.create().parameters())


_SGD_05 = Recipe(optimizer="sgd", lr=0.01, momentum=0.5, batch_size=64, epochs=3)

REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec("mlp-50", MLP50, "Classic PyTorch MLP tutorial: 784-50-10 with dropout and log-softmax",
                  _SGD_05, 94.0),
        ModelSpec("cnn-10-20", CNN1020, "G. Koehler, 'MNIST Handwritten Digit Recognition in PyTorch' (2020)",
                  _SGD_05),
        ModelSpec("mlp-512", lambda: mlp(512, 512, dropout=0.5),
                  "Udacity deep-learning-v2-pytorch, 'Multi-Layer Perceptron, MNIST' notebook",
                  Recipe(optimizer="sgd", lr=0.01, batch_size=20, epochs=20, val_split=0.2), 97.0),
        ModelSpec("mlp-100", lambda: mlp(100), "Beginner PyTorch MLP tutorial: 784-100-10 with Adam",
                  Recipe(optimizer="adam", lr=0.001, batch_size=100, epochs=20)),
        ModelSpec("mlp-784", lambda: mlp(784), "Beginner PyTorch MLP tutorial: 784-784-10 with plain SGD",
                  Recipe(optimizer="sgd", lr=0.01, batch_size=100, epochs=10), 92.0),
        ModelSpec("cnn-simple", cnn_simple, "Beginner PyTorch CNN tutorial: one 5x5 conv, fc 128",
                  Recipe(optimizer="adam", lr=0.001, batch_size=100, epochs=10)),
        ModelSpec("lenet5", lenet5, "LeNet-5 (LeCun et al. 1998) as in PyTorch tutorials: tanh, average pooling",
                  Recipe(optimizer="adam", lr=0.001, batch_size=100, epochs=10), 98.2),
        ModelSpec("pytorch-example", PytorchExampleNet, "pytorch/examples mnist/main.py",
                  Recipe(optimizer="adadelta", lr=1.0, batch_size=64, epochs=14, schedule="step", gamma=0.7),
                  99.2),
        ModelSpec("fastnet", fastnet, "mnist_demo's quick default: 99% in seconds on a CPU",
                  Recipe(optimizer="adam", lr=0.02, batch_size=256, epochs=2, schedule="onecycle",
                         label_smoothing=0.1)),
        ModelSpec("drawnet", drawnet, "mnist_demo's own, shipped: accurate on drawings, fast on a CPU",
                  Recipe(optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4, batch_size=128,
                         epochs=14, schedule="onecycle", augment="drawn", label_smoothing=0.1,
                         pen_digits=True, pen_renders=5, non_digits=12000),
                  default_args={"width": 24, "dropout": 0.1, "classes": 11}),
        # Trained on the pen digits' paths only (MNIST has none), with made-up non-digits as class 10; half
        # of them as another device or hand sends them, so the path reader depends on none of those (strokenet
        # v5; `benchmarks/transfer.py` chose it).
        ModelSpec("strokenet", StrokeNet, "mnist_demo's stroke reader: reads the pen's path beside drawnet",
                  Recipe(optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4, batch_size=128,
                         epochs=12, schedule="onecycle", label_smoothing=0.1, pen_digits=True, pen_renders=12,
                         pen_shifts=0.5, non_digits=12000),
                  default_args={"width": 64, "dropout": 0.2, "classes": 11}, inputs=Inputs.STROKES),
    ]
}


def image_models() -> list[str]:
    """The registry's models that read pictures: the ones the Train tab offers and the Draw tab can use."""
    return [name for name, spec in REGISTRY.items() if spec.inputs is Inputs.IMAGE]


def output_count(model: nn.Module) -> int:
    """How many classes a model answers with (10 digits, or 11 with "not a digit"): one blank image through it."""
    was = model.training
    model.eval()
    with torch.no_grad():
        n = model(inputs_of(model).example().to(next(model.parameters()).device)).shape[1]
    model.train(was)
    return int(n)


class UnknownModel(KeyError):
    def __str__(self) -> str:
        return f"unknown model {self.args[0]!r}; known: {', '.join(REGISTRY)}"


def get_spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownModel(name) from None


def build_model(name: str, **args: Any) -> nn.Module:
    return get_spec(name).create(**args)

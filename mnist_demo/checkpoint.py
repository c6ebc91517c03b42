"""Weights as .safetensors with their metadata; loading never unpickles.

A file holds the model's tensors, optionally the optimizer's tensors (under
"optimizer/"), and one JSON metadata entry "mnist_demo" with the architecture,
normalisation, preprocessing version, accuracy, recipe, measured figures
("metrics", see `mnist_demo.weights`), date and library versions. Loading
checks the normalisation and the preprocessing version against this version's
and says which does not match.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from . import __version__
from mnist_demo.mnist import MEAN, PREPROCESSING_VERSION, STD
from mnist_demo.models import UnknownModel, get_spec
from mnist_demo.reading.strokes import STROKE_FEATURES_VERSION

FORMAT = "mnist_demo/1"
META_KEY = "mnist_demo"
OPT_PREFIX = "optimizer/"


class CheckpointError(ValueError):
    """A weights file that is missing, corrupt, or made for another model."""


@dataclass
class LoadedModel:
    model: nn.Module
    info: dict[str, Any]

    @property
    def name(self) -> str:
        return self.info["model"]

    @property
    def test_accuracy(self) -> float | None:
        return self.info.get("test_accuracy")


def model_digest(model: nn.Module) -> str:
    """A short sha256 of a model's tensors (names, dtypes, shapes, values): which weights these are,
    wherever they were loaded from."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()[:16]


def library_versions() -> dict[str, str]:
    import numpy
    import safetensors
    import torchvision

    return {"mnist_demo": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
            "numpy": numpy.__version__, "safetensors": safetensors.__version__,
            "python": platform.python_version()}


def make_info(model_name: str, model_args: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """Metadata for a new file: the given fields plus format, normalisation, date and versions."""
    return {"format": FORMAT, "model": model_name, "model_args": dict(model_args or {}),
            "normalization": {"mean": MEAN, "std": STD}, "preprocessing_version": PREPROCESSING_VERSION,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "versions": library_versions(), **fields}


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, pstate in state["state"].items():
        for key, value in pstate.items():
            if torch.is_tensor(value):
                tensors[f"{OPT_PREFIX}{pid}/{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def save_weights(path: str | os.PathLike, model: nn.Module, info: dict[str, Any],
                 optimizer: torch.optim.Optimizer | None = None) -> Path:
    """Write atomically (temp file, then rename) so an interrupted save never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    info = dict(info)
    if optimizer is not None:
        opt_tensors, opt_meta = _optimizer_tensors(optimizer)
        tensors.update(opt_tensors)
        info["optimizer_state"] = opt_meta
    return _write(path, tensors, info)


def _write(path: Path, tensors: dict[str, torch.Tensor], info: dict[str, Any]) -> Path:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={META_KEY: json.dumps(info)})
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; weights are for sharing
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _open(path: Path):
    if not path.is_file():
        raise CheckpointError(f"weights file not found: {path}")
    try:
        return safe_open(str(path), framework="pt", device="cpu")
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable .safetensors file ({exc})") from exc


def read_info(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of a weights file, without building the model."""
    path = Path(path)
    with _open(path) as f:
        raw = (f.metadata() or {}).get(META_KEY)
    if raw is None:
        raise CheckpointError(f"{path} has no mnist_demo metadata: it was not made by this project")
    try:
        info = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path} has corrupt metadata ({exc})") from exc
    if not isinstance(info, dict) or "model" not in info:
        raise CheckpointError(f"{path} has metadata without a model name")
    return info


def _read_tensors(path: Path, prefix_filter: bool) -> dict[str, torch.Tensor]:
    with _open(path) as f:
        try:
            return {k: f.get_tensor(k) for k in f.keys() if k.startswith(OPT_PREFIX) == prefix_filter}
        except Exception as exc:
            raise CheckpointError(f"{path} is corrupt ({exc})") from exc


def check_inputs(info: dict[str, Any], path: str | os.PathLike) -> None:
    """Raise CheckpointError when the file's model expects inputs other than this version gives it."""
    norm = info.get("normalization") or {}
    if (norm.get("mean"), norm.get("std")) != (MEAN, STD):
        raise CheckpointError(f"{path} was trained on inputs normalised with mean {norm.get('mean')} and std "
                              f"{norm.get('std')}; this version normalises with mean {MEAN} and std {STD}")
    # Files made before the version was recorded were all made with the first preprocessing.
    version = info.get("preprocessing_version", 1)
    if version != PREPROCESSING_VERSION:
        raise CheckpointError(f"{path} was trained for preprocessing version {version}; this version of "
                              f"mnist_demo preprocesses drawings as version {PREPROCESSING_VERSION}: retrain it")
    # A stroke reader reads the path as reading.strokes makes it (files made before it was recorded: the first).
    features = info.get("stroke_features_version", 1)
    if features != STROKE_FEATURES_VERSION:
        raise CheckpointError(f"{path} reads pen paths made as version {features}; this version of mnist_demo "
                              f"makes them as version {STROKE_FEATURES_VERSION}: retrain it")


def update_info(path: str | os.PathLike, changes: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a file's metadata with `changes` (atomically), every tensor kept as it was; returns the new info."""
    path = Path(path)
    info = {**read_info(path), **changes}
    with _open(path) as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    _write(path, tensors, info)
    return info


def load_weights(path: str | os.PathLike, device: str | torch.device = "cpu",
                 expect_model: str | None = None) -> LoadedModel:
    """Build the model named in the file and load its tensors; the model comes back in eval mode."""
    path = Path(path)
    info = read_info(path)
    name = info["model"]
    if expect_model is not None and name != expect_model:
        raise CheckpointError(f"{path} holds weights for model {name!r}, not {expect_model!r}")
    check_inputs(info, path)
    try:
        # A file's arguments are complete as `train` saved them, so the builder's own defaults fill the
        # rest, not the registry's current ones: drawnet files made before it had 11 classes keep 10.
        model = get_spec(name).build(**info.get("model_args", {}))
    except UnknownModel as exc:
        raise CheckpointError(f"{path} was made for a model this version does not know: {exc}") from exc
    except TypeError as exc:
        raise CheckpointError(f"{path} has model arguments {name!r} does not take ({exc})") from exc
    tensors = _read_tensors(path, prefix_filter=False)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path} does not fit model {name!r}: {str(exc).splitlines()[0]}") from exc
    model.to(device).eval()
    return LoadedModel(model, info)


def load_optimizer_state(path: str | os.PathLike, optimizer: torch.optim.Optimizer, info: dict[str, Any]) -> None:
    """Restore an optimizer saved with `save_weights(..., optimizer=...)`."""
    meta = info.get("optimizer_state")
    if meta is None:
        raise CheckpointError(f"{path} holds no optimizer state to resume from")
    state: dict[int, dict[str, Any]] = {}
    for key, tensor in _read_tensors(Path(path), prefix_filter=True).items():
        pid, name = key[len(OPT_PREFIX):].split("/", 1)
        state.setdefault(int(pid), {})[name] = tensor
    for pid, values in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(values)
    try:
        optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    except (ValueError, KeyError) as exc:
        raise CheckpointError(f"{path} has optimizer state that does not fit this optimizer ({exc})") from exc

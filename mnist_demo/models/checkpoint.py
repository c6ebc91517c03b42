"""Weights as .safetensors with their metadata; loading never unpickles.

A file holds one model (what a training saves) or a bundle of two (what the
Draw tab reads with: a picture model and the stroke reader beside it, each
under its role). Its one JSON metadata entry "mnist_demo" describes it: for a
model, its architecture and arguments, normalisation, preprocessing version,
recipe, history, calibrations (`reading.calibration`) and measured figures;
for a bundle, that of each model under "models", and the bundle's own
figures. A file may also hold the optimizer's tensors (under "optimizer/") to
resume a training. Loading checks the normalisation and the preprocessing
version against this version's and says which does not match.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from mnist_demo import __version__
from mnist_demo.base.mnist import MEAN, PREPROCESSING_VERSION, STD
from mnist_demo.base.strokes import STROKE_FEATURES_VERSION
from mnist_demo.models.registry import Inputs, UnknownModel, get_spec, inputs_of

FORMAT = "mnist_demo/1"  # one model
BUNDLE_FORMAT = "mnist_demo/bundle-1"  # models by role
PICTURE, STROKES = "picture", "strokes"  # the roles in a bundle
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
    """The metadata of a weights file (one model's, or a bundle's), without building a model."""
    path = Path(path)
    with _open(path) as f:
        raw = (f.metadata() or {}).get(META_KEY)
    if raw is None:
        raise CheckpointError(f"{path} has no mnist_demo metadata: it was not made by this project")
    try:
        info = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path} has corrupt metadata ({exc})") from exc
    if not isinstance(info, dict) or not ("model" in info or info.get("format") == BUNDLE_FORMAT):
        raise CheckpointError(f"{path} has metadata without a model name")
    return info


def _read_tensors(path: Path, prefix: str = "") -> dict[str, torch.Tensor]:
    """The tensors whose names start with `prefix`, that prefix taken off (optimizer state left out)."""
    with _open(path) as f:
        try:
            return {k[len(prefix):]: f.get_tensor(k) for k in f.keys()
                    if k.startswith(prefix) and not k.startswith(OPT_PREFIX)}
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


def _build(path: Path, info: dict[str, Any], tensors: dict[str, torch.Tensor], device: str | torch.device
           ) -> LoadedModel:
    name = info["model"]
    check_inputs(info, path)
    try:
        # A file's arguments are complete as `train` saved them, so the builder's own defaults fill the
        # rest, not the registry's current ones: drawnet files made before it had 11 classes keep 10.
        model = get_spec(name).build(**info.get("model_args", {}))
    except UnknownModel as exc:
        raise CheckpointError(f"{path} was made for a model this version does not know: {exc}") from exc
    except TypeError as exc:
        raise CheckpointError(f"{path} has model arguments {name!r} does not take ({exc})") from exc
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path} does not fit model {name!r}: {str(exc).splitlines()[0]}") from exc
    model.to(device).eval()
    return LoadedModel(model, info)


def load_weights(path: str | os.PathLike, device: str | torch.device = "cpu",
                 expect_model: str | None = None) -> LoadedModel:
    """Build the one model in the file and load its tensors; the model comes back in eval mode."""
    path = Path(path)
    info = read_info(path)
    if "model" not in info:
        raise CheckpointError(f"{path} is a bundle of {', '.join(info.get('models', {}))}, not one model: "
                              "read it with mnist_demo.Reader.load")
    if expect_model is not None and info["model"] != expect_model:
        raise CheckpointError(f"{path} holds weights for model {info['model']!r}, not {expect_model!r}")
    return _build(path, info, _read_tensors(path), device)


def role_of(model: nn.Module) -> str:
    """A model's role in a bundle: STROKES for a stroke reader, else PICTURE."""
    return STROKES if inputs_of(model) is Inputs.STROKES else PICTURE


def save_bundle(path: str | os.PathLike, models: Mapping[str, LoadedModel], **fields: Any) -> Path:
    """Several models in one file, each under its role (`PICTURE`, `STROKES`), with `fields` (e.g. metrics)."""
    tensors = {f"{role}/{k}": v.detach().cpu().contiguous()
               for role, loaded in models.items() for k, v in loaded.model.state_dict().items()}
    info = {"format": BUNDLE_FORMAT, "models": {role: loaded.info for role, loaded in models.items()}, **fields}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return _write(path, tensors, info)


def load_models(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict[str, LoadedModel]:
    """The models of a file by role: a bundle's, or a one-model file's one (under `role_of` it)."""
    path = Path(path)
    info = read_info(path)
    if "model" in info:
        loaded = load_weights(path, device)
        return {role_of(loaded.model): loaded}
    return {role: _build(path, model_info, _read_tensors(path, f"{role}/"), device)
            for role, model_info in info.get("models", {}).items()}


def load_optimizer_state(path: str | os.PathLike, optimizer: torch.optim.Optimizer, info: dict[str, Any]) -> None:
    """Restore an optimizer saved with `save_weights(..., optimizer=...)`."""
    meta = info.get("optimizer_state")
    if meta is None:
        raise CheckpointError(f"{path} holds no optimizer state to resume from")
    state: dict[int, dict[str, Any]] = {}
    with _open(Path(path)) as f:
        saved = {k[len(OPT_PREFIX):]: f.get_tensor(k) for k in f.keys() if k.startswith(OPT_PREFIX)}
    for key, tensor in saved.items():
        pid, name = key.split("/", 1)
        state.setdefault(int(pid), {})[name] = tensor
    for pid, values in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(values)
    try:
        optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    except (ValueError, KeyError) as exc:
        raise CheckpointError(f"{path} has optimizer state that does not fit this optimizer ({exc})") from exc

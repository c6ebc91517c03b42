"""How a stroke reader's pair reads a calibration writer it was not fitted on.

    python -m benchmarks.calibration_writers --strokes weights/strokenet-v3.safetensors weights/strokenet-v4.safetensors \
        [--seeds 1 3] [--json benchmarks/results/calibration_writers.json]

The pairing (`training/pairing.py`) is fitted on the calibration writers, so
its own figures flatter it. Here each calibration writer is left out in
turn: the weight, temperature and sure threshold are fitted on the other
writers and the made-up non-digits, and the writer left out is read with
them. Per stroke reader and placement seed (`pairing_data(seed)`): the mean
over the writers of their own log loss, the errors of the top answer, and
the answers the page would show (right, "not sure", wrong and sure) with the
sure threshold counted writer by writer (as `pairing_of_outputs` fits it)
and over all the drawings (as before strokenet v4). No held-out writer is
read. Prints a line per reader and seed; `--json` keeps them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from mnist_demo.base.mnist import OTHER_CLASS
from mnist_demo.base.strokes import combine
from mnist_demo.models.checkpoint import load_weights
from mnist_demo.reading.weights import Weights
from mnist_demo.training.calibration import log_loss, logits_of, recorded_offset, sure_threshold_of
from mnist_demo.training.calibration_data import NOT_A_WRITER, pairing_data, pairing_of_outputs

THRESHOLDS = ("writer by writer", "over all drawings")


def _answers(p: torch.Tensor, labels: torch.Tensor, min_top: float) -> np.ndarray:
    """[right, not sure, wrong and sure] of calibrated probabilities `p` read with `min_top`."""
    said = p.argmax(1)
    sure = (said < OTHER_CLASS) & (p[torch.arange(len(p)), said] >= min_top)
    right = int((sure & (said == labels)).sum())
    wrong = int((sure & (said != labels)).sum())
    return np.array([right, len(labels) - right - wrong, wrong])


def left_out(a: torch.Tensor, b: torch.Tensor, labels: torch.Tensor, writers: torch.Tensor, offset: float) -> dict:
    """Each calibration writer read by the pairing fitted without them (see the module docstring)."""
    losses, errors, thresholds = [], 0, {k: [] for k in THRESHOLDS}
    answers = {k: np.zeros(3, int) for k in THRESHOLDS}
    for writer in sorted(set(writers.tolist()) - {NOT_A_WRITER}):
        fit = writers != writer
        pairing = pairing_of_outputs(a[fit], b[fit], labels[fit], writers[fit], "", "", offset)
        fitted = torch.softmax(combine(a[fit], b[fit], pairing.weight, offset) / pairing.temperature, 1).numpy()
        pooled = sure_threshold_of(fitted, labels[fit].numpy())
        z = combine(a[~fit], b[~fit], pairing.weight, offset) / pairing.temperature
        losses.append(log_loss(z, labels[~fit]))
        errors += int((z.argmax(1) != labels[~fit]).sum())
        for name, min_top in zip(THRESHOLDS, (pairing.min_top, pooled)):
            thresholds[name].append(min_top)
            answers[name] += _answers(torch.softmax(z, 1), labels[~fit], min_top)
    out = {"mean_log_loss": float(np.mean(losses)), "log_loss_by_writer": losses, "errors": errors}
    for name in THRESHOLDS:
        right, not_sure, wrong = (int(x) for x in answers[name])
        out[name] = {"right": right, "not_sure": not_sure, "wrong_sure": wrong, "n": right + not_sure + wrong,
                     "sure_right": right / max(right + wrong, 1), "thresholds": thresholds[name]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.calibration_writers",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--strokes", nargs="+", required=True, help="stroke readers' weights files")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 3], help="placement seeds of the drawings")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    image = Weights.DEFAULT.load()
    offset = recorded_offset(image.info)
    results = []
    for seed in args.seeds:
        data = pairing_data(seed)
        a = logits_of(image.model, data.images)
        for path in args.strokes:
            r = left_out(a, logits_of(load_weights(path).model, data.paths), data.labels, data.writers, offset)
            results.append({"strokes": Path(path).name, "seed": seed, **r})
            shown = "; ".join(f"threshold {k}: right {r[k]['right'] / r[k]['n']:.2%}, not sure {r[k]['not_sure']}, "
                              f"wrong {r[k]['wrong_sure']}" for k in THRESHOLDS)
            print(f"{Path(path).name} seed {seed}: log loss {r['mean_log_loss']:.4f}, {r['errors']} errors; {shown}",
                  flush=True)
    if args.json:
        command = "python -m benchmarks.calibration_writers --strokes " + " ".join(args.strokes) + " --seeds " + \
            " ".join(map(str, args.seeds))
        args.json.write_text(json.dumps({"image": Weights.DEFAULT.file.name, "command": command,
                                         "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()

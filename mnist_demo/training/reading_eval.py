"""The whole reading evaluation behind the README's drawn-digit tables: every pen collection's
held-out writers, a held-out set of drawings that are not one digit, and how well the model's
confidence is calibrated on them. `mnist-demo evaluate --drawings` runs it.

Everything goes through the pad's JSON and the code behind `/predict`
(`parse_sketch`, `Reader.read_batch`), as a visitor's drawing does.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mnist_demo.base.status import Status
from mnist_demo.handwriting.non_digits import HELD_OUT_FAMILIES, Family, non_digit_set
from mnist_demo.handwriting.pen_digits import COLLECTIONS, PENDIGITS, PenCollection
from mnist_demo.reading.reader import Reader
from mnist_demo.reading.sketch import parse_sketch
from mnist_demo.training.calibration import Reliability, reliability
from mnist_demo.training.drawn_eval import DrawnReport, evaluate_drawn

# Held-out drawings per collection: pendigits' 2,498 digits once; UJI's 200 twice.
RENDERS = {"pendigits": 1, "uji": 2}
NON_DIGITS_PER_FAMILY = 100


@dataclass
class Tally:
    n: int = 0
    not_sure: int = 0

    @property
    def share(self) -> float:
        return self.not_sure / self.n if self.n else 0.0


@dataclass
class NonDigitReport:
    total: Tally = field(default_factory=Tally)
    by_family: dict[str, Tally] = field(default_factory=dict)
    by_name: dict[str, Tally] = field(default_factory=dict)  # the held-out symbols one by one
    answered: Counter = field(default_factory=Counter)  # digits shown as sure answers to non-digits
    doubts: Counter = field(default_factory=Counter)  # why "not sure", by Doubt name

    def format(self) -> str:
        lines = [f"Not one digit (held-out families): {self.total.n} drawings, "
                 f"{100 * self.total.share:.1f}% answered \"not sure\""]
        lines += [f"  {name:50} {t.n:>5} {100 * t.share:>6.1f}%" for name, t in self.by_family.items()]
        lines.append("  symbols: " + ", ".join(f"{k} {100 * t.share:.0f}%" for k, t in self.by_name.items()))
        lines.append(f"  why not sure: {dict(self.doubts.most_common())}")
        if self.answered:
            lines.append(f"  shown as a digit: {dict(self.answered.most_common())}")
        return "\n".join(lines)


def evaluate_non_digits(reader: Reader, per_family: int = NON_DIGITS_PER_FAMILY, seed: int = 0,
                        families: tuple[Family, ...] = HELD_OUT_FAMILIES) -> NonDigitReport:
    """How often drawings of the held-out non-digit families get "not sure" (or nothing read)."""
    held = [d for c in COLLECTIONS.values() for d in c.digits(c.held_out_writers)]
    drawings = non_digit_set(families, per_family, seed, held)
    results = reader.read_batch([parse_sketch(d.sketch.to_json()) for d in drawings])
    report = NonDigitReport()
    for drawing, result in zip(drawings, results):
        not_sure = result.status is not Status.OK
        tallies = [report.total, report.by_family.setdefault(drawing.family.value, Tally())]
        if drawing.family is Family.SYMBOL:
            tallies.append(report.by_name.setdefault(drawing.name, Tally()))
        for t in tallies:
            t.n += 1
            t.not_sure += not_sure
        if not not_sure:
            report.answered[result.digit] += 1
        elif result.doubt is not None:
            report.doubts[result.doubt.name] += 1
        else:
            report.doubts[result.status.name] += 1
    return report


@dataclass
class ReadingEvaluation:
    drawn: dict[str, DrawnReport]
    non_digits: NonDigitReport
    calibration: Reliability  # of every held-out digit drawing's top guess
    sure_accuracy: float  # of the readings shown as answers, the share right
    sure_share: float  # of held-out digit drawings, the share shown as answers

    def summary(self) -> dict:
        """The figures as plain JSON-able values (what benchmarks/results/drawings.json keeps)."""
        def bucket(b) -> dict:
            return {"n": b.n, "right": b.correct, "not_sure": b.unsure, "wrong_sure": b.wrong_sure,
                    "top_correct": b.top_correct, "naive_correct": b.naive_correct}

        drawn = {}
        for name, r in self.drawn.items():
            worst = r.worst_writer()
            drawn[name] = {"writers": [str(w) for w in r.writers], "all": bucket(r.total),
                           "by_pen": {k: bucket(b) for k, b in r.by_brush.items()},
                           "by_size": {k: bucket(b) for k, b in r.by_size.items()},
                           "by_hand": {k: bucket(b) for k, b in r.by_hand.items()},
                           "by_writer": {str(k): bucket(b) for k, b in r.by_writer.items()},
                           "worst_writer": str(worst[0]) if worst else None,
                           "wrong_top_guesses": [[t, p, c] for (t, p), c in r.confusion.most_common()]}
        nd = self.non_digits
        return {"drawn": drawn,
                "non_digits": {"n": nd.total.n, "not_sure": nd.total.not_sure,
                               "by_family": {k: [t.n, t.not_sure] for k, t in nd.by_family.items()},
                               "by_symbol": {k: [t.n, t.not_sure] for k, t in nd.by_name.items()},
                               "shown_as": {str(k): v for k, v in nd.answered.items()},
                               "why_not_sure": dict(nd.doubts)},
                "calibration": self.calibration.to_dict(), "sure_accuracy": self.sure_accuracy,
                "sure_share": self.sure_share}

    def format(self) -> str:
        parts = [r.format() for r in self.drawn.values()] + [self.non_digits.format()]
        parts.append(f"Calibration on held-out digit drawings: ECE {100 * self.calibration.ece:.2f}%; readings "
                     f"shown as sure: {100 * self.sure_share:.2f}% of drawings, right {100 * self.sure_accuracy:.2f}%")
        parts.append("  " + "  ".join(f"[{b['lo']:.1f}-{b['hi']:.1f}] n={b['n']} conf {100 * b['confidence']:.1f}% "
                                     f"acc {100 * b['accuracy']:.1f}%" for b in self.calibration.bins))
        return "\n\n".join(parts)


def evaluate_readings(reader: Reader, seed: int = 0,
                      collections: tuple[PenCollection, ...] = tuple(COLLECTIONS.values()),
                      non_digits_per_family: int = NON_DIGITS_PER_FAMILY, placements: int = 1) -> ReadingEvaluation:
    """`placements`: each held-out digit placed on the pad this many times more than `RENDERS` says, so that
    a figure rests on more drawings (one placement of pendigits' digits leaves a share right uncertain by
    about 0.15 points)."""
    if placements < 1:
        raise ValueError(f"placements must be at least 1, not {placements}")
    drawn = {c.name: evaluate_drawn(reader, c, renders_per_digit=RENDERS.get(c.name, 1) * placements, seed=seed)
             for c in collections}
    readings = [r for report in drawn.values() for r in report.readings]
    confidence = np.array([r.confidence for r in readings])
    right = np.array([r.top == r.label for r in readings])
    sure = np.array([r.status is Status.OK for r in readings])
    return ReadingEvaluation(drawn, evaluate_non_digits(reader, non_digits_per_family, seed),
                             reliability(confidence, right), float(right[sure].mean()) if sure.any() else 0.0,
                             float(sure.mean()) if len(sure) else 0.0)


def reliability_figure(result: Reliability, path: str | Path, title: str = "") -> Path:
    """The reliability diagram: each confidence bin's accuracy against its mean confidence."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.plot([0, 1], [0, 1], ls="--", color="gray", lw=1, label="perfect calibration")
    conf = [b["confidence"] for b in result.bins]
    acc = [b["accuracy"] for b in result.bins]
    sizes = [20 + 180 * np.sqrt(b["n"] / max(x["n"] for x in result.bins)) for b in result.bins]
    ax.plot(conf, acc, color="tab:blue", lw=1)
    ax.scatter(conf, acc, s=sizes, color="tab:blue", zorder=3, label="bins (area: drawings)")
    ax.set_xlabel("confidence of the top digit")
    ax.set_ylabel("share right")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_title(title or f"held-out drawings, ECE {100 * result.ece:.2f}%", fontsize=9)
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


__all__ = ["evaluate_readings", "evaluate_non_digits", "ReadingEvaluation", "NonDigitReport", "PENDIGITS",
           "reliability_figure"]

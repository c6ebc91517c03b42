"""The numbers of one scenario from its calls: percentiles, errors, misreads, latency over time."""

from __future__ import annotations

import math
from typing import Any, Sequence

from tests.support.load.visitors import DIGIT_LABELS, UNSURE_LABEL, Call


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks (numpy's default)."""
    if not values:
        return math.nan
    s = sorted(values)
    pos = (len(s) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def call_counts(calls: Sequence[Call], digits: list[dict[str, Any]], reference: list[str | None],
                window: float) -> dict[str, Any]:
    """Predictions, their rate and round trips, errors (the 5 commonest kinds), and the whole digits'
    misreads, "Not sure"s and answers that differ from `reference` (the same server's with no load)."""
    ms = [c.ms for c in calls]
    errors = [c for c in calls if c.error]
    whole = [c for c in calls if c.whole and not c.error]
    misread = [c for c in whole if c.label in DIGIT_LABELS and c.label != digits[c.digit]["label"]]
    unsure = [c for c in whole if c.label == UNSURE_LABEL]
    changed = [c for c in whole if reference[c.digit] is not None and c.label != reference[c.digit]]
    examples: dict[str, int] = {}
    for c in errors:
        examples[c.error] = examples.get(c.error, 0) + 1
    return {
        "predictions": len(calls), "per_second": round(len(calls) / window, 1),
        "median_ms": round(percentile(ms, 50), 1), "p90_ms": round(percentile(ms, 90), 1),
        "p99_ms": round(percentile(ms, 99), 1), "max_ms": round(max(ms), 1) if ms else math.nan,
        "errors": len(errors), "error_kinds": dict(sorted(examples.items(), key=lambda kv: -kv[1])[:5]),
        "whole_digits": len(whole), "misread": len(misread), "unsure": len(unsure), "changed": len(changed),
    }


def over_time(calls: Sequence[Call], seconds: float) -> list[dict[str, Any]]:
    """Calls, median and p99 round trip in (about) six slices of the window, by when each call started."""
    buckets = []
    step = max(1.0, seconds / 6)
    for b in range(int(math.ceil(seconds / step))):
        inside = [c.ms for c in calls if b * step <= c.start < (b + 1) * step]
        buckets.append({"from_s": round(b * step, 1), "calls": len(inside),
                        "median_ms": round(percentile(inside, 50), 1), "p99_ms": round(percentile(inside, 99), 1)})
    return buckets

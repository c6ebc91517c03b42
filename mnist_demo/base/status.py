"""What a reading can come to, as names: the status of a reading and why there is no digit to read."""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    """A reading's outcome (a str, so "ok" == Status.OK and JSON shows the word)."""

    OK = "ok"  # a digit, read with confidence
    UNSURE = "unsure"  # a guess the page must not show as an answer
    EMPTY = "empty"  # nothing to read yet: see `Problem`
    INVALID = "invalid"  # preprocessing found no digit in it: see `Problem`
    ERROR = "error"  # no model to read with, or an input that could not be read

    def __str__(self) -> str:
        return self.value


class Problem(Enum):
    """Why preprocessing found no digit; the value is the message for people."""

    NOTHING_DRAWN = "Nothing drawn yet"
    DOT = "Only a dot so far: draw a whole digit"
    MOSTLY_INK = "The canvas is mostly ink: clear it and draw one digit"
    BLOB = "This doesn't look like a digit: clear the canvas and draw one"
    NO_BACKGROUND = "No plain background to find the ink on: use dark ink on light or light on dark"

    @property
    def message(self) -> str:
        return self.value

    @property
    def status(self) -> Status:
        """EMPTY for a drawing not begun (blank, a dot), INVALID for one that is no digit."""
        return Status.EMPTY if self in (Problem.NOTHING_DRAWN, Problem.DOT) else Status.INVALID


class Doubt(Enum):
    """Why a reading is "not sure" (status UNSURE); the value is the reason, for people."""

    NOT_A_DIGIT = "this doesn't look like a digit"  # unlike any digit after preprocessing
    NOT_ONE_DIGIT = "this doesn't look like one digit"  # the model's "other" class: a letter, a symbol, two digits
    TOO_WIDE = "it is much wider than a digit: two digits side by side, or a dash?"
    OFF_THE_PAD = "part of the drawing runs off the pad: draw the digit inside it"
    AMBIGUOUS = "it could be more than one digit"  # the message names the two

    @property
    def message(self) -> str:
        return f"Not sure: {self.value}"

"""How people's drawings vary, as strokes: the hand's wobble on the pad, writers' styles, and
drawings that are not one digit. Training renders and the drawn-digit evaluation use them."""

"""The bottom layer: what every other part agrees on, importing nothing else of the project.

`mnist` (MNIST's format), `strokes` (the pen path as a stroke reader reads it),
`recipe` (a training recipe), `status` (what a reading can come to), `devices`.
"""

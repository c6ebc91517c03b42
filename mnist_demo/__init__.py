"""mnist_demo: draw a digit, let a network trained on MNIST read it, retrain it live.

The library does all the work; `app.py` (Gradio) and `python -m mnist_demo` (CLI)
are thin front ends over it.
"""

__version__ = "0.1.0"

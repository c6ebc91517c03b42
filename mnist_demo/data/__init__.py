"""Data that travels with the app (the pen-drawn digits its recipes and evaluation use)."""

"""`make bench`: the template's shapes against the alternatives, side by side.

Run with the repository's virtualenv: `.venv/bin/python -m bench` (see bench/run.py).
"""

"""Textual widgets: each renders state it is given; no I/O, no parsing."""

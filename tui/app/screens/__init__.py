"""Textual screens pushed over the main view."""

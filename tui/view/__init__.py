"""Headless view models: what the widgets draw (charts, metric rows, run overview, the live run, themes)."""

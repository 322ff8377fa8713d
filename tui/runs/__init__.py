"""A run directory on disk: its record, launching, supervising, presets, restart plans, control, listing."""

"""Following logs as they grow: one file, a whole target, and what wakes the reader."""

"""Launching and acting on runs: run directories and their records, the detached supervisor,
the control channel's writing side, stopping by command or signal, presets and restarts."""

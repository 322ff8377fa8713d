"""Runs on another machine, reached through the system `ssh`; nothing is installed over there."""

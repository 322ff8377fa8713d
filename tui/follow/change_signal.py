"""Wake the reader as soon as a watched file changes: watchdog first, a slow poll as the safety net."""
from __future__ import annotations

import os
import threading

# inotify misses writes made by another machine on NFS, where GPU boxes often keep home directories;
# the poll catches those within a second.
SAFETY_POLL_SECONDS = 1.0


class ChangeSignal:
    """An event that is set when anything changes in the directories of the watched paths."""

    def __init__(self, paths: list[str], poll_seconds: float = SAFETY_POLL_SECONDS) -> None:
        self.poll_seconds = poll_seconds
        self._changed = threading.Event()
        self._observer = None
        directories = sorted({os.path.dirname(os.path.abspath(path)) for path in paths})
        try:
            self._observer = self._start_observer(directories)
        except Exception:  # no inotify (limits reached, exotic filesystem): the poll alone still works
            self._observer = None

    def _start_observer(self, directories: list[str]):
        # Imported here: `trainwatch check` never needs watchdog.
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        changed = self._changed

        class _SetOnChange(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                if event.event_type not in ("opened", "closed_no_write"):
                    changed.set()

        observer = Observer()
        handler = _SetOnChange()
        for directory in directories:
            if os.path.isdir(directory):
                observer.schedule(handler, directory, recursive=False)
        observer.daemon = True
        observer.start()
        return observer

    def wait(self) -> None:
        """Return when a change was seen, ``wake`` was called, or the poll interval passed."""
        if self._changed.wait(self.poll_seconds):
            self._changed.clear()

    def wake(self) -> None:
        self._changed.set()

    def close(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=2)
            self._observer = None

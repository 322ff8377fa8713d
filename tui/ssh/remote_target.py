"""``[user@]host:PATH`` targets, spelled the way scp spells them."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

# A colon before any slash makes a host; "./a:b" or "/x:y" stay local paths, as with scp.
_REMOTE_RE = re.compile(r"^(?P<destination>(?:[^@/:\s]+@)?(?:\[[^\]/]+\]|[^@/:\s\[\]]+)):(?P<path>.*)$")


@dataclass(frozen=True, slots=True)
class RemoteTarget:
    destination: str  # what ssh is given: an ssh config alias, host or user@host
    path: str  # as typed: absolute, relative to the remote home, or starting with ~/

    @property
    def host(self) -> str:
        return self.destination.rsplit("@", 1)[-1].strip("[]")

    def __str__(self) -> str:
        return f"{self.destination}:{self.path}"

    def at(self, path: str) -> str:
        """How a file of this target is named to the user."""
        return f"{self.destination}:{path}"


def parse_remote_target(target: str) -> RemoteTarget | None:
    """The remote target a string names, or None for a local path (an existing local path always
    wins, so a local file that happens to contain a colon is still read here)."""
    if os.path.exists(target):
        return None
    match = _REMOTE_RE.match(target)
    if match is None or len(match.group("destination")) == 1:  # "C:..." is a drive letter, not a host
        return None
    return RemoteTarget(match.group("destination"), match.group("path"))

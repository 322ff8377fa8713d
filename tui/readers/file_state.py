"""Where following one file stands, the same for a local file and one streamed over ssh: which
file was read (identity), how far (offset), its first bytes as read (head, to notice a file
rewritten in place past our offset), and whether it is there (presence). Plain data: the local
follower fills it from os.stat and reads, the ssh follower from the stream's events."""
from __future__ import annotations

from dataclasses import dataclass

# How many first bytes are kept and compared: enough to tell two logs apart (a header, a first
# timestamp), few enough to send to the remote script as hex on every reconnect.
FINGERPRINT_BYTES = 64
NO_IDENTITY = "-"


@dataclass
class FileState:
    identity: str = NO_IDENTITY  # the file read, as its host names it (inode); NO_IDENTITY before one
    offset: int = 0  # bytes read from it
    head: bytes = b""  # its first FINGERPRINT_BYTES (fewer while it is shorter), as read
    presence: str = ""  # "" not looked at yet, "ok", "missing", "denied", "unreadable"
    seen: bool = False  # it existed at some point: its reappearance is news

    def took(self, data: bytes) -> None:
        """``data`` was read at ``offset``, in order from the file's start."""
        if len(self.head) < FINGERPRINT_BYTES:
            self.head += data[:FINGERPRINT_BYTES - len(self.head)]
        self.offset += len(data)

    def start_over(self, identity: str | None = None) -> None:
        """A new file at the path, or this one truncated: read again from its start."""
        self.offset, self.head = 0, b""
        if identity is not None:
            self.identity = identity

    def rewritten(self, first_bytes: bytes) -> bool:
        """Does the file now start otherwise than what was read (truncated and written again)?"""
        return bool(self.head) and first_bytes[:len(self.head)] != self.head

"""Open a log only when it is a regular file, without ever blocking on a FIFO or a device.

A log path may be anything someone left there: a FIFO (``open`` blocks until a writer comes, and
a blocked open cannot be interrupted by quitting), ``/dev/zero`` or ``/dev/urandom`` (endless
bytes), or a link to one. Opening with O_NONBLOCK never waits, and fstat on the opened
descriptor (not a stat of the path before it, which a swap can outrun) says what was opened.
"""
from __future__ import annotations

import errno
import fcntl
import os
import stat
from typing import BinaryIO

# A format read whole (trainer_state.json) is held in memory whole: past this it is refused.
WHOLE_FILE_CAP_BYTES = 256 << 20

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def kind_of(mode: int) -> str:
    """What a file that is not a regular one is, in words."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path: str) -> BinaryIO:
    """The file opened for reading in binary; OSError for anything but a regular file."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):  # an OSError, so every reader reports it like any other
            raise OSError(errno.EINVAL, f"{kind_of(mode)}, not a regular file: not read", path)
        # Regular files ignore O_NONBLOCK; cleared anyway, so the handle reads like any other.
        flags = fcntl.fcntl(descriptor, fcntl.F_GETFL)
        fcntl.fcntl(descriptor, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_whole(handle: BinaryIO, head: bytes = b"") -> bytes:
    """``head`` (already read) and the rest of the file; OSError past WHOLE_FILE_CAP_BYTES."""
    cap = WHOLE_FILE_CAP_BYTES
    data = head + handle.read(cap + 1 - len(head))
    if len(data) > cap:
        raise OSError(errno.EFBIG, f"over {cap >> 20} MB, too big for a file that is read whole: not read")
    return data

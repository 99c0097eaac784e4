"""Files the user names (the config, its CSS, tracker lists, the lists `catalog import` reads):
read no further than their limit, so a name for /dev/zero or a huge file costs the limit, not
all memory, and never wait on a pipe, whose open blocks until a writer comes."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

NOT_REGULAR = "not a regular file (a directory, a pipe or a device)"


class NotARegularFile(OSError):
    """The name is a directory, FIFO, socket or device: nothing a user means to give."""

    def __init__(self) -> None:
        super().__init__(errno.EINVAL, NOT_REGULAR)

    def __str__(self) -> str:
        return NOT_REGULAR


def read_at_most(path: Path, limit: int) -> bytes:
    """The file's first limit + 1 bytes: more than limit means it is too big (OSError as
    open and read raise it; NotARegularFile for anything but a regular file)."""
    if not stat.S_ISREG(os.stat(path).st_mode):  # (unopened: a socket's open fails, and a
        raise NotARegularFile()  # device's may do something)
    # Checked again once open, for a name swapped meanwhile (O_NONBLOCK: then a FIFO's open
    # returns at once instead of waiting for a writer; no change to a regular file's reads).
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotARegularFile()
    except OSError:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as file:
        return file.read(limit + 1)

"""Files the user names (the config, its CSS, tracker lists): read no further than their
limit, so a name for /dev/zero or a huge file costs the limit, not all memory."""

from __future__ import annotations

from pathlib import Path


def read_at_most(path: Path, limit: int) -> bytes:
    """The file's first limit + 1 bytes: more than limit means it is too big (OSError as
    open and read raise it)."""
    with path.open("rb") as file:
        return file.read(limit + 1)

"""Read a dataset's files safely: regular files only, and no more than a bound.

A dataset directory is user input. A name that points at a device (`/dev/zero`), a FIFO or a
directory must be refused, not read forever or crash; a file larger than any dataset could
sensibly be is refused before it fills the memory.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_FILE_BYTES = 256 * 1024**2  # a CSV of ~2M rows; the reference dataset's files are < 1 MB


class UnreadableFile(Exception):
    """A file that is not a regular file or is too large; the message says which."""


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The bytes of the regular file at `path` (symlinks followed); UnreadableFile if it is
    a directory, device, FIFO or socket, or larger than `limit` bytes (MAX_FILE_BYTES)."""
    limit = MAX_FILE_BYTES if limit is None else limit
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        raise UnreadableFile(f"cannot be read ({error.strerror})") from error
    if not stat.S_ISREG(mode):
        raise UnreadableFile(f"not a regular file but {_kind(mode)}")
    try:
        with open(path, "rb") as file:
            data = file.read(limit + 1)
    except OSError as error:
        raise UnreadableFile(f"cannot be read ({error.strerror})") from error
    if len(data) > limit:
        raise UnreadableFile(f"larger than {limit // 1024**2} MB, the most twin reads of one file")
    return data


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "another kind of file"

"""Reading a file a user named: regular files only, up to a size, in one line otherwise.

A FIFO given as a results file (or left in a results folder) hung the command forever; ``/dev/urandom`` grew
dbbench to 23.5 GB before the kernel's OOM killer ended it. Every file dbbench reads on a user's word (results,
``--fit-with``, audited sources, baselines) goes through :func:`read_regular`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

MIB = 2**20
RESULTS_LIMIT = 256 * MIB  # a 10M-row run's benchmark JSON is a few MB; a quarter GiB is no dbbench file
SOURCE_LIMIT = 4 * MIB  # Django's largest module is ~100 KB; a 50 MB .py took the audit 75-88 s and 4.5-7.3 GB

_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


class FileRefused(OSError):
    """The file is not one to read: not a regular file, or too large. ``str()`` is the one-line reason."""

    def __str__(self) -> str:
        return str(self.args[0])


def read_regular(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes, else :class:`FileRefused`.

    Opened non-blocking, so a FIFO with no writer neither blocks the open nor the read; the type is checked on
    the open descriptor (no window for a swap between a check and the open). Other errors are ``OSError``.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
            raise FileRefused(f"is {kind}, not a regular file: not read")
        if st.st_size > limit:
            raise FileRefused(f"is {st.st_size / MIB:.0f} MB, over the {limit / MIB:.0f} MB dbbench reads: not read")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)  # a file that grows while read stops at the limit too
        if len(data) > limit:
            raise FileRefused(f"grew over the {limit / MIB:.0f} MB dbbench reads: not read")
        return data
    finally:
        os.close(fd)


def read_regular_text(path: Path, limit: int) -> str:
    """:func:`read_regular`, decoded as UTF-8 (``UnicodeDecodeError`` otherwise)."""
    return read_regular(path, limit).decode("utf-8")

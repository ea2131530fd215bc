"""Atomic file output: readers see the old file or the whole new one, never a half-written one.

Everything that writes a user-visible file (checkpoints, wavs, caches, filelists, PNGs) goes through here: the data
goes to a temporary file in the target's directory, is fsynced, and is renamed over the target (os.replace is
atomic within a file system). On any error, including KeyboardInterrupt, the temporary file is removed.
"""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator


def _fsync(path: Path, directory: bool = False) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot fsync directories
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write `target`'s content to; on success it replaces `target`. Creates the
    target's directory if needed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    # Created with mode 0o666 through the umask, like any new file (mkstemp would make it private, 0600).
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    mode = os.stat(tmp).st_mode & 0o777  # 0o666 less the umask, read without changing the process's umask
    try:
        yield tmp
        # Writers that replace the file (safetensors writes 0600) must not make the output private.
        if os.stat(tmp).st_mode & 0o777 != mode:
            os.chmod(tmp, mode)
        _fsync(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync(target.parent, directory=True)


def atomic_write(target: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call write(binary file object) to produce `target` atomically."""
    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        write(handle)
    return Path(target)


def atomic_write_bytes(target: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def atomic_write_text(target: str | os.PathLike, text: str) -> Path:
    with atomic_path(target) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
    return Path(target)

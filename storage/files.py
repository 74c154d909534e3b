"""Files that hold personal data or keys: readable and writable by the bot's own user only.

The database, its write-ahead log and shared memory, its lock, backups and the key file
are created 0600, in a folder created 0700. SQLite gives the -wal and -shm files the
database file's own mode, so making the database first is enough for those.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(folder: Path) -> None:
    """Create `folder` 0700 (and the folders above it as usual) if it does not exist. An existing
    folder is the operator's choice and keeps its mode."""
    if not folder.exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(mode=FOLDER_MODE, exist_ok=True)


def private_file(path: Path) -> None:
    """Create `path` empty and 0600 if it does not exist; make an existing one of ours 0600."""
    private_folder(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        info = path.stat()
        if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
            path.chmod(FILE_MODE)


def create_secret_file(path: Path, text: str) -> bool:
    """Write `text` to a new 0600 file `path`, in a private folder; False if it exists already
    (another process starting at the same moment made it: theirs stands).

    Written in full and on disk before it gets its name: a crash leaves no file, never an empty one.
    """
    private_folder(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(temporary)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return True

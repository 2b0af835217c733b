"""Atomic output helpers.

Every writer puts the data into a temporary file in the destination directory, flushes and
fsyncs it, renames it over the target with ``os.replace`` and fsyncs the directory, so a
reader (or a resumed run after a crash) sees either the old file or the complete new one.
"""
import json
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["write_text_atomic", "write_json_atomic", "write_bytes_atomic", "savez_atomic"]


def _fsync_dir(directory: Path) -> None:
    """fsync a directory so a rename in it is durable (no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic(path, write) -> Path:
    """Call ``write(binary_file)`` on a temp file next to ``path``, then rename it to ``path``."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)
    return path


def write_bytes_atomic(path, data: bytes) -> Path:
    """Atomically write raw bytes to ``path``."""
    return _atomic(path, lambda fh: fh.write(data))


def write_text_atomic(path, text: str) -> Path:
    """Atomically write UTF-8 text to ``path``."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def _json_default(obj):
    """Convert numpy scalars/arrays (and paths) to plain JSON types."""
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serializable")


def write_json_atomic(path, obj) -> Path:
    """Atomically write ``obj`` as JSON (indent=2, sorted keys, trailing newline)."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n"
    return write_text_atomic(path, text)


def savez_atomic(path, **arrays) -> Path:
    """Atomically write ``arrays`` with ``np.savez_compressed``; ``path`` must end in .npz."""
    if not str(path).endswith(".npz"):
        raise ValueError(f"savez_atomic: path must end with .npz (got {str(path)!r})")
    return _atomic(path, lambda fh: np.savez_compressed(fh, **arrays))

"""The hand-off between the loader process and the workers: tables and a state file.

The loader writes `tables/<policy>-<version>-<digest>.npz` and then `state.json`, each
atomically (write to a temporary name, then `os.replace`), so a worker reading at any
moment sees either the old or the new state, whole, and every table it names exists.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

STATE_FILE = "state.json"
TABLES_DIR = "tables"


def _write_atomically(path: Path, write) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_tables(cache_dir: Path, name: str, probabilities: np.ndarray, values: np.ndarray) -> str:
    """Returns the file name (relative to the tables dir) the tables were written to."""
    tables = Path(cache_dir) / TABLES_DIR
    tables.mkdir(parents=True, exist_ok=True)
    _write_atomically(tables / name, lambda f: np.savez(f, probabilities=probabilities, values=values))
    return name


def read_tables(cache_dir: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    with np.load(Path(cache_dir) / TABLES_DIR / name) as data:
        return data["probabilities"], data["values"]


def write_state(cache_dir: Path, state: dict) -> None:
    path = Path(cache_dir) / STATE_FILE
    _write_atomically(path, lambda f: f.write(json.dumps(state, indent=1).encode()))


def state_stamp(cache_dir: Path) -> tuple[int, int] | None:
    """Returns a cheap fingerprint of the state file (mtime, size), None if there is none yet."""
    try:
        stat = (Path(cache_dir) / STATE_FILE).stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size


def read_state(cache_dir: Path) -> dict | None:
    try:
        return json.loads((Path(cache_dir) / STATE_FILE).read_text())
    except FileNotFoundError:
        return None

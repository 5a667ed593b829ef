"""Writing one `## Section` of BENCHMARKS.md without touching the others."""

from __future__ import annotations

import re
from pathlib import Path

HEADER = (
    "# Benchmarks\n\n"
    "Every figure here was measured on a shared 2-core, no-GPU machine, and each is set "
    "against a baseline run in the same command, because absolute times on such a machine "
    "drift from run to run. Re-run the command next to a table to reproduce it.\n"
)


def replace_section(path: Path, title: str, body: str) -> None:
    text = path.read_text() if path.exists() else HEADER
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text)

"""Seconds to install the client distribution into a fresh venv, against installing its two
dependencies alone in the same command.

    python bench/client_install_bench.py [--write]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.markdown import replace_section  # noqa: E402


def timed_install(*requirements: str, must_import: str | None = None) -> tuple[float, list[str]]:
    """Returns (seconds for venv creation and pip install, the packages installed)."""
    with tempfile.TemporaryDirectory(prefix="client-venv-") as directory:
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "venv", directory], check=True)
        python = str(Path(directory) / "bin" / "python")
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements],
                       check=True)
        seconds = time.monotonic() - started
        listing = subprocess.run([python, "-m", "pip", "list", "--format=freeze"], capture_output=True,
                                 text=True, check=True).stdout.split()
        if must_import:
            subprocess.run([python, "-c", f"import {must_import}"], cwd=directory, check=True)
    return seconds, [line.split("==")[0].lower() for line in listing]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    baseline, _ = timed_install("requests>=2.32,<3", "pydantic>=2.10,<3")
    client, packages = timed_install(str(ROOT / "client"), must_import="policy_client")
    heavy = sorted({"tensorflow", "tensorflow-cpu", "keras", "gymnasium"} & set(packages))
    table = "\n".join([
        f"Command: `python bench/client_install_bench.py` ({date.today()}; fresh venv each, pip from PyPI).",
        "",
        "| install | seconds | packages | target | met |",
        "|---|---|---|---|---|",
        f"| `pip install ./client` (keras-policy-client) | {client:.1f} | {len(packages)}, heavy: "
        f"{', '.join(heavy) or 'none'} | < 30 s, no TensorFlow | {'yes' if client < 30 and not heavy else 'NO'} |",
        f"| baseline: `pip install requests pydantic` | {baseline:.1f} | | | |",
    ])
    print(table)
    if args.write:
        replace_section(ROOT / "BENCHMARKS.md", "Client install", table)


if __name__ == "__main__":
    main()

"""Prints the requirements of the project with the given extras, one per line, from pyproject.toml alone.

  python3 scripts/requirements.py serve             the service image's dependencies
  python3 scripts/requirements.py train             the trainer image's
  python3 scripts/requirements.py --build serve train   both, and the build-system's (a wheelhouse)

An extra that names the project itself (`server = ["lake-policy-server[serve,train]"]`) is
expanded into those extras' requirements: pip would otherwise look the project up on an index.
Standard library only (Python 3.11+): it runs in a bare image before anything is installed.
"""

import argparse
import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def requirements(project: dict, extras: list[str]) -> list[str]:
    """Returns the base dependencies and those of `extras`, self-references expanded, without repeats."""
    optional = project.get("optional-dependencies", {})
    self_reference = re.compile(rf"^{re.escape(project['name'])}\s*\[([^\]]*)\]\s*$")
    lines, seen_extras = list(project["dependencies"]), set()

    def add(extra: str) -> None:
        if extra in seen_extras:
            return
        if extra not in optional:
            raise SystemExit(f"pyproject.toml has no extra {extra!r}; it has {', '.join(sorted(optional))}")
        seen_extras.add(extra)
        for line in optional[extra]:
            if match := self_reference.match(line):
                for name in match.group(1).split(","):
                    add(name.strip())
            else:
                lines.append(line)

    for extra in extras:
        add(extra)
    return list(dict.fromkeys(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("extras", nargs="*")
    parser.add_argument("--build", action="store_true", help="add the build-system requirements")
    parser.add_argument("--pyproject", type=Path, default=PYPROJECT)
    args = parser.parse_args()
    pyproject = tomllib.loads(args.pyproject.read_text())
    lines = requirements(pyproject["project"], args.extras)
    if args.build:
        lines = pyproject["build-system"]["requires"] + lines
    print("\n".join(lines))


if __name__ == "__main__":
    main()

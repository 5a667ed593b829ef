"""Prints the requirements of the project with the given extras, one per line, from pyproject.toml alone.

  python3 scripts/requirements.py serve             the service image's dependencies
  python3 scripts/requirements.py train             the trainer image's
  python3 scripts/requirements.py --build serve train   both, and the build-system's (a wheelhouse)

An extra that names the project itself (`server = ["keras-policy-server[serve,train]"]`) is
expanded into those extras' requirements, and a distribution of this repository (the client,
`keras-policy-client`, in client/: `[tool.keras-policy-server.local-distributions]`) into its
own requirements: pip would otherwise look both up on an index. The local distributions
themselves are installed from their folders (scripts/setup.sh, the Dockerfile).
Standard library only (Python 3.11+): it runs in a bare image before anything is installed.
"""

import argparse
import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
# A requirement's name and extras: "name[a,b] >=1; marker" -> ("name", "a,b").
NAME_AND_EXTRAS = re.compile(r"^\s*([A-Za-z0-9._-]+)\s*(?:\[([^\]]*)\])?")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(pyproject: Path, extras: list[str]) -> list[str]:
    """Returns the base dependencies and those of `extras`, self-references and local
    distributions expanded, without repeats."""
    project_toml = tomllib.loads(pyproject.read_text())
    project = project_toml["project"]
    local = {_normal(name): pyproject.parent / folder for name, folder in
             project_toml.get("tool", {}).get(project["name"], {}).get("local-distributions", {}).items()}
    optional = project.get("optional-dependencies", {})
    lines, seen_extras = [], set()

    def add_line(line: str) -> None:
        name, requested = NAME_AND_EXTRAS.match(line).groups()
        names = [e.strip() for e in (requested or "").split(",") if e.strip()]
        if _normal(name) == _normal(project["name"]):
            for extra in names:
                add_extra(extra)
        elif _normal(name) in local:
            lines.extend(requirements(local[_normal(name)] / "pyproject.toml", names))
        else:
            lines.append(line)

    def add_extra(extra: str) -> None:
        if extra in seen_extras:
            return
        if extra not in optional:
            raise SystemExit(f"{pyproject} has no extra {extra!r}; it has {', '.join(sorted(optional))}")
        seen_extras.add(extra)
        for line in optional[extra]:
            add_line(line)

    for line in project["dependencies"]:
        add_line(line)
    for extra in extras:
        add_extra(extra)
    return list(dict.fromkeys(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("extras", nargs="*")
    parser.add_argument("--build", action="store_true", help="add the build-system requirements")
    parser.add_argument("--pyproject", type=Path, default=PYPROJECT)
    args = parser.parse_args()
    lines = requirements(args.pyproject, args.extras)
    if args.build:
        lines = tomllib.loads(args.pyproject.read_text())["build-system"]["requires"] + lines
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""`policy-train`'s entry point: the trainer's CLI, or one line naming the extra it needs.

The server distribution installs both commands; an install with only the `serve` extra
(the service image) has no gymnasium or TensorFlow, and `policy-train` says so.
"""

from __future__ import annotations

import sys

TRAIN_EXTRA = "pip install 'keras-policy-server[train]'"
EXIT_USAGE = 2


def main() -> int:
    try:
        from trainer.cli import main as train
    except ModuleNotFoundError as exc:
        if (exc.name or "trainer").startswith(("trainer", "policy_")):
            raise  # the project's own module missing is a broken install, not a missing extra
        print(f"error: policy-train needs {exc.name.split('.')[0]}: {TRAIN_EXTRA}", file=sys.stderr)
        return EXIT_USAGE
    return train()


def deprecated_main() -> int:
    """Runs `lake-train`, the command's name before the rename: says so on stderr, then trains."""
    print("warning: lake-train is deprecated: use policy-train", file=sys.stderr)
    return main()

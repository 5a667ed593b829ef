"""`policy-serve` (`python -m service`): run the policy server under gunicorn with `service/gunicorn.conf.py`.

Flags override the matching `POLICY_*` environment variables; everything else is read
from the environment by the settings class.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

CONFIG = Path(__file__).with_name("gunicorn.conf.py")
SERVE_EXTRA = "pip install 'keras-policy-server[serve]'"
EXIT_USAGE = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="policy-serve", description="Serve published policies over HTTP.")
    parser.add_argument("--artifact-root", help="Directory of published versions (env POLICY_ARTIFACT_ROOT).")
    parser.add_argument("--host", help="Address to bind (env POLICY_HOST, default 127.0.0.1).")
    parser.add_argument("--port", type=int, help="Port (env POLICY_PORT, default 8000).")
    parser.add_argument("--workers", type=int, help="Worker processes (env POLICY_WORKERS, default 2).")
    parser.add_argument("--default-policy", help="Policy for requests that name none (env POLICY_DEFAULT_POLICY).")
    args = parser.parse_args(argv)
    for name in ("artifact_root", "host", "port", "workers", "default_policy"):
        value = getattr(args, name)
        if value is not None:
            os.environ[f"POLICY_{name.upper()}"] = str(value)

    try:
        from gunicorn.app.wsgiapp import run
        from pydantic import ValidationError
        from pydantic_settings import SettingsError

        from service.settings import Settings, variable_for
    except ModuleNotFoundError as exc:
        if (exc.name or "service").startswith(("service", "policy_")):
            raise
        print(f"error: policy-serve needs {exc.name.split('.')[0]}: {SERVE_EXTRA}", file=sys.stderr)
        return EXIT_USAGE

    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        print(f"error: invalid setting {variable_for(str(first['loc'][0]))}: {first['msg']}", file=sys.stderr)
        return EXIT_USAGE
    except (SettingsError, ValueError) as exc:  # a JSON setting that is not JSON
        field = re.search(r'for field "(\w+)"', str(exc))
        what = f"{variable_for(field.group(1))} is not valid JSON" if field else str(exc).splitlines()[0][:300]
        print(f"error: invalid settings: {what}", file=sys.stderr)
        return EXIT_USAGE
    if settings.cache_dir:
        try:
            os.makedirs(settings.cache_dir, exist_ok=True)
        except OSError as exc:
            print(f"error: invalid setting POLICY_CACHE_DIR: {settings.cache_dir} cannot be made: {exc.strerror}",
                  file=sys.stderr)
            return EXIT_USAGE
    # gunicorn in this process (not a second interpreter): half a second less to a cold start.
    sys.argv = ["gunicorn", "--config", str(CONFIG)]
    run()
    return 0


def deprecated_main() -> int:
    """Runs `lake-serve`, the command's name before the rename: says so on stderr, then serves."""
    print("warning: lake-serve is deprecated: use policy-serve", file=sys.stderr)
    return main()

"""`python -m service`: run the policy server under gunicorn with `service/gunicorn.conf.py`.

Flags override the matching `LAKE_*` environment variables; everything else is read
from the environment by the settings class.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

CONFIG = Path(__file__).with_name("gunicorn.conf.py")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service", description="Serve published lake policies over HTTP.")
    parser.add_argument("--artifact-root", help="Directory of published versions (env LAKE_ARTIFACT_ROOT).")
    parser.add_argument("--host", help="Address to bind (env LAKE_HOST, default 127.0.0.1).")
    parser.add_argument("--port", type=int, help="Port (env LAKE_PORT, default 8000).")
    parser.add_argument("--workers", type=int, help="Worker processes (env LAKE_WORKERS, default 2).")
    parser.add_argument("--default-policy", help="Policy for requests that name none (env LAKE_DEFAULT_POLICY).")
    args = parser.parse_args(argv)
    for name in ("artifact_root", "host", "port", "workers", "default_policy"):
        value = getattr(args, name)
        if value is not None:
            os.environ[f"LAKE_{name.upper()}"] = str(value)

    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from service.settings import Settings

    try:
        Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        print(f"error: invalid setting LAKE_{'_'.join(map(str, first['loc'][:1])).upper()}: {first['msg']}",
              file=sys.stderr)
        return 2
    except (SettingsError, ValueError) as exc:  # e.g. a LAKE_* JSON setting that is not JSON
        print(f"error: invalid settings: {str(exc).splitlines()[0][:300]}", file=sys.stderr)
        return 2
    cache_dir = os.environ.get("LAKE_CACHE_DIR")
    if cache_dir:
        try:
            os.makedirs(cache_dir, exist_ok=True)
        except OSError as exc:
            print(f"error: invalid setting LAKE_CACHE_DIR: {cache_dir} cannot be made: {exc.strerror}", file=sys.stderr)
            return 2
    # gunicorn in this process (not a second interpreter): half a second less to a cold start.
    from gunicorn.app.wsgiapp import run

    sys.argv = ["gunicorn", "--config", str(CONFIG)]
    run()
    return 0

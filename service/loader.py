"""The loader process: the only process of the service that imports Keras.

It scans the artifact root every poll interval, loads each new or changed version with
`policy_artifacts` (hashes and spaces verified, Keras safe mode on), tabulates it, and
publishes tables and a state file to the cache dir for the workers. A version that fails
is recorded with its reason and never replaces a good one; the loader itself never dies
of a bad artifact. Run as `python -m service.loader` by gunicorn's master.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import sys
import time
from pathlib import Path

from policy_artifacts import ArtifactError, list_policies, list_versions, version_path
from service import cache, metrics
from service.settings import Settings

log = logging.getLogger("service.loader")


def fingerprint(directory: Path) -> tuple:
    """Returns (name, size, mtime) of every file in a version dir; () if it is gone."""
    try:
        return tuple(sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in os.scandir(directory)))
    except OSError:
        return ()


class Loader:
    def __init__(self, settings: Settings, cache_dir: Path):
        self.settings = settings
        self.cache_dir = cache_dir
        # (policy, version) -> (fingerprint, entry in the state file)
        self.known: dict[tuple[str, int], tuple[tuple, dict]] = {}
        self.root_existed: bool | None = None

    def wanted_versions(self, policy: str) -> list[int]:
        versions = list_versions(self.settings.artifact_root, policy)
        wanted = set(versions[-self.settings.keep_versions:])
        pinned = self.settings.pinned_versions.get(policy)
        if pinned in versions:
            wanted.add(pinned)
        return sorted(wanted)

    def load_version(self, policy: str, version: int, print_: tuple) -> dict:
        """Returns the state entry of one version: loaded (with its table file) or failed."""
        from policy_artifacts.loading import load_tables  # Keras is imported here, once.

        directory = version_path(self.settings.artifact_root, policy, version)
        try:
            tables = load_tables(directory)
        except ArtifactError as exc:
            return self._failed(policy, version, str(exc))
        except Exception as exc:  # a loader that dies serves nobody; record and go on
            return self._failed(policy, version, f"{type(exc).__name__}: {exc}")
        digest = hashlib.sha256(repr(print_).encode()).hexdigest()[:12]
        name = cache.write_tables(
            self.cache_dir, f"{policy}-{version}-{digest}.npz", tables.probabilities, tables.values
        )
        log.info("loaded %s version %d", policy, version)
        return {"state": "loaded", "tables": name, "manifest": tables.manifest.model_dump(mode="json")}

    def _failed(self, policy: str, version: int, reason: str) -> dict:
        log.warning("refused %s version %d: %s", policy, version, reason)
        metrics.LOAD_FAILURES.labels(policy=policy).inc()
        return {"state": "failed", "error": reason}

    def scan(self) -> bool:
        """Returns True if anything changed since the last scan (and updates self.known)."""
        root_exists = Path(self.settings.artifact_root).is_dir()
        changed, self.root_existed = root_exists != self.root_existed, root_exists
        seen = set()
        for policy in list_policies(self.settings.artifact_root):
            for version in self.wanted_versions(policy):
                key = (policy, version)
                seen.add(key)
                print_ = fingerprint(version_path(self.settings.artifact_root, policy, version))
                known = self.known.get(key)
                if known and known[0] == print_ and known[1]["state"] != "removed":
                    continue
                entry = {**self.load_version(policy, version, print_), "fingerprint": print_}
                self.known[key] = (print_, entry)
                changed = True
        for key, (print_, entry) in list(self.known.items()):
            if key not in seen and entry["state"] != "removed":
                # Gone from disk (or aged out): keep its tables so a policy whose every
                # version vanished still answers from the last one it had.
                directory = version_path(self.settings.artifact_root, *key)
                reason = "no longer on disk" if not directory.exists() else "older than the newest keep_versions"
                self.known[key] = (print_, {**entry, "state": "removed", "error": reason, "removed_at": time.time()})
                changed = True
        return changed

    def state(self) -> dict:
        policies: dict[str, dict] = {}
        for (policy, version), (_, entry) in sorted(self.known.items()):
            policies.setdefault(policy, {})[str(version)] = entry
        return {
            "artifact_root_exists": bool(self.root_existed),
            "updated_at": time.time(),
            "policies": policies,
        }

    def resume(self) -> None:
        """Takes over the state a previous loader process left, so a restart loses nothing."""
        previous = cache.read_state(self.cache_dir) or {"policies": {}}
        for policy, versions in previous["policies"].items():
            for number, entry in versions.items():
                print_ = tuple(tuple(item) for item in entry.get("fingerprint", ()))
                self.known[(policy, int(number))] = (print_, {**entry, "fingerprint": print_})

    def run_forever(self) -> None:
        self.resume()
        self.scan()
        cache.write_state(self.cache_dir, self.state())
        metrics.record_loaded(self.known)
        while True:
            if self.scan():
                cache.write_state(self.cache_dir, self.state())
                metrics.record_loaded(self.known)
            time.sleep(self.settings.poll_interval)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="[loader] %(levelname)s %(message)s", stream=sys.stderr)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    settings = Settings()  # LAKE_CACHE_DIR is set by gunicorn's master (gunicorn.conf.py)
    Loader(settings, Path(settings.cache_dir)).run_forever()


if __name__ == "__main__":
    main()

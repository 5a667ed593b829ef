"""The worker's view of which policy versions exist and which one each policy serves.

A background thread watches the loader's state file and, when it changes, builds a new
immutable `Snapshot` and swaps the reference. Requests read the reference once and keep
that snapshot, so a swap never changes a policy under a request and needs no lock.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from service import cache, metrics
from service.errors import InvalidRequest, NotReady, PolicyNotFound, VersionNotFound
from service.policy import TabularPolicy
from service.settings import Settings

log = logging.getLogger("service.registry")
WATCH_INTERVAL = 0.25


@dataclass(frozen=True)
class PolicyEntry:
    name: str
    served: TabularPolicy | None
    loaded: dict[int, TabularPolicy]  # every version a request may pin
    versions: list[dict]  # status of each known version, newest first
    pinned_version: int | None


@dataclass(frozen=True)
class Snapshot:
    policies: dict[str, PolicyEntry] = field(default_factory=dict)
    artifact_root_exists: bool = False
    loader_seen: bool = False

    @property
    def ready(self) -> bool:
        return any(entry.served for entry in self.policies.values())


def _choose_served(loaded: dict[int, TabularPolicy], kept: dict[int, tuple[float, TabularPolicy]],
                   pinned: int | None):
    if pinned in loaded:
        return loaded[pinned]
    if loaded:
        return loaded[max(loaded)]
    # Every version is gone from disk: answer from the one that stayed valid the longest
    # (the last removed) rather than from none.
    return max(kept.values(), key=lambda pair: pair[0])[1] if kept else None


class Registry:
    def __init__(self, settings: Settings, cache_dir: Path):
        self.settings = settings
        self.cache_dir = Path(cache_dir)
        self.snapshot = Snapshot()
        self._stamp = None
        self._policies_by_table: dict[str, TabularPolicy] = {}

    def refresh(self) -> bool:
        """Returns True if a new snapshot was installed because the loader's state changed."""
        stamp = cache.state_stamp(self.cache_dir)
        if stamp is None or stamp == self._stamp:
            return False
        state = cache.read_state(self.cache_dir)
        if state is None:
            return False
        self.snapshot = self._build(state)
        self._stamp = stamp
        in_use = {entry["tables"] for versions in state["policies"].values()
                  for entry in versions.values() if "tables" in entry}
        self._policies_by_table = {k: v for k, v in self._policies_by_table.items() if k in in_use}
        for entry in self.snapshot.policies.values():
            if entry.served:
                metrics.SERVED_VERSION.labels(policy=entry.name).set(entry.served.version)
        return True

    def _policy(self, name: str, version: int, entry: dict) -> TabularPolicy:
        table_file = entry["tables"]
        if table_file not in self._policies_by_table:
            probabilities, values = cache.read_tables(self.cache_dir, table_file)
            self._policies_by_table[table_file] = TabularPolicy(name, version, probabilities, values, entry["manifest"])
        return self._policies_by_table[table_file]

    def _build(self, state: dict) -> Snapshot:
        policies = {}
        for name, versions in state["policies"].items():
            loaded, kept, statuses = {}, {}, []
            for number_text, entry in sorted(versions.items(), key=lambda kv: -int(kv[0])):
                number = int(number_text)
                manifest = entry.get("manifest") or {}
                statuses.append({
                    "version": number, "state": entry["state"], "error": entry.get("error"),
                    "created_at": manifest.get("created_at"), "evaluation": manifest.get("evaluation"),
                    "training": manifest.get("training"), "env": manifest.get("env"),
                })
                if "tables" in entry and entry["state"] == "loaded":
                    loaded[number] = self._policy(name, number, entry)
                elif "tables" in entry:
                    kept[number] = (entry.get("removed_at", 0.0), self._policy(name, number, entry))
            pinned = self.settings.pinned_versions.get(name)
            policies[name] = PolicyEntry(name, _choose_served(loaded, kept, pinned), loaded, statuses, pinned)
        return Snapshot(policies, state.get("artifact_root_exists", False), loader_seen=True)

    def watch_in_background(self) -> threading.Thread:
        def watch():
            while True:
                try:
                    self.refresh()
                except Exception:  # keep serving the current snapshot; try again next tick
                    log.exception("could not refresh the policy registry")
                time.sleep(WATCH_INTERVAL)

        thread = threading.Thread(target=watch, name="registry-watch", daemon=True)
        thread.start()
        return thread

    def default_policy_name(self, snapshot: Snapshot) -> str | None:
        if self.settings.default_policy:
            return self.settings.default_policy
        servable = [name for name, entry in snapshot.policies.items() if entry.served]
        return servable[0] if len(servable) == 1 else None

    def resolve(self, snapshot: Snapshot, name: str | None, version: int | None) -> TabularPolicy:
        """Returns the policy version a request asked for, or raises the matching error."""
        if not snapshot.ready:
            raise NotReady("no policy is loaded yet; retry shortly")
        if name is None:
            name = self.default_policy_name(snapshot)
            if name is None:
                raise InvalidRequest(
                    "several policies are served; name one in 'policy'",
                    details=[{"field": "policy", "allowed": sorted(snapshot.policies)}],
                )
        entry = snapshot.policies.get(name)
        if entry is None or entry.served is None:
            raise PolicyNotFound(
                f"no policy named {name!r} is loaded",
                details=[{"field": "policy", "allowed": sorted(n for n, e in snapshot.policies.items() if e.served)}],
            )
        if version is None:
            return entry.served
        if version not in entry.loaded:
            raise VersionNotFound(
                f"policy {name!r} has no loaded version {version}",
                details=[{"field": "version", "allowed": sorted(entry.loaded)}],
            )
        return entry.loaded[version]

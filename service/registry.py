"""The worker's view of the loader's decisions: which versions exist and which is served.

A background thread watches the loader's state file and, when it changes, validates it as
a `LoaderState`, builds a new immutable `Snapshot` and swaps the reference. Requests read
the reference once and keep that snapshot, so a swap never changes a policy under a
request and needs no lock. The worker decides nothing: the served version is the
loader's. It only keeps the models the current state names, so its memory is bounded.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from service import handoff, metrics
from service.handoff import LoaderState, PolicyRecord, ServableKind, VersionRecord, VersionState
from service.policy import NetworkPolicy, ServedPolicy, TabularPolicy

log = logging.getLogger("service.registry")
WATCH_INTERVAL = 0.25


@dataclass(frozen=True)
class PolicyEntry:
    record: PolicyRecord
    served: ServedPolicy | None
    loaded: dict[int, ServedPolicy]  # every version a request may name

    @property
    def name(self) -> str:
        return self.record.name


@dataclass(frozen=True)
class Snapshot:
    policies: dict[str, PolicyEntry] = field(default_factory=dict)
    artifact_root_exists: bool = False
    loader_seen: bool = False

    @property
    def ready(self) -> bool:
        return any(entry.served for entry in self.policies.values())


def _build_policy(name: str, record: VersionRecord, arrays: dict) -> ServedPolicy:
    if record.kind is ServableKind.ONNX:
        policy = NetworkPolicy(name, record.version, record.manifest,
                               actor_onnx=arrays["actor"].tobytes(), critic_onnx=arrays["critic"].tobytes())
        policy.warm_up()
        return policy
    return TabularPolicy(name, record.version, record.manifest,
                         probabilities_table=arrays["probabilities"], values_table=arrays["values"])


class Registry:
    def __init__(self, cache_dir: Path):
        self.cache_dir = Path(cache_dir)
        self.snapshot = Snapshot()
        self._stamp = None
        self._by_servable: dict[str, ServedPolicy] = {}

    def refresh(self) -> bool:
        """Returns True if a new snapshot was installed because the loader's state changed."""
        stamp = handoff.state_stamp(self.cache_dir)
        if stamp is None or stamp == self._stamp:
            return False
        try:
            state = handoff.read_state(self.cache_dir)
        except ValueError as exc:  # not a LoaderState: keep serving what we have, say so once
            self._stamp = stamp
            log.error("the loader's state file does not validate; keeping the current snapshot: %s",
                      str(exc)[:500])
            return False
        if state is None:
            return False
        self.snapshot = self._build(state)
        self._stamp = stamp
        for entry in self.snapshot.policies.values():
            if entry.served:
                metrics.SERVED_VERSION.labels(policy=entry.name).set(entry.served.version)
        return True

    def _build(self, state: LoaderState) -> Snapshot:
        by_servable, policies = {}, {}
        for name, record in state.policies.items():
            loaded, served = {}, None
            for version in record.versions:
                if not version.servable:
                    continue
                policy = self._by_servable.get(version.servable)
                if policy is None:
                    try:
                        policy = _build_policy(name, version, handoff.read_servable(self.cache_dir, version.servable))
                    except Exception:  # one unreadable servable costs that version, not the rest
                        log.exception("cannot read the servable of %s version %d", name, version.version)
                        continue
                by_servable[version.servable] = policy
                if version.state is VersionState.LOADED:
                    loaded[version.version] = policy
                if version.version == record.served_version:
                    served = policy
            policies[name] = PolicyEntry(record, served, loaded)
        # Models of versions the loader no longer names are dropped here, with the old snapshot.
        self._by_servable = by_servable
        return Snapshot(policies, state.artifact_root_exists, loader_seen=True)

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

"""The worker's view of the loader's decisions: which versions exist and which is served.

Each worker also says what it has installed, in `workers/<pid>.json` under the cache dir,
so readiness can be decided for all workers together (`Registry.unready_peers`): a
service is ready only when whichever worker takes a request can answer it.

A background thread watches the loader's state file and, when it changes, validates it as
a `LoaderState`, builds a new immutable `Snapshot` and swaps the reference. Requests read
the reference once and keep that snapshot, so a swap never changes a policy under a
request and needs no lock. The worker decides nothing: the served version is the
loader's. It only keeps the models the current state names, so its memory is bounded.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from service import handoff, metrics
from service.handoff import LoaderState, PolicyRecord, VersionState
from service.policy import ServedPolicy, served_policy

log = logging.getLogger("service.registry")
WATCH_INTERVAL = 0.25
WORKERS_DIR = "workers"


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


class Registry:
    def __init__(self, cache_dir: Path):
        self.cache_dir = Path(cache_dir)
        self.snapshot = Snapshot()
        self._stamp = None
        self._by_servable: dict[str, ServedPolicy] = {}
        self.installed_ready = False  # every servable of the current state read, and one served

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
        self.snapshot, unreadable = self._build(state)
        # A servable that could not be read (removed from a cleaned cache dir, say) is tried
        # again at the next tick, once the loader has written it again; meanwhile this
        # worker reports itself not ready rather than answer 404 for that policy.
        self._stamp = None if unreadable else stamp
        self._report_installed(ready=self.snapshot.ready and not unreadable)
        for entry in self.snapshot.policies.values():
            if entry.served:
                metrics.record(lambda e=entry: metrics.SERVED_VERSION.labels(policy=e.name).set(e.served.version))
        return True

    def _build(self, state: LoaderState) -> tuple[Snapshot, list[str]]:
        """Returns the snapshot of `state`, and the servables it names that could not be read."""
        by_servable, policies, unreadable = {}, {}, []
        for name, record in state.policies.items():
            loaded, served = {}, None
            for version in record.versions:
                if not version.servable:
                    continue
                policy = self._by_servable.get(version.servable)
                if policy is None:
                    try:
                        policy = served_policy(name, version.version, handoff.read_servable(self.cache_dir, version))
                    except Exception:  # one unreadable servable costs that version, not the rest
                        log.exception("cannot read the servable of %s version %d", name, version.version)
                        unreadable.append(version.servable)
                        continue
                by_servable[version.servable] = policy
                if version.state is VersionState.LOADED:
                    loaded[version.version] = policy
                if version.version == record.served_version:
                    served = policy
            policies[name] = PolicyEntry(record, served, loaded)
        # Models of versions the loader no longer names are dropped here, with the old snapshot.
        self._by_servable = by_servable
        return Snapshot(policies, state.artifact_root_exists, loader_seen=True), unreadable

    # ---- what every worker has installed -------------------------------------------------

    def _report_installed(self, ready: bool) -> None:
        """Writes this process's readiness for the others to read (atomically: temp, rename)."""
        directory = self.cache_dir / WORKERS_DIR
        self.installed_ready = ready
        try:
            directory.mkdir(parents=True, exist_ok=True)
            temporary = directory / f".{os.getpid()}.json"
            temporary.write_text(json.dumps({"ready": ready}))
            os.replace(temporary, directory / f"{os.getpid()}.json")
        except OSError:  # readiness then counts this worker as not ready: safe, and logged
            log.exception("cannot report this worker's readiness")

    def unready_peers(self) -> list[int]:
        """Returns the pids of the other live workers of this service that cannot answer yet."""
        directory = self.cache_dir / WORKERS_DIR
        me, master = os.getpid(), os.getppid()
        unready = []
        for entry in directory.glob("*.json") if directory.is_dir() else []:
            pid = int(entry.stem) if entry.stem.isdigit() else None
            if pid is None or pid == me or _parent_of(pid) != master:
                continue  # not a worker, this one, or a worker that is gone
            try:
                if not json.loads(entry.read_text()).get("ready"):
                    unready.append(pid)
            except (OSError, ValueError, AttributeError):
                unready.append(pid)
        return sorted(unready)

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


def _parent_of(pid: int) -> int | None:
    """Returns the parent pid of a live process, None if there is none (or no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
            return int(f.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None

"""The loader process: the only process of the service that reads artifact files.

Every poll interval it scans the artifact root and brings each policy to one decision:
which version the workers serve. Each version goes through `policy_artifacts`' single
gate (paths, sizes, hashes, archive limits, the allowlisted `.keras` reader, manifest
against models, the serving form against the models);
what passes becomes a servable file in the cache dir, what fails is recorded with its
reason. It publishes the result as one typed `LoaderState` (service/handoff.py).

The decision, made here alone: the pinned version if it loaded; else the newest loaded
one among the newest `keep_versions`; if none of those loads, it walks back through older
versions to the newest that does, so any number of broken versions on top of a good one
never leaves a policy unserved, on a fresh start as after a restart. If every version
vanishes from disk, the last one served keeps answering (reported as removed).

What it remembers is bounded: per policy, the versions it keeps loaded plus a few
failures and removals for reporting; servable files no longer named are deleted.
Run as `python -m service.loader` by gunicorn's master.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import signal
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from policy_artifacts import ArtifactError, list_policies, load_servable, scan_versions, version_path
from service import handoff, metrics
from service.handoff import (
    IgnoredEntry, LoaderState, PolicyRecord, TrafficShare, VersionRecord, VersionState,
)
from service.settings import Settings

log = logging.getLogger("service.loader")


def fingerprint(directory: Path) -> tuple:
    """Returns (name, size, mtime, inode) of every entry in a version dir; () if it is gone."""
    try:
        entries = list(os.scandir(directory))
        return tuple(sorted((e.name, *(lambda s: (s.st_size, s.st_mtime_ns, s.st_ino))(e.stat(follow_symlinks=False)))
                            for e in entries))
    except OSError:
        return ()


@dataclass(frozen=True)
class Pending:
    """A version being loaded in the pool (as its files were, by fingerprint)."""

    fingerprint: tuple
    future: Future


@dataclass(frozen=True)
class Attempt:
    """What loading one version (as its files were, by fingerprint) came to."""

    fingerprint: tuple
    record: VersionRecord
    retry_at: float | None = None  # for a failure that may pass (a full cache disk): when to try again


class Loader:
    def __init__(self, settings: Settings, cache_dir: Path):
        self.settings = settings
        self.cache_dir = Path(cache_dir)
        self.limits = settings.artifact_limits()
        self.attempts: dict[tuple[str, int], Attempt] = {}
        self.served: dict[str, VersionRecord] = {}  # last version each policy served
        self.removed: dict[str, dict[int, VersionRecord]] = {}
        self.loaded_before: dict[str, dict[int, VersionRecord]] = {}  # loaded at some scan, not yet removed
        self.previous_servables: set[str] = set()
        self.state: LoaderState | None = None
        self.written_stamp = None  # the state file as this loader last wrote it
        # Versions load in a pool, so a policy that takes a minute to check holds back no
        # other policy's new version; each completion wakes the loop to publish it.
        self.pool = ThreadPoolExecutor(settings.loader_threads, thread_name_prefix="load")
        self.pending: dict[tuple[str, int], Pending] = {}
        self.wake = threading.Event()
        self.last_published_at = 0.0

    # ---- one version -------------------------------------------------------------------

    def attempt(self, policy: str, version: int) -> VersionRecord:
        """Returns the record of a version: known if its files are unchanged since it was
        loaded, else `loading` while the pool loads it."""
        key = (policy, version)
        print_ = fingerprint(version_path(self.settings.artifact_root, policy, version))
        known = self.attempts.get(key)
        if known is not None and known.fingerprint == print_ \
                and (known.retry_at is None or time.monotonic() < known.retry_at):
            return known.record
        pending = self.pending.get(key)
        if pending is not None and pending.fingerprint == print_ and pending.future.done():
            return self._file_result(key).record
        if pending is None or pending.fingerprint != print_:  # new, or changed while loading
            future = self.pool.submit(self._load, policy, version, print_)
            future.add_done_callback(lambda _: self.wake.set())
            self.pending[key] = Pending(print_, future)
        return VersionRecord(version=version, state=VersionState.LOADING)

    def _load(self, policy: str, version: int, print_: tuple) -> tuple[VersionRecord, bool]:
        """Returns the version's record, and whether it lasts while its files are unchanged."""
        try:
            servable = load_servable(self.settings.artifact_root, policy, version, self.limits)
        except ArtifactError as exc:
            return self._failed(policy, version, str(exc)), True
        except Exception as exc:  # a loader that dies serves nobody; record and go on
            return self._failed(policy, version, f"{type(exc).__name__}: {exc}"), True
        except BaseException as exc:  # MemoryError and the like, in a pool thread: record it too
            return self._failed(policy, version, f"{type(exc).__name__}: {exc}"), False
        try:
            name = handoff.write_servable(self.cache_dir, _servable_name(policy, version, print_), servable)
        except OSError as exc:  # a full or vanished cache disk: this version waits, the rest serve on
            return self._failed(policy, version, f"cannot write its servable to the cache dir: {exc.strerror}"), False
        log.info("loaded %s version %d", policy, version)
        return VersionRecord(version=version, state=VersionState.LOADED, manifest=servable.manifest,
                             servable=name, kind=handoff.servable_kind(servable),
                             episode=handoff.episode_file(name) if servable.episode_gif is not None else None), True

    def _failed(self, policy: str, version: int, reason: str) -> VersionRecord:
        log.warning("refused %s version %d: %s", policy, version, reason)
        metrics.record(lambda: metrics.LOAD_FAILURES.labels(policy=policy).inc())
        return VersionRecord(version=version, state=VersionState.FAILED, error=reason[:2000])

    # ---- one policy --------------------------------------------------------------------

    def decide(self, policy: str) -> PolicyRecord:
        """Returns the policy's record: what is loaded, what failed, and what is served."""
        listing = scan_versions(self.settings.artifact_root, policy)
        on_disk = listing.versions
        keep = self.settings.keep_versions
        pinned = self.settings.pinned_versions.get(policy)
        records: dict[int, VersionRecord] = {}
        for version in reversed(on_disk[-keep:]):
            records[version] = self.attempt(policy, version)
        # Pinned, labelled and split versions stay loaded however old they are: a nightly
        # retraining must not age the stable half of a canary split out of service.
        for version in self._named_versions(policy):
            if version in on_disk and version not in records:
                records[version] = self.attempt(policy, version)
        if not any(r.state is VersionState.LOADED for r in records.values()):
            in_flight = 0
            for version in reversed(on_disk[:-keep]):  # walk back to the newest good version
                record = self.attempt(policy, version)
                if record.state is VersionState.FAILED:
                    continue
                records[version] = record
                in_flight += record.state is VersionState.LOADING
                # Stop at a loaded one, or once the pool has a version to check per thread.
                if record.state is VersionState.LOADED or in_flight >= self.settings.loader_threads:
                    break
        self._forget_attempts(policy, set(on_disk))
        self._settle_unneeded_loads(policy, set(records))

        loaded = {v: r for v, r in records.items() if r.state is VersionState.LOADED}
        if pinned in loaded:
            served = loaded[pinned]
        elif loaded:
            served = loaded[max(loaded)]
        else:
            served = self.served.get(policy)  # every good version vanished: keep the last one
        removed = self._note_removed(policy, records, on_disk, served)
        if served is not None:
            self.served[policy] = served
            if served.version not in loaded:
                why = "no longer on disk" if served.version not in on_disk else \
                    "cannot be loaded again now; the last loaded copy keeps serving"
                served = served.model_copy(update={"state": VersionState.REMOVED, "error": why})
                removed[served.version] = served
        failed = sorted((r for r in records.values() if r.state is VersionState.FAILED),
                        key=lambda r: -r.version)[:keep]
        loading = {v: r for v, r in records.items() if r.state is VersionState.LOADING}
        # A version still loading never hides what is known of it (the served one, removed).
        versions = {**loading, **{r.version: r for r in failed}, **removed, **loaded}
        labels, traffic, notes = self._routing(policy, served.version if served else None, loaded)
        return PolicyRecord(
            name=policy, served_version=served.version if served else None, pinned_version=pinned,
            labels=labels, traffic=traffic, notes=notes,
            versions=sorted(versions.values(), key=lambda r: -r.version),
            ignored=[IgnoredEntry(name=name[:80], reason=reason) for name, reason in listing.ignored[:keep]],
        )

    def _named_versions(self, policy: str) -> set[int]:
        """Returns the version numbers the settings name for this policy: pinned, labelled, split."""
        named = {self.settings.pinned_versions.get(policy)}
        named |= set(self.settings.version_labels.get(policy, {}).values())
        named |= {int(t) for t in self.settings.traffic_split.get(policy, {}) if t.isascii() and t.isdigit()}
        return {v for v in named if isinstance(v, int)}

    def _routing(self, policy: str, served: int | None, loaded: dict) -> tuple[dict, list, list[str]]:
        """Returns (labels, traffic split, notes): the configured labels and split resolved
        to loaded versions now; what cannot be resolved is left out and noted."""
        labels, notes = {}, []
        if served is not None:
            labels["latest"] = served
            older = [v for v in loaded if v < served]
            if older:
                labels["previous"] = max(older)
        for label, version in self.settings.version_labels.get(policy, {}).items():
            if version in loaded:
                labels[label] = version
            else:
                notes.append(f"label {label!r} names version {version}, which is not loaded")
        traffic, unresolved = [], []
        for target, weight in self.settings.traffic_split.get(policy, {}).items():
            version = int(target) if target.isascii() and target.isdigit() else labels.get(target)
            if version in loaded and weight > 0:
                traffic.append(TrafficShare(version=version, weight=weight, via=target))
            elif weight > 0:
                unresolved.append(target)
        if unresolved:  # fail closed: moving a share to the others would change the experiment
            notes.append(f"traffic split not applied: {', '.join(map(repr, unresolved))} names no loaded "
                         f"version; every unversioned request goes to the served version")
            traffic = []
        if len({share.version for share in traffic}) < 2:
            traffic = []  # one version, or none: plain serving says the same
        return labels, traffic, notes

    def _note_removed(self, policy: str, records: dict, on_disk: list[int], served) -> dict[int, VersionRecord]:
        """Returns the policy's removed versions (bounded), updated with this scan."""
        removed = self.removed.setdefault(policy, {})
        # Remembered across scans, not read from the last published state: a version caught
        # half-deleted is reported failed for one scan, and must still be named removed after.
        loaded_before = self.loaded_before.setdefault(policy, {})
        previous = self.state.policies.get(policy) if self.state else None
        for record in previous.versions if previous else []:
            if record.state is VersionState.LOADED:
                loaded_before.setdefault(record.version, record)
        loaded_before.update({v: r for v, r in records.items() if r.state is VersionState.LOADED})
        for version, record in list(loaded_before.items()):
            if version not in records:
                reason = "no longer on disk" if version not in on_disk else "older than the newest keep_versions"
                removed[version] = record.model_copy(
                    update={"state": VersionState.REMOVED, "error": reason, "servable": None, "kind": None,
                            "episode": None})
                del loaded_before[version]
        for version in list(removed):
            if version in records:
                del removed[version]  # it came back
        for version in sorted(removed)[:-self.settings.keep_versions]:
            del removed[version]
        return dict(removed)

    def _settle_unneeded_loads(self, policy: str, needed: set[int]) -> None:
        """Files the results of finished loads this decision did not need (a walk back that
        a newer version made moot), so their servables are not kept for them."""
        for key in [k for k, p in self.pending.items() if k[0] == policy and k[1] not in needed and p.future.done()]:
            self._file_result(key)

    def _file_result(self, key: tuple[str, int]) -> Attempt:
        """Moves a finished load from the pool's list to what is known, and returns it."""
        pending = self.pending.pop(key)
        record, lasting = pending.future.result()
        # A cache that could not be written is tried again after a poll interval.
        retry_at = None if lasting else time.monotonic() + self.settings.poll_interval
        self.attempts[key] = Attempt(pending.fingerprint, record, retry_at)
        return self.attempts[key]

    def _forget_attempts(self, policy: str, on_disk: set[int]) -> None:
        for key in [k for k in self.attempts if k[0] == policy and k[1] not in on_disk]:
            del self.attempts[key]
        for key in [k for k in self.pending if k[0] == policy and k[1] not in on_disk]:
            self.pending.pop(key).future.cancel()  # its result, if it comes, names a vanished version

    # ---- the whole root ----------------------------------------------------------------

    def _forget_missing_servables(self) -> None:
        """Forgets loaded versions whose servable file is gone (a cleaned cache dir), so this
        scan writes them again instead of naming files no worker can read. The last served
        record stays: workers that hold it keep answering while it is written again, or
        while the cache cannot be written at all."""
        directory = self.cache_dir / handoff.SERVABLES_DIR
        for key, attempt in list(self.attempts.items()):
            named = (attempt.record.servable, attempt.record.episode)
            if any(name and not (directory / name).is_file() for name in named):
                del self.attempts[key]

    def scan(self, publish_progress: bool = False) -> LoaderState:
        """Returns the state the workers should see now. With `publish_progress`, decisions
        are also published as they are made (at most twice a second), so on a fresh start
        over many policies the first is served long before the last is decided."""
        self._forget_missing_servables()
        root_exists = Path(self.settings.artifact_root).is_dir()
        names = set(list_policies(self.settings.artifact_root)) | set(self.served)
        policies = {}
        for name in sorted(names):
            record = self.decide(name)
            if record.versions or record.ignored:
                policies[name] = record
            if publish_progress and time.monotonic() - self.last_published_at > PROGRESS_INTERVAL:
                undecided = {n: r for n, r in (self.state.policies if self.state else {}).items() if n not in policies}
                self.publish_if_changed(LoaderState(artifact_root_exists=root_exists, updated_at=time.time(),
                                                    policies={**undecided, **policies}))
        return LoaderState(artifact_root_exists=root_exists, updated_at=time.time(), policies=policies)

    def scan_settled(self, timeout: float = 300) -> LoaderState:
        """Returns the state once no version is left loading (scanning again as loads complete)."""
        deadline = time.monotonic() + timeout
        state, waited_for = self.scan(), set()
        while self.pending and time.monotonic() < deadline:
            if set(self.pending) <= waited_for:
                break  # only retries of failures that may pass (a full cache disk) are left
            waited_for |= set(self.pending)
            for pending in list(self.pending.values()):
                pending.future.exception(timeout=max(0.0, deadline - time.monotonic()))
            state = self.scan()
        return state

    def publish_if_changed(self, state: LoaderState) -> None:
        """Publishes `state` if it differs from the last one, or the state file is not what was written."""
        if self.state is None or _without_time(state) != _without_time(self.state) \
                or handoff.state_stamp(self.cache_dir) != self.written_stamp:  # removed or overwritten
            self.publish(state)

    def publish(self, state: LoaderState) -> None:
        """Writes the state for the workers and deletes servables neither it nor the last one names."""
        named = {r.servable for p in state.policies.values() for r in p.versions if r.servable}
        handoff.write_state(self.cache_dir, state)
        self.written_stamp = handoff.state_stamp(self.cache_dir)
        self.last_published_at = time.monotonic()
        # Loads in the pool write their servables before any state names them: keep those too.
        in_flight = {_servable_name(policy, version, pending.fingerprint)
                     for (policy, version), pending in list(self.pending.items())}
        handoff.delete_servables_except(self.cache_dir, named | self.previous_servables | in_flight)
        self.previous_servables = named
        self.state = state
        metrics.record(lambda: metrics.record_versions(state))

    def resume(self) -> None:
        """Takes over what a previous loader process of this service published, so a restart
        keeps serving the last good versions (even ones gone from disk) and deletes nothing
        a worker still reads."""
        try:
            previous = handoff.read_state(self.cache_dir)
        except ValueError as exc:  # unreadable: start afresh, the scan rebuilds everything
            log.warning("ignoring the previous state: %s", exc)
            return
        if previous is None:
            return
        self.state = previous
        self.previous_servables = {r.servable for p in previous.policies.values() for r in p.versions if r.servable}
        for name, policy in previous.policies.items():
            record = policy.record(policy.served_version) if policy.served_version else None
            if record is not None and record.servable:
                self.served[name] = record
            # A version whose files are as they were when its servable was written needs no
            # second load: the servable's name carries the digest of those files' fingerprint.
            for loaded in policy.versions:
                if loaded.state is VersionState.LOADED and loaded.servable:
                    print_ = fingerprint(version_path(self.settings.artifact_root, name, loaded.version))
                    if loaded.servable == _servable_name(name, loaded.version, print_) \
                            and (self.cache_dir / handoff.SERVABLES_DIR / loaded.servable).is_file():
                        self.attempts[(name, loaded.version)] = Attempt(print_, loaded)

    def run_forever(self) -> None:
        self.resume()
        parent = os.getppid()
        while True:
            if os.getppid() != parent:  # the master is gone (even by SIGKILL): so is our reason to run
                log.warning("the gunicorn master exited; removing its scratch directories and stopping")
                for directory in filter(None, os.environ.get("POLICY_OWNED_SCRATCH_DIRS", "").split(os.pathsep)):
                    shutil.rmtree(directory, ignore_errors=True)
                return
            try:
                self.publish_if_changed(self.scan(publish_progress=True))
            except Exception:  # a full disk, a removed cache dir: say so, keep serving, retry
                log.exception("could not scan or publish; trying again in %s s", self.settings.poll_interval)
            # The next scan comes after the poll interval, or soon after a load completes
            # (a moment later, so that loads completing together cost one scan, not one each).
            if self.wake.wait(self.settings.poll_interval):
                time.sleep(COMPLETION_BATCH)
            self.wake.clear()


PROGRESS_INTERVAL = 0.5  # seconds between publications during one long scan
COMPLETION_BATCH = 0.2  # seconds to gather more completed loads before scanning again


def _servable_name(policy: str, version: int, print_: tuple) -> str:
    """Returns the servable file name of a version as its files are (by fingerprint)."""
    return f"{policy}-{version}-{hashlib.sha256(repr(print_).encode()).hexdigest()[:12]}.npz"


def _without_time(state: LoaderState) -> dict:
    return state.model_dump(exclude={"updated_at"})


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="[loader] %(levelname)s %(message)s", stream=sys.stderr)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    settings = Settings()  # POLICY_CACHE_DIR is set by gunicorn's master (gunicorn.conf.py)
    Loader(settings, Path(settings.cache_dir)).run_forever()


if __name__ == "__main__":
    main()

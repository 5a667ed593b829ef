"""The Python half of the `podman kube play` phase of .ci/containers.sh.

  render MANIFESTS OUT PREFIX   podman-ready copies of the PVC, the Deployment and the Job;
                                prints: service image, trainer image, deployment, trainer container, claim
  ready CONTAINER...            seconds from each container's start to its first /readyz 200
  load ...                      4 clients for 30 s while a version is published and a replica killed

Only what works decides the exit status: a replica that never becomes ready, a failed request
to a survivor, a version never served. How long those took is printed, never judged: a busy
CI machine is slow, not broken. The deadlines are there so that a hang ends, and are generous.

`render` needs PyYAML (podman-compose's venv has it); the rest is standard library. It runs
on the CI host, as root, next to podman, and reaches pods at their own IPs on podman's
bridge, as a Service would, instead of through host ports.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


def render(manifests: Path, out: Path, prefix: str) -> None:
    """Writes claim.yaml, service.yaml and trainer.yaml into `out` and prints the names to use.

    - Names get `prefix`, so a CI run touches no claim, volume or pod of anyone else's.
    - The Job becomes a Pod with the Job's own pod template: `podman kube play` runs Pods,
      Deployments and PersistentVolumeClaims only.
    - The Deployment loses `ports` (probes get the numeric port instead of its name): podman
      publishes every containerPort on the host, so the second replica could not start.
    - Everything else, security context, probes, limits, mounts and replicas, is as written.
    """
    import yaml

    def load(name: str) -> dict:
        return yaml.safe_load((manifests / name).read_text())

    claim = load("artifacts-pvc.yaml")
    deployment = load("service-deployment.yaml")
    job = load("trainer-job.yaml")
    claim_name = f"{prefix}-{claim['metadata']['name']}"
    claim["metadata"]["name"] = claim_name

    def adapt(pod_spec: dict, role: str) -> dict:
        # podman 4.3 backs an emptyDir by a *named* volume (shared by a Deployment's replicas,
        # unlike Kubernetes); a prefixed name keeps it ours and removable.
        renamed = {}
        for volume in pod_spec["volumes"]:
            if "persistentVolumeClaim" in volume:
                volume["persistentVolumeClaim"]["claimName"] = claim_name
            if "emptyDir" in volume:
                renamed[volume["name"]] = volume["name"] = f"{prefix}-{role}-{volume['name']}"
        for container in pod_spec["containers"]:
            ports = {p.get("name"): p["containerPort"] for p in container.pop("ports", [])}
            for probe in PROBES:
                http_get = container.get(probe, {}).get("httpGet")
                if http_get and isinstance(http_get["port"], str):
                    http_get["port"] = ports[http_get["port"]]
            for mount in container.get("volumeMounts", []):
                mount["name"] = renamed.get(mount["name"], mount["name"])
        return pod_spec

    deployment["metadata"]["name"] = f"{prefix}-{deployment['metadata']['name']}"
    adapt(deployment["spec"]["template"]["spec"], "service")
    trainer_pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{prefix}-trainer", "labels": job["spec"]["template"]["metadata"]["labels"]},
        "spec": adapt(job["spec"]["template"]["spec"], "trainer"),
    }
    out.mkdir(parents=True, exist_ok=True)
    for name, document in (("claim", claim), ("service", deployment), ("trainer", trainer_pod)):
        (out / f"{name}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    # For the shell: the images to tag, and the names podman gives what it creates.
    print(deployment["spec"]["template"]["spec"]["containers"][0]["image"],
          trainer_pod["spec"]["containers"][0]["image"], deployment["metadata"]["name"],
          f"{prefix}-trainer-{trainer_pod['spec']['containers'][0]['name']}", claim_name)


def podman_inspect(container: str, template: str) -> str:
    """Returns `podman inspect --format template container`, stripped."""
    return subprocess.run(
        ["podman", "inspect", "--format", template, container], check=True, capture_output=True, text=True
    ).stdout.strip()


def address_of(container: str) -> str:
    """Returns the pod IP of `container` on podman's bridge network."""
    ip = podman_inspect(container, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
    if not ip:
        raise SystemExit(f"{container} has no IP address")
    return ip


def started_at(container: str) -> float:
    """Returns when `container` last started, in seconds since the epoch."""
    return int(podman_inspect(container, "{{.State.StartedAt.UnixNano}}")) / 1e9


def request(ip: str, method: str, path: str, body: dict | None = None, timeout: float = 5) -> tuple[int, dict]:
    """Returns the status and JSON answer of one request on a new connection to ip:8000."""
    connection = http.client.HTTPConnection(ip, 8000, timeout=timeout)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def is_ready(ip: str) -> bool:
    """Returns whether GET /readyz answers 200."""
    try:
        return request(ip, "GET", "/readyz", timeout=1)[0] == 200
    except (OSError, ValueError):
        return False


def ready(containers: list[str], deadline: float) -> int:
    """Waits for every container's first /readyz 200, prints how long after its start it came,
    and returns 1 if one was not ready by the deadline."""
    ips = {name: address_of(name) for name in containers}
    pending, started = set(containers), time.monotonic()
    ready_at: dict[str, float] = {}
    while pending and time.monotonic() - started < deadline:
        for name in sorted(pending):
            if is_ready(ips[name]):
                ready_at[name] = time.time()
                pending.discard(name)
        time.sleep(0.05)
    status = 0
    for name in containers:
        if name in pending:
            print(f"{name} ({ips[name]}) was not ready within {deadline:.0f} s", file=sys.stderr)
            status = 1
            continue
        seconds = ready_at[name] - started_at(name)
        print(f"{name} ({ips[name]}): first /readyz 200 {seconds:.1f} s after its container started")
    return status


def run_shell(command: str, deadline: float) -> subprocess.CompletedProcess:
    """Returns how a shell command ended; one still running at the deadline is killed, with all it
    started, and has no return code."""
    with subprocess.Popen(command, shell=True, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=deadline)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            return subprocess.CompletedProcess(command, None, stdout, f"{stderr}\nkilled after {deadline:.0f} s")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@dataclass
class Replica:
    name: str
    ip: str
    ok: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    failed_at: list[float] = field(default_factory=list)  # monotonic times the failed requests were sent
    slowest: float = 0.0  # seconds the slowest answer took
    slowest_sent: float = 0.0  # ... and the monotonic time its request was sent
    first_new: float | None = None  # monotonic time of the first answer with the new version
    last_old: float | None = None  # ... and of the last with an older one (workers swap one by one)
    restarted: bool = False  # podman restarted it after the kill: answers come from the new instance
    older_after_restart: int = 0  # answers with an older version from that new instance
    new_after_restart: int = 0  # ... and with the new version
    ready_again: float | None = None  # wall-clock time of the first /readyz 200 after a kill
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, version: int | None, new_version: int, error: str | None, sent: float) -> None:
        with self.lock:
            if error is not None:
                self.failed += 1
                self.errors[error] = self.errors.get(error, 0) + 1
                self.failed_at.append(sent)
                return
            self.ok += 1
            if time.monotonic() - sent > self.slowest:
                self.slowest, self.slowest_sent = time.monotonic() - sent, sent
            if version == new_version:
                self.first_new = self.first_new or time.monotonic()
                self.new_after_restart += self.restarted
            elif self.restarted:
                self.older_after_restart += 1
            else:
                self.last_old = time.monotonic()

    def settled(self) -> float | None:
        """Returns when every answer has been the new version since, or None if none was."""
        if self.first_new is None:
            return None
        return max(self.first_new, self.last_old or 0)


def load(args: argparse.Namespace) -> int:
    """Runs the scenario of issue 13, prints what happened when, and returns 1 if anything failed."""
    replicas = [Replica(name, address_of(name)) for name in args.replica]
    victim = next(r for r in replicas if r.name == args.kill)
    survivors = [r for r in replicas if r is not victim]
    restarts_before = {r.name: podman_inspect(r.name, "{{.RestartCount}}") for r in replicas}
    new_dir = Path(args.artifact_dir) / args.policy / str(args.version)
    stop = threading.Event()
    began = time.monotonic()
    marks: dict[str, float] = {}

    def client(replica: Replica) -> None:
        body = {"observation": 0, "policy": args.policy}
        while not stop.is_set():
            sent = time.monotonic()
            try:
                status, answer = request(replica.ip, "POST", "/act", body, timeout=args.request_deadline)
                error = None if status == 200 else f"HTTP {status}"
            except (OSError, ValueError, http.client.HTTPException) as exc:
                answer, error = {}, type(exc).__name__
            replica.record(answer.get("version"), args.version, error, sent)
            if error:
                time.sleep(0.05)  # a dead or starting replica answers at once; do not spin on it

    def watch_publication() -> None:
        while not stop.is_set() and "published" not in marks:
            if new_dir.is_dir():
                marks["published"] = time.monotonic()
            time.sleep(0.02)

    threads = [threading.Thread(target=client, args=(replicas[i % len(replicas)],)) for i in range(args.clients)]
    threads.append(threading.Thread(target=watch_publication))
    for thread in threads:
        thread.start()
    time.sleep(args.publish_at)
    marks["publish started"] = time.monotonic()
    publisher = run_shell(args.publish, args.deadline)
    marks["publisher exited"] = time.monotonic()
    # Kill once every replica has served only the new version for a second, or at the deadline.
    while time.monotonic() - marks["publisher exited"] < args.deadline:
        settled = [r.settled() for r in replicas]
        if "published" in marks and None not in settled and time.monotonic() > max(settled) + 1:
            break
        time.sleep(0.1)
    marks["killed"] = time.monotonic()
    subprocess.run(["kill", "-9", podman_inspect(victim.name, "{{.State.Pid}}")], check=True)
    # Load on until the killed replica is ready and answers with the new version again, for
    # `duration` in all. Its old workers can still answer for a moment after the kill: answers
    # count as the new instance's only once podman has restarted the container.
    while time.monotonic() - marks["killed"] < args.deadline:
        if not victim.restarted:
            if podman_inspect(victim.name, "{{.RestartCount}}") != restarts_before[victim.name]:
                with victim.lock:
                    victim.restarted = True
        elif victim.ready_again is None:
            if is_ready(victim.ip):
                victim.ready_again = time.time()
        elif victim.new_after_restart and time.monotonic() - began >= args.duration:
            break
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join()
    marks["stopped"] = time.monotonic()

    failures = []

    def check(ok: bool, message: str) -> None:
        print(("  ok    " if ok else "  FAIL  ") + message)
        if not ok:
            failures.append(message)

    def at(mark: str) -> str:
        return f"{marks[mark] - began:.1f} s"

    print(f"load: {args.clients} clients on {len(replicas)} replicas for {at('stopped')}; "
          f"trainer started at {at('publish started')} and exited at {at('publisher exited')} "
          f"(status {publisher.returncode}); {victim.name} killed (SIGKILL) at {at('killed')}")
    check(publisher.returncode == 0, f"the trainer published: {publisher.stdout.strip().splitlines()[-1:] or publisher.stderr[-500:]}")
    published = marks.get("published")
    check(published is not None, f"{new_dir.name} appeared as {args.policy} version {args.version}"
          + (f" at {at('published')}" if published else ""))
    for replica in replicas:
        role = "killed" if replica is victim else "survivor"
        errors = ", ".join(f"{count} {kind}" for kind, count in sorted(replica.errors.items())) or "none"
        when = ""
        if replica.failed_at:
            times = ", ".join(f"{t - began:.1f}" for t in replica.failed_at[:5])
            when = f"; sent at {times}{' ...' if replica.failed > 5 else ''} s"
        print(f"  {replica.name} ({replica.ip}, {role}): {replica.ok} answered (the slowest in "
              f"{replica.slowest:.2f} s, sent at {replica.slowest_sent - began:.1f} s), "
              f"{replica.failed} failed ({errors}{when})")
        if published:
            first, settled = (t - published if t else None for t in (replica.first_new, replica.settled()))
            check(settled is not None,
                  f"{replica.name} served version {args.version} "
                  + (f"from {first:.2f} s after its publication, and only it from {settled:.2f} s"
                     if settled is not None else "never"))
    for survivor in survivors:
        check(survivor.failed == 0 and survivor.ok > 0, f"{survivor.name}: {survivor.failed} failed requests")
        check(podman_inspect(survivor.name, "{{.RestartCount}}") == restarts_before[survivor.name],
              f"{survivor.name} was never restarted")
    restarted = podman_inspect(victim.name, "{{.RestartCount}}") != restarts_before[victim.name]
    check(restarted, f"podman restarted {victim.name} (restartPolicy Always)")
    check(victim.ready_again is not None, f"{victim.name} was ready again" + (
        f": first /readyz 200 {victim.ready_again - started_at(victim.name):.1f} s after its new container started"
        if restarted and victim.ready_again else ""))
    check(victim.new_after_restart > 0,
          f"{victim.name} answered {victim.new_after_restart} requests with version {args.version} after its restart")
    if victim.older_after_restart:
        print(f"  note  {victim.name} answered {victim.older_after_restart} requests with an older version "
              f"after its restart, before its loader reached version {args.version}")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("render")
    p.add_argument("manifests", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("prefix")
    p = commands.add_parser("ready")
    p.add_argument("containers", nargs="+")
    p.add_argument("--deadline", type=float, default=180, help="seconds before a replica not ready is a failure")
    p = commands.add_parser("load")
    p.add_argument("--replica", action="append", required=True, help="a service container (twice or more)")
    p.add_argument("--kill", required=True, help="the replica to SIGKILL during the load")
    p.add_argument("--publish", required=True, help="shell command that publishes the new version")
    p.add_argument("--artifact-dir", required=True, help="the artifact volume's directory on this host")
    p.add_argument("--policy", default="frozenlake-4x4")
    p.add_argument("--version", type=int, required=True, help="the version the publish command creates")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--duration", type=float, default=30, help="seconds of load at least")
    p.add_argument("--publish-at", type=float, default=3)
    p.add_argument("--request-deadline", type=float, default=30,
                   help="seconds before a request with no answer is a failure (a hang, not a slow answer)")
    p.add_argument("--deadline", type=float, default=180,
                   help="seconds each step (publishing, serving the new version, a restart) may take before it is a failure")
    args = parser.parse_args()
    if args.command == "render":
        render(args.manifests, args.out, args.prefix)
        return 0
    if args.command == "ready":
        return ready(args.containers, args.deadline)
    return load(args)


if __name__ == "__main__":
    sys.exit(main())

"""Service throughput, latency, memory and resilience, each against a baseline in the same command.

    python bench/serve_bench.py [--duration 8] [--connections 16] [--scenarios all] [--write]

Scenarios (all by default):
- throughput: `/act` (discrete policy) and `/v2/models/{name}/infer`, one observation, against a
  no-op Flask route under the same gunicorn settings (worker class, workers, connections),
  driven by wrk (Debian package `wrk`); latency of one `/act` with 1,000 observations;
  resident memory per worker.
- box: the same for a Box-observation policy (CartPole-shaped actor and critic, ONNX Runtime).
- slow-clients: median `/act` latency of a normal client while 256 connections that sent one
  byte and 64 that send a body one byte a second are held open, against the same service idle.
- hostile: a 1 MiB body of empty lists (`{"observations": [[], [], ...]}`): answer size and time,
  and worker memory after eight of them at once, against the idle worker.
- walk-back: a fresh instance with 20 broken versions above a good one, seconds to ready and
  serving the good one, against a fresh instance with the good version alone.
- held-bodies: worker memory while 1,000 connections each hold a 1 MiB body less one byte,
  against the idle worker and the README's sizing rule; `/act` latency meanwhile.
- many-policies: a fresh instance over 200 policies, seconds to the first ready answer and to
  every policy served.
- cold-start: a fresh instance with one tabular policy, seconds to its first ready answer, against
  the no-op app under the same gunicorn; `/act` refused right after it; the loader's memory.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.markdown import replace_section  # noqa: E402

DISCRETE, BOX = "frozenlake-4x4", "cartpole-bench"
CARTPOLE_OBSERVATION = [0.01, -0.02, 0.03, 0.04]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) / 1024


def is_loader(pid: int) -> bool:
    return b"service.loader" in Path(f"/proc/{pid}/cmdline").read_bytes()


class Server:
    """A gunicorn process group on a free loopback port."""

    def __init__(self, command: list[str], env: dict):
        """`command` names the port as "{port}"."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [part.format(port=self.port) for part in command], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )

    def wait(self, path: str, body: dict, timeout: float = 120) -> float:
        """Returns seconds until `path` answered 200 to `body` ten times in a row (each worker
        picks up the loader's state on its own, and a request reaches whichever is free)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                if all(requests.post(self.url + path, json=body, timeout=10).status_code == 200 for _ in range(10)):
                    return time.monotonic() - started
            except requests.RequestException:  # not listening yet, or busy starting
                pass
            time.sleep(0.05)
        raise SystemExit(f"{self.url}{path} never answered")

    def workers(self) -> list[int]:
        return [p for p in children(self.process.pid) if not is_loader(p)]

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=90)  # a loaded machine stops slowly


def service(root: Path, env: dict, **settings) -> Server:
    extra = {f"POLICY_{k.upper()}": str(v) for k, v in settings.items()}
    return Server([sys.executable, "-m", "service", "--artifact-root", str(root), "--port", "{port}"], {**env, **extra})


def noop(env: dict, workers: str) -> Server:
    # The same worker class and settings as the service: the comparison is of the app alone.
    return Server([sys.executable, "-m", "gunicorn", "-k", "service.worker.BoundedGeventWorker", "-w", workers,
                   "--worker-connections", "1000", "-b", "127.0.0.1:{port}", "bench.noop_app:app"], env)


def run_wrk(url: str, body: str, duration: int, connections: int) -> float:
    script = f'wrk.method = "POST"\nwrk.body = \'{body}\'\nwrk.headers["Content-Type"] = "application/json"\n'
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "-s", f.name, url],
                         capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"{url}: {errors.group(1)} failed responses under load:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def best_alternating(pairs: list[tuple[str, str]], duration: int, connections: int, rounds: int = 2) -> list[float]:
    """Returns the best requests/s of each (url, body), runs alternated so drift hits all alike."""
    best = [0.0] * len(pairs)
    for _ in range(rounds):
        for i, (url, body) in enumerate(pairs):
            best[i] = max(best[i], run_wrk(url, body, duration, connections))
    return best


def median_ms(session: requests.Session, url: str, body: dict, count: int = 300) -> float:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        response = session.post(url, json=body, timeout=30)
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text[:300]
    return statistics.median(latencies)


def publish_policies(root: Path) -> None:
    """A trained 4x4 policy, and a CartPole-shaped Box policy with random weights."""
    subprocess.run([sys.executable, "-m", "trainer", "--map", "4x4", "--seed", "0", "--quiet",
                    "--artifact-root", str(root)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    from tests.helpers import publish_box_models, random_box_models

    publish_box_models(root, BOX, *random_box_models())


def fmt(values) -> str:
    return ", ".join(f"{v:.0f}" for v in values)


def verdict(ok: bool) -> str:
    return "yes" if ok else "NO"


# ---- scenarios ---------------------------------------------------------------------------

def throughput(root: Path, env: dict, workers: str, args) -> list[str]:
    server, baseline = service(root, env, default_policy=DISCRETE), noop(env, workers)
    try:
        server.wait("/act", {"observation": 5})
        baseline.wait("/act", {"observation": 5})
        infer = json.dumps({"inputs": [{"name": "observation", "shape": [1, 1], "datatype": "INT64", "data": [5]}]})
        noop_rps, act_rps, infer_rps = best_alternating([
            (baseline.url + "/act", '{"observation": 5}'),
            (server.url + "/act", '{"observation": 5}'),
            (server.url + f"/v2/models/{DISCRETE}/infer", infer),
        ], args.duration, args.connections)
        session = requests.Session()
        batch_ms = median_ms(session, server.url + "/act", {"observations": [i % 16 for i in range(1000)]})
        single_ms = median_ms(session, server.url + "/act", {"observation": 5})
        service_mb, noop_mb = [rss_mb(p) for p in server.workers()], [rss_mb(p) for p in baseline.workers()]
        loader_mb = [rss_mb(p) for p in children(server.process.pid) if is_loader(p)]
    finally:
        server.stop()
        baseline.stop()
    act_ratio, infer_ratio = act_rps / noop_rps, infer_rps / noop_rps
    return [
        f"| discrete `/act`, 1 observation: requests/s | {act_rps:.0f} | {noop_rps:.0f} | ratio >= 0.80 "
        f"| {act_ratio:.2f} {verdict(act_ratio >= 0.80)} |",
        f"| discrete `/v2/models/{{name}}/infer`, 1 observation: requests/s | {infer_rps:.0f} | {noop_rps:.0f} "
        f"| ratio >= 0.60 | {infer_ratio:.2f} {verdict(infer_ratio >= 0.60)} |",
        f"| discrete `/act`, 1,000 observations: median ms (sequential) | {batch_ms:.2f} | | <= 10 ms "
        f"| {verdict(batch_ms <= 10)} |",
        f"| discrete `/act`, 1 observation: median ms (sequential) | {single_ms:.2f} | | | |",
        f"| resident memory per worker, MB (discrete policy) | {fmt(service_mb)} | {fmt(noop_mb)} | | |",
        f"| loader process (no TensorFlow; one per service) MB | {fmt(loader_mb)} | | | |",
    ]


def box(root: Path, env: dict, workers: str, args) -> list[str]:
    server, baseline = service(root, env, default_policy=BOX), noop(env, workers)
    body = {"observation": CARTPOLE_OBSERVATION}
    try:
        server.wait("/act", body)
        baseline.wait("/act", {"observation": 5})
        noop_rps, act_rps = best_alternating([
            (baseline.url + "/act", json.dumps(body)), (server.url + "/act", json.dumps(body)),
        ], args.duration, args.connections)
        session = requests.Session()
        batch = {"observations": [[0.01 * (i % 7), -0.02, 0.03, 0.001 * i] for i in range(1000)]}
        batch_ms = median_ms(session, server.url + "/act", batch)
        single_ms = median_ms(session, server.url + "/act", body)
        service_mb = [rss_mb(p) for p in server.workers()]
    finally:
        server.stop()
        baseline.stop()
    ratio = act_rps / noop_rps
    return [
        f"| Box `/act`, 1 observation: requests/s | {act_rps:.0f} | {noop_rps:.0f} | ratio >= 0.70 "
        f"| {ratio:.2f} {verdict(ratio >= 0.70)} |",
        f"| Box `/act`, 1,000 observations: median ms (sequential) | {batch_ms:.2f} | | <= 10 ms "
        f"| {verdict(batch_ms <= 10)} |",
        f"| Box `/act`, 1 observation: median ms (sequential) | {single_ms:.2f} | | | |",
        f"| resident memory per worker, MB (both policies loaded, ONNX Runtime) | {fmt(service_mb)} | | <= 150 MB "
        f"| {verdict(max(service_mb) <= 150)} |",
    ]


def slow_clients(root: Path, env: dict, workers: str, args) -> list[str]:
    server = service(root, env, default_policy=DISCRETE, keepalive=60, request_timeout=120)
    stalled: list[socket.socket] = []
    stop = threading.Event()
    try:
        server.wait("/act", {"observation": 5})
        session = requests.Session()
        idle_ms = median_ms(session, server.url + "/act", {"observation": 5})
        head = (b"POST /act HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000\r\n\r\n{")
        for i in range(256 + 64):
            connection = socket.create_connection(("127.0.0.1", server.port))
            connection.sendall(b"P" if i < 256 else head)
            stalled.append(connection)

        def trickle():
            while not stop.wait(1.0):
                for connection in stalled[256:]:
                    try:
                        connection.sendall(b" ")
                    except OSError:
                        pass

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        time.sleep(1.0)
        session = requests.Session()
        loaded_ms = median_ms(session, server.url + "/act", {"observation": 5})
        still_open = sum(1 for c in stalled if _is_open(c))
    finally:
        stop.set()
        for connection in stalled:
            connection.close()
        server.stop()
    ratio = loaded_ms / idle_ms
    return [
        f"| `/act` median ms with 256 stalled + 64 slow-body connections held ({still_open} still open) "
        f"| {loaded_ms:.2f} | idle: {idle_ms:.2f} | within 3x of idle | {ratio:.2f}x {verdict(ratio <= 3)} |",
    ]


def many_policies(root: Path, env: dict, workers: str, args) -> list[str]:
    """A fresh start over 200 policies: when the first is served, and when all are."""
    many = Path(tempfile.mkdtemp(prefix="bench-many-"))
    count = 200
    for i in range(count):
        name = f"lake-{i:03d}"
        shutil.copytree(root / DISCRETE / "1", many / name / "1")
        manifest = json.loads((many / name / "1" / "manifest.json").read_text())
        (many / name / "1" / "manifest.json").write_text(json.dumps({**manifest, "policy": name}))
    server = service(many, env)
    try:
        first = _first_ready(server, "/readyz")
        started = time.monotonic() - first
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            served = sum(1 for p in requests.get(server.url + "/models", timeout=30).json()["policies"]
                         if p.get("served_version"))
            if served == count:
                break
            time.sleep(0.2)
        every = time.monotonic() - started
    finally:
        server.stop()
    return [
        f"| fresh start over {count} tabular policies: s to the first served / to all {count} ({served} served) "
        f"| {first:.1f} / {every:.1f} | - | first <= 5 s | {verdict(first <= 5)} |",
    ]


def held_bodies(root: Path, env: dict, workers: str, args) -> list[str]:
    """1,000 connections that each send all of a 1 MiB body but its last byte."""
    server = service(root, env, default_policy=DISCRETE, keepalive=60, request_timeout=120)
    held: list[socket.socket] = []
    body = 1 << 20
    head = (f"POST /act HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {body}\r\n\r\n").encode()
    try:
        server.wait("/act", {"observation": 5})
        session = requests.Session()
        idle_ms = median_ms(session, server.url + "/act", {"observation": 5})
        idle_mb = max(rss_mb(p) for p in server.workers())
        payload = head + b" " * (body - 1)
        for _ in range(1000):
            connection = socket.create_connection(("127.0.0.1", server.port))
            connection.setblocking(False)
            held.append(connection)
        pending = {c: memoryview(payload) for c in held}
        deadline = time.monotonic() + 120
        while pending and time.monotonic() < deadline:  # send every body but its last byte
            for connection, rest in list(pending.items()):
                try:
                    sent = connection.send(rest[:262144])
                except BlockingIOError:
                    continue
                except OSError:  # refused with 503 and closed, or drained: it no longer holds memory
                    del pending[connection]
                    continue
                pending[connection] = rest[sent:]
                if not len(pending[connection]):
                    del pending[connection]
        time.sleep(1.0)
        loaded_ms = median_ms(requests.Session(), server.url + "/act", {"observation": 5})
        held_mb = max(rss_mb(p) for p in server.workers())
    finally:
        for connection in held:
            connection.close()
        server.stop()
    budget_mb = int(env.get("POLICY_BODY_BUDGET_BYTES", 32 << 20)) / (1 << 20)
    limit_mb = idle_mb + 1.7 * (budget_mb + 1000 * 16 / 1024)
    return [
        f"| worker memory with 1,000 connections holding a 1 MiB body less one byte, MB | {held_mb:.0f} "
        f"| idle: {idle_mb:.0f} | within the sizing rule: <= {limit_mb:.0f} | {verdict(held_mb <= limit_mb)} |",
        f"| `/act` median ms meanwhile | {loaded_ms:.2f} | idle: {idle_ms:.2f} | answered | yes |",
    ]


def _is_open(connection: socket.socket) -> bool:
    connection.setblocking(False)
    try:
        return connection.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        connection.setblocking(True)


def hostile(root: Path, env: dict, workers: str, args) -> list[str]:
    server = service(root, env, default_policy=DISCRETE, workers=1)
    body = b'{"observations": [' + b",".join([b"[]"] * 349_000) + b"]}"
    try:
        server.wait("/act", {"observation": 5})
        (worker,) = server.workers()
        idle_mb = rss_mb(worker)
        times, sizes = [], []
        for _ in range(20):
            started = time.perf_counter()
            response = requests.post(server.url + "/act", data=body, headers={"Content-Type": "application/json"})
            times.append((time.perf_counter() - started) * 1000)
            sizes.append(len(response.content))
            assert response.status_code == 422, response.status_code
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: requests.post(server.url + "/act", data=body,
                                                  headers={"Content-Type": "application/json"}), range(8)))
        time.sleep(1.0)
        after_mb = rss_mb(worker)
        reference_ms = median_ms(requests.Session(), server.url + "/act", {"observation": 5}, count=50)
    finally:
        server.stop()
    growth = after_mb / idle_mb - 1
    return [
        f"| 1 MiB body of 349,000 empty lists: answer bytes, median ms | {max(sizes)} B, "
        f"{statistics.median(times):.1f} ms | 1-observation `/act`: {reference_ms:.2f} ms "
        f"| < 64 KB, < 100 ms | {verdict(max(sizes) < 65536 and statistics.median(times) < 100)} |",
        f"| worker memory after 8 such bodies at once, MB | {after_mb:.0f} | idle: {idle_mb:.0f} "
        f"| within 10% of idle | {growth:+.0%} {verdict(growth <= 0.10)} |",
    ]


def walk_back(root: Path, env: dict, workers: str, args) -> list[str]:
    clean, broken = Path(tempfile.mkdtemp(prefix="bench-clean-")), Path(tempfile.mkdtemp(prefix="bench-broken-"))
    good = root / DISCRETE / "1"
    for target in (clean, broken):
        shutil.copytree(good, target / DISCRETE / "1")
    for number in range(2, 22):
        version = broken / DISCRETE / str(number)
        shutil.copytree(good, version)
        manifest = json.loads((version / "manifest.json").read_text())
        manifest["version"] = number
        if number % 4 == 0:  # reads as a model, then disagrees with its manifest
            manifest["observation_space"]["n"], manifest["layout"] = 25, None
        else:
            (version / "actor.keras").write_bytes(b"not a keras file")
        (version / "manifest.json").write_text(json.dumps(manifest))
    seconds = {}
    for name, artifacts in (("clean", clean), ("broken", broken)):
        server = service(artifacts, env, default_policy=DISCRETE)
        try:
            seconds[name] = server.wait("/act", {"observation": 5})
            answer = requests.post(server.url + "/act", json={"observation": 5}).json()
            assert answer.get("version") == 1, answer
        finally:
            server.stop()
    return [
        f"| fresh start with 20 broken versions above a good one: s to serving it | {seconds['broken']:.1f} "
        f"| good version alone: {seconds['clean']:.1f} | <= 10 s | {verdict(seconds['broken'] <= 10)} |",
    ]


def _first_ready(server: Server, path: str, timeout: float = 120) -> float:
    """Returns seconds from the server's start until `path` first answered 200 (GET)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if requests.get(server.url + path, timeout=10).status_code == 200:
                return time.monotonic() - started
        except requests.RequestException:
            pass
        time.sleep(0.02)
    raise SystemExit(f"{server.url}{path} never answered 200")


def cold_start(root: Path, env: dict, workers: str, args) -> list[str]:
    one = Path(tempfile.mkdtemp(prefix="bench-one-"))
    shutil.copytree(root / DISCRETE / "1", one / DISCRETE / "1")
    starts, ready_s, noop_s, refused, loader_mb, worker_mb = 5, [], [], 0, [], []
    for _ in range(starts):  # alternated, so drift on a shared machine hits both alike
        server = service(one, env, default_policy=DISCRETE)
        try:
            ready_s.append(_first_ready(server, "/readyz"))
            # Right after the first ready answer, as a load balancer would: new connections.
            refused += sum(requests.post(server.url + "/act", json={"observation": 5}, timeout=10).status_code != 200
                           for _ in range(30))
            pids = children(server.process.pid)
            loader_mb += [rss_mb(p) for p in pids if is_loader(p)]
            worker_mb += [rss_mb(p) for p in pids if not is_loader(p)]
        finally:
            server.stop()
        baseline = noop(env, workers)
        try:
            started = time.monotonic()
            baseline.wait("/act", {"observation": 5})
            noop_s.append(time.monotonic() - started)
        finally:
            baseline.stop()
    ready, floor = statistics.median(ready_s), statistics.median(noop_s)
    return [
        f"| fresh start, one tabular policy: s to the first `/readyz` 200 (median of {starts}) | {ready:.2f} "
        f"| no-op app under the same gunicorn to its first answers: {floor:.2f} | <= 2 s | {verdict(ready <= 2)} |",
        f"| `/act` refused right after the first ready answer ({starts} starts x 30) | {refused} | - | 0 "
        f"| {verdict(refused == 0)} |",
        f"| loader resident memory, MB (max of {starts}) | {max(loader_mb):.0f} | a worker: {max(worker_mb):.0f} "
        f"| <= 300 | {verdict(max(loader_mb) <= 300)} |",
    ]


SCENARIOS = {"throughput": throughput, "box": box, "slow-clients": slow_clients, "hostile": hostile,
             "walk-back": walk_back, "cold-start": cold_start, "held-bodies": held_bodies,
             "many-policies": many_policies}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--scenarios", default="all", help=f"Comma-separated: {', '.join(SCENARIOS)}.")
    parser.add_argument("--write", action="store_true", help="Write the table into BENCHMARKS.md.")
    args = parser.parse_args()
    chosen = list(SCENARIOS) if args.scenarios == "all" else args.scenarios.split(",")
    workers = os.environ.get("POLICY_WORKERS", "2")
    env = {**os.environ, "POLICY_WORKERS": workers, "TF_CPP_MIN_LOG_LEVEL": "2", "POLICY_POLL_INTERVAL": "0.2"}
    root = Path(tempfile.mkdtemp(prefix="bench-artifacts-"))
    publish_policies(root)
    rows = []
    for name in chosen:
        rows += SCENARIOS[name](root, env, workers, args)
        print("\n".join(rows[-1:]), flush=True)
    table = "\n".join([
        f"Command: `python bench/serve_bench.py --duration {args.duration} --connections {args.connections}"
        f"{'' if args.scenarios == 'all' else ' --scenarios ' + args.scenarios}` ({date.today()}; {workers} "
        f"gevent workers (service.worker.BoundedGeventWorker) for both the service and the no-op route; "
        f"wrk -t2 -c{args.connections}, best of 2 alternating runs each; wrk shares the 2 cores with the server).",
        "",
        "| measure | service | baseline (same command) | target | met |",
        "|---|---|---|---|---|",
        *rows,
    ])
    print(table)
    if args.write:
        replace_section(ROOT / "BENCHMARKS.md", "Service", table)


if __name__ == "__main__":
    main()

"""Service throughput, latency and memory, against a no-op Flask app in the same command.

    python bench/serve_bench.py [--duration 10] [--connections 16] [--write]

Both run under gunicorn with the same settings (gthread, LAKE_WORKERS workers x
LAKE_THREADS threads) on loopback and are driven by wrk (Debian package `wrk`) with the
same single-observation POST. Reports requests/s of each and their ratio, the median
latency of one /act with 1,000 observations, and resident memory per worker.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.markdown import replace_section  # noqa: E402

BODY = '{"observation": 5}'
LUA = f'wrk.method = "POST"\nwrk.body = \'{BODY}\'\nwrk.headers["Content-Type"] = "application/json"\n'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.post(url, json={"observation": 5}, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} never answered")


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) / 1024


def is_loader(pid: int) -> bool:
    return b"service.loader" in Path(f"/proc/{pid}/cmdline").read_bytes()


def run_wrk(url: str, duration: int, connections: int) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(LUA)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "-s", f.name, url],
        capture_output=True, text=True, check=True,
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"{url}: {errors.group(1)} failed responses under load:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def start(command: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--write", action="store_true", help="Write the table into BENCHMARKS.md.")
    args = parser.parse_args()
    workers, threads = os.environ.get("LAKE_WORKERS", "2"), os.environ.get("LAKE_THREADS", "4")

    artifacts = Path(tempfile.mkdtemp(prefix="bench-artifacts-"))
    subprocess.run([sys.executable, "-m", "trainer", "--map", "4x4", "--seed", "0", "--quiet",
                    "--artifact-root", str(artifacts)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    env = {**os.environ, "LAKE_WORKERS": workers, "LAKE_THREADS": threads, "TF_CPP_MIN_LOG_LEVEL": "2"}

    service_port, noop_port = free_port(), free_port()
    service = start([sys.executable, "-m", "service", "--artifact-root", str(artifacts),
                     "--port", str(service_port)], env)
    noop = start([sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", workers, "--threads", threads,
                  "-b", f"127.0.0.1:{noop_port}", "bench.noop_app:app"], env)
    service_url, noop_url = f"http://127.0.0.1:{service_port}/act", f"http://127.0.0.1:{noop_port}/act"
    try:
        wait_for(service_url)
        wait_for(noop_url)
        # Alternate the two so drift in the machine's load hits both alike; keep the best of each.
        service_rps, noop_rps = [], []
        for _ in range(2):
            noop_rps.append(run_wrk(noop_url, args.duration, args.connections))
            service_rps.append(run_wrk(service_url, args.duration, args.connections))
        session = requests.Session()
        batch = {"observations": [i % 16 for i in range(1000)]}
        latencies = []
        for _ in range(300):
            started = time.perf_counter()
            response = session.post(service_url, json=batch, timeout=10)
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200 and len(response.json()["actions"]) == 1000
        small = []
        for _ in range(300):
            started = time.perf_counter()
            session.post(service_url, json={"observation": 5}, timeout=10)
            small.append((time.perf_counter() - started) * 1000)
        service_workers = [p for p in children(service.pid) if not is_loader(p)]
        loader = [p for p in children(service.pid) if is_loader(p)]
        noop_workers = children(noop.pid)
        rows = {
            "service_rps": max(service_rps), "noop_rps": max(noop_rps),
            "batch_median_ms": statistics.median(latencies), "single_median_ms": statistics.median(small),
            "service_worker_mb": [rss_mb(p) for p in service_workers],
            "noop_worker_mb": [rss_mb(p) for p in noop_workers],
            "loader_mb": [rss_mb(p) for p in loader],
        }
    finally:
        stop(service)
        stop(noop)

    ratio = rows["service_rps"] / rows["noop_rps"]
    fmt = lambda values: ", ".join(f"{v:.0f}" for v in values)  # noqa: E731
    table = "\n".join([
        f"Command: `python bench/serve_bench.py --duration {args.duration} --connections {args.connections}` "
        f"({date.today()}; {workers} workers x {threads} threads, gthread; wrk -t2 -c{args.connections}, "
        "best of 2 alternating runs each; wrk shares the 2 cores with the server).",
        "",
        "| measure | service | no-op Flask route | target | met |",
        "|---|---|---|---|---|",
        f"| `/act`, 1 observation: requests/s | {rows['service_rps']:.0f} | {rows['noop_rps']:.0f} "
        f"| ratio >= 0.70 | {ratio:.2f} {'yes' if ratio >= 0.70 else 'NO'} |",
        f"| `/act`, 1,000 observations: median ms (client-side, sequential) | "
        f"{rows['batch_median_ms']:.2f} | | <= 10 ms | {'yes' if rows['batch_median_ms'] <= 10 else 'NO'} |",
        f"| `/act`, 1 observation: median ms (sequential) | {rows['single_median_ms']:.2f} | | | |",
        f"| resident memory per worker, MB | {fmt(rows['service_worker_mb'])} | {fmt(rows['noop_worker_mb'])} "
        f"| <= 200 MB | {'yes' if max(rows['service_worker_mb']) <= 200 else 'NO'} |",
        f"| loader process (imports TensorFlow, one per service) MB | {fmt(rows['loader_mb'])} | | | |",
    ])
    print(table)
    if args.write:
        replace_section(ROOT / "BENCHMARKS.md", "Service", table)


if __name__ == "__main__":
    main()

"""The service against MLServer, side by side: the same ONNX actor and critic, the same request, the same load.

    python bench/mlserver_bench.py [--duration 8] [--rounds 3] [--connections 1,8,32] [--write]

What runs:
- a CartPole policy trained by `python -m trainer --env CartPole-v1 --seed 0`; the ONNX actor
  and critic are the version's own `actor.onnx`/`critic.onnx` when it has them, otherwise
  exported here from its `.keras` files with Keras (`model.export(path, format="onnx")`);
- the service (`python -m service`, 2 gunicorn workers, its defaults otherwise) on that root;
- MLServer 1.7 with `parallel_workers: 2` and a small custom runtime (bench/mlserver_runtime.py)
  that runs the same ONNX files with ONNX Runtime (one intra-op thread, as the service) and
  returns the same three outputs. MLServer is a benchmark dependency only: it is installed,
  pinned, into its own virtual environment under bench/.venvs/ on first use;
- `wrk` (Debian package `wrk`) with bench/wrk_post.lua: one Open Inference Protocol request
  with one observation on `/v2/models/cartpole/infer`, keep-alive, `-t N -c N` (one connection
  per wrk thread, so the per-thread answer counts are per-connection counts).

Both servers run at once. After a warm-up of each, the runs alternate (service, MLServer,
then MLServer, service in the next round) at each connection count; each figure is the
median of the rounds. Then the resident memory of every process of each server (the whole
process tree): RSS, and PSS (forked workers share pages, which RSS counts once per process).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.markdown import replace_section  # noqa: E402
from bench.serve_bench import Server, children, free_port, service  # noqa: E402

POLICY = "cartpole"
INFER = f"/v2/models/{POLICY}/infer"
BODY = {"inputs": [{"name": "observation", "shape": [1, 4], "datatype": "FP32", "data": [0.01, -0.02, 0.03, 0.04]}]}
WORKERS = 2
MLSERVER_VENV = ROOT / "bench" / ".venvs" / "mlserver"
# uvloop 0.22 breaks MLServer 1.7's parallel workers.
MLSERVER_PINS = ["mlserver>=1.7,<1.8", "onnxruntime>=1.20,<2", "uvloop<0.22"]
WRK_SCRIPT = ROOT / "bench" / "wrk_post.lua"


# ---- setting up ----------------------------------------------------------------------------

def mlserver_executable() -> Path:
    """Returns the `mlserver` of bench/.venvs/mlserver, creating or updating that venv when its pins changed."""
    stamp = MLSERVER_VENV / f".installed-{hashlib.sha256(' '.join(MLSERVER_PINS).encode()).hexdigest()[:16]}"
    if not stamp.exists():
        print(f"installing {', '.join(MLSERVER_PINS)} into {MLSERVER_VENV.relative_to(ROOT)} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(MLSERVER_VENV)], check=True)
        subprocess.run([str(MLSERVER_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", *MLSERVER_PINS],
                       check=True)
        stamp.touch()
    return MLSERVER_VENV / "bin" / "mlserver"


def onnx_models(version: Path, into: Path) -> str:
    """Puts actor.onnx and critic.onnx of `version` into `into`; returns where they came from."""
    into.mkdir(parents=True)
    if all((version / f"{name}.onnx").exists() for name in ("actor", "critic")):
        for name in ("actor", "critic"):
            shutil.copyfile(version / f"{name}.onnx", into / f"{name}.onnx")
        return "the version's own actor.onnx and critic.onnx"
    import keras
    import numpy as np

    for name in ("actor", "critic"):
        model = keras.saving.load_model(version / f"{name}.keras", compile=False)
        model(np.zeros((1, 4), dtype=np.float32))  # Keras exports only models that have been called
        model.export(str(into / f"{name}.onnx"), format="onnx", verbose=False)
    return "exported here from the version's .keras files (model.export, format='onnx')"


def start_mlserver(onnx_dir: Path, workdir: Path) -> Server:
    """MLServer with `parallel_workers: 2` serving `cartpole` from `onnx_dir` with bench/mlserver_runtime.py."""
    repository = workdir / "mlserver"
    (repository / POLICY).mkdir(parents=True)
    shutil.copyfile(ROOT / "bench" / "mlserver_runtime.py", repository / "mlserver_runtime.py")
    (repository / "settings.json").write_text(json.dumps({
        "parallel_workers": WORKERS, "host": "127.0.0.1", "grpc_port": free_port(), "metrics_port": free_port(),
        # No access log, as the service (gunicorn's accesslog is off); its own dirs, not the cwd's.
        "debug": False, "metrics_dir": str(repository / ".metrics"), "environments_dir": str(repository / ".envs"),
    }))
    (repository / POLICY / "model-settings.json").write_text(json.dumps({
        "name": POLICY, "implementation": "mlserver_runtime.PolicyRuntime", "parameters": {"uri": str(onnx_dir)},
    }))
    env = {**os.environ, "PYTHONPATH": str(repository)}
    env.pop("VIRTUAL_ENV", None)
    # MLServer reads its HTTP port from the environment too; `env` execs it, so the pid is MLServer's.
    return Server(["env", "MLSERVER_HTTP_PORT={port}", str(mlserver_executable()), "start", str(repository)], env)


# ---- measuring -----------------------------------------------------------------------------

def run_wrk(url: str, connections: int, duration: int) -> dict:
    """Returns wrk_post.lua's result: requests, seconds, p50_us, p99_us, per_connection, errors."""
    command = ["wrk", f"-t{connections}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
               "-s", str(WRK_SCRIPT), url, "--", json.dumps(BODY)]
    for attempt in (1, 2):  # one retry: wrk once exited 1 mid-run, with its stderr unseen
        run = subprocess.run(command, capture_output=True, text=True)
        found = re.search(r"^RESULT (.*)$", run.stdout, re.M)
        if not run.returncode and found:
            break
        print(f"wrk -c{connections} {url} failed ({run.returncode}), attempt {attempt}:\n{run.stdout}\n{run.stderr}",
              file=sys.stderr, flush=True)
    else:
        raise SystemExit("wrk failed twice")
    out = run.stdout
    result = json.loads(found.group(1))
    if result["non_2xx"]:
        raise SystemExit(f"{url}: {result['non_2xx']} answers were not 200 under load:\n{out}")
    result["rps"] = result["requests"] / result["seconds"]
    return result


def process_memory(root_pid: int) -> list[dict]:
    """Returns RSS and PSS in MB of `root_pid` and every process below it, each labelled."""
    pids, frontier = [root_pid], [root_pid]
    while frontier:
        frontier = [child for pid in frontier for child in children(pid)]
        pids += frontier
    processes = []
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except FileNotFoundError:  # exited since it was listed
            continue
        kb = {key: int(value) for key, value in re.findall(r"^(Rss|Pss):\s+(\d+) kB", rollup, re.M)}
        label = ("main" if pid == root_pid else "loader" if "service.loader" in cmdline
                 else "resource tracker" if "resource_tracker" in cmdline else "worker")
        processes.append({"label": label, "rss": kb["Rss"] / 1024, "pss": kb["Pss"] / 1024})
    return processes


def answers_agree(ours: dict, theirs: dict) -> bool:
    """True if both answers have the same outputs and the same probabilities and value (within 1e-5)."""
    def outputs(answer):
        return {o["name"]: o["data"] for o in answer["outputs"]}

    a, b = outputs(ours), outputs(theirs)
    if set(a) != {"action", "probabilities", "value"} or set(a) != set(b):
        return False
    return all(abs(x - y) <= 1e-5 for name in ("probabilities", "value") for x, y in zip(a[name], b[name]))


# ---- reporting -----------------------------------------------------------------------------

def spread(counts: list[int]) -> str:
    return f"{min(counts)}-{max(counts)} ({max(counts) / max(min(counts), 1):.1f}x)"


def memory_cell(processes: list[dict]) -> str:
    parts = {}
    for process in processes:
        parts.setdefault(process["label"], []).append(f"{process['rss']:.0f}/{process['pss']:.0f}")
    breakdown = "; ".join(f"{label} {', '.join(values)}" for label, values in parts.items())
    return (f"{sum(p['rss'] for p in processes):.0f} / {sum(p['pss'] for p in processes):.0f} "
            f"({len(processes)} processes: {breakdown})")


def verdict(ok: bool) -> str:
    return "yes" if ok else "NO"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8, help="Seconds of each wrk run.")
    parser.add_argument("--rounds", type=int, default=3, help="Alternating rounds at each connection count.")
    parser.add_argument("--connections", default="1,8,32", help="Comma-separated connection counts.")
    parser.add_argument("--write", action="store_true", help="Write the table into BENCHMARKS.md.")
    args = parser.parse_args()
    counts = [int(c) for c in args.connections.split(",")]
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (Debian/Ubuntu)")
    mlserver_executable()
    workdir = Path(tempfile.mkdtemp(prefix="bench-mlserver-"))
    artifacts = workdir / "artifacts"
    subprocess.run([sys.executable, "-m", "trainer", "--env", "CartPole-v1", "--seed", "0", "--quiet",
                    "--artifact-root", str(artifacts)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    onnx_source = onnx_models(artifacts / POLICY / "1", workdir / "onnx")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    servers = {"service": service(artifacts, env, workers=WORKERS, default_policy=POLICY),
               "MLServer": start_mlserver(workdir / "onnx", workdir)}
    results: dict[tuple[str, int], list[dict]] = {}
    try:
        for server in servers.values():
            server.wait(INFER, BODY)
        ours, theirs = (requests.post(s.url + INFER, json=BODY, timeout=10).json() for s in servers.values())
        if not answers_agree(ours, theirs):
            raise SystemExit(f"the two answers differ:\n{ours}\n{theirs}")
        for server in servers.values():
            run_wrk(server.url + INFER, 8, 3)
        for round_number in range(args.rounds):
            for connections in counts:
                order = list(servers.items()) if round_number % 2 == 0 else list(servers.items())[::-1]
                for name, server in order:
                    results.setdefault((name, connections), []).append(
                        run_wrk(server.url + INFER, connections, args.duration))
            print(f"round {round_number + 1} of {args.rounds} done", flush=True)
        memory = {name: process_memory(server.process.pid) for name, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    def median(name: str, connections: int, key: str) -> float:
        return statistics.median(r[key] for r in results[(name, connections)])

    rows = []
    for connections in counts:
        for name in servers:
            runs = results[(name, connections)]
            ratios = [max(r["per_connection"]) / max(min(r["per_connection"]), 1) for r in runs]
            rows.append(
                f"| {connections} | {name} | {median(name, connections, 'rps'):.0f} "
                f"| {median(name, connections, 'p50_us') / 1000:.1f} | {median(name, connections, 'p99_us') / 1000:.1f} "
                f"| {spread(runs[-1]['per_connection'])}; median of rounds {statistics.median(ratios):.1f}x "
                f"| {sum(r['timeouts'] for r in runs)} / {sum(r['errors'] for r in runs)} |")
    target_rows = []
    for connections in counts:
        rps = median("service", connections, "rps") / median("MLServer", connections, "rps")
        p99 = median("service", connections, "p99_us") / median("MLServer", connections, "p99_us")
        target_rows.append(f"| {connections} connections: requests/s, service / MLServer | {rps:.2f} | >= 1 "
                           f"| {verdict(rps >= 1)} |")
        target_rows.append(f"| {connections} connections: p99, service / MLServer | {p99:.2f} | <= 1.5 "
                           f"| {verdict(p99 <= 1.5)} |")
        if connections == 8:
            fairness = statistics.median(max(r["per_connection"]) / max(min(r["per_connection"]), 1)
                                         for r in results[("service", 8)])
            target_rows.append(f"| 8 connections: service's answers per connection, most / fewest (median of rounds) "
                               f"| {fairness:.1f} | <= 2 | {verdict(fairness <= 2)} |")
    pss = {name: sum(p["pss"] for p in processes) for name, processes in memory.items()}
    rss = {name: sum(p["rss"] for p in processes) for name, processes in memory.items()}
    target_rows.append(f"| resident memory of all processes, service / MLServer: RSS; PSS "
                       f"| {rss['service'] / rss['MLServer']:.2f}; {pss['service'] / pss['MLServer']:.2f} | <= 1 "
                       f"| RSS {verdict(rss['service'] <= rss['MLServer'])}, PSS {verdict(pss['service'] <= pss['MLServer'])} |")
    # The code measured: the last commit that changed anything but the benchmarks themselves.
    commit = subprocess.run(["git", "log", "-1", "--format=%h", "--", ".", ":!bench", ":!BENCHMARKS.md"],
                            capture_output=True, text=True, cwd=ROOT).stdout
    table = "\n".join([
        f"Command: `python bench/mlserver_bench.py --duration {args.duration} --rounds {args.rounds} "
        f"--connections {args.connections}` ({date.today()}, service at commit {commit.strip()}). Both servers with "
        f"{WORKERS} workers, running at once on the same 2 cores as wrk; MLServer {mlserver_version()} "
        f"(`parallel_workers: {WORKERS}`, debug off) with bench/mlserver_runtime.py. The same CartPole actor and "
        f"critic as ONNX ({onnx_source}), ONNX Runtime with one intra-op thread in both, the same three outputs. "
        f"wrk -tN -cN (keep-alive) -d{args.duration}s, one Open Inference Protocol request with one observation "
        f"on `{INFER}`; runs alternate, median of {args.rounds} rounds after a warm-up of each.",
        "",
        "| connections | server | requests/s | p50 ms | p99 ms | answers per connection, last round: fewest-most "
        "(most/fewest) | wrk timeouts / socket errors |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        "| target (ratios in this run) | measured | target | met |",
        "|---|---|---|---|",
        *target_rows,
        "",
        "Answers per connection, last round: "
        + "; ".join(f"{connections} connections, {name}: {', '.join(map(str, results[(name, connections)][-1]['per_connection']))}"
                    for connections in counts if connections > 1 for name in servers) + ".",
        "",
        "Resident memory after the load, MB, RSS / PSS, every process of each server (label RSS/PSS per process):",
        "",
        *(f"- {name}: {memory_cell(processes)}" for name, processes in memory.items()),
    ])
    print(table)
    if args.write:
        replace_section(ROOT / "BENCHMARKS.md", "Service against MLServer", table)


def mlserver_version() -> str:
    return subprocess.run([str(MLSERVER_VENV / "bin" / "python"), "-c", "import mlserver; print(mlserver.__version__)"],
                          capture_output=True, text=True, check=True).stdout.strip()


if __name__ == "__main__":
    main()

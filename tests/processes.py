"""Processes the tests start: each in a session of its own, and all of it gone when stopped.

A service is a gunicorn master with workers and a loader; a trainer or a browser starts
children too. Stopping only the process a test started leaves those running (a failed
test once left a whole service running for more than an hour), so every process started
here leads its own session and process group, and stopping it kills the whole group. A
process group outlives its leader while any member lives, so this also reaches children
whose parent has already died.

Each process also carries RUN_VARIABLE=<this run's id> in its environment, which
everything it starts inherits: at the end of the session, tests/conftest.py looks for any
process still carrying it, whatever escaped its group.
"""

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from tests.timing import seconds

RUN_VARIABLE = "POLICY_TESTS_RUN"


def mark_this_run() -> str:
    """Returns a new id for this test run, set in this process's environment so every
    process started from now on inherits it."""
    os.environ[RUN_VARIABLE] = uuid.uuid4().hex
    return os.environ[RUN_VARIABLE]


def _marked(env: dict | None) -> dict:
    environment = dict(os.environ if env is None else env)
    environment[RUN_VARIABLE] = os.environ[RUN_VARIABLE]
    return environment


def start(args: list[str], env: dict | None = None, **popen_kwargs) -> subprocess.Popen:
    """Returns a started process leading its own session, marked with this run's id."""
    return subprocess.Popen(args, env=_marked(env), start_new_session=True, **popen_kwargs)


def kill_group(process: subprocess.Popen) -> None:
    """Kills every process in `process`'s group, the leader and whatever it left, and reaps
    the leader."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:  # the leader was reaped and nothing was left in its group
        pass
    process.wait(timeout=seconds(10))


def run(args: list[str], timeout: float, input: str | bytes | None = None, capture_output: bool = False,
        text: bool = False, check: bool = False, env: dict | None = None, **popen_kwargs) -> subprocess.CompletedProcess:
    """Returns the finished process, as subprocess.run does; on timeout the whole group is
    killed before TimeoutExpired is raised, and whatever the process left in its group
    when it exited is killed too."""
    if capture_output:
        popen_kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if input is not None:
        popen_kwargs["stdin"] = subprocess.PIPE
    process = start(args, env=env, text=text, **popen_kwargs)
    try:
        stdout, stderr = process.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired as expired:
        kill_group(process)
        try:
            stdout, stderr = process.communicate(timeout=seconds(5))
        except subprocess.TimeoutExpired:  # a process that left the group holds the pipes: the session's end names it
            stdout, stderr = expired.output, expired.stderr
        raise subprocess.TimeoutExpired(args, timeout, stdout, stderr) from expired
    finally:
        kill_group(process)
    completed = subprocess.CompletedProcess(args, process.returncode, stdout, stderr)
    if check:
        completed.check_returncode()
    return completed


def run_trainer(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """Returns the finished `python -m trainer ARGS`, as users run it, output captured as text."""
    return run([sys.executable, "-m", "trainer", *args], timeout=seconds(300), capture_output=True, text=True,
               **kwargs)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # gone meanwhile, or not ours to read
        return b""


def _is_our_resource_tracker(pid: int, command: str) -> bool:
    """multiprocessing's resource tracker (started by a test that uses the spawn context)
    belongs to this pytest process and ends with it, by design."""
    fields = _read(Path(f"/proc/{pid}/stat")).rsplit(b")", 1)[-1].split()  # after "pid (name)": state, parent
    return len(fields) > 1 and int(fields[1]) == os.getpid() and "multiprocessing.resource_tracker" in command


def survivors() -> dict[int, str]:
    """Returns {pid: description} of every live process, other than this one, that carries
    this run's mark: the command line and the test that was running when it started."""
    mark = f"{RUN_VARIABLE}={os.environ[RUN_VARIABLE]}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        environment = _read(entry / "environ").split(b"\0")  # empty for a zombie: it is gone
        if mark not in environment:
            continue
        command = command_line(int(entry.name))
        if _is_our_resource_tracker(int(entry.name), command):
            continue
        started_in = next((v.split(b"=", 1)[1].decode(errors="replace") for v in environment
                           if v.startswith(b"PYTEST_CURRENT_TEST=")), "no test")
        found[int(entry.name)] = f"{command[:200]}  (started in: {started_in})"
    return found


def kill(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def children_of(pid: int) -> list[int]:
    """Returns the pids of `pid`'s live children, whichever of its threads started them."""
    return sorted(int(child) for task in Path(f"/proc/{pid}/task").glob("*")
                  for child in _read(task / "children").split())


def command_line(pid: int) -> str:
    """Returns `pid`'s command line, arguments separated by spaces ('' once it is gone)."""
    return _read(Path(f"/proc/{pid}/cmdline")).replace(b"\0", b" ").decode(errors="replace").strip()

"""Polls a running service's POST /act until it answers with the expected policy version.

Usage: python3 .ci/wait_for_version.py BASE_URL POLICY VERSION DEADLINE_SECONDS
Prints the answer and the seconds it took, exits 0; exits 1 at the deadline with the
last answer or error. Standard library only: it runs on the CI host, outside the image.
"""

import json
import sys
import time
import urllib.error
import urllib.request


def act(base_url: str, policy: str) -> dict:
    """Returns the JSON answer of POST /act for cell 0 of `policy`, greedy."""
    body = json.dumps({"observation": 0, "policy": policy, "mode": "greedy"}).encode()
    request = urllib.request.Request(
        f"{base_url}/act", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def main() -> int:
    base_url, policy, version, deadline = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    started = time.monotonic()
    last = "no answer yet"
    while time.monotonic() - started < deadline:
        try:
            answer = act(base_url, policy)
        except (OSError, ValueError) as exc:  # not listening yet, 503 until a policy loads, ...
            last = f"{type(exc).__name__}: {exc}"
        else:
            if answer.get("policy") == policy and answer.get("version") == version:
                print(f"{base_url} answered /act with {policy} version {version} "
                      f"after {time.monotonic() - started:.1f} s: {json.dumps(answer)}")
                return 0
            last = json.dumps(answer)
        time.sleep(0.5)
    print(f"{base_url} did not answer with {policy} version {version} within {deadline:.0f} s; "
          f"last: {last}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

"""Deprecated: the client is its own distribution now, `keras-policy-client` (`policy_client`).

`from service.client import PolicyClient` and `python -m service.client play` keep working
in a server install, with a DeprecationWarning; use `from policy_client import PolicyClient`
and `policy-client play`.
"""

import sys
import warnings

from policy_client.cli import main
from policy_client.client import Mode, Observation, PolicyClient, PolicyServiceError

__all__ = ["Mode", "Observation", "PolicyClient", "PolicyServiceError", "main"]

if __name__ == "__main__":
    print("warning: python -m service.client is deprecated: use policy-client", file=sys.stderr)
    raise SystemExit(main(prog="python -m service.client"))
warnings.warn("service.client is deprecated: use policy_client (pip install keras-policy-client)",
              DeprecationWarning, stacklevel=2)

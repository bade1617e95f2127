"""``python tests/integrations/approval_worker.py PORT``: one hosted worker whose tool waits for
approval, serving the store ``COPASS_ROUTER_STORE`` with the coordinator
``COPASS_ROUTER_COORDINATOR`` (from the environment, as a deployed worker's).

- ``refund(order)``: needs approval; appends ``<pid> <order>`` to the file ``APPROVAL_LEDGER``
  when it runs (how a test sees, across processes, that it ran and where).
- ``APPROVAL_TIMEOUT``: seconds a call waits for a decision before it is denied.
"""

from __future__ import annotations

import os
import sys

from copass_router import Router, tool
from copass_router.server._serve import serve


@tool(requires_approval=True)
def refund(order: str) -> str:
    """Refund an order."""
    with open(os.environ["APPROVAL_LEDGER"], "a") as out:
        out.write(f"{os.getpid()} {order}\n")
    return f"refunded {order}"


def main() -> int:
    port = int(sys.argv[1])
    timeout = float(os.environ.get("APPROVAL_TIMEOUT", "120"))
    router = Router(tools=[refund], approval_timeout=timeout)
    return serve("127.0.0.1", port, router=router, grace=1.0)


if __name__ == "__main__":
    sys.exit(main())

"""``python -m soak.worker PORT``: the hosted worker under soak, logging warnings and errors only.

The same router the benchmarks serve (bench/hosted_server.py: in-memory store, the bench's
``lookup`` tool), with logging set to WARNING first so the access log of a hundred thousand
requests is not written, and whatever does go wrong lands on stderr for the soak to count.
"""

from __future__ import annotations

import logging
import sys

from bench.turn_latency import lookup
from copass_router import Router
from copass_router.server._serve import serve


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    router = Router(store=":memory:", tools=[lookup])
    return serve("127.0.0.1", int(sys.argv[1]), router=router, grace=5.0)


if __name__ == "__main__":
    sys.exit(main())

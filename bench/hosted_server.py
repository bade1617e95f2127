"""`python -m bench.hosted_server PORT`: a hosted router worker for the benchmarks, with the
benchmark's tool registered on its router (hosted runs cannot carry tools)."""

from __future__ import annotations

import sys

from copass_router import Router
from copass_router.server._serve import serve

from .turn_latency import lookup


def main() -> int:
    port = int(sys.argv[1])
    router = Router(store=":memory:", tools=[lookup])
    return serve("127.0.0.1", port, router=router, grace=1.0)


if __name__ == "__main__":
    sys.exit(main())

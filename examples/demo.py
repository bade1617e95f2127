"""The main job, offline: one conversation, several turns, a tool call, on the embedded defaults.

Run it with `make demo`. With no provider keys it uses the built-in `echo` provider; the
transcript lives in the router, so `copass-router sessions show <id>` shows it afterwards.
"""

from __future__ import annotations

import asyncio
import sys

from copass_router import EventPrinter, Router, tool


@tool
def order_status(order_id: str) -> dict[str, str]:
    """Where an order is."""
    return {"order_id": order_id, "status": "shipped", "eta": "Thursday"}


TURNS = [
    "Hello, I have a question about my order.",
    '/tool order_status {"order_id": "A-1001"}',
    "/recall",
]


async def main() -> int:
    router = Router(store=":memory:", tools=[order_status])
    printer = EventPrinter(sys.stdout)
    session_id = None
    try:
        for message in TURNS:
            print(f"\n>>> user: {message}")
            async for event in router.run(
                provider="echo", message=message, session_id=session_id, end_user_id="demo-user"
            ):
                printer.show(event)
                session_id = getattr(event, "session_id", session_id) or session_id
    finally:
        await router.aclose()
    return 1 if printer.failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

"""``python tests/scale/worker.py PORT``: one hosted worker of a scale-out test.

It serves a router on the store ``COPASS_ROUTER_STORE`` and the coordinator
``COPASS_ROUTER_COORDINATOR`` (both from the environment, as a deployed worker's), with:

- ``ledger(note, seconds=0)``: appends ``<pid> <note>`` to the file ``SCALE_LEDGER`` when it
  starts, sleeps, returns ``noted <note>``; the ledger is how a test sees which tool ran where
  and how often, across processes.
- the ``callback`` provider: a deployed agent whose tool calls come back over HTTP to
  ``COPASS_ROUTER_DISPATCH_URL`` (a test points it at another worker, as a load balancer
  may). Its message is the call ids to make, ``c-1 c-1 c-2``; it replies with the outputs.
  ``hold`` writes the run's token to ``SCALE_LEDGER.token`` and waits.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from copass_router import AgentBackend, Event, Message, Router, Turn, hookimpl, tool
from copass_router.server._serve import serve


@tool
async def ledger(note: str, seconds: float = 0.0) -> str:
    """Write ``note`` to the shared ledger, then take ``seconds``."""
    await asyncio.to_thread(_append, os.environ["SCALE_LEDGER"], f"{os.getpid()} {note}\n")
    await asyncio.sleep(seconds)
    return f"noted {note}"


def _append(path: str, line: str) -> None:
    with open(path, "a") as out:
        out.write(line)


class CallbackBackend(AgentBackend):
    default_model = "callback-1"

    async def run_turn(self, turn: Turn) -> AsyncIterator[Event]:
        if turn.message == "hold":  # hands its token to the test, then waits to be killed
            path = Path(os.environ["SCALE_LEDGER"] + ".token")
            await asyncio.to_thread(path.write_text, str(turn.dispatch_token))
            await asyncio.sleep(120)
        outputs: list[str] = []
        async for item in turn.merge(_calls(turn, turn.message.split())):
            if isinstance(item, Event):
                yield item
            else:
                outputs.append(str(item.get("output", item)))
        yield Message(text=" | ".join(outputs))


async def _calls(turn: Turn, call_ids: list[str]) -> AsyncIterator[Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        for call_id in call_ids:
            response = await http.post(
                str(turn.dispatch_url),
                json={
                    "token": turn.dispatch_token,
                    "tool_name": "ledger",
                    "arguments": {"note": call_id},
                    "call_id": call_id,
                    "round": "r-1",
                },
            )
            yield response.json()


class Plugin:
    @hookimpl
    def copass_router_register_backends(self, register: Any) -> None:
        register("callback", lambda context: CallbackBackend(), description="scale test agent")


def main() -> int:
    port = int(sys.argv[1])
    router = Router(tools=[ledger], plugins=[Plugin()])
    return serve("127.0.0.1", port, router=router, grace=1.0)


if __name__ == "__main__":
    sys.exit(main())

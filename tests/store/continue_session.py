"""One process of the cross-process continuation test: continue one session N times at once.

``python continue_session.py STORE_URL SESSION_ID TAG N`` opens the store, prints ``ready``,
waits for a line on stdin (the start signal), then runs N concurrent echo turns on the session (each retried on SessionBusyError) and prints, as JSON, the
messages whose turns finished and how many times the store said busy.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys

from copass_router import Router, SessionBusyError


async def main(url: str, sid: str, tag: str, n: int) -> None:
    router = Router(store=url, load_entry_points=False, environ={})
    await router.store.list_sessions(None, 1)  # open the store before the start line
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    busy = 0

    async def one(k: int) -> str:
        nonlocal busy
        message = f"{tag}-{k}"
        while True:
            try:
                await router.complete(
                    provider="echo", message=message, session_id=sid, end_user_id="u"
                )
                return message
            except SessionBusyError:
                busy += 1
                await asyncio.sleep(random.uniform(0.001, 0.02))

    done = await asyncio.gather(*(one(k) for k in range(n)))
    await router.aclose()
    print(json.dumps({"done": done, "busy": busy}))


if __name__ == "__main__":
    url, sid, tag, n = sys.argv[1:5]
    asyncio.run(main(url, sid, tag, int(n)))

"""``copass-router coordinator rotate-key``: a new dispatch-token signing key for every worker."""

from __future__ import annotations

import argparse
import asyncio
import sys

#: Longest a dispatch token lives by default: an unbounded turn's hour plus its minute of slack.
DEFAULT_RETIRE_AFTER = 3660.0


def coordinator_command(argv: list[str]) -> int:
    """The ``coordinator`` command (registered by the built-in stores plugin)."""
    parser = argparse.ArgumentParser(
        prog="copass-router coordinator", description="what the workers share live"
    )
    sub = parser.add_subparsers(dest="action", required=True)
    rotate = sub.add_parser(
        "rotate-key",
        help="sign dispatch tokens with a new key; the old ones verify until --retire-after",
    )
    rotate.add_argument(
        "--retire-after",
        type=float,
        default=DEFAULT_RETIRE_AFTER,
        help="seconds the old keys still verify (default 3660: the longest token lifetime)",
    )
    rotate.add_argument(
        "--coordinator", help="coordinator URL (default: COPASS_ROUTER_COORDINATOR)"
    )
    args = parser.parse_args(argv)
    return asyncio.run(_rotate(args.coordinator, args.retire_after))


async def _rotate(url: str | None, retire_after: float) -> int:
    import os

    from copass_router._errors import RouterError
    from copass_router.coordination import open_coordinator

    try:
        coordinator = open_coordinator(url, os.environ)
    except RouterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        if not coordinator.shared:
            print(
                "error: no shared coordinator (set COPASS_ROUTER_COORDINATOR=redis://...); "
                "a single process makes a new key each time it starts",
                file=sys.stderr,
            )
            return 1
        kid = await coordinator.rotate_signing_key(retire_after=retire_after)
    except RouterError as exc:
        from copass_router.cli._failure_line import failure_line

        print(f"error: {failure_line(exc, coordinator_url=url)}", file=sys.stderr)
        return 1
    finally:
        await coordinator.aclose()
    print(f"dispatch tokens are now signed with key {kid}; older keys retire in {retire_after:g} s")
    return 0

"""``copass-router store migrate``: bring the session store's schema up to date."""

from __future__ import annotations

import argparse
import asyncio
import sys


def store_command(argv: list[str]) -> int:
    """The ``store`` command (registered by the built-in stores plugin)."""
    parser = argparse.ArgumentParser(
        prog="copass-router store", description="session store maintenance"
    )
    sub = parser.add_subparsers(dest="action", required=True)
    migrate = sub.add_parser(
        "migrate", help="apply pending schema migrations (stores also apply them on start)"
    )
    migrate.add_argument(
        "--store", help="store URL (default: COPASS_ROUTER_STORE or the SQLite file)"
    )
    args = parser.parse_args(argv)
    return asyncio.run(_migrate(args.store))


async def _migrate(url: str | None) -> int:
    from copass_router._errors import RouterError
    from copass_router.run._router import Router

    router = Router(store=url)
    try:
        store = router.store
        migrate = getattr(store, "migrate", None)
        if migrate is None:
            print(f"{type(store).__name__} has no migrations", file=sys.stderr)
            return 1
        applied = await migrate()
    except RouterError as exc:
        from copass_router.cli._failure_line import failure_line

        print(f"error: {failure_line(exc, store_url=url)}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        await router.aclose()
    print(f"applied migrations: {', '.join(map(str, applied))}" if applied else "up to date")
    return 0

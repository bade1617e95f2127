"""The ``copass-router`` command: run, providers, plugins, sessions, install, emulate, serve."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from .errors import RouterError
from .render import EventPrinter

BUILTIN_COMMANDS = (
    "run",
    "providers",
    "plugins",
    "sessions",
    "install",
    "uninstall",
    "emulate",
    "serve",
    "usage",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="copass-router",
        description="Run an AI agent turn on any provider through one call and one event stream.",
        epilog="Plugins may add commands (e.g. 'copass-router google deploy').",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run one turn and print its event stream")
    run.add_argument("message", help="the user's message")
    run.add_argument("--provider", "-p", default="echo", help="provider name (default: echo)")
    run.add_argument("--model", "-m", help="model name (default: the provider's default)")
    run.add_argument("--system", "-s", help="system prompt")
    run.add_argument("--session", help="continue this session (on any provider)")
    run.add_argument("--end-user", default="local", help="end user id (default: local)")
    run.add_argument("--reasoning-engine-id", help="google: the deployed agent engine")
    run.add_argument("--location", help="google: the engine's region")
    run.add_argument(
        "--option",
        "-o",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a provider option (repeatable), e.g. -o base_url=http://localhost:11434/v1",
    )
    run.add_argument("--json", action="store_true", help="print events as JSON lines")
    run.add_argument("--verbose", "-v", action="store_true", help="show provider-specific events")

    providers = sub.add_parser("providers", help="list installed providers")
    providers.add_argument("--json", action="store_true")
    plugins = sub.add_parser("plugins", help="list plugins: loaded, failed, blocked")
    plugins.add_argument("--json", action="store_true")

    sessions = sub.add_parser("sessions", help="list or show stored sessions")
    sessions.set_defaults(sessions_command="list", end_user=None, limit=20)
    sessions_sub = sessions.add_subparsers(dest="sessions_command", metavar="list|show")
    listing = sessions_sub.add_parser("list", help="recent sessions")
    listing.add_argument("--end-user", help="only this end user's sessions")
    listing.add_argument("--limit", type=_limit, default=20, help="1 to 1000 (default 20)")
    show = sessions_sub.add_parser("show", help="a session's transcript")
    show.add_argument("session_id")
    show.add_argument("--end-user", default="local")
    show.add_argument("--json", action="store_true")

    install = sub.add_parser(
        "install",
        help="install a provider plugin: a name from the plugin directory, a path, or --package",
        description="Installs only what is spelled out: a plugin the directory lists "
        "(docs/plugins.md), a local path, or a pip requirement given with --package.",
    )
    install.add_argument(
        "target", nargs="?", help="e.g. 'anthropic' (copass-router-anthropic), or a path"
    )
    install.add_argument(
        "--package", metavar="REQUIREMENT", help="a pip requirement, installed exactly as given"
    )
    install.add_argument("--upgrade", "-U", action="store_true", help="upgrade if installed")
    uninstall = sub.add_parser(
        "uninstall", help="uninstall a provider plugin (a provider name or --package)"
    )
    uninstall.add_argument("target", nargs="?", help="an installed provider, e.g. 'anthropic'")
    uninstall.add_argument(
        "--package", metavar="DISTRIBUTION", help="a distribution, uninstalled exactly as given"
    )

    emulate = sub.add_parser("emulate", help="run a provider's API emulator on loopback")
    emulate.add_argument("provider")
    emulate.add_argument("--host", default="127.0.0.1")
    emulate.add_argument("--port", type=int, default=0, help="0 picks a free port")

    serve = sub.add_parser("serve", help="serve the router over HTTP (needs the server extra)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (beyond loopback: needs keys)"
    )
    serve.add_argument("--port", type=int, default=8787, help="0 picks a free port (default 8787)")
    serve.add_argument(
        "--grace",
        type=_seconds,
        default=30.0,
        help="seconds running turns get to finish at shutdown (default 30)",
    )
    serve.add_argument(
        "--public-url", help="the URL deployed agents reach this server at (dispatch callback)"
    )
    serve.add_argument(
        "--store",
        help="session store URL (default: COPASS_ROUTER_STORE or the "
        "SQLite file in the user data directory)",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=_positive,
        help="larger request bodies are refused with 413 (default 8388608, 8 MiB)",
    )
    from .usage_cli import add_usage_parser  # the usage ledger's command

    add_usage_parser(sub)
    return parser


def _limit(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError("must be from 1 to 1000")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError("must be 0 or more seconds")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _router() -> Any:
    from .router import Router

    return Router()


def _options(pairs: Sequence[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise RouterError(f"--option needs KEY=VALUE, got {pair!r}")
        options[key] = value
    return options


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    router = _router()
    printer = EventPrinter(out, as_json=args.json, verbose=args.verbose)
    fields: dict[str, Any] = {
        "provider": args.provider,
        "message": args.message,
        "model": args.model,
        "system": args.system,
        "session_id": args.session,
        "end_user_id": args.end_user,
        "options": _options(args.option),
    }
    if args.reasoning_engine_id:
        fields["reasoning_engine_id"] = args.reasoning_engine_id
    if args.location:
        fields["location"] = args.location
    try:
        # aclosing: a reader gone mid-run (a closed pipe) ends the turn before the store closes
        async with contextlib.aclosing(router.run(**fields)) as events:
            async for event in events:
                printer.show(event)
    finally:
        await router.aclose()
    return 1 if printer.failed else 0


def _providers(args: argparse.Namespace, out: TextIO) -> int:
    rows = _router().providers()
    if args.json:
        for p in rows:
            out.write(
                json.dumps(
                    {
                        "name": p.name,
                        "plugin": p.plugin,
                        "version": p.version,
                        "description": p.description,
                    }
                )
                + "\n"
            )
        return 0
    for p in rows:
        out.write(f"{p.name:<20} {p.plugin} {p.version or ''}  {p.description}\n".rstrip() + "\n")
    return 0


def _plugins(args: argparse.Namespace, out: TextIO) -> int:
    for info in _router().plugins.infos():
        if args.json:
            out.write(
                json.dumps(
                    {
                        "name": info.name,
                        "status": info.status,
                        "distribution": info.distribution,
                        "version": info.version,
                        "error": info.error,
                        "hooks": list(info.hooks),
                    }
                )
                + "\n"
            )
            continue
        line = f"{info.name:<28} {info.status:<8} {info.distribution or ''} {info.version or ''}"
        out.write(line.rstrip() + (f"\n    {info.error}" if info.error else "") + "\n")
    return 0


async def _sessions(args: argparse.Namespace, out: TextIO) -> int:
    from .wire import turn_to_dict

    router = _router()
    try:
        if args.sessions_command == "show":
            turns = await router.transcript(args.session_id, args.end_user)
            for turn in turns:
                if args.json:
                    out.write(json.dumps(turn_to_dict(turn), default=str) + "\n")
                    continue
                out.write(f"[{turn.index}] {turn.provider}/{turn.model} ({turn.status.value})\n")
                out.write(f"  user: {turn.user}\n")
                EventPrinter(out).show_items(turn.items)
            return 0
        for s in await router.list_sessions(args.end_user, args.limit):
            out.write(f"{s.session_id}  user={s.end_user_id}  turns={s.turn_count}\n")
        return 0
    finally:
        await router.aclose()


def _install(args: argparse.Namespace, out: TextIO) -> int:
    from .install import install

    return install(args.target, args.package, args.upgrade, out)


def _uninstall(args: argparse.Namespace, out: TextIO) -> int:
    from .install import uninstall

    installed = [(p.name, p.plugin) for p in _router().providers()]
    return uninstall(args.target, args.package, installed, out)


def _emulate(args: argparse.Namespace, out: TextIO) -> int:
    router = _router()
    router.plugins.load()
    serve = router.plugins.emulators.get(args.provider)
    if serve is None:
        known = ", ".join(sorted(router.plugins.emulators)) or "none"
        raise RouterError(f"no emulator for {args.provider!r}; installed emulators: {known}")
    target = serve
    try:
        if isinstance(serve, str):
            import importlib

            module, _, attr = serve.partition(":")
            serve = getattr(importlib.import_module(module), attr)
        serve(args.host, args.port)
    except ImportError as exc:
        missing = _missing_emulator_module(exc)
        if missing is None:
            raise
        raise RouterError(
            f"the {args.provider} emulator needs Starlette and uvicorn ({missing} is not "
            f"installed): pip install '{_distribution_of(target)}[emulator]'"
        ) from exc
    return 0


_EMULATOR_MODULES = ("starlette", "uvicorn", "anyio")


def _missing_emulator_module(exc: BaseException | None) -> str | None:
    """The emulator extra's module whose absence raised ``exc`` (or its cause), if any."""
    while exc is not None:
        name = getattr(exc, "name", None) or ""
        if isinstance(exc, ModuleNotFoundError) and name.split(".")[0] in _EMULATOR_MODULES:
            return name.split(".")[0]
        exc = exc.__cause__
    return None


def _distribution_of(target: object) -> str:
    """The distribution that ships ``target`` (a callable or ``"module:attribute"``)."""
    module = target.partition(":")[0] if isinstance(target, str) else target.__module__
    top = module.split(".")[0]
    from importlib import metadata

    found = metadata.packages_distributions().get(top)
    return found[0] if found else top.replace("_", "-")


def _serve(args: argparse.Namespace, out: TextIO) -> int:
    try:
        from .server.serve import serve
    except ImportError as exc:
        raise RouterError(
            f"hosted mode needs the server extra: pip install 'copass-router[server]' ({exc})"
        ) from exc
    limits = {} if args.max_body_bytes is None else {"max_body_bytes": args.max_body_bytes}
    result: int = serve(
        args.host,
        args.port,
        store=args.store,
        grace=args.grace,
        public_url=args.public_url,
        **limits,
    )
    return result


def _plugin_command(argv: list[str], out: TextIO) -> int | None:
    router = _router()
    router.plugins.load()
    command = router.plugins.commands.get(argv[0])
    if command is None:
        return None
    result: int = command[0](argv[1:])
    return result


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of the ``copass-router`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    try:
        if argv and not argv[0].startswith("-") and argv[0] not in BUILTIN_COMMANDS:
            handled = _plugin_command(argv, out)
            if handled is not None:
                return handled
        args = _parser().parse_args(argv)
        if args.command is None:
            _parser().print_help(out)
            return 0
        if args.command == "run":
            return asyncio.run(_run(args, out))
        if args.command == "sessions":
            return asyncio.run(_sessions(args, out))
        if args.command == "usage":
            from .usage_cli import usage_command

            return asyncio.run(usage_command(args, out, _router()))
        handlers = {
            "providers": _providers,
            "plugins": _plugins,
            "install": _install,
            "uninstall": _uninstall,
            "emulate": _emulate,
            "serve": _serve,
        }
        return handlers[args.command](args, out)
    except RouterError as exc:
        sys.stderr.write(f"copass-router: {exc}\n")
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader stopped early (`| head`): end quietly, as shell tools do, and keep the
        # interpreter's final flush of stdout from raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13  # SIGPIPE


if __name__ == "__main__":
    sys.exit(main())

"""The ``copass-router`` command: run, providers, plugins, sessions, install, emulate, serve."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from copass_router._errors import RouterError

if TYPE_CHECKING:
    from copass_router.plugin_host._plugins import PluginHost
    from copass_router.run._router import Router

from copass_router.cli._parser import BUILTIN_COMMANDS, build_parser


def _router() -> Router:
    from copass_router.run._router import Router

    return Router()


def _plugin_host() -> PluginHost:
    """The installed plugins, as a default ``Router`` would load them, without the router
    (commands that only list or dispatch to plugins start faster without it)."""
    from copass_router.plugin_host._plugins import PluginHost

    host = PluginHost()
    host.load()
    return host


def _options(pairs: Sequence[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise RouterError(f"--option needs KEY=VALUE, got {pair!r}")
        options[key] = value
    return options


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    from copass_router.cli._render import EventPrinter

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
    rows = _plugin_host().provider_infos()
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
    for info in _plugin_host().infos():
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
    from copass_router._wire import turn_to_dict
    from copass_router.cli._render import EventPrinter

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
    from copass_router.cli._install import install

    return install(args.target, args.package, args.upgrade, out)


def _uninstall(args: argparse.Namespace, out: TextIO) -> int:
    from copass_router.cli._install import uninstall

    installed = [(p.name, p.plugin) for p in _plugin_host().provider_infos()]
    return uninstall(args.target, args.package, installed, out)


def _emulate(args: argparse.Namespace, out: TextIO) -> int:
    emulators = _plugin_host().emulators
    serve = emulators.get(args.provider)
    if serve is None:
        known = ", ".join(sorted(emulators)) or "none"
        raise RouterError(f"no emulator for {args.provider!r}; installed emulators: {known}")
    target = serve
    try:
        if isinstance(serve, str):
            from copass_router.plugin_host._entry_points import load_reference

            serve = load_reference(serve)
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
        from copass_router.server._serve import serve
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
        workers=args.workers,
        **limits,
    )
    return result


def _plugin_command(argv: list[str], out: TextIO) -> int | None:
    command = _plugin_host().commands.get(argv[0])
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
        args = build_parser().parse_args(argv)
        if args.command is None:
            build_parser().print_help(out)
            return 0
        if args.command in ("run", "sessions", "usage"):
            import asyncio  # only the commands that run a router need an event loop

            if args.command == "usage":
                from copass_router.cli._usage import usage_command

                return asyncio.run(usage_command(args, out, _router()))
            return asyncio.run((_run if args.command == "run" else _sessions)(args, out))
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

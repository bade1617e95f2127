"""The ``copass-router`` command: run, providers, plugins, sessions, install, emulate, serve."""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from copass_router._errors import RouterError

if TYPE_CHECKING:
    from copass_router.plugin_host._plugins import PluginHost
    from copass_router.run._router import Router

from copass_router.cli._parser import BUILTIN_COMMANDS, build_parser


def _router() -> Router:
    """The router of a command run here, on this machine.

    Its coordinator is this process's own unless tool callbacks may reach it through hosted
    workers (``COPASS_ROUTER_DISPATCH_URL`` set), which forward them over the shared one: a
    local run needs no Redis, whatever ``COPASS_ROUTER_COORDINATOR`` says (``serve`` uses it).
    """
    from copass_router.run._router import Router

    shared = bool(os.environ.get("COPASS_ROUTER_DISPATCH_URL", "").strip())
    return Router(coordinator=None if shared else "local")


def _plugin_host() -> PluginHost:
    """The installed plugins, as a default ``Router`` would load them, without the router
    (commands that only list or dispatch to plugins start faster without it)."""
    from copass_router.plugin_host._plugins import PluginHost

    host = PluginHost()
    host.load()
    return host


def _providers(args: argparse.Namespace, out: TextIO) -> int:
    if args.models:
        import asyncio

        return asyncio.run(_provider_models(args, out))
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


async def _provider_models(args: argparse.Namespace, out: TextIO) -> int:
    """Each provider's models as its plugin declares them, the default marked ``*``."""
    router = _router()
    try:
        for info in router.providers():
            backend = await router.backend(info.name)
            default = backend.default_model
            models = list(backend.models)
            if default and default not in models:
                models.insert(0, default)
            if args.json:
                row = {"name": info.name, "default_model": default, "models": models}
                out.write(json.dumps(row) + "\n")
                continue
            listed = " ".join(f"{m}*" if m == default else m for m in models)
            if not backend.models:
                listed += "  (no list: the plugin cannot tell which models its endpoint serves)"
            out.write(f"{info.name:<20} {listed}\n")
    finally:
        await router.aclose()
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


def _install(args: argparse.Namespace, out: TextIO) -> int:
    from copass_router.cli._install import install

    return install(args.target, args.package, args.upgrade, out)


def _uninstall(args: argparse.Namespace, out: TextIO) -> int:
    from copass_router.cli._install import uninstall

    installed = [(p.name, p.plugin) for p in _plugin_host().provider_infos()]
    return uninstall(args.target, args.package, installed, out)


def _emulator(host: PluginHost, name: str) -> Callable[..., Any] | str:
    """The emulator named ``name``, or for provider ``name`` the emulator its plugin registered
    under another of its providers' names (``openai-compatible`` -> ``openai``)."""
    emulators = host.emulators
    infos = host.provider_infos()
    addressable = dict(emulators)
    for info in infos:
        siblings = sorted(p.name for p in infos if p.plugin == info.plugin)
        found = next((emulators[s] for s in siblings if s in emulators), None)
        if found is not None:
            addressable.setdefault(info.name, found)
    if name not in addressable:
        known = ", ".join(sorted(addressable)) or "none"
        raise RouterError(f"no emulator for {name!r}; installed emulators: {known}")
    return addressable[name]


def _emulate(args: argparse.Namespace, out: TextIO) -> int:
    serve = _emulator(_plugin_host(), args.provider)
    target = serve
    try:
        if isinstance(serve, str):
            from copass_router.plugin_host._entry_points import load_reference

            serve = load_reference(serve)
        serve(args.host, args.port)
    except OSError as exc:
        if exc.errno not in _LISTEN_ERRNOS:
            raise
        raise RouterError(
            f"the {args.provider} emulator cannot listen on {args.host}:{args.port}: "
            f"{exc.strerror}; choose another with --port (0: any free port)"
        ) from None
    except ImportError as exc:
        missing = _missing_emulator_module(exc)
        if missing is None:
            raise
        from copass_router.cli._install import extra_advice

        raise RouterError(
            f"the {args.provider} emulator needs Starlette and uvicorn ({missing} is not "
            f"installed): {extra_advice(_distribution_of(target), 'emulator')}"
        ) from exc
    return 0


_EMULATOR_MODULES = ("starlette", "uvicorn", "anyio")
#: Why a socket cannot listen on a host and port: taken, not this machine's, not allowed.
_LISTEN_ERRNOS = (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES)


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
        from copass_router.cli._install import extra_advice

        raise RouterError(
            f"hosted mode needs the server extra ({exc}): {extra_advice('copass-router', 'server')}"
        ) from exc
    from copass_router.cli._tracing import tracing

    limits = {} if args.max_body_bytes is None else {"max_body_bytes": args.max_body_bytes}
    with tracing():
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


def _color(out: TextIO) -> bool:
    """Escape codes only for a terminal, and never with ``NO_COLOR`` set (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty())


def _completion(args: argparse.Namespace, out: TextIO) -> int:
    from copass_router.cli._completion import completion_script

    commands = sorted(_plugin_host().commands)
    parser = build_parser(_plugin_host().declared_fields())
    out.write(completion_script(parser, args.shell, commands))
    return 0


async def _routed(args: argparse.Namespace, out: TextIO) -> int:
    """The commands that open a router: run, sessions, usage."""
    router = _router()
    if args.command == "run":
        from copass_router.cli._run import run_command

        return await run_command(args, out, router, color=_color(out))
    if args.command == "sessions":
        from copass_router.cli._sessions import sessions_command

        return await sessions_command(args, out, router)
    from copass_router.cli._usage import usage_command

    return await usage_command(args, out, router)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of the ``copass-router`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    try:
        if argv and not argv[0].startswith("-") and argv[0] not in BUILTIN_COMMANDS:
            handled = _plugin_command(argv, out)
            if handled is not None:
                return handled
        declared = _plugin_host().declared_fields() if argv[:1] == ["run"] else []
        args = build_parser(declared).parse_args(argv)
        if args.command is None:
            build_parser().print_help(out)
            return 0
        if args.command in ("run", "sessions", "usage"):
            import asyncio  # only the commands that run a router need an event loop

            from copass_router.cli._tracing import tracing

            with tracing():
                return asyncio.run(_routed(args, out))
        handlers = {
            "completion": _completion,
            "providers": _providers,
            "plugins": _plugins,
            "install": _install,
            "uninstall": _uninstall,
            "emulate": _emulate,
            "serve": _serve,
        }
        return handlers[args.command](args, out)
    except RouterError as exc:
        from copass_router.cli._failure_line import failure_line

        sys.stderr.write(f"copass-router: {failure_line(exc)}\n")
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

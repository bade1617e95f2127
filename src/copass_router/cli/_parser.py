"""The ``copass-router`` command line's grammar: every command, flag and argument type."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from copass_router._request_fields import RequestField

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
    "completion",
)


class Parser(argparse.ArgumentParser):
    """argparse, plus a suggestion for a mistyped flag (``--modle``: did you mean --model?)."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments:"):
            import difflib  # only for a mistyped flag

            flags = [a for a in message.split(":", 1)[1].split() if a.startswith("-")]
            known = _option_strings(self)
            for flag in flags:
                close = difflib.get_close_matches(flag.split("=")[0], known, n=1, cutoff=0.6)
                if close:
                    message += f" (did you mean {close[0]}?)"
                    break
        super().error(message)


def _option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """Every option of ``parser`` and of its subcommands (an unknown flag after a subcommand
    is reported by the top-level parser)."""
    found: list[str] = []
    for action in parser._actions:
        found += action.option_strings
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _option_strings(sub)
    return found


class _Version(argparse.Action):
    """``--version``: the installed version, looked up only when asked (the package metadata
    costs every other command its import time)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> NoReturn:
        print(f"copass-router {_version()}")
        parser.exit()


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("copass-router")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser(
    provider_fields: Sequence[tuple[str, RequestField]] = (),
) -> argparse.ArgumentParser:
    """The command line's grammar; ``run`` gets a flag for each of ``provider_fields`` (the
    installed providers' declared fields, as ``(provider, field)``)."""
    parser = Parser(
        prog="copass-router",
        description="Run an AI agent turn on any provider through one call and one event stream.",
        epilog="Plugins may add commands (e.g. 'copass-router google deploy').",
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    run = sub.add_parser("run", help="run one turn and print its event stream")
    run.add_argument(
        "message", nargs="?", help="the user's message; '-' reads it from standard input"
    )
    run.add_argument("--file", "-f", metavar="PATH", help="read the message from a file")
    run.add_argument(
        "--attach",
        action="append",
        default=[],
        metavar="PATH",
        help="an image or document (a file or an http(s) URL) sent with the message; repeatable",
    )
    run.add_argument("--provider", "-p", default="echo", help="provider name (default: echo)")
    run.add_argument("--model", "-m", help="model name (default: the provider's default)")
    run.add_argument("--system", "-s", help="system prompt")
    run.add_argument("--session", help="continue this session (on any provider)")
    run.add_argument(
        "--continue",
        "-c",
        dest="continue_",
        action="store_true",
        help="continue the end user's most recent session",
    )
    run.add_argument("--end-user", default="local", help="end user id (default: local)")
    run.add_argument("--temperature", type=float, help="sampling temperature (0-2)")
    run.add_argument(
        "--max-output-tokens", type=int, metavar="N", help="stop the reply after N tokens"
    )
    run.add_argument(
        "--stop", action="append", default=[], metavar="TEXT", help="a stop sequence (repeatable)"
    )
    run.add_argument(
        "--output-schema",
        metavar="FILE",
        help="a JSON Schema file: the answer must be JSON valid against it",
    )
    run.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a provider's own run field (repeatable); installed providers' fields also have "
        "flags of their own, listed below",
    )
    run.add_argument(
        "--option",
        "-o",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a provider option (repeatable), e.g. -o base_url=http://localhost:11434/v1",
    )
    run.add_argument(
        "--tools",
        action="append",
        default=[],
        metavar="MODULE",
        help="tools from an importable module (its @tool functions, or its TOOLS list); repeatable",
    )
    run.add_argument("--json", action="store_true", help="print events as JSON lines")
    run.add_argument("--verbose", "-v", action="store_true", help="show provider-specific events")
    if provider_fields:  # ``run`` only: the other commands do without the run module
        from copass_router.cli._run import add_field_flags

        add_field_flags(run, provider_fields)

    providers = sub.add_parser("providers", help="list installed providers")
    providers.add_argument("--json", action="store_true")
    providers.add_argument(
        "--models", action="store_true", help="also each provider's models (* marks the default)"
    )
    plugins = sub.add_parser("plugins", help="list plugins: loaded, failed, blocked")
    plugins.add_argument("--json", action="store_true")

    sessions = sub.add_parser("sessions", help="list, show or delete stored sessions")
    sessions.set_defaults(sessions_command="list", end_user=None, limit=20, json=False)
    sessions_sub = sessions.add_subparsers(
        dest="sessions_command", metavar="list|show|delete", parser_class=Parser
    )
    listing = sessions_sub.add_parser("list", help="recent sessions, newest first")
    listing.add_argument("--end-user", help="only this end user's sessions")
    listing.add_argument("--limit", type=_limit, default=20, help="1 to 1000 (default 20)")
    listing.add_argument("--json", action="store_true", help="one JSON object per session")
    show = sessions_sub.add_parser("show", help="a session's transcript")
    show.add_argument("session_id")
    show.add_argument("--end-user", default="local", help="the session's end user (default local)")
    show.add_argument("--json", action="store_true")
    delete = sessions_sub.add_parser("delete", help="delete a session and its transcript")
    delete.add_argument("session_id")
    delete.add_argument(
        "--end-user", default="local", help="the session's end user (default local)"
    )

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
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="processes serving the one port (default 1; more need a shared store and "
        "COPASS_ROUTER_COORDINATOR, see docs/deploy.md)",
    )
    from copass_router.cli._usage import add_usage_parser  # the usage ledger's command

    add_usage_parser(sub)
    completion = sub.add_parser(
        "completion",
        help="print a shell completion script",
        description='Load it in your shell, e.g. eval "$(copass-router completion bash)"',
    )
    completion.add_argument("shell", choices=("bash", "zsh"))
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

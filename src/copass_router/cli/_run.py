"""``copass-router run``: where the message comes from, which session and tools, then the run."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from copass_router._errors import RouterError

if TYPE_CHECKING:
    from copass_router._request_fields import RequestField
    from copass_router.run._router import Router
    from copass_router.tools._tools import Tool


def options(pairs: Sequence[str]) -> dict[str, Any]:
    """``-o KEY=VALUE`` pairs as provider options."""
    found: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise RouterError(f"--option needs KEY=VALUE, got {pair!r}")
        found[key] = value
    return found


def schema_file(path: str) -> Any:
    """The JSON Schema in the file ``--output-schema`` names."""
    try:
        return json.loads(Path(path).expanduser().read_text())
    except OSError as exc:
        raise RouterError(f"--output-schema: cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise RouterError(f"--output-schema: {path} is not JSON: {exc}") from None


#: Where ``run``'s flags for provider fields keep their values (``--name VALUE``).
FIELD_DEST = "provider_field__"
_NUMBERS: dict[Any, Any] = {int: int, float: float, (int, float): float, (float, int): float}


def add_field_flags(
    run: argparse.ArgumentParser, declared: Sequence[tuple[str, RequestField]]
) -> None:
    """A ``--name-with-dashes VALUE`` flag on ``run`` for each declared provider field (one
    per name, its help naming every provider that declares it). A name whose flag ``run``
    already has is given with ``--field NAME=VALUE`` only."""
    by_name: dict[str, list[tuple[str, RequestField]]] = {}
    for provider, field in declared:
        by_name.setdefault(field.name, []).append((provider, field))
    taken = {flag for action in run._actions for flag in action.option_strings}
    for name, owners in sorted(by_name.items()):
        flag = "--" + name.replace("_", "-")
        if flag in taken:
            continue
        about = "; ".join(f"{p}: {f.help or f.name}" for p, f in owners)
        read = _NUMBERS.get(owners[0][1].type, str)  # a number field reads its value as one
        run.add_argument(flag, dest=FIELD_DEST + name, metavar="VALUE", help=about, type=read)


def provider_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The provider fields the command line gives: ``--field NAME=VALUE`` and each provider
    field's own flag (an empty value leaves the field unset)."""
    found: dict[str, Any] = {}
    for pair in args.field:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise RouterError(f"--field needs NAME=VALUE, got {pair!r}")
        found[name] = value
    for dest, value in vars(args).items():
        if dest.startswith(FIELD_DEST) and value not in (None, ""):
            found[dest.removeprefix(FIELD_DEST)] = value
    return found


def message(args: argparse.Namespace, stdin: TextIO | None = None) -> str:
    """The message: the argument, ``-`` for standard input, or ``--file PATH``."""
    if args.file is not None and args.message is not None:
        raise RouterError("give the message as an argument or with --file, not both")
    source = args.file if args.file is not None else args.message
    if source is None:
        raise RouterError(
            "run needs a message: copass-router run 'hello', '-' to read standard input, "
            "or --file PATH"
        )
    if source == "-":
        return (stdin or sys.stdin).read()
    if args.file is None:
        return str(source)
    try:
        return Path(source).expanduser().read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise RouterError(f"cannot read the message from {source!r}: {exc}") from exc


def tools_from(modules: Sequence[str]) -> list[Tool]:
    """The tools of each importable module: its ``TOOLS`` list if it has one, else every
    :class:`~copass_router.Tool` (a function decorated with ``@tool``) it defines."""
    from copass_router.tools._tools import Tool, as_tool

    found: list[Tool] = []
    if modules and "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: modules beside the reader
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise RouterError(
                f"--tools {name}: cannot import it ({exc}); give an importable module, e.g. "
                "--tools my_tools for my_tools.py in the current directory"
            ) from exc
        listed = getattr(module, "TOOLS", None)
        if listed is not None:
            found += [as_tool(t) for t in listed]
            continue
        defined = [v for v in vars(module).values() if isinstance(v, Tool)]
        if not defined:
            raise RouterError(
                f"--tools {name}: the module defines no tools; decorate functions with "
                "@copass_router.tool or list them in TOOLS"
            )
        found += defined
    return found


async def run_command(
    args: argparse.Namespace, out: TextIO, router: Router, *, color: bool = False
) -> int:
    """Run one turn and print it; the exit status (1 when the run failed)."""
    from copass_router.cli._render import EventPrinter

    if args.continue_ and args.session:
        raise RouterError("give --session ID or --continue, not both")
    fields: dict[str, Any] = {
        "provider": args.provider,
        "message": _with_attachments(message(args), args.attach),
        "model": args.model,
        "system": args.system,
        "session_id": args.session,
        "end_user_id": args.end_user,
        "options": options(args.option),
        "tools": tools_from(args.tools),
    }
    for name in ("temperature", "max_output_tokens", "stop"):
        value = getattr(args, name)
        if value is not None and value != []:  # unset: left out (a provider may not have it)
            fields[name] = value
    if args.output_schema:
        fields["output_schema"] = schema_file(args.output_schema)
    fields.update(provider_fields(args))
    # --continue: the router's own setting, so the CLI continues exactly as a library user's
    # Router(continue_latest_session=True) does
    router.continue_latest_session = router.continue_latest_session or args.continue_
    printer = EventPrinter(out, as_json=args.json, verbose=args.verbose, color=color)
    try:
        if args.model and not args.json:
            await warn_unknown_model(router, args.provider, args.model)
        # aclosing: a reader gone mid-run (a closed pipe) ends the turn before the store closes
        async with contextlib.aclosing(router.run(**fields)) as events:
            async for event in events:
                printer.show(event)
    finally:
        await router.aclose()
    return 1 if printer.failed else 0


async def warn_unknown_model(router: Router, provider: str, model: str) -> None:
    """Warn on stderr when the provider lists its models and ``model`` is not one of them
    (a warning: a provider may serve models newer than its plugin's list)."""
    try:
        backend = await router.backend(provider)
    except RouterError:
        return  # the run itself reports an unknown provider, with its advice
    known = tuple(getattr(backend, "models", ()) or ())
    if known and model not in known:
        sys.stderr.write(
            f"copass-router: warning: {provider} does not list model {model!r} "
            f"(its models: {', '.join(known)}); running it anyway\n"
        )


def _with_attachments(text: str, paths: Sequence[str] | None) -> Any:
    """The message with ``--attach`` files as parts (their machinery imported only then)."""
    if not paths:
        return text
    from copass_router.cli._attach import with_attachments

    return with_attachments(text, paths)

"""Plugins are type-checked against the core's real types: it ships py.typed, and the hook
specifications and registrars are typed. mypy runs here on plugin code outside the repository,
against the installed copass_router, the way a third-party plugin's CI would run it."""

from __future__ import annotations

import importlib.util
import re
import typing
from pathlib import Path

import pytest
from mypy import api

import copass_router
from copass_router.plugin_host import _hookspecs as hookspecs

#: Every public name (the package root imports each on first use, so ``vars()`` lists only
#: those used so far).
PUBLIC = {name: getattr(copass_router, name) for name in copass_router.__all__}

PLUGIN = """\
from collections.abc import Iterator

from copass_router import (
    BackendContext,
    BackendRegistrar,
    CommandRegistrar,
    EmulatorRegistrar,
    Event,
    ProviderError,
    StoreRegistrar,
    ToolContext,
    ToolRegistrar,
    hookimpl,
)
from copass_router.testing import ScriptedBackend


def fail() -> None:
    raise ProviderError("x", provder="p")  # error: provder


def fail_well() -> None:
    raise ProviderError("x", provider="p", status=429)


def make_backend(context: BackendContext) -> ScriptedBackend:
    return ScriptedBackend()


def serve(host: str, port: int) -> None: ...


def deploy(argv: list[str]) -> int:
    return 0


@hookimpl
def copass_router_register_backends(register: BackendRegistrar) -> None:
    register("mine", make_backend, description="mine")
    register("lazy", "my_plugin.backend:make_backend")
    register("mine", make_backend, descripton="typo")  # error: descripton
    register("mine", 42)  # error: not a factory


@hookimpl
def copass_router_register_tools(register: ToolRegistrar) -> None:
    register(fail_well)


@hookimpl
def copass_router_register_stores(register: StoreRegistrar) -> None:
    register("redis", make_backend)  # error: not a store factory


@hookimpl
def copass_router_register_commands(register: CommandRegistrar) -> None:
    register("deploy", deploy, help="deploy things")
    register("deploy", serve)  # error: not a command handler


@hookimpl
def copass_router_register_emulators(register: EmulatorRegistrar) -> None:
    register("mine", serve)
    register("mine", "my_plugin.emulator:serve")


@hookimpl
def copass_router_process_event(event: Event, context: ToolContext) -> Event:
    print(context.end_usr_id)  # error: end_usr_id
    return event
"""


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[int, str]:
    """mypy's errors on PLUGIN, by line, from a directory outside the repository."""
    root = tmp_path_factory.mktemp("typed_plugin")
    (root / "my_plugin.py").write_text(PLUGIN)
    (root / "mypy.ini").write_text("[mypy]\ndisallow_untyped_defs = True\n")
    stdout, stderr, status = api.run(
        [
            str(root / "my_plugin.py"),
            "--config-file",
            str(root / "mypy.ini"),
            "--cache-dir",
            str(root / ".mypy_cache"),
            "--no-error-summary",
            "--show-error-codes",
        ]
    )
    assert stderr == "" and status in (0, 1), stderr
    errors: dict[int, str] = {}
    for match in re.finditer(r"my_plugin\.py:(\d+): error: (.*)", stdout):
        errors.setdefault(int(match[1]), match[2])
    return errors


def _line(marker: str) -> int:
    lines = PLUGIN.splitlines()
    return next(i for i, line in enumerate(lines, start=1) if marker in line)


def test_the_core_ships_py_typed() -> None:
    spec = importlib.util.find_spec("copass_router")
    assert spec is not None and spec.origin is not None
    assert (Path(spec.origin).parent / "py.typed").is_file()


def test_mypy_catches_a_misspelt_keyword_in_a_plugin(mypy_errors: dict[int, str]) -> None:
    line = _line('provder="p"')
    assert line in mypy_errors, mypy_errors
    assert 'Unexpected keyword argument "provder" for "ProviderError"' in mypy_errors[line]


def test_register_calls_are_checked_against_the_registrar_protocols(
    mypy_errors: dict[int, str],
) -> None:
    assert 'Unexpected keyword argument "descripton"' in mypy_errors[_line("descripton=")]
    assert "[arg-type]" in mypy_errors[_line('register("mine", 42)')]
    assert "[arg-type]" in mypy_errors[_line('register("redis", make_backend)')]
    assert "[arg-type]" in mypy_errors[_line('register("deploy", serve)')]


def test_process_event_context_is_a_typed_tool_context(mypy_errors: dict[int, str]) -> None:
    assert '"ToolContext" has no attribute "end_usr_id"' in mypy_errors[_line("end_usr_id")]
    hints = typing.get_type_hints(hookspecs.copass_router_process_event, localns=PUBLIC)
    assert hints["context"] is copass_router.ToolContext


def test_correct_plugin_code_passes_mypy(mypy_errors: dict[int, str]) -> None:
    expected = {i for i, line in enumerate(PLUGIN.splitlines(), start=1) if "# error:" in line}
    assert set(mypy_errors) == expected, mypy_errors


def test_every_registration_hook_takes_its_registrar_protocol() -> None:
    expected = {
        "copass_router_register_backends": copass_router.BackendRegistrar,
        "copass_router_register_tools": copass_router.ToolRegistrar,
        "copass_router_register_stores": copass_router.StoreRegistrar,
        "copass_router_register_commands": copass_router.CommandRegistrar,
        "copass_router_register_emulators": copass_router.EmulatorRegistrar,
        "copass_router_register_prices": copass_router.PriceRegistrar,
    }
    registration = {n for n in vars(hookspecs) if n.startswith("copass_router_register_")}
    assert registration == set(expected), "a new registration hook needs its Protocol here"
    for name, protocol in expected.items():
        hints = typing.get_type_hints(getattr(hookspecs, name), localns=PUBLIC)
        assert hints == {"register": protocol, "return": type(None)}, name
        assert getattr(protocol, "_is_protocol", False), protocol

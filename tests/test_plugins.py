"""Plugin loading: entry points, isolation, allow and block lists, broken and misspelt plugins."""

from __future__ import annotations

import importlib.util
import io
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from copass_router import BackendRegistrar, PluginLoadError, Router, RouterError, hookimpl
from copass_router.cli._main import main

sys.path.insert(0, str(Path(__file__).parent))
from plugin_fixtures import install_fake_plugin

GOOD = """
from copass_router import hookimpl
from copass_router.testing import ScriptedBackend

@hookimpl
def copass_router_register_backends(register):
    register("fake-good", lambda context: ScriptedBackend(), description="a good one")
"""
BROKEN_IMPORT = "raise ImportError('missing dependency: frobnicate')\n"
BROKEN_REGISTER = """
from copass_router import hookimpl

@hookimpl
def copass_router_register_backends(register):
    register("fake-half", lambda context: None)
    raise RuntimeError("registration blew up")
"""


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    install_fake_plugin(tmp_path, "copass-router-fake-good", "fake_good_plugin", GOOD, "fake-good")
    install_fake_plugin(
        tmp_path, "copass-router-fake-broken", "fake_broken_plugin", BROKEN_IMPORT, "fake-broken"
    )
    install_fake_plugin(
        tmp_path, "copass-router-fake-half", "fake_half_plugin", BROKEN_REGISTER, "fake-half"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    for name in ("fake_good_plugin", "fake_broken_plugin", "fake_half_plugin"):
        sys.modules.pop(name, None)


TYPO = """
from copass_router import hookimpl
from copass_router.testing import ScriptedBackend

@hookimpl
def copass_router_register_backend(register):
    register("fake-typo", lambda context: ScriptedBackend())
"""
TYPO_MESSAGE = (
    "unknown hook 'copass_router_register_backend'"
    " (did you mean 'copass_router_register_backends'?)"
)


@pytest.fixture
def typo_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    install_fake_plugin(tmp_path, "copass-router-fake-good", "fake_good_plugin", GOOD, "fake-good")
    install_fake_plugin(tmp_path, "copass-router-fake-typo", "fake_typo_plugin", TYPO, "fake-typo")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    for name in ("fake_good_plugin", "fake_typo_plugin"):
        sys.modules.pop(name, None)


def _router(environ: dict[str, str] | None = None, **kw: object) -> Router:
    return Router(store=":memory:", environ=environ or {}, **kw)


def test_a_broken_plugin_is_reported_and_the_rest_work(installed: Path) -> None:
    router = _router()
    infos = {i.name: i for i in router.plugins.infos()}
    assert infos["fake-good"].status == "loaded"
    assert infos["fake-good"].distribution == "copass-router-fake-good"
    assert infos["fake-good"].version == "1.2.3"
    assert infos["fake-broken"].status == "failed"
    assert "missing dependency: frobnicate" in (infos["fake-broken"].error or "")
    assert infos["fake-half"].status == "failed"
    assert "registration blew up" in (infos["fake-half"].error or "")
    names = {p.name for p in router.providers()}
    assert "fake-good" in names and "echo" in names
    assert "fake-half" not in names, "a plugin that failed mid-registration registers nothing"
    provider = next(p for p in router.providers() if p.name == "fake-good")
    assert (provider.plugin, provider.version) == ("copass-router-fake-good", "1.2.3")


def test_strict_mode_raises(installed: Path) -> None:
    with pytest.raises(PluginLoadError, match="fake-broken"):
        _router(strict_plugins=True).providers()


def test_a_misspelt_hook_fails_that_plugin_and_names_the_nearest_hook(
    typo_installed: Path,
) -> None:
    router = _router()
    infos = {i.name: i for i in router.plugins.infos()}
    assert infos["fake-typo"].status == "failed"
    assert infos["fake-typo"].error == TYPO_MESSAGE
    assert infos["fake-good"].status == "loaded"
    names = {p.name for p in router.providers()}
    assert "fake-good" in names and "fake-typo" not in names


def test_copass_router_plugins_shows_the_misspelt_hook(
    typo_installed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COPASS_ROUTER_STORE", ":memory:")
    monkeypatch.setenv("COPASS_ROUTER_LOAD_PLUGINS", "fake-good,fake-typo")
    out = io.StringIO()
    assert main(["plugins"], out=out) == 0
    lines = out.getvalue().splitlines()
    typo = next(i for i, line in enumerate(lines) if line.startswith("fake-typo "))
    assert lines[typo].split()[:2] == ["fake-typo", "failed"]
    assert lines[typo + 1].strip() == TYPO_MESSAGE


def test_a_misspelt_hook_in_strict_mode_raises(typo_installed: Path) -> None:
    with pytest.raises(PluginLoadError) as raised:
        _router(strict_plugins=True).providers()
    assert str(raised.value) == f"plugin 'fake-typo' failed to load: {TYPO_MESSAGE}"


def test_a_plugin_object_with_a_misspelt_hook_fails_alone(
    make_router: Callable[..., Router],
) -> None:
    class Typo:
        @hookimpl
        def copass_router_dispatch_tools(self, call: object) -> None:
            raise AssertionError("never called")

    class Good:
        @hookimpl
        def copass_router_register_backends(self, register: BackendRegistrar) -> None:
            register("good", "copass_router.testing:ScriptedBackend")

    router = make_router(plugins=[Typo(), Good()])
    infos = {i.name: i for i in router.plugins.infos()}
    assert infos["Typo-0"].status == "failed"
    assert infos["Typo-0"].error == (
        "unknown hook 'copass_router_dispatch_tools' (did you mean 'copass_router_dispatch_tool'?)"
    )
    assert infos["Good-1"].status == "loaded"
    assert "good" in {p.name for p in router.providers()}
    assert router.plugins.dispatch_hook() is None
    with pytest.raises(PluginLoadError, match="copass_router_dispatch_tools"):
        make_router(plugins=[Typo()], strict_plugins=True).providers()


def test_an_unknown_hook_far_from_any_lists_the_hooks(make_router: Callable[..., Router]) -> None:
    class Odd:
        @hookimpl
        def copass_router_frobnicate(self) -> None: ...

    (info,) = [i for i in make_router(plugins=[Odd()]).plugins.infos() if i.name == "Odd-0"]
    assert info.error is not None
    assert info.error.startswith("unknown hook 'copass_router_frobnicate' (hooks: ")
    assert "copass_router_process_event" in info.error

    class NoPrefix:
        @hookimpl
        def register_backends(self) -> None: ...

    (info,) = [i for i in make_router(plugins=[NoPrefix()]).plugins.infos() if i.name[0] == "N"]
    assert info.error == (
        "unknown hook 'register_backends' (did you mean 'copass_router_register_backends'?)"
    )


def test_an_optional_hook_for_another_version_is_allowed(
    make_router: Callable[..., Router],
) -> None:
    class FromTheFuture:
        @hookimpl(optionalhook=True)
        def copass_router_not_yet_a_hook(self) -> None: ...

    router = make_router(plugins=[FromTheFuture()])
    assert [i.status for i in router.plugins.infos() if i.name == "FromTheFuture-0"] == ["loaded"]


def test_a_hook_function_without_the_marker_fails_its_plugin(
    make_router: Callable[..., Router],
) -> None:
    class Unmarked:
        def copass_router_register_backends(self, register: BackendRegistrar) -> None:
            register("unmarked", "copass_router.testing:ScriptedBackend")

        def copass_router_register_backend(self, register: BackendRegistrar) -> None: ...

    (info,) = [i for i in make_router(plugins=[Unmarked()]).plugins.infos() if i.name[0] == "U"]
    assert info.error == (
        "unknown hook 'copass_router_register_backend' (did you mean "
        "'copass_router_register_backends'?); "
        "'copass_router_register_backends' is not marked @hookimpl"
    )


def test_a_misspelt_argument_fails_its_plugin(make_router: Callable[..., Router]) -> None:
    class BadArgument:
        @hookimpl
        def copass_router_process_event(self, evnt: object) -> object:
            return evnt

    router = make_router(plugins=[BadArgument()])
    (info,) = [i for i in router.plugins.infos() if i.name == "BadArgument-0"]
    assert info.status == "failed" and "evnt" in (info.error or "")
    assert router.plugins.middleware() == []


def test_hook_wrappers_fail_their_plugin(make_router: Callable[..., Router]) -> None:
    class Wrapper:
        @hookimpl(wrapper=True)
        def copass_router_dispatch_tool(self) -> Iterator[None]:
            return (yield)

    (info,) = [i for i in make_router(plugins=[Wrapper()]).plugins.infos() if i.name[0] == "W"]
    assert info.status == "failed"
    assert info.error == (
        "'copass_router_dispatch_tool' is a hook wrapper; the router calls each implementation "
        "itself, so wrappers are not supported"
    )


def test_allow_list_loads_only_the_named_plugins(installed: Path) -> None:
    router = _router({"COPASS_ROUTER_LOAD_PLUGINS": "copass-router-fake-good"})
    infos = {i.name: i.status for i in router.plugins.infos()}
    assert infos["fake-good"] == "loaded"
    assert infos["fake-broken"] == "blocked" and infos["fake-half"] == "blocked"


def test_block_list_by_entry_point_name(installed: Path) -> None:
    router = _router({"COPASS_ROUTER_DISABLE_PLUGINS": "fake-good,fake_broken"})
    infos = {i.name: i.status for i in router.plugins.infos()}
    assert infos["fake-good"] == "blocked" and infos["fake-broken"] == "blocked"
    assert "fake-good" not in {p.name for p in router.providers()}


def test_two_routers_in_one_process_have_their_own_plugins(
    make_router: Callable[..., Router],
) -> None:
    class Extra:
        @hookimpl
        def copass_router_register_backends(self, register: Callable[..., None]) -> None:
            register("extra", "copass_router.testing:ScriptedBackend")

    with_extra = make_router(plugins=[Extra()])
    without = make_router()
    assert "extra" in {p.name for p in with_extra.providers()}
    assert "extra" not in {p.name for p in without.providers()}
    assert with_extra.plugins.pm is not without.plugins.pm


def test_plugin_loading_happens_once_and_lazily(installed: Path) -> None:
    router = _router()
    assert "fake_good_plugin" not in sys.modules, "constructing a Router loads nothing"
    router.providers()
    module = sys.modules["fake_good_plugin"]
    router.providers()
    assert sys.modules["fake_good_plugin"] is module


def test_string_factories_are_imported_on_first_use(make_router: Callable[..., Router]) -> None:
    class Lazy:
        @hookimpl
        def copass_router_register_backends(self, register: Callable[..., None]) -> None:
            register("lazy", "colorsys:rgb_to_hsv")  # checked at load, imported on use

    sys.modules.pop("colorsys", None)
    router = make_router(plugins=[Lazy()])
    assert "lazy" in {p.name for p in router.providers()}
    assert "colorsys" not in sys.modules, "a string factory is imported on first use only"


def test_hookimpl_is_exported_for_plugins() -> None:
    assert importlib.util.find_spec("copass_router") is not None
    from copass_router import hookimpl as exported

    assert exported.project_name == "copass_router"


def test_an_implementation_may_name_its_hook_with_specname(
    make_router: Callable[..., Router],
) -> None:
    class Renamed:
        @hookimpl(specname="copass_router_register_backends")
        def copass_router_backends_of_mine(self, register: BackendRegistrar) -> None:
            register("renamed", "copass_router.testing:ScriptedBackend")

    router = make_router(plugins=[Renamed()])
    assert [i.status for i in router.plugins.infos() if i.name == "Renamed-0"] == ["loaded"]
    assert "renamed" in {p.name for p in router.providers()}


def _info(router: Router, prefix: str) -> Any:
    (info,) = [i for i in router.plugins.infos() if i.name.startswith(prefix)]
    return info


async def test_a_factory_string_that_does_not_resolve_fails_its_plugin_at_load(
    make_router: Callable[..., Router],
) -> None:
    class Misspelt:
        @hookimpl
        def copass_router_register_backends(self, register: BackendRegistrar) -> None:
            register("misspelt", "copass_router.testing._scripted_backend:ScriptedBacknd")

    router = make_router(plugins=[Misspelt()])
    info = _info(router, "Misspelt")
    assert info.status == "failed"
    assert "defines no 'ScriptedBacknd'" in (info.error or "")
    with pytest.raises(RouterError):
        await router.complete(provider="misspelt", message="hi")


async def test_a_factory_that_fails_to_import_raises_a_router_error_on_use(
    make_router: Callable[..., Router],
) -> None:
    class Shadowed:
        @hookimpl
        def copass_router_register_backends(self, register: BackendRegistrar) -> None:
            # The name is written in the module (a comment mentions it too) but is no
            # attribute at run time: the load check passes, the import says no.
            register("shadowed", "copass_router.testing._scripted_backend:_Script.nothing")

    router = make_router(plugins=[Shadowed()])
    assert _info(router, "Shadowed").status == "loaded"
    with pytest.raises(PluginLoadError, match="does not resolve"):
        await router.complete(provider="shadowed", message="hi")


def test_an_async_registration_hook_fails_its_plugin(make_router: Callable[..., Router]) -> None:
    class Eager:
        @hookimpl
        async def copass_router_register_backends(self, register: BackendRegistrar) -> None:
            register("eager", "copass_router.testing:ScriptedBackend")

    info = _info(make_router(plugins=[Eager()]), "Eager")
    assert info.status == "failed" and "async" in (info.error or "")


def test_a_registration_hook_may_take_no_arguments(make_router: Callable[..., Router]) -> None:
    class Quiet:
        @hookimpl
        def copass_router_register_tools(self) -> None:
            pass

    router = make_router(plugins=[Quiet()])
    assert _info(router, "Quiet").status == "loaded"


def test_a_registration_hook_with_an_argument_the_spec_lacks_fails(
    make_router: Callable[..., Router],
) -> None:
    class Extra:
        @hookimpl
        def copass_router_register_tools(self, register: Any, extra: Any) -> None:
            pass

    info = _info(make_router(plugins=[Extra()]), "Extra")
    assert info.status == "failed" and "extra" in (info.error or "")

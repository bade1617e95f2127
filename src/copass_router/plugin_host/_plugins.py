"""The plugin host: one pluggy manager per Router, entry-point loading, allow and block lists.

A plugin that fails to import, names a hook that does not exist, or fails to register is skipped
with a warning and reported as failed (``copass-router plugins``); the rest keep working.
``strict=True`` raises instead.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from copass_router._errors import PluginLoadError
from copass_router._logs import get_logger
from copass_router._request_fields import RequestField, as_request_field
from copass_router.accounting._prices import PriceBook
from copass_router.plugin_host import _hookspecs as hookspecs
from copass_router.plugin_host._entry_points import installed, load_reference, reference_problem
from copass_router.plugin_host._hook_calls import (
    HOOK_CALLS,
    DispatchChain,
    FirstResult,
    implementations,
)
from copass_router.plugin_host._hook_checks import GROUP, REGISTRATION_HOOKS, hook_problems
from copass_router.plugin_host._hookspecs import EVENT_TYPES_ATTR
from copass_router.plugin_host._registrars import BackendRegistrar

if TYPE_CHECKING:
    from copass_router.tools._tools import Tool

log = get_logger("copass_router.plugins")

BUILTINS = ("copass_router.builtin.echo", "copass_router.builtin.stores")
#: The registration hooks in the order they run: providers first, prices last.
_REGISTRATION_ORDER = [h for h in HOOK_CALLS if h in REGISTRATION_HOOKS]


@dataclasses.dataclass(frozen=True, slots=True)
class PluginInfo:
    """One plugin as the host saw it: ``status`` is loaded, failed or blocked."""

    name: str
    status: str
    distribution: str | None = None
    version: str | None = None
    error: str | None = None
    hooks: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderInfo:
    """An installed provider: its name, the plugin that gave it, and that plugin's version."""

    name: str
    plugin: str
    version: str | None
    description: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class BackendRegistration:
    """A provider name, the factory that builds its backend, and the plugin that gave it."""

    name: str
    factory: Callable[..., Any] | str
    plugin: str
    version: str | None = None
    description: str = ""
    #: The provider fields the provider declares, as its plugin registered them.
    declared: tuple[RequestField, ...] = ()

    def load_factory(self) -> Callable[..., Any]:
        """The factory, importing it first if it was given as ``"module:attribute"``.

        Raises :class:`PluginLoadError` naming the plugin when the reference does not resolve.
        """
        if callable(self.factory):
            return self.factory
        try:
            loaded: Any = load_reference(self.factory)
        except (ImportError, AttributeError) as exc:
            raise PluginLoadError(
                f"provider {self.name!r} of plugin {self.plugin!r} cannot be built: its factory "
                f"{self.factory!r} does not resolve ({type(exc).__name__}: {exc})"
            ) from exc
        if not callable(loaded):
            raise PluginLoadError(
                f"provider {self.name!r} of plugin {self.plugin!r}: its factory {self.factory!r} "
                "is not callable"
            )
        factory: Callable[..., Any] = loaded
        return factory


def _names(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {_normal(v) for v in value.split(",") if v.strip()}


def _normal(name: str) -> str:
    return name.strip().lower().replace("_", "-")


class PluginHost:
    """Finds, loads and queries a router's plugins. Loading happens once, on first use."""

    def __init__(
        self,
        *,
        plugins: Sequence[object] = (),
        load_entry_points: bool = True,
        builtins: bool = True,
        strict: bool = False,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.pm = pluggy.PluginManager(GROUP)
        self.pm.add_hookspecs(hookspecs)
        self._extra = list(plugins)
        self._entry_points = load_entry_points
        self._builtins = builtins
        self._strict = strict
        env = os.environ if environ is None else environ
        self._allow = _names(env.get("COPASS_ROUTER_LOAD_PLUGINS"))
        self._block = _names(env.get("COPASS_ROUTER_DISABLE_PLUGINS")) or set()
        self._infos: dict[str, PluginInfo] = {}
        self._meta: dict[str, tuple[str | None, str | None]] = {}
        self._loaded = False
        self.backends: dict[str, BackendRegistration] = {}
        self.tools: dict[str, Tool] = {}
        self.stores: dict[str, Callable[[str], Any]] = {}
        self.commands: dict[str, tuple[Callable[[list[str]], int], str]] = {}
        self.emulators: dict[str, Callable[..., Any] | str] = {}
        self.prices = PriceBook()

    # -- loading ---------------------------------------------------------------------------

    def load(self) -> None:
        """Load every plugin and collect what each registers (idempotent)."""
        if self._loaded:
            return
        self._loaded = True
        if self._builtins:
            for path in BUILTINS:
                if self._is_blocked_builtin(path):
                    self._infos[path] = PluginInfo(
                        path, "blocked", "copass-router", installed(GROUP).core_version
                    )
                    continue
                self._add(
                    path, functools.partial(importlib.import_module, path), "copass-router", None
                )
        for i, obj in enumerate(self._extra):
            name = getattr(obj, "__name__", None) or f"{type(obj).__name__}-{i}"
            self._add(name, functools.partial(_identity, obj), None, None)
        if self._entry_points:
            for ep in installed(GROUP).entry_points:
                if self._is_blocked(ep.name, ep.dist):
                    self._infos[ep.name] = PluginInfo(ep.name, "blocked", ep.dist, ep.version)
                    continue
                self._add(ep.name, ep.load, ep.dist, ep.version)
        self.pm.check_pending()  # every plugin naming an unknown hook was failed and removed above
        self._collect()

    def _is_blocked_builtin(self, path: str) -> bool:
        # Only the block list: the allow list names installed plugins, and a built-in is part
        # of the core. ``echo`` (its short name) or the module path blocks it.
        return bool({_normal(path), _normal(path.rpartition(".")[2])} & self._block)

    def _is_blocked(self, name: str, dist: str | None) -> bool:
        names = {_normal(name)} | ({_normal(dist)} if dist else set())
        if names & self._block:
            return True
        return self._allow is not None and not (names & self._allow)

    def _add(
        self, name: str, load: Callable[[], object], dist: str | None, version: str | None
    ) -> None:
        if dist == "copass-router" and version is None:
            version = installed(GROUP).core_version
        try:
            plugin = load()
            self.pm.register(plugin, name=name)
            problems = hook_problems(self.pm, plugin)
        except Exception as exc:
            self._fail(name, dist, version, f"{type(exc).__name__}: {exc}", exc)
            return
        if problems:
            self._fail(name, dist, version, "; ".join(problems))
            return
        self._meta[name] = (dist, version)
        hooks = tuple(sorted(h.name for h in self.pm.get_hookcallers(plugin) or ()))
        self._infos[name] = PluginInfo(name, "loaded", dist, version, hooks=hooks)

    def _fail(
        self,
        name: str,
        dist: str | None,
        version: str | None,
        message: str,
        cause: Exception | None = None,
    ) -> None:
        if self._strict:
            raise PluginLoadError(f"plugin {name!r} failed to load: {message}") from cause
        log.warning("plugin_failed", plugin=name, error=message)
        self._infos[name] = PluginInfo(name, "failed", dist, version, error=message)
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)

    def _collect(self) -> None:
        targets: dict[str, Callable[..., Any]] = {
            "copass_router_register_tools": self._register_tool,
            "copass_router_register_stores": self.stores.__setitem__,
            "copass_router_register_commands": self._register_command,
            "copass_router_register_emulators": self.emulators.__setitem__,
            "copass_router_register_prices": self.prices.register,
        }
        for hook in _REGISTRATION_ORDER:
            for impl, call in implementations(self.pm, hook):
                if hook == "copass_router_register_backends":
                    target = self._backend_register(impl.plugin_name)
                else:
                    target = targets[hook]
                self._call_register(impl, call, target)

    def _register_tool(self, value: Tool | Callable[..., Any]) -> None:
        from copass_router.tools._tools import (
            as_tool,  # the tool machinery loads only when a plugin has tools
        )

        built = as_tool(value)
        self.tools[built.name] = built

    def _register_command(
        self, name: str, handler: Callable[[list[str]], int], help: str = ""
    ) -> None:
        self.commands[name] = (handler, help)

    def _backend_register(self, plugin: str) -> BackendRegistrar:
        dist, version = self._meta.get(plugin, (None, None))

        def register(
            name: str,
            factory: Callable[..., Any] | str,
            *,
            description: str = "",
            fields: Iterable[RequestField | str] = (),
        ) -> None:
            if isinstance(factory, str):
                problem = reference_problem(factory)
                if problem is not None:
                    raise PluginLoadError(
                        f"provider {name!r}: factory {factory!r} does not resolve: {problem}"
                    )
            if name in self.backends:
                log.warning(
                    "provider_registered_twice",
                    provider=name,
                    kept=self.backends[name].plugin,
                    ignored=plugin,
                )
                return
            declared = tuple(as_request_field(f) for f in fields)
            self.backends[name] = BackendRegistration(
                name, factory, dist or plugin, version, description, declared
            )

        return register

    def _call_register(
        self, impl: pluggy.HookImpl, call: Callable[..., Any], register: Callable[..., Any]
    ) -> None:
        if self._infos.get(impl.plugin_name, PluginInfo("", "loaded")).status != "loaded":
            return
        calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

        def collect(*args: Any, **kwargs: Any) -> None:
            calls.append((args, kwargs))

        try:
            call(collect)  # bound: an implementation that takes no argument gets none
            for args, kwargs in calls:  # all or nothing: a failed plugin registers nothing
                register(*args, **kwargs)
        except Exception as exc:
            dist, version = self._meta.get(impl.plugin_name, (None, None))
            self._fail(impl.plugin_name, dist, version, f"{type(exc).__name__}: {exc}", exc)

    # -- queries ---------------------------------------------------------------------------

    def infos(self) -> list[PluginInfo]:
        """Every plugin seen: loaded, failed or blocked."""
        self.load()
        return list(self._infos.values())

    def middleware(self) -> list[Callable[..., Any]]:
        """Event middleware functions ``fn(event, context)``, in plugin registration order (each
        with the event types it declared, as ``hookspecs.EVENT_TYPES_ATTR``, if it did)."""
        self.load()
        found = []
        for impl, fn in implementations(self.pm, "copass_router_process_event"):
            wanted = getattr(impl.function, EVENT_TYPES_ATTR, None)
            if wanted is not None and fn is not impl.function:  # bind() wrapped it
                setattr(fn, EVENT_TYPES_ATTR, wanted)
            found.append(fn)
        return found

    def dispatch_hook(self) -> DispatchChain | None:
        """The dispatch hook's chain, or None when no plugin implements it (the fast path)."""
        self.load()
        calls = implementations(self.pm, "copass_router_dispatch_tool")
        return DispatchChain([fn for _, fn in calls]) if calls else None

    def compact_hook(self) -> FirstResult | None:
        """The compaction hook's chain (None: no plugin implements it)."""
        self.load()
        calls = implementations(self.pm, "copass_router_compact_history")
        return FirstResult([fn for _, fn in calls]) if calls else None

    def fields_in_use(self) -> frozenset[str]:
        """The names of the provider fields some installed provider declares."""
        return frozenset(self.field_owners())

    def declared_fields(self) -> list[tuple[str, RequestField]]:
        """Each installed provider's declared fields, as (provider, field), by provider."""
        self.load()
        return [(r.name, f) for _, r in sorted(self.backends.items()) for f in r.declared]

    def field_owners(self) -> dict[str, list[str]]:
        """Each declared provider field's name with the providers that declare it."""
        owners: dict[str, list[str]] = {}
        for provider, field in self.declared_fields():
            owners.setdefault(field.name, []).append(provider)
        return owners

    def providers(self) -> Iterable[str]:
        """Names of the installed providers."""
        self.load()
        return self.backends.keys()

    def provider_infos(self) -> list[ProviderInfo]:
        """Every installed provider with the plugin and version that gave it, by name."""
        self.load()
        return [
            ProviderInfo(r.name, r.plugin, r.version, r.description)
            for r in sorted(self.backends.values(), key=lambda r: r.name)
        ]


def _identity(obj: object) -> object:
    return obj

"""Checking a plugin's hooks as it registers: unknown or misspelt hook names, hook wrappers,
async registration hooks and hook functions not marked ``@hookimpl``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pluggy

from copass_router.plugin_host import _hookspecs as hookspecs

#: The plugin entry-point group, and the prefix every hook name shares.
GROUP = "copass_router"
HOOKS = tuple(sorted(name for name in vars(hookspecs) if name.startswith(GROUP + "_")))
#: The hooks each plugin's implementation is called once, at load, with a ``register`` callable.
REGISTRATION_HOOKS = frozenset(h for h in HOOKS if h.startswith(GROUP + "_register_"))


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)


def hook_problems(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """What is wrong with the hooks of a just-registered plugin (pluggy's ``check_pending``,
    per plugin, so one bad plugin fails alone): unknown hook names, hook wrappers (the router
    calls every hook itself), and hook functions not marked ``@hookimpl``."""
    problems = []
    for caller in pm.get_hookcallers(plugin) or ():
        mine = [i for i in caller.get_hookimpls() if i.plugin is plugin]
        if caller.name in REGISTRATION_HOOKS and any(_is_async(i.function) for i in mine):
            problems.append(
                f"{caller.name!r} is async; registration hooks run once at start-up and must "
                "be plain functions (def, not async def)"
            )
        if not caller.has_spec():
            if any(not i.optionalhook for i in mine):
                problems.append(_unknown_hook(caller.name))
        elif any(i.wrapper or i.hookwrapper for i in mine):
            problems.append(
                f"{caller.name!r} is a hook wrapper; the router calls each implementation "
                "itself, so wrappers are not supported"
            )
    for attribute in dir(plugin):
        if not attribute.startswith(GROUP + "_"):
            continue
        value = getattr(plugin, attribute, None)
        if not inspect.isroutine(value) or hasattr(value, GROUP + "_impl"):
            continue  # not a function, or marked (so registered, and checked above)
        if attribute in HOOKS:
            problems.append(f"{attribute!r} is not marked @hookimpl")
        else:
            problems.append(_unknown_hook(attribute))
    return problems


def _unknown_hook(name: str) -> str:
    import difflib  # only for a plugin that names a hook wrongly

    # Compared without the prefix every hook shares, which would make any name look close.
    prefix = GROUP + "_"
    short = {hook.removeprefix(prefix): hook for hook in HOOKS}
    nearest = difflib.get_close_matches(name.removeprefix(prefix), short, n=1)
    if nearest:
        return f"unknown hook {name!r} (did you mean {short[nearest[0]]!r}?)"
    return f"unknown hook {name!r} (hooks: {', '.join(HOOKS)})"

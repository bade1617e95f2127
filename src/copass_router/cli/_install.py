"""``copass-router install`` / ``uninstall``: decide what pip gets, say it, then run pip.

pip only ever receives a distribution the plugin directory names, a path that exists, or a
requirement the user spelled out in full with ``--package``; a bare name is never turned into a
package name (that is how typo-squatted packages find their victims).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from copass_router._errors import RouterError
from copass_router.plugin_host._plugin_directory import (
    DIRECTORY,
    DIRECTORY_DOC,
    find_plugin,
    known_names,
    nearest,
)

_ARCHIVES = (".whl", ".tar.gz", ".zip")


def _pip(*args: str) -> int:
    return subprocess.call([sys.executable, "-m", "pip", *args])


def _looks_like_path(target: str) -> bool:
    return "/" in target or "\\" in target or target.startswith(".") or target.endswith(_ARCHIVES)


def _one_of(target: str | None, package: str | None) -> None:
    if target is not None and package is not None:
        raise RouterError("give a NAME or PATH, or --package, not both")


def _not_known(target: str, command: str) -> RouterError:
    close = nearest(target, known_names())
    hint = f"did you mean {close!r}? " if close else ""
    known = ", ".join(e.name for e in DIRECTORY)
    return RouterError(
        f"{target!r} is not in the plugin directory ({DIRECTORY_DOC}); {hint}"
        f"known plugins: {known}. To {command} a distribution by its exact name: "
        f"copass-router {command} --package DISTRIBUTION"
    )


def install_target(target: str | None, package: str | None) -> tuple[str, str]:
    """What to hand pip for ``install`` and how to describe it, or :class:`RouterError`."""
    _one_of(target, package)
    if package is not None:
        return package, f"{package} (as given with --package)"
    if target is None:
        raise RouterError("name a plugin from the directory, a path, or --package REQUIREMENT")
    if _looks_like_path(target):
        path = Path(target).expanduser()
        if not path.exists():
            raise RouterError(
                f"no such path: {target!r} (for a URL or a requirement use --package)"
            )
        return str(path.resolve()), f"the plugin at {path.resolve()}"
    entry = find_plugin(target)
    if entry is None:
        raise _not_known(target, "install")
    return entry.distribution, f"{entry.distribution} ({entry.description})"


def uninstall_target(
    target: str | None, package: str | None, installed: Iterable[tuple[str, str]]
) -> str:
    """The distribution to uninstall: a directory entry's, or the one behind an installed
    provider (``installed`` pairs provider name and distribution), or ``--package`` as given."""
    _one_of(target, package)
    if package is not None:
        return package
    if target is None:
        raise RouterError("name an installed provider, a plugin from the directory, or --package")
    owners = dict(installed)
    entry = find_plugin(target)
    distribution = entry.distribution if entry else owners.get(target)
    if distribution is None:
        raise _not_known(target, "uninstall")
    if distribution == "copass-router":
        raise RouterError(f"{target!r} is built into copass-router and cannot be uninstalled")
    return distribution


def install(target: str | None, package: str | None, upgrade: bool, out: TextIO) -> int:
    """``copass-router install``: resolve, announce, run pip."""
    requirement, what = install_target(target, package)
    out.write(f"copass-router: installing {what}\n")
    out.flush()
    return _pip("install", *(["--upgrade"] if upgrade else []), requirement)


def uninstall(
    target: str | None, package: str | None, installed: Iterable[tuple[str, str]], out: TextIO
) -> int:
    """``copass-router uninstall``: resolve, announce, run pip."""
    distribution = uninstall_target(target, package, installed)
    out.write(f"copass-router: uninstalling {distribution}\n")
    out.flush()
    return _pip("uninstall", "--yes", distribution)

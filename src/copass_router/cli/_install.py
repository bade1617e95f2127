"""``copass-router install`` / ``uninstall``: decide what pip gets, say it, then run pip.

pip only ever receives a distribution the plugin directory names, a path that exists, or a
requirement the user spelled out in full with ``--package``; a bare name is never turned into a
package name (that is how typo-squatted packages find their victims).

A directory plugin comes from, in order: the source the operator configured
(``COPASS_ROUTER_PLUGIN_SOURCE``, a directory of built wheels or a checkout of this project),
the checkout this copass-router runs from (``plugins/DISTRIBUTION``), and only then the package
index, where the first-party plugins are not published.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
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
SOURCE_ENV = "COPASS_ROUTER_PLUGIN_SOURCE"
#: The checkout this module runs from, when it is one (an editable install, as `make setup` does).
CHECKOUT = Path(__file__).resolve().parents[2]


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


def plugin_sources(
    distribution: str, environ: Mapping[str, str], checkout: Path = CHECKOUT
) -> list[str]:
    """pip arguments that install ``distribution`` from outside the package index: the
    configured source's wheels or project, else this checkout's project (editable); none:
    the index."""
    configured = environ.get(SOURCE_ENV, "").strip()
    if configured:
        root = Path(configured).expanduser()
        if not root.is_dir():
            raise RouterError(
                f"{SOURCE_ENV}={configured!r} is not a directory: set it to a directory of "
                "built wheels or to a checkout of copass-router, or unset it"
            )
        project = root / "plugins" / distribution
        if (project / "pyproject.toml").is_file():
            return [str(project)]
        return ["--find-links", str(root.resolve()), distribution]
    project = checkout / "plugins" / distribution
    # editable, as `make setup` installs the checkout's plugins beside the editable core
    return ["--editable", str(project)] if (project / "pyproject.toml").is_file() else []


def _installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def not_on_the_index(distribution: str) -> str:
    """What to do when the package index has no ``distribution`` (the first-party plugins are
    not published there)."""
    return (
        f"{distribution} is not on the package index: copass-router's plugins install from a "
        f"checkout of copass-router (or wheels built in one with `make wheels`). With a "
        f"checkout at hand: {SOURCE_ENV}=/path/to/copass-router copass-router install NAME "
        f"(or {SOURCE_ENV}=/path/to/copass-router/dist for its wheels)"
    )


def extra_advice(distribution: str, extra: str) -> str:
    """How to add ``distribution``'s ``extra`` where the user is: from this checkout when
    copass-router runs from one, else from a checkout (nothing is on the package index)."""
    project = CHECKOUT if distribution == "copass-router" else CHECKOUT / "plugins" / distribution
    if (project / "pyproject.toml").is_file():
        return f"pip install '{project}[{extra}]'"
    where = "" if distribution == "copass-router" else f"/plugins/{distribution}"
    return (
        f"from a checkout of copass-router (it is not on the package index): "
        f"pip install '/path/to/copass-router{where}[{extra}]'"
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


def install(
    target: str | None,
    package: str | None,
    upgrade: bool,
    out: TextIO,
    environ: Mapping[str, str] | None = None,
    checkout: Path = CHECKOUT,
) -> int:
    """``copass-router install``: resolve, announce, run pip (a directory plugin from the
    configured source or ``checkout`` first, see :func:`plugin_sources`)."""
    requirement, what = install_target(target, package)
    upgrading = ["--upgrade"] if upgrade else []
    entry = find_plugin(requirement) if package is None else None
    if entry is None:
        out.write(f"copass-router: installing {what}\n")
        out.flush()
        return _pip("install", *upgrading, requirement)
    version = _installed_version(entry.distribution)
    if version is not None and not upgrade:
        out.write(f"copass-router: {entry.distribution} {version} is already installed\n")
        return 0
    sources = plugin_sources(
        entry.distribution, os.environ if environ is None else environ, checkout
    )
    if not sources:
        where = "the package index"
    elif sources[0] == "--find-links":
        where = f"the wheels in {sources[1]}"
    else:
        where = sources[-1]
    out.write(f"copass-router: installing {what} from {where}\n")
    out.flush()
    code = _pip("install", *upgrading, *(sources or [entry.distribution]))
    if code != 0 and not sources:
        sys.stderr.write(f"copass-router: {not_on_the_index(entry.distribution)}\n")
    return code


def uninstall(
    target: str | None, package: str | None, installed: Iterable[tuple[str, str]], out: TextIO
) -> int:
    """``copass-router uninstall``: resolve, announce, run pip."""
    distribution = uninstall_target(target, package, installed)
    out.write(f"copass-router: uninstalling {distribution}\n")
    out.flush()
    return _pip("uninstall", "--yes", distribution)

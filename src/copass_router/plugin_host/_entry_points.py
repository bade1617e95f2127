"""The installed plugins' entry points (and the core's version), cached against what is installed.

Scanning every installed distribution's metadata (``importlib.metadata``) costs more than the
rest of ``copass-router providers``. So what it found is kept in a small JSON
file beside this module's bytecode (``__pycache__``, as disposable as the bytecode itself),
stored with the key they were read under: the interpreter, and every ``sys.path`` entry with its
modification time. Installing, upgrading or removing a distribution adds or removes a
``.dist-info`` directory or a ``.pth`` file in a ``sys.path`` directory, which changes that
directory's mtime, so the key no longer matches and the metadata is scanned again: the cache
never answers for an installation other than the one it was read from. A scan is cached only
once the mtimes have settled (see ``_settled``). Editing an installed ``entry_points.txt`` by
hand, which no installer does, is the one change it cannot see. When the file cannot be read or
written, the metadata is simply scanned every time.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import re
import sys
import time
import zlib
from typing import Any, NamedTuple

_FORMAT = 1
_KEEP = 4
_SETTLE_NS = 2_000_000_000


class InstalledEntryPoint(NamedTuple):
    """One entry point: its name, its ``module:attribute`` reference and who installed it."""

    name: str
    value: str
    dist: str | None
    version: str | None

    def load(self) -> Any:
        """The object the entry point names (importing its module)."""
        return load_reference(self.value)


def load_reference(reference: str) -> Any:
    """The object ``"package.module:attribute.path"`` names (the module alone without ``:``).

    The syntax of entry points; an ``[extras]`` suffix plays no part in loading.
    """
    module, _, attribute = reference.split("[", 1)[0].partition(":")
    found: Any = importlib.import_module(module.strip())
    for part in attribute.strip().split("."):
        if part:
            found = getattr(found, part)
    return found


def reference_problem(reference: str) -> str | None:
    """Why ``"package.module:attribute"`` cannot resolve, found without importing the module
    (a plugin's backend module imports its provider's SDK: seconds): the module must exist,
    and its source must define the attribute's first name at top level. None: it may resolve.
    """
    module, _, attribute = reference.split("[", 1)[0].partition(":")
    module, first = module.strip(), attribute.strip().split(".")[0]
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if spec is None:
        return f"no module named {module!r}"
    if not first or not spec.origin or not spec.origin.endswith(".py"):
        return None  # a package's own name, or no source to read: the import will tell
    try:
        with open(spec.origin, encoding="utf-8") as file:  # pathlib would cost its import
            source = file.read()
    except OSError:
        return None
    if re.search(r"^def __getattr__\b", source, re.M):
        return None  # the module makes names on first use: only the import can tell
    defined = re.compile(
        rf"^(?:(?:async\s+)?def|class)\s+{re.escape(first)}\b"
        rf"|^{re.escape(first)}\s*(?::[^=\n]*)?="
        rf"|^(?:from\s+\S+\s+)?import\s[^\n#]*\b{re.escape(first)}\b",
        re.M,
    )
    if defined.search(source) is None:
        return f"module {module!r} defines no {first!r}"
    return None


class Installed(NamedTuple):
    """What the installed distributions' metadata says."""

    #: The entry points of the group asked for, in metadata order.
    entry_points: list[InstalledEntryPoint]
    #: The version of the ``copass-router`` distribution (None when it is not installed).
    core_version: str | None


def installed(group: str) -> Installed:
    """The entry points of ``group`` in the installed distributions, and the core's version."""
    key = _installation_key()
    path = _cache_file(group)
    records = _read(path)
    for record in records:
        if record["key"] == key:
            return _installed_from(record)
    scanned = _scan(group)
    record = {
        "key": key,
        "entry_points": [list(ep) for ep in scanned.entry_points],
        "core_version": scanned.core_version,
    }
    if _settled(key):
        # The newest first; a few keys, since sys.path[0] differs between the command (its
        # script's directory) and ``python -c`` (the current directory) in one environment.
        _write(path, [record, *records][:_KEEP])
    return scanned


def _settled(key: list[Any]) -> bool:
    """Whether every ``sys.path`` entry was last changed long enough ago for its mtime to tell.

    File systems keep mtimes in coarse ticks: a change in the same tick as a scan (an install
    still running) could leave the mtime, and so the key, as it was. Like git's "racily clean"
    rule, a scan is only cached when nothing has changed in the last two seconds.
    """
    recent = time.time_ns() - _SETTLE_NS
    return all(mtime is None or mtime < recent for _, mtime in key[-1])


def _scan(group: str) -> Installed:
    from importlib import metadata

    try:
        core_version: str | None = metadata.version("copass-router")
    except metadata.PackageNotFoundError:
        core_version = None
    found = [
        InstalledEntryPoint(
            ep.name,
            ep.value,
            ep.dist.name if ep.dist else None,
            ep.dist.version if ep.dist else None,
        )
        for ep in metadata.entry_points(group=group)
    ]
    return Installed(found, core_version)


def _installation_key() -> list[Any]:
    """What the installed distributions depend on: the interpreter and ``sys.path``, with the
    modification time of every entry (None for an entry that does not exist)."""
    entries: list[Any] = []
    for entry in sys.path:
        where = entry or os.getcwd()  # "" is the current directory, wherever that is now
        try:
            mtime: int | None = os.stat(where).st_mtime_ns
        except OSError:
            mtime = None
        entries.append([where, mtime])
    return [sys.executable, sys.version, entries]


def _cache_file(group: str) -> str:
    # One file per environment, so two virtualenvs sharing an editable checkout do not evict
    # each other's entry (either would still be correct: the key names the interpreter).
    # os.path, not pathlib: importing pathlib would cost more than reading the file.
    tag = zlib.crc32(sys.prefix.encode()) & 0xFFFFFFFF
    name = f"entry-points.{group}.{tag:08x}.json"
    return os.path.join(os.path.dirname(__file__), "__pycache__", name)


def _installed_from(record: dict[str, Any]) -> Installed:
    found = [InstalledEntryPoint(*row) for row in record["entry_points"]]
    return Installed(found, record["core_version"])


def _read(path: str) -> list[dict[str, Any]]:
    """The cached records; none when the file is missing, of another format or damaged."""
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
        records: list[dict[str, Any]] = data["records"] if data["format"] == _FORMAT else []
        for record in records:  # a damaged record makes the whole file count as none
            if not isinstance(record["key"], list):
                return []
            _installed_from(record)
        return records
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _write(path: str, records: list[dict[str, Any]]) -> None:
    text = json.dumps({"format": _FORMAT, "records": records})
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)  # readers see the old file or the new one, never a part
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)

"""Reading settings from the environment: one parser, one error message format."""

from __future__ import annotations

import math
from collections.abc import Mapping

from copass_router._errors import ConfigurationError


def env_int(
    environ: Mapping[str, str],
    name: str,
    default: int,
    *,
    minimum: int | None = 0,
    maximum: int | None = None,
) -> int:
    """The whole number in ``environ[name]`` (``default`` when unset or empty).

    Raises :class:`ConfigurationError` naming the variable, what it holds and what it needs.
    """
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(
            f"{name} must be a whole number{_range(minimum, maximum)}, not {raw[:40]!r}"
        ) from None
    _check(name, value, minimum, maximum)
    return value


def env_float(
    environ: Mapping[str, str],
    name: str,
    default: float,
    *,
    minimum: float | None = 0,
    maximum: float | None = None,
) -> float:
    """The finite number in ``environ[name]`` (``default`` when unset or empty)."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ConfigurationError(
            f"{name} must be a number{_range(minimum, maximum)}, not {raw[:40]!r}"
        )
    _check(name, value, minimum, maximum)
    return value


def env_flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    """``environ[name]`` as a yes/no switch: 1/true/yes/on or 0/false/no/off."""
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be one of 1/true/yes/on or 0/false/no/off, not {raw!r}")


def env_choice(
    value: str | None,
    environ: Mapping[str, str],
    name: str,
    setting: str,
    choices: tuple[str, ...],
) -> str:
    """``value`` (the setting given in code), else ``environ[name]``, else the first of
    ``choices``, if it is one of them; else a ConfigurationError naming both spellings."""
    chosen = value or environ.get(name, "").strip() or choices[0]
    if chosen not in choices:
        raise ConfigurationError(
            f"{setting} ({name}) must be one of {', '.join(choices)}; got {chosen!r}"
        )
    return chosen


def _range(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" from {minimum:g} to {maximum:g}"
    if minimum is not None:
        return f" of at least {minimum:g}"
    if maximum is not None:
        return f" of at most {maximum:g}"
    return ""


def _check(name: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ConfigurationError(
            f"{name} must be a number{_range(minimum, maximum)}, not {value:g}"
        )

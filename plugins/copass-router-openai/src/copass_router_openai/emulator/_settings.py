"""The emulator's reading of a request's sampling fields, checked as the API checks them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from copass_router import GenerationSettings

from ._wire import WireError

MAX_STOP = 4


def generation_settings(body: Mapping[str, Any]) -> GenerationSettings:
    """``temperature``, the token limit and ``stop`` of a Chat Completions body."""
    temperature = body.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not math.isfinite(temperature)
        or not 0 <= temperature <= 2
    ):
        raise WireError(
            f"Invalid 'temperature': expected a number from 0 to 2, got {temperature!r}.",
            param="temperature",
            code="invalid_value",
        )
    if body.get("max_tokens") is not None and body.get("max_completion_tokens") is not None:
        raise WireError(
            "max_tokens and max_completion_tokens cannot both be set.", param="max_tokens"
        )
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise WireError(
            f"Invalid 'max_completion_tokens': expected an integer >= 1, got {limit!r}.",
            param="max_completion_tokens",
            code="invalid_value",
        )
    stop = body.get("stop")
    sequences = (stop,) if isinstance(stop, str) else tuple(stop or ())
    if not all(isinstance(s, str) for s in sequences) or len(sequences) > MAX_STOP:
        raise WireError(
            f"Invalid 'stop': expected a string or an array of at most {MAX_STOP} strings.",
            param="stop",
            code="invalid_value",
        )
    return GenerationSettings(temperature, limit, sequences)

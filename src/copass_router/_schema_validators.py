"""JSON Schema validators, compiled once per schema and shared by the run's tools and its
structured output (jsonschema is imported on first use: it is slow to import)."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

#: How many compiled validators are kept (the schemas used most recently).
KEPT = 256

_compiled: OrderedDict[str, Any] = OrderedDict()


def validator(schema: Mapping[str, Any]) -> Any:
    """The validator of ``schema`` (its ``$schema`` dialect, else draft 2020-12).

    Keyed by the schema's text, not the object: a per-run schema is freed after its run and a
    new one may get its ``id``, but never another schema's text.
    """
    key = json.dumps(schema, sort_keys=True, default=str)
    found = _compiled.get(key)
    if found is None:
        import jsonschema

        found = jsonschema.validators.validator_for(schema)(schema)
        _compiled[key] = found
        if len(_compiled) > KEPT:
            _compiled.popitem(last=False)
    else:
        _compiled.move_to_end(key)
    return found

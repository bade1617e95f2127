"""W3C trace headers read off a request: well-formed ones pass, anything else is dropped."""

from __future__ import annotations

import pytest

from copass_router.trace_context import trace_headers

TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"traceparent": TP}, {"traceparent": TP}),
        (
            {"traceparent": f" {TP} ", "tracestate": "a=1,b=2"},
            {"traceparent": TP, "tracestate": "a=1,b=2"},
        ),
        ({"traceparent": "01" + TP[2:] + "-future"}, {"traceparent": "01" + TP[2:] + "-future"}),
        ({"traceparent": TP + "-more"}, {}),  # version 00 has exactly four fields
        ({"traceparent": "ff" + TP[2:]}, {}),
        ({"traceparent": TP.upper()}, {}),
        ({"traceparent": "00-" + "0" * 32 + TP[35:]}, {}),
        ({"traceparent": TP[:36] + "0" * 16 + "-01"}, {}),
        ({"traceparent": "garbage"}, {}),
        ({"tracestate": "a=1"}, {}),
        ({"traceparent": TP, "tracestate": "a=1\r\nX: y"}, {"traceparent": TP}),
        ({"traceparent": TP, "tracestate": "a=" + "x" * 600}, {"traceparent": TP}),
        ({"traceparent": TP, "tracestate": ""}, {"traceparent": TP}),
        ({}, {}),
    ],
)
def test_only_well_formed_trace_context_passes(
    headers: dict[str, str], expected: dict[str, str]
) -> None:
    assert trace_headers(headers) == expected

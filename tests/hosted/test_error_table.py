"""One table maps each neutral code to an HTTP status and an exception, on both ends of the wire.

An error the hosted router answers with (a problem response) reaches a RemoteRouter user as the
exception an in-process Router raises: the same class, code and retryable.
"""

from __future__ import annotations

import json

import pytest

from copass_router import (
    ERROR_CODES,
    BudgetExceededError,
    ConfigurationError,
    DispatchAuthError,
    InternalError,
    InvalidRequestError,
    PayloadTooLargeError,
    PluginLoadError,
    ProviderError,
    RateLimitError,
    RouterError,
    SessionBusyError,
    SessionNotFoundError,
    ToolError,
    UnknownProviderError,
)
from copass_router.client._remote_router import error_from_problem
from copass_router.serving._problems import problem_for

SAMPLES: list[RouterError] = [
    InvalidRequestError("bad field", field="message"),
    PayloadTooLargeError("too big", field="message"),
    UnknownProviderError("openia", ["echo", "openai"]),
    SessionNotFoundError("ses_1"),
    SessionBusyError("ses_1"),
    DispatchAuthError("forged"),
    RateLimitError("too many runs", retry_after=2),
    ConfigurationError("OPENAI_API_KEY is not set"),
    ToolError("the tool broke"),
    PluginLoadError("plugin x failed"),
    InternalError("bug"),
    BudgetExceededError(
        limit="tenant t: 10 tokens per day",
        spent="12",
        allowed="10",
        resets_at="2026-12-01T00:00:00Z",
    ),
    *(
        ProviderError(f"provider said {code}", provider="acme", code=code)
        for code, info in ERROR_CODES.items()
        if info.exception is ProviderError
    ),
    ProviderError("rate limited upstream", provider="acme", status=429),
]


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: f"{type(e).__name__}-{e.code}")
def test_a_problem_response_becomes_the_same_exception(error: RouterError) -> None:
    response = problem_for(error)
    assert response.status_code == ERROR_CODES[error.code].status or (
        isinstance(error, DispatchAuthError)
    )
    body = json.loads(bytes(response.body))
    again = error_from_problem(response.status_code, body)
    assert type(again) is type(error)
    assert (again.code, again.retryable) == (error.code, error.retryable)
    if isinstance(error, ProviderError):
        assert isinstance(again, ProviderError) and again.provider == "acme"
    if isinstance(error, RateLimitError):
        assert response.headers["retry-after"] == "2"


def test_every_code_in_the_table_has_a_sample() -> None:
    answered_directly = {"shutting_down", "run_not_found", "run_log_expired", "run_log_trimmed"}
    said_by_the_client = {"router_unreachable", "connection_lost"}  # never a server's answer
    in_stream_only = {"run_log_unavailable", "worker_lost"}
    assert {e.code for e in SAMPLES} | answered_directly | said_by_the_client | in_stream_only == (
        set(ERROR_CODES)
    )

"""Secrets never reach a log line; dispatch tokens refuse forgery and expiry."""

from __future__ import annotations

import logging
import time

import pytest

from copass_router import DispatchAuthError, get_logger, scrub
from copass_router.run._tokens import mint_token, verify_token

SECRET = b"k" * 32


def test_log_lines_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    log = get_logger("copass_router.test")
    log.info(
        "calling",
        api_key="sk-ant-api03-SECRET123456",
        note="Bearer abcdefghijklmnop",
        headers={"Authorization": "Bearer zzzzzzzzzzzz", "x": 1},
    )
    text = caplog.text
    assert "SECRET123456" not in text and "abcdefghijklmnop" not in text
    assert "zzzzzzzzzzzz" not in text and "[redacted]" in text


def test_scrub_masks_key_shapes() -> None:
    assert "sk-proj-" not in scrub("failed with key sk-proj-abcdefghijklmnop")
    assert scrub("plain words stay") == "plain words stay"


def _token(**overrides: object) -> str:
    fields: dict[str, object] = {
        "run_id": "run_1",
        "session_id": "ses_1",
        "end_user_id": "u",
        "tools": ["lookup"],
        "ttl": 60,
    }
    fields.update(overrides)
    return mint_token(SECRET, **fields)  # type: ignore[arg-type]


def test_a_valid_token_verifies() -> None:
    claims = verify_token(SECRET, _token())
    assert (claims.run_id, claims.session_id, claims.end_user_id) == ("run_1", "ses_1", "u")
    assert claims.tools == frozenset({"lookup"})


@pytest.mark.parametrize("bad", ["", "cpt1.x", "nonsense", "cpt1.a.b"])
def test_malformed_tokens_are_refused(bad: str) -> None:
    with pytest.raises(DispatchAuthError):
        verify_token(SECRET, bad)


def test_forged_and_expired_tokens_are_refused() -> None:
    with pytest.raises(DispatchAuthError, match="signature"):
        verify_token(b"another secret", _token())
    body, sig = _token()[5:].split(".")
    tampered = "cpt1." + body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + sig
    with pytest.raises(DispatchAuthError):
        verify_token(SECRET, tampered)
    with pytest.raises(DispatchAuthError, match="expired"):
        verify_token(SECRET, _token(ttl=10), now=time.time() + 60)

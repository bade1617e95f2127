"""The official ``openai`` Python SDK (sync client) against ``copass-router serve``, started as
a user starts it: create, stream, continue on the session, background, resume and cancel."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from openai import OpenAI

KEY = "responses-serve-key-0123456789"
EXE = str(Path(sys.executable).parent / "copass-router")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """``copass-router serve`` on a free port; its base URL."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("COPASS_ROUTER")},
        "COPASS_ROUTER_API_KEYS": KEY,
        "COPASS_ROUTER_STORE": f"sqlite:///{tmp_path / 'serve.db'}",
        "COPASS_ROUTER_MODEL_ALIASES": "quick=echo/echo-2",
        "HOME": str(tmp_path),
    }
    port = _free_port()
    proc = subprocess.Popen(
        [EXE, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    banner = proc.stdout.readline()  # printed once the socket listens
    assert banner.startswith("copass-router serving on"), banner
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0


def test_the_openai_sdk_runs_responses_against_copass_router_serve(served: str) -> None:
    client = OpenAI(base_url=served + "/v1", api_key=KEY, max_retries=0, timeout=20)
    first = client.responses.create(model="quick", instructions="be kind", input="/whoami")
    assert first.status == "completed"
    assert first.output_text == "model=echo-2 system=be kind"
    assert first.usage is not None and first.usage.total_tokens > 0

    with client.responses.stream(
        model="echo/echo-1", input="/recall", previous_response_id=first.id
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "user: /whoami" in final.output_text

    background = client.responses.create(
        model="echo/echo-1", input="/slow 0.05 a b c", background=True
    )
    numbers = [
        event.sequence_number
        for event in client.responses.retrieve(background.id, stream=True, starting_after=2)
    ]
    assert numbers[0] == 3 and numbers == list(range(3, 3 + len(numbers)))
    assert client.responses.retrieve(background.id).output_text == "echo: a b c"

    slow = client.responses.create(model="echo/echo-1", input="/slow 5 x y z", background=True)
    assert client.responses.cancel(slow.id).status == "cancelled"

    with pytest.raises(openai.AuthenticationError):
        OpenAI(base_url=served + "/v1", api_key="wrong", max_retries=0).responses.create(
            model="echo/echo-1", input="hi"
        )

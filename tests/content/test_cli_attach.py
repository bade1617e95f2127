"""``copass-router run --attach``: images and documents from files sent with the message, and
shown by ``sessions show``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from copass_router import FilePart, ImagePart
from copass_router.cli._main import main
from copass_router.testing import SAMPLE_PDF, SAMPLE_PNG


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COPASS_ROUTER_STORE", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("COPASS_ROUTER_LOAD_PLUGINS", "")


def _cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_attached_files_reach_the_model_and_the_transcript(tmp_path: Path) -> None:
    (tmp_path / "parcel.png").write_bytes(SAMPLE_PNG)
    (tmp_path / "invoice.pdf").write_bytes(SAMPLE_PDF)
    image, document = ImagePart("image/png", SAMPLE_PNG), FilePart("application/pdf", SAMPLE_PDF)
    code, out = _cli(
        "run", "--json", "--attach", str(tmp_path / "parcel.png"),
        "--attach", str(tmp_path / "invoice.pdf"), "/parts",
    )  # fmt: skip
    assert code == 0, out
    assert (
        f"image image/png {image.sha256[:12]}; file application/pdf {document.sha256[:12]}" in out
    )
    session = json.loads(out.splitlines()[0])["session_id"]
    code, shown = _cli("sessions", "show", session)
    assert f"image: image/png ({len(SAMPLE_PNG)} bytes, sha256 {image.sha256[:12]})" in shown
    assert "file: application/pdf" in shown


def test_an_attachment_that_cannot_be_read_or_typed_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = _cli("run", "--attach", str(tmp_path / "missing.png"), "hi")
    assert code != 0 and "cannot read it" in capsys.readouterr().err
    (tmp_path / "notes").write_bytes(b"x")
    code, _ = _cli("run", "--attach", str(tmp_path / "notes"), "hi")
    assert code != 0 and "cannot tell its media type" in capsys.readouterr().err

"""Where ``copass-router install NAME`` gets a directory plugin: the configured source, this
checkout, and only then the package index (where the plugins are not published)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from copass_router._errors import RouterError
from copass_router.cli._install import CHECKOUT, SOURCE_ENV, install, plugin_sources

REPO = Path(__file__).parents[1]


def test_this_checkout_is_found_and_gives_the_plugin_project() -> None:
    assert CHECKOUT == REPO  # the editable install `make setup` made
    assert plugin_sources("copass-router-openai", {}) == [
        "--editable",
        str(REPO / "plugins/copass-router-openai"),
    ]


def test_a_configured_checkout_or_wheel_directory_comes_first(tmp_path: Path) -> None:
    checkout = tmp_path / "clone"
    (checkout / "plugins/copass-router-otel").mkdir(parents=True)
    (checkout / "plugins/copass-router-otel/pyproject.toml").write_text("[project]\n")
    wheels = tmp_path / "dist"
    wheels.mkdir()
    assert plugin_sources("copass-router-otel", {SOURCE_ENV: str(checkout)}, tmp_path) == [
        str(checkout / "plugins/copass-router-otel")
    ]
    assert plugin_sources("copass-router-otel", {SOURCE_ENV: str(wheels)}, tmp_path) == [
        "--find-links",
        str(wheels),
        "copass-router-otel",
    ]
    assert plugin_sources("copass-router-otel", {}, tmp_path) == []  # not a checkout: the index
    with pytest.raises(RouterError, match=f"{SOURCE_ENV}='/no/such/dir' is not a directory"):
        plugin_sources("copass-router-otel", {SOURCE_ENV: "/no/such/dir"}, tmp_path)


@pytest.fixture
def offline_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "pip.log"
    monkeypatch.setenv("PIP_LOG", str(log))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # as an index without the plugin: none to be found
    monkeypatch.setenv("PIP_TARGET", str(tmp_path / "target"))  # an environment without it
    return log


def test_without_checkout_or_source_the_index_is_tried_and_the_advice_can_work(
    tmp_path: Path, offline_pip: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    code = install("otel", None, True, out, environ={}, checkout=tmp_path)
    err = capfd.readouterr().err
    assert code != 0 and "copass-router-otel" in offline_pip.read_text()
    assert out.getvalue() == (
        "copass-router: installing copass-router-otel (OpenTelemetry GenAI traces and metrics "
        "of every run (no provider of its own)) from the package index\n"
    )
    assert "copass-router-otel is not on the package index" in err
    assert f"{SOURCE_ENV}=/path/to/copass-router copass-router install NAME" in err
    assert "pip install copass-router-otel" not in err  # the command that just failed


def test_wheels_from_the_configured_source_are_what_pip_gets(
    tmp_path: Path, offline_pip: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    wheels = tmp_path / "dist"
    wheels.mkdir()  # empty: pip looks there, finds nothing, and says so
    out = io.StringIO()
    code = install("otel", None, True, out, environ={SOURCE_ENV: str(wheels)}, checkout=tmp_path)
    assert code != 0
    assert out.getvalue().endswith(f"from the wheels in {wheels}\n")
    assert str(wheels) in offline_pip.read_text()
    assert "not on the package index" not in capfd.readouterr().err  # pip's own error says it

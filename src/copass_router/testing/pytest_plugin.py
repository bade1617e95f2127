"""pytest plugin (entry point ``pytest11``): fixtures for testing with copass-router.

Every router these fixtures make is isolated: no installed plugins (only the built-ins and what
the test passes), an in-memory store and an empty environment.

The fixtures work in pytest-asyncio's default strict mode (no ``asyncio_mode = "auto"``
needed): ``make_router`` is a pytest-asyncio fixture, run in the loop its
``asyncio_default_fixture_loop_scope`` names (function scope when unset), the loop an
``@pytest.mark.asyncio`` test runs in by default.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from copass_router.run._router import Router
    from copass_router.testing._scripted_backend import ScriptedBackend

# pytest loads this module at every start in any environment with copass-router installed: it
# imports nothing of the router until a test uses one of its fixtures.

_async_fixture: Any
try:
    import pytest_asyncio

    _async_fixture = pytest_asyncio.fixture
except ImportError:  # pragma: no cover - without the testing extra; another async plugin may run it
    _async_fixture = pytest.fixture


@_async_fixture
async def make_router() -> AsyncIterator[Callable[..., Router]]:
    """A factory of isolated routers, closed at teardown. Keywords go to :class:`Router`."""
    from copass_router.run._router import Router

    made: list[Router] = []

    def factory(**kwargs: Any) -> Router:
        kwargs.setdefault("load_entry_points", False)
        kwargs.setdefault("store", ":memory:")
        kwargs.setdefault("environ", {})
        router = Router(**kwargs)
        made.append(router)
        return router

    yield factory
    for router in made:
        await router.aclose()


@pytest.fixture
def router(make_router: Callable[..., Router]) -> Router:
    """An isolated router with only the built-in providers (``echo``)."""
    return make_router()


@pytest.fixture
def scripted_backend() -> ScriptedBackend:
    """A :class:`ScriptedBackend`; ``scripted_router`` serves it as provider ``scripted``."""
    from copass_router.testing._scripted_backend import ScriptedBackend

    return ScriptedBackend()


@pytest.fixture
def scripted_router(
    make_router: Callable[..., Router], scripted_backend: ScriptedBackend
) -> Router:
    """An isolated router whose provider ``scripted`` is the ``scripted_backend`` fixture."""
    from copass_router.testing._scripted_backend import ScriptedPlugin

    return make_router(plugins=[ScriptedPlugin(scripted=scripted_backend)])

"""``echo``: an offline provider with no network and no key, driven by the scripted model.

It replies ``echo: <message>`` word by word, and its command syntax (``/tool NAME {json}``,
``/error CODE msg``... see docs/scripted-model.md) makes it call tools, think or fail, so demos
and tests exercise every path of the router without a provider.
"""

from __future__ import annotations

from copass_router.plugin_host._hookspecs import hookimpl
from copass_router.plugin_host._registrars import BackendRegistrar


@hookimpl
def copass_router_register_backends(register: BackendRegistrar) -> None:
    register(
        "echo",
        "copass_router.builtin.echo_backend:make_backend",
        description="offline scripted model (no network, no key)",
    )

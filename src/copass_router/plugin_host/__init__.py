"""The plugin host: one pluggy manager per Router, the hook specifications and the checks of a
plugin's hooks, registrars, entry points and the plugin directory.

Private: plugins import ``hookimpl`` and the rest from ``copass_router``. May import the
vocabulary and tools; never the run path, server, client, cli or testing.
"""

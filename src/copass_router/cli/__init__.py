"""The ``copass-router`` command: run, providers, plugins, sessions, usage, install, emulate,
serve.

Private. May import anything in the core; nothing in the core imports it.
"""

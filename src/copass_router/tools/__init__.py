"""Router tools: how they are declared, the one dispatcher every tool call goes through, and
the threads that run blocking tools off the event loop.

Private: applications import ``tool`` and ``Tool`` from ``copass_router``. May import the
vocabulary only.
"""

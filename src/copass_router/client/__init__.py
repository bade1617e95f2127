"""RemoteRouter: the same ``run()`` against a hosted router, over HTTP and Server-Sent Events.

Private: applications import ``RemoteRouter`` from ``copass_router``. May import the
vocabulary; never the run path, server, cli or testing.
"""

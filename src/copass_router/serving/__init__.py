"""What the hosted server and the in-process dispatch server are both built from: the
listener (uvicorn in the background of the running loop), the dispatch endpoint, request
bodies and API keys, problem responses, the access log. Needs the ``server`` extra.

Private: hosts use ``copass_router.server`` and ``Router.start_dispatch_server``. May
import the vocabulary and the run path's values; never the hosted server, client, cli or
testing.
"""

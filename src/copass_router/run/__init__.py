"""The run path: Router, the checks before a run and the claim of its session, a run's turns,
the per-event loop and its middleware path, failover and its policy, the recorder, the runs in
flight and dispatch tokens.

Private: applications import from ``copass_router``. May import the vocabulary, tools,
the plugin host, the provider kit, accounting, store and coordination; never server,
client, cli or testing.
"""

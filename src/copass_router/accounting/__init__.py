"""Accounting: model prices, the usage ledger, budgets and the meter that prices each model
call.

Private: applications import from ``copass_router``. May import the vocabulary and the
plugin host; never the run path, server, client, cli or testing.
"""

"""A bounded soak of the hosted router: ``python -m soak.run_soak`` (the lead's ``make soak``).

Never part of the test suite: it takes minutes and measures one machine. See run_soak.py.
"""

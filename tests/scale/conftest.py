"""Scale-out tests: several workers sharing PostgreSQL and Redis.

Each test gets a PostgreSQL schema (``postgres_url``) and a Redis key prefix (``redis_url``) of
its own, from tests/conftest.py, since other tests and runs share the servers.
"""

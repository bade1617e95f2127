"""Scale-out tests: several workers sharing PostgreSQL and Redis.

Each test gets a PostgreSQL schema (``postgres_url``) and a Redis key prefix (``redis_url``) of
its own (tests/services.py), since other tests and runs share the servers.
"""

from ..services import postgres_url, redis_url

__all__ = ["postgres_url", "redis_url"]  # the fixtures of this suite

"""A database of the benchmark's own, beside the one DATABASE_URL names."""

import os
import sys
from urllib.parse import urlsplit, urlunsplit


def scratch_database_url(name: str, *, fresh: bool) -> str:
    """The URL of database `name` on DATABASE_URL's PostgreSQL server, created if missing
    (and dropped first when `fresh`). Exits with a message when DATABASE_URL is not PostgreSQL."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit(
            "Set DATABASE_URL to a PostgreSQL server; the benchmark creates its own database there."
        )
    import psycopg

    parts = urlsplit(url)
    server = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(server, autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))

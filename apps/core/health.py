"""Checks of the services Keyship depends on, for /healthz."""

from celery import current_app as app
from django.db import connection


def database_check() -> str | None:
    """None when the database answers, else what went wrong."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "down"
        return exc.__class__.__name__
    return None


def broker_check(timeout: float = 2.0) -> str | None:
    """None when the Celery broker accepts a connection, else what went wrong."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:  # noqa: BLE001
        return exc.__class__.__name__
    return None

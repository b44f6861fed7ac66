"""Writes that outlive a lost database connection."""

import logging

from django.db import InterfaceError, OperationalError, connection, transaction

logger = logging.getLogger(__name__)


def atomic_reconnecting(write, *args, **kwargs):
    """Run `write(*args, **kwargs)` in one transaction; when the database connection is lost
    on the way (PostgreSQL restarted, a failover, an operator's pg_terminate_backend), open a
    new one and run it once more.

    For the short writes that record what a worker has already done outside the database (a
    PDF rendered, an email the SMTP server accepted): without the second try, the row would
    stay leased until its lease runs out and the work would be done again (a second copy of
    the email). The first try rolled back, or committed and lost only its answer, so `write`
    must be safe to run twice (each caller's checks its row's status first). Inside an outer
    transaction nothing can be retried: the error goes up as it is.
    """
    try:
        with transaction.atomic():
            return write(*args, **kwargs)
    except (OperationalError, InterfaceError) as error:
        if connection.in_atomic_block:
            raise
        logger.warning("database connection lost (%s): trying again", error.__class__.__name__)
        connection.close()
    with transaction.atomic():
        return write(*args, **kwargs)

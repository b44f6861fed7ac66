from celery import shared_task

from apps.notifications.reminders import reminders_queue
from apps.notifications.services import email_deliveries_send


# Up to a batch of emails over one connection, within their send lease.
@shared_task(soft_time_limit=120, time_limit=150)
def email_deliveries_send_task(delivery_ids: list[int]) -> None:
    """Send these Fulfillment Emails over one connection (mail queue). Safe to run twice:
    see email_deliveries_send."""
    email_deliveries_send(delivery_ids=delivery_ids, limit=len(delivery_ids))


# One transaction over every subscription near its end.
@shared_task(periodic=True, soft_time_limit=600, time_limit=660)
def reminders_task() -> None:
    """Hourly, from beat: queue today's reminder digests and send them. Safe to run any
    number of times a day: each window is told once per term and address."""
    digests = reminders_queue()
    for start in range(0, len(digests), 50):
        email_deliveries_send_task.delay(digests[start : start + 50])

from celery import shared_task

from apps.notifications.services import email_deliveries_send


@shared_task
def email_deliveries_send_task(delivery_ids: list[int]) -> None:
    """Send these Fulfillment Emails over one connection (mail queue). Safe to run twice:
    see email_deliveries_send."""
    email_deliveries_send(delivery_ids=delivery_ids, limit=len(delivery_ids))

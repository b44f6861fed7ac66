from celery import shared_task

from apps.notifications.services import email_delivery_send


@shared_task
def email_delivery_send_task(delivery_id: int) -> None:
    """Send one Fulfillment Email (mail queue). Safe to run twice: see email_delivery_send."""
    email_delivery_send(delivery_id=delivery_id)

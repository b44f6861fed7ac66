from celery import shared_task

from apps.outbox.models import Channel
from apps.outbox.services import SEND_BATCH, deliveries_send


# Up to a batch of emails over one connection, within their send lease.
@shared_task(soft_time_limit=120, time_limit=150)
def email_deliveries_send_task(delivery_ids: list[int]) -> None:
    """Send these emails over one connection (mail queue). Safe to run twice: see
    deliveries_send."""
    deliveries_send(delivery_ids=delivery_ids, channel=Channel.EMAIL, limit=len(delivery_ids))


# Each event waits at most WEBHOOK_TIMEOUT on its endpoint; a batch stays within its lease.
@shared_task(soft_time_limit=120, time_limit=150)
def webhook_deliveries_send_task(delivery_ids: list[int]) -> None:
    """Post these webhook events to their endpoints (webhooks queue), so that a slow
    endpoint never holds up an email. Safe to run twice: see deliveries_send."""
    deliveries_send(delivery_ids=delivery_ids, channel=Channel.WEBHOOK, limit=len(delivery_ids))


SENDERS = {Channel.EMAIL: email_deliveries_send_task, Channel.WEBHOOK: webhook_deliveries_send_task}


# Webhook events per task: each may wait WEBHOOK_TIMEOUT to connect and again to be answered,
# so a batch of an endpoint that stopped answering still ends within the task's soft limit.
WEBHOOK_SEND_BATCH = 4


def deliveries_hand_out(by_channel: dict[str, list[int]], batch: int = SEND_BATCH) -> None:
    """Give these deliveries to the workers, in batches, each channel on its own queue."""
    for channel, ids in by_channel.items():
        size = min(batch, WEBHOOK_SEND_BATCH) if channel == Channel.WEBHOOK else batch
        for start in range(0, len(ids), size):
            SENDERS[channel].delay(ids[start : start + size])

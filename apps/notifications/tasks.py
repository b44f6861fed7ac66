from celery import shared_task

from apps.notifications.reminders import reminders_queue
from apps.outbox.models import Channel
from apps.outbox.tasks import deliveries_hand_out


# One transaction over every subscription near its end.
@shared_task(periodic=True, soft_time_limit=600, time_limit=660)
def reminders_task() -> None:
    """Hourly, from beat: queue today's reminder digests and send them. Safe to run any
    number of times a day: each window is told once per term and address."""
    deliveries_hand_out({Channel.EMAIL: reminders_queue()})

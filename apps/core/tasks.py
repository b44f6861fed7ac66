from celery import shared_task

from apps.core.heartbeats import worker_heartbeat_record


# One upsert: a second is plenty; a worker that cannot do it in 20 s is not well.
@shared_task(bind=True, periodic=True, soft_time_limit=20, time_limit=30)
def heartbeat_task(self) -> None:
    """Every 30 seconds, from beat, once per queue: the worker that runs it says it is alive
    on this queue. Beat says so itself when it sends it (apps/core/heartbeats.py). Safe to
    run twice: it writes over its own row."""
    delivery = self.request.delivery_info or {}
    worker_heartbeat_record(
        host=self.request.hostname or "", queue=delivery.get("routing_key") or ""
    )

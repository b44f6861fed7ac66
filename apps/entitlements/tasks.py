from celery import shared_task

from apps.core.actors import Job
from apps.entitlements.changes import entitlement_status_changes_record
from apps.entitlements.services import certificate_render


@shared_task(soft_time_limit=120, time_limit=150)
def certificate_render_task(certificate_id: int) -> None:
    """Render one certificate (pdf queue). Safe to run twice: see certificate_render."""
    certificate_render(certificate_id=certificate_id)


@shared_task(periodic=True, soft_time_limit=240, time_limit=270)
def entitlement_status_changes_task() -> None:
    """Every five minutes, from beat: record in the change feed each subscription that the
    calendar moved (active -> grace -> expired) since the last run. Safe to run twice or at
    once: see entitlement_status_changes_record."""
    entitlement_status_changes_record(actor=Job("entitlement_status_changes_task"))

from celery import shared_task

from apps.entitlements.services import certificate_render


@shared_task
def certificate_render_task(certificate_id: int) -> None:
    """Render one certificate (pdf queue). Safe to run twice: see certificate_render."""
    certificate_render(certificate_id=certificate_id)

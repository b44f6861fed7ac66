from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OutboxConfig(AppConfig):
    name = "apps.outbox"
    verbose_name = _("Outbox")

    def ready(self):
        from anymail.signals import tracking

        from apps.outbox import checks, kinds  # noqa: F401 - checks registers itself
        from apps.outbox.emails import EndpointDisabledNotices
        from apps.outbox.models import DeliveryKind
        from apps.outbox.tracking import anymail_tracking_received

        kinds.register(DeliveryKind.PASSWORD_RESET, kinds.SealedEmails())
        kinds.register(DeliveryKind.ENDPOINT_DISABLED, EndpointDisabledNotices())

        # The ESP's events (bounces, complaints, deliveries) land on the delivery rows.
        tracking.connect(anymail_tracking_received, dispatch_uid="outbox_delivery_tracking")

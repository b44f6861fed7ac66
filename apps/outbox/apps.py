from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OutboxConfig(AppConfig):
    name = "apps.outbox"
    verbose_name = _("Outbox")

    def ready(self):
        from apps.outbox import kinds
        from apps.outbox.emails import EndpointDisabledNotices
        from apps.outbox.models import DeliveryKind

        kinds.register(DeliveryKind.ENDPOINT_DISABLED, EndpointDisabledNotices())

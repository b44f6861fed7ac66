from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "apps.notifications"
    verbose_name = _("Emails")

    def ready(self):
        from apps.notifications.bulk_actions import bulk_actions_register

        bulk_actions_register()
        from apps.notifications.services import FulfillmentEmails, ReminderDigests
        from apps.outbox import kinds
        from apps.outbox.models import DeliveryKind

        kinds.register(DeliveryKind.FULFILLMENT, FulfillmentEmails())
        kinds.register(DeliveryKind.REMINDER_DIGEST, ReminderDigests())

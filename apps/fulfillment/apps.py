from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FulfillmentConfig(AppConfig):
    name = "apps.fulfillment"
    verbose_name = _("Fulfillment")

    def ready(self):
        from apps.fulfillment.bulk_actions import bulk_actions_register

        bulk_actions_register()

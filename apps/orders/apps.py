from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "apps.orders"
    verbose_name = _("Sales orders")

    def ready(self):
        from apps.orders.bulk_actions import bulk_actions_register

        bulk_actions_register()

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    verbose_name = _("Accounts and contacts")

    def ready(self):
        from apps.accounts.emails import AccessDecisions, ContactNotices
        from apps.outbox import kinds
        from apps.outbox.models import DeliveryKind

        kinds.register(DeliveryKind.ACCESS_DECISION, AccessDecisions())
        kinds.register(DeliveryKind.CONTACT_NOTICE, ContactNotices())

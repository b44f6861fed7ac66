from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "apps.portal"
    verbose_name = _("Portal")

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from apps.outbox import kinds
        from apps.outbox.models import DeliveryKind
        from apps.portal.order_addresses import order_address_session_end

        # Written whole when asked for, in the address's language, and kept sealed.
        kinds.register(DeliveryKind.SIGN_IN_LINK, kinds.SealedEmails())
        # Signing in with a password ends an order address's session in the same browser.
        user_logged_in.connect(order_address_session_end, dispatch_uid="portal.order_address")

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EntitlementsConfig(AppConfig):
    name = "apps.entitlements"
    verbose_name = _("Entitlements")

    def ready(self):
        from apps.entitlements.bulk_actions import bulk_actions_register
        from apps.entitlements.emails import (
            HandoverEmails,
            LicenseKeyEmails,
            LifecycleNoticeEmails,
            RehostDecisionEmails,
            RehostNoticeEmails,
        )
        from apps.outbox import kinds
        from apps.outbox.models import DeliveryKind

        kinds.register(DeliveryKind.LICENSE_KEYS, LicenseKeyEmails())
        kinds.register(DeliveryKind.LIFECYCLE_NOTICE, LifecycleNoticeEmails())
        kinds.register(DeliveryKind.REHOST_NOTICE, RehostNoticeEmails())
        kinds.register(DeliveryKind.REHOST_DECISION, RehostDecisionEmails())
        kinds.register(DeliveryKind.ENTITLEMENT_HANDOVER, HandoverEmails())
        bulk_actions_register()

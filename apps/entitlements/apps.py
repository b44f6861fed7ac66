from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EntitlementsConfig(AppConfig):
    name = "apps.entitlements"
    verbose_name = _("Entitlements")

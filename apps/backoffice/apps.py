from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class KeyshipAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "apps.backoffice.site.KeyshipAdminSite"


class BackofficeConfig(AppConfig):
    """The admin for Customer Care and Operations: its site, roles and cross-app search."""

    default = True
    name = "apps.backoffice"
    verbose_name = _("Back office")

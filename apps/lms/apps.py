from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LmsConfig(AppConfig):
    name = "apps.lms"
    verbose_name = _("Legacy license keys")

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "apps.core"
    verbose_name = _("Audit")

    def ready(self):
        from django.db.models import CharField
        from django.db.models.functions import Lower

        # `email__lower=...` meets the LOWER(email) indexes behind case-insensitive uniqueness.
        CharField.register_lookup(Lower)

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "apps.core"
    verbose_name = _("Audit")

    def ready(self):
        from celery.signals import before_task_publish
        from django.contrib.auth.signals import user_logged_in
        from django.db.models import CharField
        from django.db.models.functions import Lower

        from apps.core.heartbeats import beat_heartbeat_on_publish
        from apps.core.middleware import staff_signed_in

        # A staff member's session gets its shorter end with the sign-in's own write.
        user_logged_in.connect(staff_signed_in, dispatch_uid="keyship-staff-session")

        # Beat's sign of life, written when it sends the heartbeat task.
        before_task_publish.connect(
            beat_heartbeat_on_publish, dispatch_uid="keyship-beat-heartbeat"
        )

        # `email__lower=...` meets the LOWER(email) indexes behind case-insensitive uniqueness.
        CharField.register_lookup(Lower)

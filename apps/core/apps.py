from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "apps.core"
    verbose_name = _("Audit")

    def ready(self):
        from celery.signals import before_task_publish
        from django.contrib.auth.signals import user_logged_in, user_login_failed
        from django.core.signals import request_finished
        from django.db.models import CharField
        from django.db.models.functions import Lower

        from apps.core import checks  # noqa: F401 - registers the deploy checks
        from apps.core.heartbeats import beat_heartbeat_on_publish
        from apps.core.metrics import login_refused_count
        from apps.core.middleware import request_id_unbind, staff_signed_in

        # A staff member's session gets its shorter end with the sign-in's own write.
        user_logged_in.connect(staff_signed_in, dispatch_uid="keyship-staff-session")
        user_login_failed.connect(login_refused_count, dispatch_uid="keyship-login-refused")
        # The request id is named until the response is closed: Django logs a 4xx or 5xx
        # response after the middleware returned it.
        request_finished.connect(request_id_unbind, dispatch_uid="keyship-request-id")

        # Beat's sign of life, written when it sends the heartbeat task.
        before_task_publish.connect(
            beat_heartbeat_on_publish, dispatch_uid="keyship-beat-heartbeat"
        )

        # `email__lower=...` meets the LOWER(email) indexes behind case-insensitive uniqueness.
        CharField.register_lookup(Lower)

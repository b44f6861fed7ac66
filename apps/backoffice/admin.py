"""Admins of other packages' models, made read-only: what they hold is written elsewhere,
and the admin changes nothing without a service and its audit event."""

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RoleGroupAdmin(GroupAdmin):
    """The staff roles come from apps/backoffice/roles.py, which a migration applies to the
    groups: an edit here would be undone by the next one, and would go unaudited. A member of
    staff gets a role on their user's page."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return ["name", "permissions", "where_roles_come_from"]

    fields = ["name", "where_roles_come_from", "permissions"]

    @admin.display(description=_("where roles come from"))
    def where_roles_come_from(self, obj):
        return _(
            "The roles and their permissions are part of Keyship's code "
            "(apps/backoffice/roles.py); a release applies them."
        )


class ReadOnlyLockoutAdmin:
    """django-axes' records of sign-ins and lockouts: read, and deleted to lift a lockout."""

    def has_change_permission(self, request, obj=None):
        return False


class LoginAttemptAdmin(AccessAttemptAdmin):
    @admin.action(description=AccessAttemptAdmin.cleanup_expired_attempts.short_description)
    def cleanup_expired_attempts(self, request, queryset):
        # django-axes (8.3) reads "now" from request.axes_attempt_time, which only its own
        # login handling sets: on an admin page its action failed with a server error.
        request.axes_attempt_time = timezone.now()
        return super().cleanup_expired_attempts(request, queryset)


admin.site.unregister(Group)
admin.site.register(Group, RoleGroupAdmin)
for model, base in (
    (AccessAttempt, LoginAttemptAdmin),
    (AccessLog, AccessLogAdmin),
    (AccessFailureLog, AccessFailureLogAdmin),
):
    if admin.site.is_registered(model):  # unless AXES_ENABLE_ADMIN turned its pages off
        admin.site.unregister(model)
        admin.site.register(model, type(base.__name__, (ReadOnlyLockoutAdmin, base), {}))

# Webhook endpoints are registered by their own module (it checks Account IDs, which the
# outbox below the accounts cannot).
from apps.backoffice import webhooks  # noqa: E402, F401

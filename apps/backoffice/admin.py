"""Admins of other packages' models, made read-only: what they hold is written elsewhere,
and the admin changes nothing without a service and its audit event."""

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group
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


admin.site.unregister(Group)
admin.site.register(Group, RoleGroupAdmin)
for model, base in (
    (AccessAttempt, AccessAttemptAdmin),
    (AccessLog, AccessLogAdmin),
    (AccessFailureLog, AccessFailureLogAdmin),
):
    admin.site.unregister(model)
    admin.site.register(model, type(base.__name__, (ReadOnlyLockoutAdmin, base), {}))

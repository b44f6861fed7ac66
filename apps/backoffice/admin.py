"""Admin pages the back office takes over from the libraries it uses."""

from axes.admin import AccessAttemptAdmin  # registers django-axes' pages, changed below
from axes.models import AccessAttempt
from django.contrib import admin
from django.utils import timezone


class LoginAttemptAdmin(AccessAttemptAdmin):
    @admin.action(description=AccessAttemptAdmin.cleanup_expired_attempts.short_description)
    def cleanup_expired_attempts(self, request, queryset):
        # django-axes (8.3) reads "now" from request.axes_attempt_time, which only its own
        # login handling sets: on an admin page its action failed with a server error.
        request.axes_attempt_time = timezone.now()
        return super().cleanup_expired_attempts(request, queryset)


if admin.site.is_registered(AccessAttempt):  # unless AXES_ENABLE_ADMIN turned its pages off
    admin.site.unregister(AccessAttempt)
    admin.site.register(AccessAttempt, LoginAttemptAdmin)

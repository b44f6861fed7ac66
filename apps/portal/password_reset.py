"""The public "Forgot your password" form, held to a rate per address and per client.

The form answers the same in every case (a known address or not, limited or not, a staff
login or not), so it tells nobody which addresses have logins; only the emails differ.
"""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpResponseRedirect

from apps.core import metrics
from apps.portal.forms import PasswordByEmailForm
from apps.portal.rate_limits import email_requests_limited


def reset_limited(request) -> bool:
    """Whether this request is past either limit; every request is counted against both."""
    return email_requests_limited(
        request,
        group="password-reset",
        # The spelling the reset reads (email__iexact), so that no spelling gets its own count.
        address=lambda request: request.POST.get("email", "").strip().lower(),
        per_address=settings.PASSWORD_RESET_RATE,
        per_client=settings.PASSWORD_RESET_CLIENT_RATE,
        limit=metrics.LIMIT_PASSWORD_RESET,
    )


class PasswordResetView(auth_views.PasswordResetView):
    form_class = PasswordByEmailForm

    def form_valid(self, form):
        if reset_limited(self.request):
            # The same redirect as a sent email: a limit reached is not told either.
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """A link for a staff login (one mailed before staff were left out) does not work."""

    def get_user(self, uidb64):
        user = super().get_user(uidb64)
        if user is not None and (user.is_staff or user.is_superuser):
            return None
        return user

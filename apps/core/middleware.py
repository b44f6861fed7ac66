"""Headers and session rules that hold for every page, whichever app answers it."""

import datetime

from django.conf import settings
from django.utils import timezone
from django.utils.cache import patch_cache_control

# Django's name for an expiry set with session.set_expiry().
_SESSION_EXPIRY_KEY = "_session_expiry"


def no_store_middleware(get_response):
    """`Cache-Control: no-store` on every response that does not say otherwise.

    Pages and downloads of signed-in users, staff and API clients show activation codes, license
    keys and certificates; a shared cache or the browser's back button must never hand them to
    the next person. Rather than trust each view to say so, every response is private unless its
    view chose to be cacheable (the published license public keys do); static files never reach
    this point (WhiteNoise answers them first).
    """

    def middleware(request):
        response = get_response(request)
        if not response.has_header("Cache-Control"):
            patch_cache_control(response, no_store=True, private=True)
        return response

    return middleware


def staff_session_middleware(get_response):
    """A staff member's session ends STAFF_SESSION_AGE seconds after it began as staff.

    Staff see every customer's activation codes, so a forgotten admin session must not live as
    long as a portal one (SESSION_COOKIE_AGE). The expiry is set once, on the first response
    after the sign-in (or after a portal user became staff), and not renewed by later requests.
    """

    def middleware(request):
        response = get_response(request)
        user = getattr(request, "user", None)
        session = getattr(request, "session", None)
        if (
            user is not None
            and user.is_authenticated
            and user.is_staff
            and session is not None
            and session.get(_SESSION_EXPIRY_KEY) is None
        ):
            # A moment, not a number of seconds: seconds would count again from every
            # later write of the session.
            session.set_expiry(
                timezone.now() + datetime.timedelta(seconds=settings.STAFF_SESSION_AGE)
            )
        return response

    return middleware

"""Headers and session rules that hold for every page, whichever app answers it."""

import datetime
import re
import uuid

from django.conf import settings
from django.utils import timezone
from django.utils.cache import patch_cache_control

from apps.core.logs import log_context_bind, log_context_unbind, redact

# Django's name for an expiry set with session.set_expiry().
_SESSION_EXPIRY_KEY = "_session_expiry"


REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy in front may send as the request's id (a UUID, nginx's $request_id, a trace id);
# anything else, or anything shaped like a secret, is replaced by a new one.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}\Z")


def request_id_of(request) -> str:
    """The incoming X-Request-ID when it is sane, or a new one (32 hex digits)."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    if _REQUEST_ID.match(incoming) and redact(incoming) == incoming:
        return incoming
    return uuid.uuid4().hex


def request_id_middleware(get_response):
    """Names each request: every line logged while it is answered carries its id, and the
    response returns it in X-Request-ID (gunicorn's access line reads it from there), so a
    user's report, the access log and the application's lines meet."""

    def middleware(request):
        request.request_id = request_id_of(request)
        log_context_bind(request_id=request.request_id)
        response = get_response(request)
        response[REQUEST_ID_HEADER] = request.request_id
        return response

    return middleware


def request_id_unbind(sender, **kwargs):
    """`request_finished` receiver (CoreConfig.ready): the lines after a request (in the same
    thread) no longer name it."""
    log_context_unbind("request_id")


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


def staff_session_expiry_set(*, session, user) -> None:
    """Ends a staff member's session STAFF_SESSION_AGE seconds from now, once: later calls
    leave the end where it is.

    Staff see every customer's activation codes, so a forgotten admin session must not live as
    long as a portal one (SESSION_COOKIE_AGE). A moment, not a number of seconds, is kept:
    seconds would count again from every later write of the session.
    """
    if user.is_authenticated and user.is_staff and session.get(_SESSION_EXPIRY_KEY) is None:
        session.set_expiry(timezone.now() + datetime.timedelta(seconds=settings.STAFF_SESSION_AGE))


def staff_signed_in(sender, request, user, **kwargs):
    """`user_logged_in` receiver (CoreConfig.ready): the end is set with the sign-in's own
    write of the session."""
    if request is not None and hasattr(request, "session"):
        staff_session_expiry_set(session=request.session, user=user)


def staff_session_middleware(get_response):
    """Ends the session of a user who became staff while signed in, as a sign-in would have.

    (Every other staff session has its end from the sign-in: this writes nothing for them.)
    """

    def middleware(request):
        response = get_response(request)
        user = getattr(request, "user", None)
        session = getattr(request, "session", None)
        if user is not None and session is not None:
            staff_session_expiry_set(session=session, user=user)
        return response

    return middleware

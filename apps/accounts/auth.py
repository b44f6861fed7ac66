"""How a login is named for the lockout (django-axes)."""

from django.conf import settings


def login_username(request, credentials: dict | None) -> str:
    """The address a login attempt is for, spelled the one way the login itself reads it.

    Logins ignore case (`UserManager.get_by_natural_key` looks up `email__iexact`) and the
    login form strips spaces, so axes must count `ALICE@X`, ` alice@x` and `alice@x` as one
    address; otherwise each spelling gets its own five tries.
    """
    field = settings.AXES_USERNAME_FORM_FIELD
    if credentials:
        username = credentials.get(field)
    else:
        username = request.POST.get(field) if request is not None else None
    return (username or "").strip().lower()

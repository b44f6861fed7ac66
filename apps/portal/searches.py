"""Searches of the entitlement list, kept on the server so that no address carries one.

A user may search by activation code, and an address is kept in access logs, the browser's
history and Referer headers. So the search form posts, the text is kept in the user's session
(sealed like the codes it may hold, as sessions sit in the database) under a random name, and
the list's address, its paging, sorting and CSV links carry only that name.
"""

import secrets

from cryptography.fernet import InvalidToken

from apps.core import sealing

SESSION_KEY = "portal_searches"
# A session keeps the latest searches only: enough for a few tabs and the back button.
KEPT = 20


def search_keep(*, session, text: str) -> str:
    """Keep `text` in the session; the name that finds it again. Writes only the session."""
    searches = dict(session.get(SESSION_KEY, {}))
    name = secrets.token_urlsafe(9)
    searches[name] = sealing.seal(text)
    session[SESSION_KEY] = dict(list(searches.items())[-KEPT:])
    return name


def search_text(*, session, name: str) -> str | None:
    """The text kept under `name`, or None when this session keeps no such search (another
    browser's, an expired session, or one pushed out by newer searches)."""
    sealed = session.get(SESSION_KEY, {}).get(name)
    if not isinstance(sealed, str):
        return None
    try:
        return sealing.unseal(sealed)
    except InvalidToken:  # sealed under an ACTIVATION_CODE_KEY since replaced
        return None

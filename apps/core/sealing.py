"""Activation codes at rest: a keyed hash to find them, a cipher to show them.

The database alone does not reveal an activation code: it stores an HMAC-SHA256 digest
(unique, for look-ups) and a Fernet token (for the e-mail and the certificate), both
keyed from ACTIVATION_CODE_KEY, which is not SECRET_KEY and does not live in the database.
A stored text that carries codes (a rendered Fulfillment Email) is sealed the same way, and
so are legacy license keys, found by a digest of their own (another purpose, another key).
"""

import base64
import hashlib
import hmac
from functools import cache

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


def _derive(purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        settings.ACTIVATION_CODE_KEY.encode()
    )


@cache
def _keys(master: str) -> tuple[bytes, Fernet]:
    # Cached per master key so tests that change the setting get fresh keys.
    del master
    return _derive(b"keyship activation code digest"), Fernet(
        base64.urlsafe_b64encode(_derive(b"keyship activation code cipher"))
    )


def code_digest(code: str) -> str:
    """The look-up digest of a canonical (grouped) activation code."""
    digest_key, _ = _keys(settings.ACTIVATION_CODE_KEY)
    return hmac.new(digest_key, code.encode(), hashlib.sha256).hexdigest()


@cache
def _legacy_key_digest_key(master: str) -> bytes:
    del master
    return _derive(b"keyship legacy key digest")


def legacy_key_digest(key: str) -> str:
    """The look-up digest of a legacy license key, as imported (keys are opaque: no case or
    spacing is folded beyond the import's trimming)."""
    digest_key = _legacy_key_digest_key(settings.ACTIVATION_CODE_KEY)
    return hmac.new(digest_key, key.encode(), hashlib.sha256).hexdigest()


@cache
def _sign_in_token_digest_key(master: str) -> bytes:
    del master
    return _derive(b"keyship sign-in link digest")


def sign_in_token_digest(token: str) -> str:
    """The look-up digest of a sign-in link's token: the database keeps only this, so a copy
    of it signs nobody in."""
    digest_key = _sign_in_token_digest_key(settings.ACTIVATION_CODE_KEY)
    return hmac.new(digest_key, token.encode(), hashlib.sha256).hexdigest()


def seal(text: str) -> str:
    _, cipher = _keys(settings.ACTIVATION_CODE_KEY)
    return cipher.encrypt(text.encode()).decode()


def unseal(token: str) -> str:
    _, cipher = _keys(settings.ACTIVATION_CODE_KEY)
    return cipher.decrypt(token.encode()).decode()

"""What every log line carries, and what none may carry.

Context: `log_context(order_number=..., ssrn=..., delivery_id=...)` names what the code inside it
works on; the request id (apps.core.middleware) and the Celery task (config.celery_app) are
bound the same way. `LogContext`, a filter on every handler, copies them onto each record.

Secrets: `redact()` replaces anything shaped like an activation code, a license key, an API token,
a webhook secret, a sign-in token, a password-reset link or a URL's password. `RedactSecrets`, a
filter on every handler, runs it over each record's message, exception and stack, as the last
line of defence: code that logs must still never pass a secret.

`LOG_FORMAT=json` writes one JSON object per line (`JsonFormatter`); `text` (the default) keeps
the plain line and appends the context.

Imported by the settings: nothing here may need the apps to be loaded.
"""

import contextvars
import datetime
import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from apps.core.codes import ACTIVATION_CODE_SYMBOLS, GROUP

REDACTED = "[redacted]"

# The context a line may carry; nothing else can be bound (no secret by accident).
CONTEXT_FIELDS = ("request_id", "task_id", "task_name", "order_number", "ssrn", "delivery_id")
_context: contextvars.ContextVar[dict] = contextvars.ContextVar("log_context", default={})  # noqa: B039 - never mutated, only replaced

# An activation code as it is shown or typed: seven groups of four, with one separator
# throughout (none, dash, space, or an address's + or %20), any case.
_SYMBOL = "[0-9A-Za-z]"
_GROUPS = ACTIVATION_CODE_SYMBOLS // GROUP
_ACTIVATION_CODE = (
    rf"(?<![0-9A-Za-z]){_SYMBOL}{{{GROUP}}}(?P<sep>-|\s|\+|%20|)"
    rf"(?:{_SYMBOL}{{{GROUP}}}(?P=sep)){{{_GROUPS - 2}}}{_SYMBOL}{{{GROUP}}}(?![0-9A-Za-z])"
)
_PATTERNS = [
    # A license key (apps.entitlements.license_keys), whole or cut short, and its signature.
    (
        re.compile(
            r"-----BEGIN KEYSHIP LICENSE KEY-----.*?(?:-----END KEYSHIP LICENSE KEY-----|\Z)",
            re.DOTALL,
        ),
        REDACTED,
    ),
    (re.compile(r"Signature:\s*[A-Za-z0-9+/=]+"), REDACTED),
    # API tokens (apps.api.services) and webhook signing secrets (apps.outbox.endpoints).
    (re.compile(r"(?<![A-Za-z0-9])(?:ks|whsec)_[A-Za-z0-9_-]{16,}"), REDACTED),
    # A password-reset link's user and token: /account/reset/<uidb64>/<token>/.
    (re.compile(r"(?<=/reset/)[^/\s\"'?#]+/[^/\s\"'?#]+"), REDACTED),
    # A password in an address: scheme://user:password@host.
    (re.compile(r"(://[^:/\s@\"']*:)[^@\s/\"']+@"), rf"\1{REDACTED}@"),
    # password=..., "token": "...", Authorization: ... (a dict's or a form's repr).
    (
        re.compile(
            r"(?i)((?:password|passwd|secret|token|authorization|api_key)['\"]?\s?[:=]\s?['\"]?)"
            r"(?!\[redacted\])[^\s'\",;&}]+"
        ),
        rf"\1{REDACTED}",
    ),
    (re.compile(_ACTIVATION_CODE), REDACTED),
    # Any other long random token (a sign-in link's, 43 characters of URL-safe base64): 40 or
    # more such characters with lower case and upper case or digits. Names in a traceback
    # (snake_case, no digits) are left alone; a UUID (36) and a request id (32) are shorter.
    (
        re.compile(
            r"(?<![A-Za-z0-9_-])(?=[A-Za-z0-9_-]*[a-z])(?=[A-Za-z0-9_-]*[A-Z0-9])"
            r"[A-Za-z0-9_-]{40,}(?![A-Za-z0-9_-])"
        ),
        REDACTED,
    ),
]


def redact(text: str) -> str:
    """The text with everything shaped like a secret replaced by [redacted]."""
    if not isinstance(text, str):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


@contextmanager
def log_context(**values) -> Iterator[None]:
    """Lines logged inside name these values (request_id, task_id, task_name, order_number,
    ssrn, delivery_id); None leaves a value out."""
    token = log_context_bind(**values)
    try:
        yield
    finally:
        _context.reset(token)


def log_context_bind(**values) -> contextvars.Token:
    """`log_context` for code that cannot hold a `with` (signal pairs): reset with the token."""
    unknown = set(values) - set(CONTEXT_FIELDS)
    if unknown:
        raise TypeError(f"log_context takes {', '.join(CONTEXT_FIELDS)}, not {sorted(unknown)}")
    bound = {name: value for name, value in values.items() if value is not None and value != ""}
    return _context.set({**_context.get(), **bound})


def log_context_reset(token: contextvars.Token) -> None:
    _context.reset(token)


def log_context_unbind(*names: str) -> None:
    """Leaves these values out from here on (what a request bound, once it is finished)."""
    _context.set({name: value for name, value in _context.get().items() if name not in names})


def log_context_current() -> dict:
    return dict(_context.get())


def process_kind() -> str:
    """web, worker, beat, or command: what this process is, from how it was started."""
    program = os.path.basename(sys.argv[0]) if sys.argv else ""
    arguments = sys.argv[1:]
    if "gunicorn" in program or "runserver" in arguments:
        return "web"
    if "celery" in program:
        for kind in ("worker", "beat"):
            if kind in arguments:
                return kind
    return "command"


class LogContext(logging.Filter):
    """Puts the process kind and the bound context on each record (a value the record already
    has, as gunicorn's access line carries its request id, stays)."""

    kind = None

    def filter(self, record: logging.LogRecord) -> bool:
        if LogContext.kind is None:
            LogContext.kind = process_kind()
        record.process_kind = LogContext.kind
        for name, value in _context.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class RedactSecrets(logging.Filter):
    """Redacts secrets from each record's message, exception text and stack, for every
    handler and formatter after it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: logging reports it itself
            return True
        record.msg, record.args = redact(message), ()
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            # The formatters would format the exception again from exc_info: the redacted
            # text is what is left of it.
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class TextFormatter(logging.Formatter):
    """The plain line, with the context appended: `... message  request_id=... ssrn=...`."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        context = " ".join(
            f"{name}={getattr(record, name)}" for name in CONTEXT_FIELDS if hasattr(record, name)
        )
        return f"{line}  {context}" if context else line


_JSON_TYPES = (str, int, float, bool, type(None), datetime.datetime)


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: timestamp, level, logger, message, process (web, worker,
    beat, command), pid, the context, and the exception when there is one.

    A record's extra values that are not plain values are left out (Django's request log
    passes the request, whose repr holds the query string); every string is redacted."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("timestamp", True)
        kwargs.setdefault(
            "rename_fields",
            {"levelname": "level", "name": "logger", "process_kind": "process", "process": "pid"},
        )
        super().__init__(
            "%(levelname)s %(name)s %(message)s %(process_kind)s %(process)s", *args, **kwargs
        )

    def process_log_record(self, log_data):
        return {
            name: redact(value) if isinstance(value, str) else value
            for name, value in log_data.items()
            if isinstance(value, _JSON_TYPES) or name in ("exc_info", "stack_info")
        }


def logging_config(*, log_format: str, level: str) -> dict:
    """The LOGGING dict for settings (and gunicorn's master process): every record goes
    through the root's one handler, to standard error."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "apps.core.logs.LogContext"},
            "redact": {"()": "apps.core.logs.RedactSecrets"},
        },
        "formatters": {
            "text": {
                "()": "apps.core.logs.TextFormatter",
                "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            },
            "json": {"()": "apps.core.logs.JsonFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["context", "redact"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's own handlers (a plain console one under DEBUG, mail to ADMINS, runserver's)
            # would write lines of their own format: everything goes through the root's.
            "django": {"handlers": [], "propagate": True},
            "django.server": {"handlers": [], "propagate": True},
            # WeasyPrint reports every rendering step at INFO; axes every successful login.
            "weasyprint": {"level": "WARNING"},
            "fontTools": {"level": "WARNING"},
            "axes": {"level": "WARNING"},
        },
    }

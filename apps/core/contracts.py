"""What the import files and the API share: validation errors with the path of the field.

The shapes themselves are DRF serializers in each app's `contracts.py`; a file that
imports also posts.
"""

import json
from dataclasses import dataclass, field

from django.core.validators import ProhibitNullCharactersValidator
from django.utils.translation import gettext as _
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from apps.core.text import has_control_characters

# Deeper than any file Keyship reads (an order is 4 levels), far below Python's recursion
# limit, which a document of 50,000 "[" would otherwise reach.
MAX_JSON_DEPTH = 64
MAX_JSON_DIGITS = 100


class Rejected(Exception):
    """Input with errors: nothing was written. `errors` are 'path: message' lines."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


def flatten_errors(detail, path: str = "") -> list[str]:
    """Turn DRF's nested error structure into 'orders[0].lines[2].sku: message' lines."""
    if isinstance(detail, dict):
        lines = []
        for key, value in detail.items():
            if key == "non_field_errors":
                lines += flatten_errors(value, path)
            elif isinstance(key, int) or str(key).isdigit():  # a row of a list
                lines += flatten_errors(value, f"{path}[{key}]")
            else:
                lines += flatten_errors(value, f"{path}.{key}" if path else str(key))
        return lines
    if isinstance(detail, list):
        if all(isinstance(item, (str, ErrorDetail)) for item in detail):
            return [f"{path or '(file)'}: {item}" for item in detail]
        lines = []
        for index, item in enumerate(detail):
            if item:  # DRF puts {} at the positions of the good rows
                lines += flatten_errors(item, f"{path}[{index}]")
        return lines
    return [f"{path or '(file)'}: {detail}"]


def validate(serializer_class, data, path: str = ""):
    """Validated data of `serializer_class`, or Rejected with every error and its path."""
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise Rejected(flatten_errors(serializer.errors, path))
    return serializer.validated_data


def parse_json(text: str, source: str) -> object:
    """Parse a JSON document from outside (a file, an API body), or Rejected naming the
    mistake: its line and column, nesting deeper than MAX_JSON_DEPTH, an integer longer
    than MAX_JSON_DIGITS, NaN/Infinity, which JSON does not have, or a member named twice in
    one object (readers disagree on which value counts: the first, or the last). Every JSON
    read of outside input goes through here."""
    try:
        document = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_int=_integer,
            object_pairs_hook=_members_once,
        )
    except json.JSONDecodeError as exc:
        raise Rejected(
            [f"{source}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"]
        ) from None
    except _NotJson as exc:
        raise Rejected([f"{source}: {exc}"]) from None
    except RecursionError:  # the parser's own stack ran out long before the end of the text
        raise Rejected([f"{source}: {_too_deep()}"]) from None
    if _deeper_than(document, MAX_JSON_DEPTH):
        raise Rejected([f"{source}: {_too_deep()}"])
    return document


class _NotJson(ValueError):
    pass


def _members_once(pairs: list[tuple[str, object]]) -> dict:
    document = {}
    for name, value in pairs:
        if name in document:
            raise _NotJson(
                _("not valid JSON here: the member %(name)s is written twice")
                % {"name": repr(name[:40])}
            )
        document[name] = value
    return document


def _refuse_constant(name: str):
    raise _NotJson(_("not valid JSON: %(name)s is not a number") % {"name": name})


def _integer(text: str) -> int:
    # Python refuses to convert more than 4,300 digits with a ValueError of its own; no
    # field takes more than a few.
    if len(text) > MAX_JSON_DIGITS:
        raise _NotJson(
            _("not valid JSON: a number has more than %(limit)d digits")
            % {"limit": MAX_JSON_DIGITS}
        )
    return int(text)


def _too_deep() -> str:
    return _("nested deeper than %(limit)d levels") % {"limit": MAX_JSON_DEPTH}


def _deeper_than(document, limit: int) -> bool:
    """Whether lists and objects nest more than `limit` levels; without recursion."""
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in value)
    return False


class NoControlCharacters:
    """The rule of every text field of a contract: no C0 or C1 control characters, nor the
    Unicode line and paragraph separators. A name becomes a subject line, a CSV cell, a
    line of a certificate, where a line break is a new header or row. `multiline` fields
    (a description) may hold tabs and line breaks."""

    def __init__(self, *, multiline: bool = False):
        self.multiline = multiline

    def __call__(self, value) -> None:
        if isinstance(value, str) and has_control_characters(value, multiline=self.multiline):
            raise serializers.ValidationError(_("control characters are not allowed"))


class _RefusesControlCharacters:
    def __init__(self, *, multiline: bool = False, **kwargs):
        super().__init__(**kwargs)
        # DRF's own check refuses NUL alone; this rule covers it, with one message.
        self.validators = [
            NoControlCharacters(multiline=multiline),
            *(v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)),
        ]


class TextField(_RefusesControlCharacters, serializers.CharField):
    """A contract's text: one line, unless `multiline=True`."""


class EmailField(_RefusesControlCharacters, serializers.EmailField):
    pass


class URLField(_RefusesControlCharacters, serializers.URLField):
    pass


@dataclass
class ImportResult:
    """What an import did, one line per row, in the file's order."""

    rows: list[tuple[str, str]] = field(default_factory=list)

    def add(self, what: str, outcome: str) -> None:
        self.rows.append((what, outcome))

    def count(self, outcome: str) -> int:
        return sum(1 for _, row_outcome in self.rows if row_outcome == outcome)

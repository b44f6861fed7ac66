"""What the import files and the API share: validation errors with the path of the field.

The shapes themselves are DRF serializers in each app's `contracts.py`; a file that
imports also posts.
"""

import json
from dataclasses import dataclass, field

from rest_framework.exceptions import ErrorDetail


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
    """Parse a JSON document, or Rejected naming the line and column of the mistake."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Rejected(
            [f"{source}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"]
        ) from None


@dataclass
class ImportResult:
    """What an import did, one line per row, in the file's order."""

    rows: list[tuple[str, str]] = field(default_factory=list)

    def add(self, what: str, outcome: str) -> None:
        self.rows.append((what, outcome))

    def count(self, outcome: str) -> int:
        return sum(1 for _, row_outcome in self.rows if row_outcome == outcome)

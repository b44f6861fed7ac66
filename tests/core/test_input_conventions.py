"""Rules that cross modules, checked where each applies: every text field of a contract
refuses control characters, every CSV goes through apps.core.csv_files, and every JSON from
outside through apps.core.contracts.parse_json."""

import importlib
import re
from pathlib import Path

from django.conf import settings
from rest_framework import serializers

from apps.core.contracts import NoControlCharacters

APPS = Path(settings.BASE_DIR) / "apps"
# The only text fields that may hold line breaks (and tabs): they are shown as paragraphs,
# never put in a header, a subject or a single CSV line.
MULTILINE = {"ProductIn.description"}


def _contract_serializers():
    """Every serializer of an app's contracts.py, and the API's own input serializers."""
    modules = [
        importlib.import_module(f"apps.{path.parent.name}.contracts")
        for path in sorted(APPS.glob("*/contracts.py"))
    ]
    modules.append(importlib.import_module("apps.api.serializers"))
    for module in modules:
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, serializers.Serializer)
                and value.__module__ == module.__name__
                and not value.__name__.endswith("Out")  # answers, not input
            ):
                yield value


def _text_fields(field, path=""):
    """(Serializer.field, field) for every text field, nested serializers and lists too."""
    if isinstance(field, serializers.ListSerializer | serializers.ListField):
        yield from _text_fields(field.child, path + "[]")
    elif isinstance(field, serializers.Serializer):
        for name, child in field.fields.items():
            yield from _text_fields(child, f"{type(field).__name__}.{name}")
    elif isinstance(field, serializers.CharField):
        yield path, field


def test_every_text_field_of_every_contract_refuses_control_characters():
    seen, missing, multiline = [], [], set()
    for serializer in _contract_serializers():
        for path, field in _text_fields(serializer()):
            seen.append(path)
            rules = [v for v in field.validators if isinstance(v, NoControlCharacters)]
            if not rules:
                missing.append(path)
            elif rules[0].multiline:
                multiline.add(path)

    assert len(seen) > 15  # the walk found the contracts' fields
    assert not missing, f"text fields without the control-character rule: {missing}"
    assert multiline == MULTILINE


CSV_USE = re.compile(r"\bcsv\.(writer|DictWriter|reader|DictReader)\b")
JSON_READ = re.compile(r"\bjson\.loads?\(")
# JSON that is not outside input: the API's own answer, the demo files in the repository, and
# the outbox's own sealed email content.
JSON_READ_ALLOWED = {
    "apps/api/views.py",
    "apps/backoffice/management/commands/seed_demo.py",
    "apps/outbox/kinds.py",
}


def _sources():
    for path in sorted(APPS.rglob("*.py")):
        yield path.relative_to(APPS.parent).as_posix(), path.read_text()


def test_every_csv_is_read_and_written_through_the_one_helper():
    offenders = [
        name
        for name, text in _sources()
        if CSV_USE.search(text) and name != "apps/core/csv_files.py"
    ]
    assert not offenders, f"use apps.core.csv_files instead of the csv module: {offenders}"


def test_every_json_from_outside_is_read_through_parse_json():
    offenders = [
        name
        for name, text in _sources()
        if JSON_READ.search(text)
        and name not in JSON_READ_ALLOWED
        and name != "apps/core/contracts.py"
    ]
    assert not offenders, f"use apps.core.contracts.parse_json: {offenders}"

import sys

from django.core.management.base import BaseCommand, CommandError

from apps.core.contracts import Rejected
from apps.lms.services import legacy_keys_import


class Command(BaseCommand):
    help = (
        "Import legacy license keys from a CSV file (header sku,license_key; more columns "
        "are kept); all or nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="a CSV file, or - for standard input")

    def handle(self, *args, file, **options):
        try:
            text = sys.stdin.read() if file == "-" else open(file, encoding="utf-8-sig").read()
        except OSError as exc:
            raise CommandError(f"{file}: cannot read the file: {exc.strerror}") from None
        try:
            result = legacy_keys_import(text=text, source=file)
        except Rejected as rejected:
            for line in rejected.errors:
                self.stderr.write(line)
            raise CommandError(
                f"{file}: {len(rejected.errors)} error(s); nothing was imported."
            ) from None
        for what, outcome in result.rows:
            self.stdout.write(f"{what}: {outcome}")

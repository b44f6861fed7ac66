from django.core.management.base import BaseCommand, CommandError

from apps.core.actors import Job
from apps.core.contracts import Rejected
from apps.core.importing import read_input_file, write_errors
from apps.lms.services import legacy_keys_import


class Command(BaseCommand):
    help = (
        "Import legacy license keys from a CSV file (header sku,license_key; more columns "
        "are kept); all or nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="a CSV file, or - for standard input")

    def handle(self, *args, file, **options):
        text, source = read_input_file(file)
        try:
            result = legacy_keys_import(text=text, source=source, actor=Job("import_legacy_keys"))
        except Rejected as rejected:
            write_errors(self, source, rejected.errors)
            raise CommandError(
                f"{file}: {len(rejected.errors)} error(s); nothing was imported."
            ) from None
        for what, outcome in result.rows:
            self.stdout.write(f"{what}: {outcome}")

"""The base of the import commands: read a file, call one service, report per row."""

import sys

from django.core.management.base import BaseCommand, CommandError

from apps.core.contracts import ImportResult, Rejected, parse_json


class JsonImportCommand(BaseCommand):
    """Subclasses set `help` and implement `run(document) -> ImportResult`.

    The service validates the whole file before it writes anything, so a file with an
    error writes nothing; the command then exits with status 1.
    """

    def add_arguments(self, parser):
        parser.add_argument("file", help="a JSON file, or - for standard input")

    def read(self, path: str) -> tuple[str, str]:
        if path == "-":
            return sys.stdin.read(), "<stdin>"
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read(), path
        except OSError as exc:
            raise CommandError(f"{path}: cannot read the file: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise CommandError(f"{path}: not UTF-8 text (byte {exc.start})") from None

    def handle(self, *args, **options):
        text, source = self.read(options["file"])
        try:
            result = self.run(parse_json(text, source))
        except Rejected as rejected:
            for line in rejected.errors:
                self.stderr.write(f"{source}: {line}" if not line.startswith(source) else line)
            raise CommandError(
                f"{source}: {len(rejected.errors)} error(s); nothing was imported."
            ) from None
        self.report(result)

    def report(self, result: ImportResult) -> None:
        for what, outcome in result.rows:
            self.stdout.write(f"{what}: {outcome}")
        summary = ", ".join(
            f"{result.count(outcome)} {outcome}"
            for outcome in ("created", "updated", "unchanged")
            if result.count(outcome)
        )
        self.stdout.write(self.style.SUCCESS(summary or "nothing to import"))

    def run(self, document) -> ImportResult:
        raise NotImplementedError

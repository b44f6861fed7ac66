"""The base of the import commands: read a file, call one service, report per row."""

import sys

from django.core.management.base import BaseCommand, CommandError

from apps.core.contracts import ImportResult, Rejected, parse_json
from apps.core.text import escaped


def read_input_file(path: str) -> tuple[str, str]:
    """The text of an import command's file (`-` for standard input) and the name its
    errors give it; CommandError, which exits 1, when it cannot be read as UTF-8 text."""
    try:
        if path == "-":
            # The bytes, decoded here, so that bad bytes are reported like a file's.
            data = getattr(sys.stdin, "buffer", sys.stdin).read()
            return (data if isinstance(data, str) else data.decode("utf-8-sig")), "<stdin>"
        with open(path, encoding="utf-8-sig") as handle:
            return handle.read(), path
    except OSError as exc:
        raise CommandError(f"{path}: cannot read the file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise CommandError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def write_errors(command: BaseCommand, source: str, errors: list[str]) -> None:
    """Each error on standard error, its control characters escaped: an error may quote
    the file, and an escape sequence in it would drive the operator's terminal."""
    for line in errors:
        command.stderr.write(escaped(line if line.startswith(source) else f"{source}: {line}"))


class JsonImportCommand(BaseCommand):
    """Subclasses set `help` and implement `run(document) -> ImportResult`.

    The service validates the whole file before it writes anything, so a file with an
    error writes nothing; the command then exits with status 1.
    """

    def add_arguments(self, parser):
        parser.add_argument("file", help="a JSON file, or - for standard input")

    def read(self, path: str) -> tuple[str, str]:
        return read_input_file(path)

    def handle(self, *args, **options):
        text, source = self.read(options["file"])
        try:
            result = self.run(parse_json(text, source))
        except Rejected as rejected:
            write_errors(self, source, rejected.errors)
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

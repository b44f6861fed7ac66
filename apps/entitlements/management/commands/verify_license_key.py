import sys

from django.core.management.base import BaseCommand, CommandError

from apps.entitlements.license_keys import LicenseKeyInvalid, license_key_verify


class Command(BaseCommand):
    help = (
        "Check a license key's signature with the published public keys and print what it "
        "grants. FILE may hold several keys, one after the other; - reads standard input."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="a file of license keys, or - for standard input")

    def handle(self, *args, file, **options):
        try:
            text = sys.stdin.read() if file == "-" else open(file, encoding="utf-8").read()
        except OSError as error:
            raise CommandError(f"{file}: {error.strerror}") from None
        blocks = _blocks(text)
        if not blocks:
            raise CommandError(f"{file}: no license key found.")
        invalid = 0
        for number, block in enumerate(blocks, start=1):
            try:
                key = license_key_verify(block)
            except LicenseKeyInvalid as error:
                invalid += 1
                self.stderr.write(f"key {number}: INVALID: {error}")
                continue
            term = key.term_ends_on.isoformat() if key.term_ends_on else "perpetual"
            self.stdout.write(
                f"key {number}: valid: SSRN {key.ssrn}, SKU {key.sku}, serial {key.serial}, "
                f"{key.seats} seat(s), term ends {term}, issued "
                f"{key.issued_at:%Y-%m-%d %H:%M} UTC, signing key {key.key_id}"
            )
        if invalid:
            raise CommandError(f"{invalid} of {len(blocks)} key(s) do not verify.")


def _blocks(text: str) -> list[str]:
    """Each BEGIN ... END block of the text (a file may hold several keys)."""
    blocks, current = [], None
    for line in text.splitlines():
        if "BEGIN KEYSHIP LICENSE KEY" in line:
            current = [line]
        elif current is not None:
            current.append(line)
            if "END KEYSHIP LICENSE KEY" in line:
                blocks.append("\n".join(current))
                current = None
    if current is not None:  # a key cut short: let verification say what is wrong
        blocks.append("\n".join(current))
    return blocks

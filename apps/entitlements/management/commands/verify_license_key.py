import sys
from collections import Counter

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from django.utils import timezone

from apps.core.dates import business_today
from apps.entitlements.key_checks import KeyCheck, KeyVerdict, license_key_check
from apps.entitlements.license_keys import KeyState
from apps.entitlements.revocations import RevocationListInvalid, revocation_list_verify

# Exit codes: 0 every key passes; 1 a key does not (or the keys cannot be read); 2 the
# arguments are wrong (Django's); 3 the revocation list does not verify (nothing is checked).
EXIT_LIST_INVALID = 3

# A genuine key that these records do not know (another deployment's, a test system's) is
# reported as such but does not fail the run: its signature is all there is to check.
PASSING = (KeyVerdict.CURRENT, KeyVerdict.NOT_ISSUED_HERE)


class Command(BaseCommand):
    help = (
        "Check license keys: the signature with the published public keys, then the key "
        "against a revocation list when given (its own signature checked first) and the "
        "records (current, outdated by a newer key, stale: past its Expires, expired, "
        "revoked). FILE may hold several keys, one after the other; - reads standard input. "
        "Exits 1 when a key is forged, outdated, stale, expired or revoked, 3 when the "
        "revocation list does not verify."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="a file of license keys, or - for standard input")
        parser.add_argument(
            "--revocations",
            metavar="FILE",
            help="a revocation list (/.well-known/keyship-license-key-revocations.json) to "
            "check the keys against, or - for standard input",
        )

    def handle(self, *args, file, revocations=None, **options):
        if file == "-" and revocations == "-":
            raise CommandError("Only one of FILE and --revocations can be standard input.")
        revocation_list = None
        if revocations:
            try:
                revocation_list = revocation_list_verify(_read(revocations))
            except RevocationListInvalid as error:
                raise CommandError(
                    f"{revocations}: {error}", returncode=EXIT_LIST_INVALID
                ) from None
            if revocation_list.next_update < timezone.now():
                self.stderr.write(
                    f"{revocations}: the revocation list is out of date (next update "
                    f"{revocation_list.next_update:%Y-%m-%d %H:%M} UTC): keys revoked since "
                    f"are not in it."
                )
        blocks = _blocks(_read(file))
        if not blocks:
            raise CommandError(f"{file}: no license key found.")
        today = business_today()
        verdicts: Counter = Counter()
        for number, block in enumerate(blocks, start=1):
            check = license_key_check(text=block, today=today, revocations=revocation_list)
            verdicts[check.verdict] += 1
            line = f"key {number}: {_report(check)}"
            if check.verdict in PASSING:
                self.stdout.write(line)
            else:
                self.stderr.write(line)
        failing = len(blocks) - sum(verdicts[verdict] for verdict in PASSING)
        if failing:
            counts = ", ".join(
                f"{count} {verdict.value}"
                for verdict, count in verdicts.items()
                if verdict not in PASSING
            )
            raise CommandError(f"{failing} of {len(blocks)} key(s) are not current: {counts}.")


def _read(file: str) -> str:
    try:
        return sys.stdin.read() if file == "-" else open(file, encoding="utf-8").read()
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"{file}: {getattr(error, 'strerror', None) or error}") from None


def _day(day) -> str:
    return day.isoformat() if day else "perpetual"


def _report(check: KeyCheck) -> str:
    if check.verdict == KeyVerdict.INVALID:
        return f"INVALID: {check.problem} Forged or changed: do not trust it."
    key = check.key
    what = (
        f"SSRN {key.ssrn}, SKU {key.sku}, serial {key.serial}, {key.seats} seat(s), "
        f"term ends {_day(key.term_ends_on)}, works until {_day(key.works_until)}, issued "
        f"{key.issued_at:%Y-%m-%d %H:%M} UTC, "
        + (f"expires {key.expires_at:%Y-%m-%d %H:%M} UTC, " if key.expires_at else "")
        + f"format {key.format}, signing key {key.key_id}"
    )
    if check.verdict == KeyVerdict.OUTDATED:
        newer = check.newer
        return (
            f"OUTDATED: genuine, but replaced by a newer key for serial {key.serial} issued "
            f"{newer.issued_at:%Y-%m-%d} (term ends {_day(newer.term_ends_on)}, works until "
            f"{_day(newer.works_until)}); download it from {check.portal_url}: {what}"
        )
    if check.verdict == KeyVerdict.STALE:
        refresh = settings.SITE_URL + reverse("license-key-refresh")
        return (
            f"STALE: expired {key.expires_at:%Y-%m-%d %H:%M} UTC, refresh it: genuine, but its "
            f"device no longer trusts it; the device gets a fresh key from POST {refresh}: "
            f"{what}"
        )
    if check.verdict == KeyVerdict.EXPIRED:
        return f"EXPIRED: genuine and current, but it worked until {_day(key.works_until)}: {what}"
    if check.verdict == KeyVerdict.REVOKED:
        return f"REVOKED on {check.revoked_on}: genuine, but no longer valid: {what}"
    if check.verdict == KeyVerdict.NOT_ISSUED_HERE:
        return f"valid: genuine, but not on record here (no such activation to compare): {what}"
    if check.state == KeyState.GRACE:
        return (
            f"valid: current, in its grace period (the term ended; the device works until "
            f"{_day(key.works_until)} and asks for a renewal): {what}"
        )
    return f"valid: current: {what}"


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

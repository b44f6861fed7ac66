import datetime

from django.core.management.base import BaseCommand, CommandError

from apps.core.actors import Job
from apps.core.dates import business_today
from apps.fulfillment.selectors import order_lines_due
from apps.fulfillment.services import order_lines_fulfil_due


def _date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--date: {text!r} is not a date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = (
        "Ship every open order line due by today in the business time zone (or by --date), "
        "as the scheduled sweep does. Lines ship today whatever date is given."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--date", type=_date, help="ship lines due on or before this date (YYYY-MM-DD)"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="list what would ship and write nothing"
        )

    def handle(self, *args, date=None, dry_run=False, **options):
        through = date or business_today()
        if dry_run:
            lines = (
                order_lines_due(through=through)
                .select_related("order", "product")
                .order_by("order_id", "line_number")
            )
            count = 0
            for line in lines.iterator():
                self.stdout.write(
                    f"would ship {line} {line.product.sku} x{line.quantity} "
                    f"(due {line.requested_ship_date})"
                )
                count += 1
            self.stdout.write(
                self.style.SUCCESS(f"{count} line(s) due by {through}; nothing written")
            )
            return
        report = order_lines_fulfil_due(through=through, actor=Job("fulfil_due"))
        for line in report.shipped:
            self.stdout.write(f"shipped {line} {line.product.sku} x{line.quantity}")
        for line in report.blocked:
            self.stdout.write(self.style.WARNING(f"blocked {line}: {line.status_reason}"))
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(report.shipped)} line(s) shipped in {len(report.shipments)} shipment(s), "
                f"{len(report.blocked)} blocked"
            )
        )

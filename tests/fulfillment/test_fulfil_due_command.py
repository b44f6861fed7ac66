import datetime

import pytest
from django.core.management import CommandError, call_command

from apps.entitlements.models import Entitlement
from apps.orders.models import LineStatus
from tests.fulfillment.helpers import order_with_lines, today

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_dry_run_lists_what_is_due_and_writes_nothing(capsys):
    order = order_with_lines(dates=[today(), today() + datetime.timedelta(days=3)])

    call_command("fulfil_due", "--dry-run")

    out = capsys.readouterr().out
    assert f"would ship {order.order_number}/1" in out and f"{order.order_number}/2" not in out
    assert "1 line(s) due" in out
    assert Entitlement.objects.count() == 0


def test_a_date_ships_what_is_due_by_then_starting_today(smtp, capsys):
    order = order_with_lines(dates=[today() + datetime.timedelta(days=3)])

    call_command("fulfil_due", "--date", (today() + datetime.timedelta(days=3)).isoformat())

    line = order.lines.get()
    assert line.status == LineStatus.FULFILLED
    assert line.entitlement.starts_on == today()
    assert "1 line(s) shipped in 1 shipment(s)" in capsys.readouterr().out


def test_a_bad_date_is_refused_clearly():
    with pytest.raises(CommandError, match="'2026-02-30' is not a date"):
        call_command("fulfil_due", "--date", "2026-02-30")

"""Ship now, as a bulk action on order lines (registered with the order lines' kind)."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.bulk import BulkAction, bulk_action_register
from apps.core.contracts import Rejected
from apps.fulfillment.services import order_lines_ship_now
from apps.orders.bulk_actions import line_refusal
from apps.orders.models import LineStatus, OrderLine

_NOT_OPEN = gettext_lazy("Order line %(line)s is %(status)s: only an open line ships now.")


def _check(line: OrderLine, params: dict) -> str | None:
    return None if line.status == LineStatus.OPEN else line_refusal(line, _NOT_OPEN)


def _ship_now(line: OrderLine, params: dict, actor) -> None:
    """Ships the line alone, today. A line that cannot ship is refused with its reason and
    left open (the single admin action would mark it blocked): a refused row writes nothing."""
    report = order_lines_ship_now(lines=[line], actor=actor)
    if report.blocked:
        raise Rejected(
            [
                _("Order line %(line)s cannot ship: %(reason)s.")
                % {"line": line, "reason": report.blocked[0].status_reason}
            ]
        )
    if not report.shipped:
        line.refresh_from_db()
        if line.status != LineStatus.OPEN:
            raise Rejected([line_refusal(line, _NOT_OPEN)])
        raise Rejected(
            [
                _("Order line %(line)s is being shipped or changed right now: try again.")
                % {"line": line}
            ]
        )


def bulk_actions_register() -> None:
    bulk_action_register(
        BulkAction(
            name="ship_now",
            label=gettext_lazy("Ship now (today, whatever the date)"),
            permission="orders.change_orderline",
            kind="order_line",
            check=_check,
            perform=_ship_now,
        )
    )

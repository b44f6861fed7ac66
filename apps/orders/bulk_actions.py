"""Order lines (by order number and line number) as rows of bulk actions, and hold, release
and cancel on them, through order_lines_transition as the admin's actions."""

import re

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.bulk import (
    BulkAction,
    RowKind,
    bulk_action_register,
    reason_field,
    row_kind_register,
)
from apps.core.bulk import identifier_plain as plain
from apps.core.contracts import Rejected
from apps.core.search_terms import search_term_parse
from apps.orders.models import LineStatus, OrderLine
from apps.orders.services import order_lines_transition

_LINE_NUMBER = re.compile(r"^\d{1,9}$")


def order_line_key(text: str) -> str:
    """`SO-1001/10` as the key of line 10 of order SO-1001: the order number in lower case
    (as search reads it), a slash, the line number. ValueError when it is not one."""
    if not text:
        raise ValueError(_("no order line"))
    order, _slash, number = text.rpartition("/")
    order_number = search_term_parse(order).order_number if order else None
    number = number.strip()
    if order_number is None or not _LINE_NUMBER.match(number):
        raise ValueError(
            _(
                "“%(text)s” is not an order line: write the order number, a slash and the line "
                "number (SO-1001/10)"
            )
            % {"text": plain(text)}
        )
    return f"{order_number}/{int(number)}"


def order_lines() -> QuerySet[OrderLine]:
    return OrderLine.objects.select_related("order", "product")


def _order_lines_find(keys: list[str]) -> dict:
    numbers = {key.rpartition("/")[0] for key in keys}
    wanted = set(keys)
    found: dict[str, list[OrderLine]] = {}
    for line in order_lines().filter(order__order_number__lower__in=numbers):
        key = f"{line.order.order_number.lower()}/{line.line_number}"
        if key in wanted:
            found[key] = [line]
    return found


_REFUSALS = {
    "hold": gettext_lazy(
        "Order line %(line)s is %(status)s: only an open or blocked line is held."
    ),
    "release": gettext_lazy(
        "Order line %(line)s is %(status)s: only a held or blocked line is released."
    ),
    "cancel": gettext_lazy("Order line %(line)s is %(status)s already: it cannot be cancelled."),
}
_SOURCES = {
    "hold": (LineStatus.OPEN, LineStatus.BLOCKED),
    "release": (LineStatus.ON_HOLD, LineStatus.BLOCKED),
    "cancel": (LineStatus.OPEN, LineStatus.ON_HOLD, LineStatus.BLOCKED),
}


def line_refusal(line: OrderLine, template) -> str:
    return str(template) % {"line": line, "status": line.get_status_display().lower()}


def _transition_action(transition: str):
    def check(line: OrderLine, params: dict) -> str | None:
        if line.status in _SOURCES[transition]:
            return None
        return line_refusal(line, _REFUSALS[transition])

    def perform(line: OrderLine, params: dict, actor) -> None:
        changed = order_lines_transition(
            line_ids=[line.pk], action=transition, actor=actor, reason=params.get("reason", "")
        )
        if not changed:  # it changed since it was read
            line.refresh_from_db()
            raise Rejected([line_refusal(line, _REFUSALS[transition])])

    return check, perform


def bulk_actions_register() -> None:
    row_kind_register(
        RowKind(
            name="order_line",
            label=gettext_lazy("Order lines, by order number/line number"),
            column="order_line",
            normalise=order_line_key,
            find=_order_lines_find,
            identify=str,
            queryset=order_lines,
        )
    )
    for transition, label, fields in [
        ("hold", gettext_lazy("Hold (stop them from shipping)"), reason_field),
        ("release", gettext_lazy("Release (ship when due)"), dict),
        ("cancel", gettext_lazy("Cancel"), reason_field),
    ]:
        check, perform = _transition_action(transition)
        bulk_action_register(
            BulkAction(
                name=transition,
                label=label,
                permission="orders.change_orderline",
                kind="order_line",
                fields=fields,
                check=check,
                perform=perform,
            )
        )

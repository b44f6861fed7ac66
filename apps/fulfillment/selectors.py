import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet

from apps.orders.models import LineStatus, OrderLine, SalesOrder


def order_lines_due(*, through: datetime.date) -> QuerySet[OrderLine]:
    """Open lines whose requested ship date is `through` or earlier (past due included), and
    lines blocked only while their legacy key pool was short: they ship by themselves."""
    return OrderLine.objects.filter(
        Q(status=LineStatus.OPEN) | Q(status=LineStatus.BLOCKED, waiting_for_keys__gt=0),
        requested_ship_date__lte=through,
    )


def sales_orders_with_due_lines(*, through: datetime.date) -> QuerySet[SalesOrder]:
    return SalesOrder.objects.filter(
        Exists(order_lines_due(through=through).filter(order=OuterRef("pk")))
    )

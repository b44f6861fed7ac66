import datetime

from django.db.models import Exists, OuterRef, QuerySet

from apps.orders.models import LineStatus, OrderLine, SalesOrder


def order_lines_due(*, through: datetime.date) -> QuerySet[OrderLine]:
    """Open lines whose requested ship date is `through` or earlier (past due included)."""
    return OrderLine.objects.filter(status=LineStatus.OPEN, requested_ship_date__lte=through)


def sales_orders_with_due_lines(*, through: datetime.date) -> QuerySet[SalesOrder]:
    return SalesOrder.objects.filter(
        Exists(order_lines_due(through=through).filter(order=OuterRef("pk")))
    )

from apps.orders.models import LineStatus, SalesOrder


def sales_order_body(*, order: SalesOrder) -> dict:
    """The order as the API and the order files write it (DESIGN's shape), from the
    database: what an admin edit starts from before it goes through sales_order_upsert."""
    return {
        "order_number": order.order_number,
        "language": order.language,
        "accounts": [
            {"account_id": row.account.account_id, "name": row.account.name, "role": row.role}
            for row in order.order_accounts.select_related("account").order_by("id")
        ],
        "emails": [row.email for row in order.emails.order_by("id")],
        "lines": [
            {
                "line_number": line.line_number,
                "sku": line.product.sku,
                "quantity": line.quantity,
                "requested_ship_date": line.requested_ship_date,
                "renews_ssrn": line.renews_ssrn,
            }
            for line in order.lines.select_related("product").order_by("line_number")
        ],
    }


def sales_order_has_shipped(*, order: SalesOrder | None) -> bool:
    """Whether a line of the order is fulfilled: its accounts and addresses are then final."""
    if order is None or order.pk is None:
        return False
    return order.lines.filter(status=LineStatus.FULFILLED).exists()

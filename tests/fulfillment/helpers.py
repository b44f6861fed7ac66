import datetime

from apps.orders.models import AccountRole
from tests.factories.catalog import ProductFactory
from tests.factories.orders import (
    OrderAccountFactory,
    OrderEmailFactory,
    OrderLineFactory,
    SalesOrderFactory,
)


def order_with_lines(
    *,
    dates,
    emails=("buyer@northwind.example",),
    product=None,
    language="en",
    end_customer=None,
    partner=None,
):
    """An order with an end customer and a partner (new accounts unless given), these
    addresses, and a line per date."""
    order = SalesOrderFactory(language=language)
    if end_customer is None:
        OrderAccountFactory(
            order=order, role=AccountRole.END_CUSTOMER, account__name="Northwind Networks"
        )
    else:
        OrderAccountFactory(order=order, role=AccountRole.END_CUSTOMER, account=end_customer)
    if partner is None:
        OrderAccountFactory(order=order, role=AccountRole.PARTNER, account__name="Blue Harbor")
    else:
        OrderAccountFactory(order=order, role=AccountRole.PARTNER, account=partner)
    for address in emails:
        OrderEmailFactory(order=order, email=address)
    product = product or ProductFactory(
        name="Threat Defense",
        description="Intrusion prevention for one gateway.",
        subscription=True,
    )
    for number, day in enumerate(dates, start=1):
        OrderLineFactory(
            order=order, line_number=number, product=product, quantity=2, requested_ship_date=day
        )
    return order


def today():
    return datetime.date.today()

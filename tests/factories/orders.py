import datetime

import factory

from apps.orders.models import (
    AccountRole,
    OrderAccount,
    OrderEmail,
    OrderLine,
    SalesOrder,
    Shipment,
)
from tests.factories.accounts import AccountFactory
from tests.factories.catalog import ProductFactory


class SalesOrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SalesOrder

    order_number = factory.Sequence(lambda n: f"SO-{n:07d}")
    language = "en"


class OrderAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderAccount

    order = factory.SubFactory(SalesOrderFactory)
    account = factory.SubFactory(AccountFactory)
    role = AccountRole.END_CUSTOMER


class OrderEmailFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderEmail

    order = factory.SubFactory(SalesOrderFactory)
    email = factory.Sequence(lambda n: f"buyer{n}@example.com")


class OrderLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(SalesOrderFactory)
    line_number = factory.Sequence(lambda n: n + 1)
    product = factory.SubFactory(ProductFactory)
    quantity = 1
    requested_ship_date = factory.LazyFunction(datetime.date.today)


class ShipmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Shipment

    order = factory.SubFactory(SalesOrderFactory)
    shipped_on = factory.LazyFunction(datetime.date.today)

import datetime

import factory

from apps.core import codes, sealing
from apps.entitlements.models import Activation, Certificate, Entitlement, EntitlementAccount
from apps.orders.models import AccountRole, LineStatus
from tests.factories.accounts import AccountFactory
from tests.factories.orders import OrderLineFactory, ShipmentFactory


class EntitlementFactory(factory.django.DjangoModelFactory):
    """An entitlement as fulfillment leaves it; `code` holds its activation code in clear."""

    class Meta:
        model = Entitlement
        exclude = ["code"]

    code = factory.LazyFunction(codes.new_activation_code)
    ssrn = factory.LazyFunction(codes.new_ssrn)
    activation_code_digest = factory.LazyAttribute(lambda o: sealing.code_digest(o.code))
    activation_code_sealed = factory.LazyAttribute(lambda o: sealing.seal(o.code))
    order_line = factory.SubFactory(
        OrderLineFactory,
        status=LineStatus.FULFILLED,
        fulfilled_at=factory.LazyFunction(lambda: datetime.datetime.now(datetime.UTC)),
        shipment=factory.SubFactory(ShipmentFactory, order=factory.SelfAttribute("..order")),
    )
    product = factory.SelfAttribute("order_line.product")
    quantity = factory.SelfAttribute("order_line.quantity")
    starts_on = factory.LazyFunction(datetime.date.today)


class EntitlementAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EntitlementAccount

    entitlement = factory.SubFactory(EntitlementFactory)
    product = factory.SelfAttribute("entitlement.product")
    account = factory.SubFactory(AccountFactory)
    role = AccountRole.END_CUSTOMER


class ActivationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activation

    entitlement = factory.SubFactory(EntitlementFactory)
    serial_number = factory.Sequence(lambda n: f"SN{n:08d}")
    license_key = factory.Sequence(lambda n: f"license-key-{n}")


class CertificateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Certificate

    entitlement = factory.SubFactory(EntitlementFactory)

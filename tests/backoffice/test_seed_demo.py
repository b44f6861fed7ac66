import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from apps.accounts.models import Account, Contact, User
from apps.catalog.models import DeliveryMethod, Product
from apps.core.dates import business_today
from apps.core.models import AuditEvent
from apps.entitlements.models import (
    Activation,
    Certificate,
    Entitlement,
    EntitlementAccount,
    EntitlementChange,
    RehostRequest,
)
from apps.orders.models import LineStatus, OrderLine, SalesOrder
from apps.outbox.models import Delivery

pytestmark = pytest.mark.django_db


def test_the_demo_has_every_delivery_method_logins_and_lines_past_present_and_future():
    call_command("seed_demo", "--force")

    assert set(Product.objects.values_list("delivery_method", flat=True)) == set(
        DeliveryMethod.values
    )
    assert Product.objects.filter(renews__isnull=False).exists()
    assert set(Account.objects.values_list("kind", flat=True)) == {
        "customer",
        "partner",
        "distributor",
    }
    for email in ("alice@northwind.example", "bob@blueharbor.example"):
        assert User.objects.get(email=email).check_password("keyship-demo")
        assert Contact.objects.get(user__email=email).accounts.exists()
    assert User.objects.get(email="admin@keyship.example").is_superuser
    today = business_today()
    dates = set(OrderLine.objects.values_list("requested_ship_date", flat=True))
    assert min(dates) < today < max(dates) and today in dates


def test_seeding_twice_neither_fails_nor_duplicates():
    call_command("seed_demo", "--force")
    counts = [m.objects.count() for m in (Product, Account, Contact, User, SalesOrder, OrderLine)]

    call_command("seed_demo", "--force")

    assert [
        m.objects.count() for m in (Product, Account, Contact, User, SalesOrder, OrderLine)
    ] == counts


def test_the_demo_refuses_to_seed_a_production_site(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="public"):
        call_command("seed_demo")


def test_the_demo_has_an_order_address_that_signs_in_with_a_link(client):
    from django.urls import reverse

    from apps.backoffice.management.commands.seed_demo import ORDER_ADDRESS
    from tests.portal.sign_in_links import sign_in_as_address

    call_command("seed_demo", "--force")
    call_command("fulfil_due")

    assert not User.objects.filter(email__iexact=ORDER_ADDRESS).exists()
    sign_in_as_address(client, ORDER_ADDRESS)
    page = client.get(reverse("portal:address-entitlements"))
    assert page.context["page"].paginator.count > 0


def _story():
    from apps.backoffice.management.commands.seed_demo import REHOST, TRANSFER

    transferred = Entitlement.objects.get(
        order_line__order__order_number=TRANSFER["order_line"][0],
        order_line__line_number=TRANSFER["order_line"][1],
    )
    rehosted = Entitlement.objects.get(
        order_line__order__order_number=REHOST["order_line"][0],
        order_line__line_number=REHOST["order_line"][1],
    )
    return transferred, rehosted


def _everything():
    return [
        list(model.objects.order_by("pk").values_list("pk", flat=True))
        for model in (
            SalesOrder,
            OrderLine,
            Entitlement,
            EntitlementAccount,
            Activation,
            RehostRequest,
            Certificate,
            AuditEvent,
            EntitlementChange,
            Delivery,
        )
    ] + [list(OrderLine.objects.order_by("pk").values_list("status", flat=True))]


def test_the_demo_has_a_transfer_and_a_rehost_to_look_at(client):
    call_command("seed_demo", "--force")

    transferred, rehosted = _story()
    assert transferred.order_line.status == LineStatus.FULFILLED
    assert transferred.transferred_at is not None
    assert list(transferred.accounts.values_list("account_id", flat=True)) == ["0100012345"]
    assert list(transferred.account_history.values_list("account__account_id", flat=True)) == [
        "0200067890"
    ]
    client.force_login(User.objects.get(email="alice@northwind.example"))
    page = client.get(reverse("portal:entitlement", args=[transferred.ssrn]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Transferred" in body and "Lakeside&#x27;s site was acquired by Northwind" in body

    assert rehosted.order_line.status == LineStatus.FULFILLED
    live = rehosted.activations.filter(revoked_at__isnull=True)
    assert sorted(live.values_list("serial_number", flat=True)) == ["NW-GW-0002", "NW-GW-0003"]
    moved = rehosted.activations.get(serial_number="NW-GW-0003")
    assert moved.rehosted_from.serial_number == "NW-GW-0001"
    assert moved.rehosted_from.revoked_at is not None
    approved, pending = RehostRequest.objects.order_by("pk")
    assert (approved.status, approved.decided_by.email, approved.requested_by.email) == (
        "approved",
        "care@keyship.example",
        "alice@northwind.example",
    )
    assert (pending.status, pending.activation.serial_number, pending.new_serial_number) == (
        "pending",
        "NW-GW-0002",
        "NW-GW-0004",
    )
    page = client.get(reverse("portal:entitlement", args=[rehosted.ssrn]))
    assert "Rehosted" in page.content.decode()


def test_seeding_again_changes_nothing_of_the_story():
    call_command("seed_demo", "--force")
    before = _everything()

    call_command("seed_demo", "--force")

    assert _everything() == before

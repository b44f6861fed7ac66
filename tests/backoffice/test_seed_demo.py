import pytest
from django.core.management import CommandError, call_command

from apps.accounts.models import Account, Contact, User
from apps.catalog.models import DeliveryMethod, Product
from apps.core.dates import business_today
from apps.orders.models import OrderLine, SalesOrder

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

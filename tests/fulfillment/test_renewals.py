"""Renewal lines add a term to the entitlement they name, with its email and certificate."""

import datetime

import pytest
import time_machine
from django.utils import timezone

from apps.core.actors import Job
from apps.entitlements.models import Entitlement, EntitlementAccount, TermKind
from apps.fulfillment.services import order_lines_fulfil_due
from apps.orders.models import AccountRole, LineStatus
from tests.factories.accounts import AccountFactory
from tests.factories.catalog import ProductFactory
from tests.factories.lms import LegacyKeyFactory
from tests.fulfillment.helpers import order_with_lines
from tests.fulfillment.test_ship_due import pdf_text

pytestmark = pytest.mark.django_db(transaction=True)

D = datetime.date


def at(day):
    return time_machine.travel(
        datetime.datetime.combine(day, datetime.time(9), tzinfo=datetime.UTC), tick=False
    )


@pytest.fixture
def subscription():
    """An initial one-year subscription shipped on 1 December 2026 (term end 1 December 2027)."""
    product = ProductFactory(sku="TD-1Y", name="Threat Defense", subscription=True)
    renewal = ProductFactory(
        sku="TD-REN", name="Threat Defense Renewal", subscription=True, renews=product
    )
    with at(D(2026, 12, 1)):
        order_with_lines(dates=[D(2026, 12, 1)], product=product)
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    return Entitlement.objects.get(), renewal


def end_customer_of(ssrn):
    row = EntitlementAccount.objects.filter(
        entitlement__ssrn=ssrn, role=AccountRole.END_CUSTOMER
    ).first()
    return row.account if row else None


def renewal_order(
    renewal_product,
    ssrn,
    day,
    emails=("renewals@northwind.example",),
    end_customer=None,
    partner=None,
):
    """A renewal order for the entitlement's own end customer unless another is given."""
    order = order_with_lines(
        dates=[day],
        product=renewal_product,
        emails=emails,
        end_customer=end_customer or end_customer_of(ssrn),
        partner=partner,
    )
    order.lines.update(renews_ssrn=ssrn)
    return order


def test_a_late_renewal_is_backdated_and_keeps_ssrn_and_code(smtp, subscription):
    entitlement, renewal = subscription
    code = entitlement.activation_code
    smtp.messages.clear()
    order = renewal_order(
        renewal, entitlement.ssrn, D(2028, 3, 1)
    )  # three months after the term end

    with at(D(2028, 3, 1)):
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    entitlement.refresh_from_db()
    assert order.lines.get().status == LineStatus.FULFILLED
    assert Entitlement.objects.count() == 1
    assert (entitlement.ssrn, entitlement.activation_code) == (entitlement.ssrn, code)
    assert [(t.kind, t.starts_on, t.ends_on, t.grace_ends_on) for t in entitlement.terms.all()] == [
        (TermKind.INITIAL, D(2026, 12, 1), D(2027, 12, 1), D(2027, 12, 31)),
        (TermKind.RENEWAL, D(2027, 12, 2), D(2028, 12, 1), None),
    ]
    assert (entitlement.term_ends_on, entitlement.grace_ends_on) == (D(2028, 12, 1), None)
    message = smtp.to("renewals@northwind.example")[0]
    text = message.get_body(("plain",)).get_content()
    assert (
        f"This renews the subscription {entitlement.ssrn}: it now runs until Dec. 1, 2028." in text
    )
    assert "Threat Defense Renewal" in message["Subject"]
    certificate = entitlement.certificates.order_by("-version").first()
    assert certificate.version == 2
    words = pdf_text(next(message.iter_attachments()).get_content())
    assert "Dec. 1, 2028" in words and "version 2" in words


def test_a_renewal_after_thirteen_months_starts_on_its_own_day(smtp, subscription):
    entitlement, renewal = subscription
    renewal_order(renewal, entitlement.ssrn, D(2029, 1, 2))

    with at(D(2029, 1, 2)):
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    term = entitlement.terms.get(kind=TermKind.RENEWAL)
    assert (term.starts_on, term.ends_on) == (D(2029, 1, 2), D(2030, 1, 2))


@pytest.mark.parametrize("problem", ["unknown", "other family", "revoked", "perpetual"])
def test_a_renewal_that_cannot_apply_is_blocked_with_its_reason(smtp, subscription, problem):
    entitlement, renewal = subscription
    ssrn = entitlement.ssrn
    if problem == "unknown":
        ssrn = "AAAA-BBBB-CCCC"
    if problem == "other family":
        renewal = ProductFactory(
            sku="OTHER-REN", subscription=True, renews=ProductFactory(subscription=True)
        )
    if problem == "revoked":
        Entitlement.objects.filter(pk=entitlement.pk).update(revoked_at=timezone.now())
    if problem == "perpetual":  # made before its product's license became a subscription
        Entitlement.objects.filter(pk=entitlement.pk).update(term_ends_on=None, grace_ends_on=None)
    order = renewal_order(renewal, ssrn, D(2027, 11, 1))

    with at(D(2027, 11, 1)):
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    line = order.lines.get()
    assert line.status == LineStatus.BLOCKED
    expected = {
        "unknown": "no entitlement has this SSRN",
        "other family": '"OTHER-REN" does not renew "TD-1Y"',
        "revoked": "the entitlement is revoked",
        "perpetual": "the entitlement is perpetual: it has no term to renew",
    }[problem]
    assert expected in line.status_reason
    assert entitlement.terms.count() == 1


def test_a_renewal_of_a_perpetual_entitlement_is_refused_at_intake(subscription):
    from apps.entitlements.selectors import renewal_problem

    entitlement, renewal = subscription
    Entitlement.objects.filter(pk=entitlement.pk).update(term_ends_on=None, grace_ends_on=None)
    owner = end_customer_of(entitlement.ssrn).account_id

    problem = renewal_problem(
        ssrn=entitlement.ssrn,
        product=renewal,
        accounts=[{"account_id": owner, "role": "end_customer"}],
    )

    assert problem == f'the entitlement "{entitlement.ssrn}" is perpetual: it has no term to renew'


def test_the_admin_shows_the_timeline_of_terms(admin_client, smtp, subscription):
    from django.urls import reverse

    entitlement, renewal = subscription
    renewal_order(renewal, entitlement.ssrn, D(2027, 11, 1))
    with at(D(2027, 11, 1)):
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    page = admin_client.get(reverse("admin:entitlements_entitlement_change", args=[entitlement.pk]))

    content = page.content.decode()
    assert "terms (timeline)" in content.lower()
    assert "Initial term" in content
    assert "Dec. 2, 2027" in content and "Dec. 1, 2028" in content  # the renewal term's dates


def test_a_renewal_of_an_unknown_or_foreign_ssrn_is_refused_at_intake(
    tmp_path, capsys, subscription
):
    import json

    from django.core.management import CommandError, call_command

    entitlement, renewal = subscription
    ProductFactory(  # another family's renewal
        sku="OTHER-REN", subscription=True, renews=ProductFactory(subscription=True)
    )

    owner = end_customer_of(entitlement.ssrn).account_id

    partner = entitlement.entitlement_accounts.get(role=AccountRole.PARTNER).account.account_id

    def order(number, sku, ssrn, end_customer=owner):
        return {
            "order_number": number,
            "accounts": [
                {"account_id": end_customer, "name": "Northwind", "role": "end_customer"},
                {"account_id": partner, "name": "Blue Harbor", "role": "partner"},
            ],
            "emails": ["renewals@northwind.example"],
            "lines": [
                {
                    "line_number": 1,
                    "sku": sku,
                    "quantity": 1,
                    "requested_ship_date": "2027-11-01",
                    "renews_ssrn": ssrn,
                }
            ],
        }

    path = tmp_path / "orders.json"
    path.write_text(
        json.dumps(
            {
                "orders": [
                    order("R-1", "TD-REN", entitlement.ssrn.lower()),  # typed loosely: fine
                    order("R-2", "TD-REN", "AAAA-BBBB-CCCC"),
                    order("R-3", "OTHER-REN", entitlement.ssrn),
                    # A stranger's order naming someone else's SSRN: refused even with the
                    # victim's partner on it, as a partner's overlap does not make it theirs.
                    order("R-4", "TD-REN", entitlement.ssrn, end_customer="0900000001"),
                ]
            }
        )
    )

    with pytest.raises(CommandError, match="3 error"):
        call_command("import_orders", str(path))

    errors = capsys.readouterr().err
    assert 'orders[1].lines[0].renews_ssrn: no entitlement has the SSRN "AAAA-BBBB-CCCC"' in errors
    assert 'orders[2].lines[0].renews_ssrn: "OTHER-REN" does not renew "TD-1Y"' in errors
    assert (
        f'orders[3].lines[0].renews_ssrn: "{entitlement.ssrn}" belongs to another end customer: '
        "a renewal must name the end customer of the entitlement it renews"
    ) in errors
    assert "orders[0]" not in errors


def _texts(message):
    """The plain and HTML bodies and the text of every attachment of an email."""
    texts = [
        message.get_body(("plain",)).get_content(),
        message.get_body(("html",)).get_content(),
    ]
    for attachment in message.iter_attachments():
        content = attachment.get_content()
        if attachment.get_content_type() == "application/pdf":
            texts.append(pdf_text(content))
        else:
            texts.append(content if isinstance(content, str) else content.decode())
    return texts


@pytest.mark.parametrize("method", ["jal", "legacy_lms", "heritage_key"])
def test_a_resellers_renewal_for_its_customer_ships_but_the_code_stays_with_its_holders(
    smtp, method
):
    """A new reseller renews for the same end customer: the term is extended, and the
    reseller's address, which never received the code, gets neither the code nor the keys."""
    product = ProductFactory(sku="TD-1Y", subscription=True, delivery_method=method)
    renewal = ProductFactory(
        sku="TD-REN", name="Threat Defense Renewal", subscription=True, renews=product
    )
    if method == "heritage_key":
        for n in (1, 2):  # the order has two seats
            LegacyKeyFactory(product=product, license_key=f"LEGACY-KEY-OF-THE-HOLDER-{n}")
    with at(D(2026, 12, 1)):
        order_with_lines(dates=[D(2026, 12, 1)], product=product, emails=["it@northwind.example"])
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    entitlement = Entitlement.objects.get()
    code = entitlement.activation_code
    accounts = set(entitlement.entitlement_accounts.values_list("account_id", "role"))
    held = "\n".join(_texts(smtp.to("it@northwind.example")[0]))
    assert ("LEGACY-KEY-OF-THE-HOLDER-1" if method == "heritage_key" else code) in held
    reseller = AccountFactory(name="New Reseller")
    renewal_order(
        renewal,
        entitlement.ssrn,
        D(2027, 11, 1),
        emails=["sales@reseller.example"],
        partner=reseller,
    )

    with at(D(2027, 11, 1)):
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    entitlement.refresh_from_db()
    assert entitlement.term_ends_on == D(2028, 12, 1)
    # A renewal never changes who sees the entitlement (and so its code) in the portal.
    assert set(entitlement.entitlement_accounts.values_list("account_id", "role")) == accounts
    [message] = smtp.to("sales@reseller.example")
    texts = _texts(message)
    assert len(texts) == 3  # the bodies and the renewed certificate; no key file
    symbols = code.replace("-", "")
    for text in texts:
        assert code not in text and symbols not in text.replace("-", "").replace(" ", "")
        assert "LEGACY-KEY-OF-THE-HOLDER" not in text
        assert entitlement.ssrn in text
    plain, html, certificate = texts
    assert f"This renews the subscription {entitlement.ssrn}" in plain
    unchanged = {
        "jal": "The activation code is unchanged: the contacts of the entitlement's accounts "
        "see it in the Keyship portal.",
        "legacy_lms": "The authorization code is unchanged: the contacts of the entitlement's "
        "accounts see it in the Keyship portal.",
        "heritage_key": "The license keys are unchanged: the contacts of the entitlement's "
        "accounts see them in the Keyship portal.",
    }[method]
    assert unchanged in plain and unchanged in html.replace("&#x27;", "'")
    assert "Dec. 1, 2028" in certificate
    if method != "heritage_key":  # a heritage key's certificate never printed one
        assert "Unchanged: the contacts of the entitlement's accounts see it" in certificate


@pytest.mark.parametrize(
    "change", ["stranger", "its partner as end customer", "transferred", "order accounts changed"]
)
def test_a_renewal_whose_end_customer_is_not_the_entitlements_is_blocked(
    smtp, subscription, change
):
    """Intake is not the only way in (Operations edit orders in the admin, and entitlements
    change hands): the sweep checks again, and the victim's term stays as it was."""
    entitlement, renewal = subscription
    owner = end_customer_of(entitlement.ssrn)
    stranger = AccountFactory(name="Stranger Inc")
    order = renewal_order(
        renewal,
        entitlement.ssrn,
        D(2027, 11, 1),
        emails=["someone@stranger.example"],
        end_customer={
            "stranger": stranger,
            # The reseller on the entitlement renews it for itself: it does not own it.
            "its partner as end customer": entitlement.entitlement_accounts.get(
                role=AccountRole.PARTNER
            ).account,
        }.get(change, owner),
    )
    if change == "transferred":
        EntitlementAccount.objects.filter(entitlement=entitlement, account=owner).update(
            account=AccountFactory(name="New Owner")
        )
    if change == "order accounts changed":
        order.order_accounts.filter(role=AccountRole.END_CUSTOMER).update(account=stranger)
    smtp.messages.clear()

    with at(D(2027, 11, 1)):
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    line = order.lines.get()
    assert line.status == LineStatus.BLOCKED
    assert line.status_reason == (
        f"renewal of {entitlement.ssrn}: the order's end customer is not the end customer "
        "of the entitlement"
    )
    entitlement.refresh_from_db()
    assert entitlement.term_ends_on == D(2027, 12, 1) and entitlement.terms.count() == 1
    assert entitlement.certificates.count() == 1
    assert smtp.to("someone@stranger.example") == []


def test_an_ssrn_typed_loosely_at_intake_renews_when_it_ships(tmp_path, smtp, subscription):
    import json

    from django.core.management import call_command

    entitlement, renewal = subscription
    owner = end_customer_of(entitlement.ssrn)
    body = {
        "order_number": "R-1",
        "accounts": [{"account_id": owner.account_id, "name": owner.name, "role": "end_customer"}],
        "emails": ["renewals@northwind.example"],
        "lines": [
            {
                "line_number": 1,
                "sku": "TD-REN",
                "quantity": 1,
                "requested_ship_date": "2027-11-01",
                "renews_ssrn": " " + entitlement.ssrn.lower().replace("-", " ") + " ",
            }
        ],
    }
    path = tmp_path / "order.json"
    path.write_text(json.dumps(body))
    call_command("import_orders", str(path))

    with at(D(2027, 11, 1)):
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    line = entitlement.order_line.__class__.objects.get(order__order_number="R-1")
    assert (line.renews_ssrn, line.status) == (entitlement.ssrn, LineStatus.FULFILLED)
    entitlement.refresh_from_db()
    assert entitlement.term_ends_on == D(2028, 12, 1)


def test_emails_sent_in_one_batch_each_carry_their_shipments_certificate(smtp, subscription):
    """The first shipment of a subscription and its renewal, sent together (a resend of the
    first beside the renewal's), each carry the certificate they shipped with."""
    from apps.notifications.selectors import order_deliveries
    from apps.outbox.models import Delivery
    from apps.outbox.services import deliveries_send
    from tests.factories.notifications import DeliveryFactory, shipment_of

    entitlement, renewal = subscription
    first = Delivery.objects.get()
    order = renewal_order(renewal, entitlement.ssrn, D(2027, 11, 1))
    with at(D(2027, 11, 1)):
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    second = order_deliveries(order=order).get()
    smtp.messages.clear()
    again = [
        DeliveryFactory(shipment=shipment_of(delivery), recipient=f"again{n}@northwind.example")
        for n, delivery in enumerate([first, second])
    ]

    deliveries_send(delivery_ids=[delivery.pk for delivery in again])

    for n, version in enumerate(["", "version 2"]):
        [message] = smtp.to(f"again{n}@northwind.example")
        [attachment] = list(message.iter_attachments())
        words = pdf_text(attachment.get_content())
        assert entitlement.ssrn in words and version in words

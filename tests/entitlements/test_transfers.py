"""Transferring an entitlement to other accounts and splitting seats off into a new one:
through the services, what the contacts (old and new), the change feed, the webhooks and
the portal see."""

import datetime
import json

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from apps.catalog.models import DeliveryMethod
from apps.core.actors import Job
from apps.core.contracts import Rejected
from apps.core.models import AuditEvent
from apps.entitlements.activations import activations_create
from apps.entitlements.lifecycle import entitlement_revoke, entitlement_suspend
from apps.entitlements.models import (
    Activation,
    Certificate,
    CertificateStatus,
    Entitlement,
    EntitlementAccountHistory,
    EntitlementChange,
    Term,
    TermKind,
)
from apps.entitlements.selectors import entitlement_by_activation_code
from apps.entitlements.transfers import entitlement_split, entitlement_transfer
from apps.outbox.kinds import email_kind
from apps.outbox.models import Channel, Delivery, DeliveryKind
from tests.factories.catalog import ProductFactory
from tests.portal.helpers import entitlement_of, new_account, portal_contact
from tests.webhooks.conftest import endpoint_for

pytestmark = pytest.mark.django_db

CARE = Job("test")
TODAY = datetime.date.today()


@pytest.fixture
def world():
    """A subscription of an end customer (a German contact, Anna) and a partner (Bob, in
    English); a new owner (Claire, in French); a stranger who hears nothing."""
    end_customer = new_account(account_id="0100012345")
    partner = new_account(account_id="0200054321")
    buyer = new_account(account_id="0300077777")
    entitlement = entitlement_of(
        end_customer,
        partner,
        quantity=3,
        product=ProductFactory(subscription=True),
        starts_on=TODAY - datetime.timedelta(days=10),
        term_ends_on=TODAY + datetime.timedelta(days=355),
        grace_ends_on=TODAY + datetime.timedelta(days=385),
    )
    Term.objects.create(
        entitlement=entitlement,
        sequence=1,
        kind=TermKind.INITIAL,
        order_line=entitlement.order_line,
        starts_on=entitlement.starts_on,
        ends_on=entitlement.term_ends_on,
        grace_ends_on=entitlement.grace_ends_on,
    )
    anna = portal_contact(end_customer, email="anna@northwind.example")
    anna.language = "de"
    anna.save()
    bob = portal_contact(partner, email="bob@harbor.example")
    claire = portal_contact(buyer, email="claire@acheteur.example")
    claire.language = "fr"
    claire.save()
    portal_contact(new_account(), email="stranger@elsewhere.example")
    return {
        "entitlement": entitlement,
        "end_customer": end_customer,
        "partner": partner,
        "buyer": buyer,
        "anna": anna,
        "bob": bob,
        "claire": claire,
    }


def of_kind(kind):
    return {d.recipient: d for d in Delivery.objects.filter(kind=kind).order_by("pk")}


def rendered(entitlement):
    """Render the queued certificates of the entitlement as the worker would (without
    WeasyPrint: the content is not what these tests look at)."""
    for certificate in Certificate.objects.filter(entitlement=entitlement).exclude(
        status=CertificateStatus.READY
    ):
        certificate.file.save(f"v{certificate.version}.pdf", ContentFile(b"%PDF-1.7\n"), save=False)
        certificate.status, certificate.rendered_at = CertificateStatus.READY, timezone.now()
        certificate.save()


def written(delivery):
    kind = email_kind(delivery.kind)
    assert delivery.pk not in kind.waiting([delivery])
    return kind.writer([delivery])(delivery)


def nothing_written(entitlement, code):
    entitlement.refresh_from_db()
    return (
        not AuditEvent.objects.filter(action__startswith="entitlement.").exists()
        and not EntitlementChange.objects.exists()
        and not Delivery.objects.exists()
        and not EntitlementAccountHistory.objects.exists()
        and Entitlement.objects.count() == 1
        and entitlement.activation_code == code
        and entitlement.transferred_at is None
        and entitlement.quantity == 3
    )


def accounts_of(entitlement):
    return [
        (row.account.account_id, row.role)
        for row in entitlement.entitlement_accounts.select_related("account").order_by("id")
    ]


def test_a_transfer_replaces_the_accounts_and_the_code_and_tells_everyone(world):
    entitlement = world["entitlement"]
    old_code = entitlement.activation_code
    erp, _secret = endpoint_for("https://93.184.215.14/erp", events=["entitlement.transferred"])

    entitlement_transfer(
        entitlement_id=entitlement.pk,
        account_ids=["0300077777"],
        reason="The plant was sold",
        actor=CARE,
    )

    entitlement.refresh_from_db()
    new_code = entitlement.activation_code
    assert accounts_of(entitlement) == [("0300077777", "end_customer")]
    assert new_code != old_code and entitlement.transferred_at
    assert list(entitlement_by_activation_code(text=new_code)) == [entitlement]
    assert not entitlement_by_activation_code(text=old_code).exists()
    history = {
        (row.account.account_id, row.role): row
        for row in EntitlementAccountHistory.objects.filter(entitlement=entitlement)
    }
    assert set(history) == {("0100012345", "end_customer"), ("0200054321", "partner")}
    assert all(row.reason == "The plant was sold" for row in history.values())
    assert all(row.until == entitlement.transferred_at for row in history.values())
    audit = AuditEvent.objects.get(action="entitlement.transferred")
    assert audit.actor_name == "test" and audit.data["reason"] == "The plant was sold"
    assert audit.data["accounts"] == {
        "old": [
            {"account_id": "0100012345", "role": "end_customer"},
            {"account_id": "0200054321", "role": "partner"},
        ],
        "new": [{"account_id": "0300077777", "role": "end_customer"}],
    }
    every_audit = json.dumps(list(AuditEvent.objects.values_list("data", "message")))
    assert old_code not in every_audit and new_code not in every_audit
    changes = list(EntitlementChange.objects.order_by("pk").values_list("kind", "data"))
    # The accounts that own it now, never the previous ones.
    assert changes[0] == (
        "transferred",
        {"reason": "The plant was sold", "account_ids": [world["buyer"].account_id]},
    )
    assert changes[1][0] == "certificate_reissued"
    (event,) = Delivery.objects.filter(channel=Channel.WEBHOOK, endpoint=erp)
    assert event.payload["type"] == "entitlement.transferred"
    assert event.payload["data"]["account_ids"] == ["0300077777"]
    assert event.payload["data"]["reason"] == "The plant was sold"
    assert new_code not in json.dumps(event.payload)

    # The new owner's contact gets the code and the new certificate, once it is rendered.
    handovers = of_kind(DeliveryKind.ENTITLEMENT_HANDOVER)
    assert sorted(handovers) == ["claire@acheteur.example"]
    claire = handovers["claire@acheteur.example"]
    assert claire.language == "fr" and new_code not in json.dumps(claire.payload)
    assert email_kind(claire.kind).waiting([claire]) == {claire.pk}
    rendered(entitlement)
    french = written(claire)
    assert new_code in french.body and "transféré" in french.subject
    assert [name for name, _content, _type in french.attachments] == [
        f"Keyship-Entitlement-Certificate-{entitlement.ssrn}.pdf"
    ]
    # The previous accounts' contacts are told, in their language, without any code.
    notices = of_kind(DeliveryKind.LIFECYCLE_NOTICE)
    assert sorted(notices) == ["anna@northwind.example", "bob@harbor.example"]
    german = written(notices["anna@northwind.example"])
    english = written(notices["bob@harbor.example"])
    assert "übertragen" in german.subject and "The plant was sold" in german.body
    assert english.subject == f"Entitlement {entitlement.ssrn} is transferred to other accounts"
    for message in (german, english):
        assert new_code not in message.body and old_code not in message.body
        assert not message.attachments
    assert not Delivery.objects.filter(recipient="stranger@elsewhere.example").exists()


def test_the_first_account_is_the_end_customer_and_the_others_keep_their_roles(world):
    entitlement = world["entitlement"]

    entitlement_transfer(
        entitlement_id=entitlement.pk,
        account_ids=["0300077777", "0200054321"],
        reason="merger",
        actor=CARE,
    )

    assert accounts_of(world["entitlement"]) == [
        ("0200054321", "partner"),
        ("0300077777", "end_customer"),
    ]
    (history,) = EntitlementAccountHistory.objects.all()
    assert (history.account.account_id, history.role) == ("0100012345", "end_customer")
    # Bob's partner account still owns it: he gets the new code, not a notice.
    assert sorted(of_kind(DeliveryKind.ENTITLEMENT_HANDOVER)) == [
        "bob@harbor.example",
        "claire@acheteur.example",
    ]
    assert sorted(of_kind(DeliveryKind.LIFECYCLE_NOTICE)) == ["anna@northwind.example"]

    entitlement_transfer(
        entitlement_id=entitlement.pk,
        account_ids=["0100012345", "0300077777"],
        reason="back again",
        actor=CARE,
    )

    assert accounts_of(world["entitlement"]) == [
        ("0100012345", "end_customer"),
        ("0300077777", "partner"),
    ]


def test_a_handover_written_after_the_next_transfer_carries_no_code(world):
    entitlement = world["entitlement"]
    entitlement_transfer(
        entitlement_id=entitlement.pk, account_ids=["0300077777"], reason="sold", actor=CARE
    )
    claire = of_kind(DeliveryKind.ENTITLEMENT_HANDOVER)["claire@acheteur.example"]
    entitlement_transfer(
        entitlement_id=entitlement.pk, account_ids=["0100012345"], reason="undone", actor=CARE
    )
    rendered(entitlement)
    entitlement.refresh_from_db()

    message = written(claire)

    assert entitlement.activation_code not in message.body
    assert "changé de mains" in message.body and not message.attachments


@pytest.mark.parametrize(
    ("change", "account_ids", "reason", "says"),
    [
        (None, ["0300077777"], "  ", "reason: say why"),
        (None, [], "sold", "account_ids: give a list of at least one Account ID."),
        (None, "0300077777", "sold", "account_ids: give a list"),
        (None, ["0399999999"], "sold", "account_ids: no account has the Account ID 0399999999."),
        (None, ["03000777x7"], "sold", "account_ids[0]: an Account ID is 4 to 20 digits"),
        (None, [300077777], "sold", "account_ids[0]: an Account ID is 4 to 20 digits"),
        (None, ["0300077777", "0300077777"], "sold", "account_ids[1]: 0300077777 is given twice."),
        (
            None,
            ["0100012345", "0200054321"],
            "sold",
            "already belongs to these accounts in these roles",
        ),
        ("suspend", ["0300077777"], "sold", "is suspended: it cannot be transferred."),
        ("revoke", ["0300077777"], "sold", "is revoked: it cannot be transferred."),
    ],
)
def test_a_refused_transfer_writes_nothing_and_says_why(world, change, account_ids, reason, says):
    entitlement = world["entitlement"]
    if change:
        {"suspend": entitlement_suspend, "revoke": entitlement_revoke}[change](
            entitlement_id=entitlement.pk, reason="first", actor=CARE
        )
        AuditEvent.objects.all().delete()
        EntitlementChange.objects.all().delete()
        Delivery.objects.all().delete()
    code = entitlement.activation_code

    with pytest.raises(Rejected) as refused:
        entitlement_transfer(
            entitlement_id=entitlement.pk, account_ids=account_ids, reason=reason, actor=CARE
        )

    assert says in refused.value.errors[0]
    assert nothing_written(entitlement, code)
    assert accounts_of(entitlement) == [
        ("0100012345", "end_customer"),
        ("0200054321", "partner"),
    ]


def test_a_split_moves_seats_to_a_new_entitlement_with_the_same_timer(world):
    source = world["entitlement"]
    code = source.activation_code
    activations_create(entitlement_id=source.pk, serial_numbers=["SN-1"], actor=CARE)
    EntitlementChange.objects.all().delete()
    erp, _secret = endpoint_for(
        "https://93.184.215.14/erp", events=["entitlement.split", "entitlement.created"]
    )

    split = entitlement_split(
        entitlement_id=source.pk,
        quantity=2,
        account_ids=["0300077777"],
        reason="Two seats for the subsidiary",
        actor=CARE,
    )

    source.refresh_from_db()
    split.refresh_from_db()
    assert source.quantity == 1 and split.quantity == 2
    assert split.ssrn != source.ssrn and split.split_from == source
    assert split.activation_code not in (code, "") and source.activation_code == code
    assert (split.starts_on, split.term_ends_on, split.grace_ends_on) == (
        source.starts_on,
        source.term_ends_on,
        source.grace_ends_on,
    )
    assert [(t.sequence, t.kind, t.ends_on) for t in split.terms.all()] == [
        (1, "initial", source.term_ends_on)
    ]
    assert split.product == source.product and split.status_on(TODAY) == "active"
    assert accounts_of(split) == [("0300077777", "end_customer")]
    assert accounts_of(source) == [("0100012345", "end_customer"), ("0200054321", "partner")]
    assert list(source.activations.values_list("serial_number", flat=True)) == ["SN-1"]
    assert not split.activations.exists()
    # The order line still names the entitlement it made.
    assert source.order_line.entitlement == source
    audit = AuditEvent.objects.get(action="entitlement.split")
    assert audit.data["quantity"] == {"old": 3, "new": 1}
    assert audit.data["new_ssrn"] == split.ssrn and audit.data["reason"].startswith("Two seats")
    assert split.activation_code not in json.dumps(audit.data)
    feed = {(c.entitlement_id, c.kind): c.data for c in EntitlementChange.objects.all()}
    assert feed[source.pk, "split"] == {
        "reason": "Two seats for the subsidiary",
        "seats_moved": 2,
        "new_ssrn": split.ssrn,
    }
    assert feed[split.pk, "created"] == {"split_from": source.ssrn}
    assert (source.pk, "certificate_reissued") in feed
    events = {
        d.payload["type"]: d.payload["data"]
        for d in Delivery.objects.filter(channel=Channel.WEBHOOK, endpoint=erp)
    }
    assert events["entitlement.split"]["ssrn"] == source.ssrn
    assert events["entitlement.split"]["quantity"] == 1
    assert events["entitlement.split"]["new_ssrn"] == split.ssrn
    assert events["entitlement.created"]["ssrn"] == split.ssrn
    assert events["entitlement.created"]["split_from"] == source.ssrn

    handovers = of_kind(DeliveryKind.ENTITLEMENT_HANDOVER)
    assert sorted(handovers) == ["claire@acheteur.example"]
    rendered(split)
    french = written(handovers["claire@acheteur.example"])
    assert split.activation_code in french.body and split.ssrn in french.subject
    assert len(french.attachments) == 1
    notices = of_kind(DeliveryKind.LIFECYCLE_NOTICE)
    assert sorted(notices) == ["anna@northwind.example", "bob@harbor.example"]
    english = written(notices["bob@harbor.example"])
    assert english.subject == f"Seats of entitlement {source.ssrn} moved to a new entitlement"
    assert "2 seats of your entitlement" in english.body and split.ssrn in english.body
    assert "It keeps 1 seat" in english.body
    german = written(notices["anna@northwind.example"])
    for message in (english, german):
        assert split.activation_code not in message.body and not message.attachments


def test_seats_split_off_to_the_same_accounts_are_seen_by_their_contacts(client, world):
    source = world["entitlement"]

    split = entitlement_split(
        entitlement_id=source.pk,
        quantity=1,
        account_ids=["0100012345", "0200054321"],
        reason="separate budget",
        actor=CARE,
    )

    assert accounts_of(split) == [("0100012345", "end_customer"), ("0200054321", "partner")]
    assert sorted(of_kind(DeliveryKind.ENTITLEMENT_HANDOVER)) == [
        "anna@northwind.example",
        "bob@harbor.example",
    ]
    client.force_login(world["anna"].user)
    assert client.get(reverse("portal:entitlement", args=[split.ssrn])).status_code == 200


@pytest.mark.parametrize(
    ("quantity", "activated", "says"),
    [
        (0, 0, "quantity: from 1 to 2"),
        (3, 0, "quantity: from 1 to 2"),
        (2, 2, "quantity: 1 of the 3 seats of"),
        ("2", 0, "quantity: a whole number of seats."),
        (True, 0, "quantity: a whole number of seats."),
    ],
)
def test_a_refused_split_writes_nothing(world, quantity, activated, says):
    source = world["entitlement"]
    if activated:
        activations_create(
            entitlement_id=source.pk,
            serial_numbers=[f"SN-{n}" for n in range(activated)],
            actor=CARE,
        )
        AuditEvent.objects.all().delete()
        EntitlementChange.objects.all().delete()
    code = source.activation_code

    with pytest.raises(Rejected) as refused:
        entitlement_split(
            entitlement_id=source.pk,
            quantity=quantity,
            account_ids=["0300077777"],
            reason="more",
            actor=CARE,
        )

    assert says in refused.value.errors[0]
    assert nothing_written(source, code)


@pytest.mark.parametrize(("change", "status"), [("suspend", "suspended"), ("revoke", "revoked")])
def test_a_suspended_or_revoked_entitlement_is_not_split(world, change, status):
    source = world["entitlement"]
    {"suspend": entitlement_suspend, "revoke": entitlement_revoke}[change](
        entitlement_id=source.pk, reason="first", actor=CARE
    )

    with pytest.raises(Rejected, match=f"is {status}: it cannot be split"):
        entitlement_split(
            entitlement_id=source.pk, quantity=1, account_ids=["0300077777"], reason="x", actor=CARE
        )

    assert Entitlement.objects.count() == 1


def test_an_entitlement_not_activated_on_devices_is_not_split(world):
    paper = entitlement_of(
        world["end_customer"],
        quantity=3,
        product=ProductFactory(delivery_method=DeliveryMethod.PAPER),
    )

    with pytest.raises(Rejected, match="only an entitlement activated on devices is split"):
        entitlement_split(
            entitlement_id=paper.pk, quantity=1, account_ids=["0300077777"], reason="x", actor=CARE
        )


def test_after_a_transfer_the_portal_shows_it_to_the_new_owner_only(client, world):
    entitlement = world["entitlement"]
    page = reverse("portal:entitlement", args=[entitlement.ssrn])
    listing = reverse("portal:entitlements")
    client.force_login(world["anna"].user)
    assert client.get(page).status_code == 200
    assert entitlement.ssrn in client.get(listing).content.decode()

    entitlement_transfer(
        entitlement_id=entitlement.pk, account_ids=["0300077777"], reason="sold", actor=CARE
    )

    assert client.get(page).status_code == 404
    assert entitlement.ssrn not in client.get(listing).content.decode()
    client.force_login(world["claire"].user)
    shown = client.get(page)
    assert shown.status_code == 200
    entitlement.refresh_from_db()
    assert entitlement.activation_code in shown.content.decode()


def test_after_a_transfer_the_orders_addresses_no_longer_see_it(world):
    from apps.portal.order_addresses import entitlements_of_order_address
    from tests.factories.orders import OrderEmailFactory

    entitlement = world["entitlement"]
    OrderEmailFactory(order=entitlement.order_line.order, email="buyer@northwind.example")
    assert list(entitlements_of_order_address(email="buyer@northwind.example")) == [entitlement]
    split = entitlement_split(
        entitlement_id=entitlement.pk,
        quantity=1,
        account_ids=["0100012345"],
        reason="x",
        actor=CARE,
    )
    assert split not in entitlements_of_order_address(email="buyer@northwind.example")

    entitlement_transfer(
        entitlement_id=entitlement.pk, account_ids=["0300077777"], reason="sold", actor=CARE
    )

    assert not entitlements_of_order_address(email="buyer@northwind.example").exists()


def test_activations_stay_with_the_source_after_a_split(world):
    source = world["entitlement"]
    activations_create(entitlement_id=source.pk, serial_numbers=["SN-1"], actor=CARE)

    entitlement_split(
        entitlement_id=source.pk, quantity=2, account_ids=["0300077777"], reason="x", actor=CARE
    )

    with pytest.raises(Rejected, match="0 of the 1 seats"):
        activations_create(entitlement_id=source.pk, serial_numbers=["SN-2"], actor=CARE)
    assert Activation.objects.filter(entitlement=source, revoked_at__isnull=True).count() == 1


def test_the_orders_fulfillment_email_never_carries_the_new_owners_code(world):
    from apps.notifications.emails import ShipmentContents

    entitlement = world["entitlement"]
    split = entitlement_split(
        entitlement_id=entitlement.pk,
        quantity=1,
        account_ids=["0300077777"],
        reason="x",
        actor=CARE,
    )
    entitlement_transfer(
        entitlement_id=entitlement.pk, account_ids=["0300077777"], reason="sold", actor=CARE
    )
    rendered(entitlement)
    rendered(split)
    entitlement.refresh_from_db()
    shipment = entitlement.order_line.shipment

    contents = ShipmentContents({shipment.pk})
    licenses, attachments = contents[shipment.pk]
    email = contents.email(shipment, "en")

    assert [item["entitlement"].pk for item in licenses] == [entitlement.pk]
    assert licenses[0]["activation_code"] is None and attachments == []
    assert "transferred to other accounts" in email.text
    for code in (entitlement.activation_code, split.activation_code):
        assert code not in email.text and code not in email.html


def _keys_asked_then(world, change):
    """Bob (the partner's contact, in English) asks for the keys by email in the portal;
    `change` happens before the email is written; what the email is then."""
    from django.test import Client

    entitlement = world["entitlement"]
    activations_create(entitlement_id=entitlement.pk, serial_numbers=["SN-BOB"], actor=CARE)
    client = Client()
    client.force_login(world["bob"].user)
    client.post(reverse("portal:keys-email", args=[entitlement.ssrn]))
    (delivery,) = Delivery.objects.filter(kind=DeliveryKind.LICENSE_KEYS)
    change(entitlement)
    return written(delivery)


def test_license_keys_asked_before_a_transfer_are_not_sent_after_it(world):
    def transferred(entitlement):
        entitlement_transfer(
            entitlement_id=entitlement.pk, account_ids=["0300077777"], reason="sold", actor=CARE
        )
        activations_create(entitlement_id=entitlement.pk, serial_numbers=["SN-CLAIRE"], actor=CARE)

    email = _keys_asked_then(world, transferred)

    assert email.to == ["bob@harbor.example"]
    assert email.attachments == []
    assert "SN-CLAIRE" not in email.body and "no longer see" in email.body


def test_license_keys_are_not_sent_once_the_association_is_removed(world):
    email = _keys_asked_then(world, lambda entitlement: world["bob"].accounts.clear())
    assert email.attachments == [] and "no longer see" in email.body


def test_license_keys_asked_before_a_suspension_are_not_sent_after_it(world):
    email = _keys_asked_then(
        world,
        lambda entitlement: entitlement_suspend(
            entitlement_id=entitlement.pk, reason="credit hold", actor=CARE
        ),
    )
    assert email.attachments == [] and "suspended" in email.body


def test_license_keys_still_seen_are_attached(world):
    email = _keys_asked_then(world, lambda entitlement: None)
    ((name, text, _mime),) = email.attachments
    assert "SN-BOB" in text and "Attached are the license keys" in email.body

"""The migrations that move every email onto the outbox keep each message and its state,
and their way back restores the old tables."""

import datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from tests.factories.accounts import AccountFactory, ContactFactory
from tests.factories.entitlements import EntitlementFactory
from tests.factories.orders import ShipmentFactory

BEFORE = [
    ("notifications", "0004_reminder_digest_once_per_day"),
    ("accounts", "0006_contact_id_lower_index"),
]
AFTER = [
    ("notifications", "0005_deliveries_move_to_outbox"),
    ("accounts", "0007_decisions_and_notices_on_the_outbox"),
]
NOW = timezone.now().replace(microsecond=0)


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_every_old_message_lands_on_the_outbox_with_its_state_and_comes_back():
    # Given the rows that the old tables held, written before the move
    shipment = ShipmentFactory(order__order_number="SO-1001")
    entitlement = EntitlementFactory()
    contact = ContactFactory(user__email="alice@northwind.example", language="de")
    account = AccountFactory(account_id="0100000001")
    old = migrate(BEFORE)
    Term = old.get_model("entitlements", "Term")
    term = Term.objects.create(
        entitlement_id=entitlement.pk,
        sequence=1,
        kind="initial",
        order_line_id=entitlement.order_line_id,
        starts_on=datetime.date(2026, 1, 1),
        ends_on=datetime.date(2027, 1, 1),
    )
    EmailDelivery = old.get_model("notifications", "EmailDelivery")
    sent = EmailDelivery.objects.create(
        shipment_id=shipment.pk,
        email="buyer@northwind.example",
        status="sent",
        sent_at=NOW,
        attempts=1,
        message_id="<a@keyship.example>",
    )
    resend = EmailDelivery.objects.create(
        shipment_id=shipment.pk,
        email="Buyer@Northwind.example",
        status="retry",
        attempts=2,
        last_error="SMTPDataError: (451, b'later')",
        message_id="<b@keyship.example>",
        resend_of=sent,
        reason="lost it",
    )
    digest = EmailDelivery.objects.create(
        kind="reminder_digest",
        digest_day=datetime.date(2026, 12, 1),
        email="ops@northwind.example",
        message_id="<c@keyship.example>",
    )
    old.get_model("notifications", "Reminder").objects.create(
        term_id=term.pk, window="30", email="ops@northwind.example", delivery=digest
    )
    AccessRequest = old.get_model("accounts", "AccessRequest")
    told = AccessRequest.objects.create(
        contact_id=contact.pk,
        requested_account_id=account.account_id,
        account_id=account.pk,
        reason="partner",
        status="approved",
        decided_at=NOW,
        notified_at=NOW,
    )
    untold = AccessRequest.objects.create(
        contact_id=contact.pk,
        requested_account_id="0100000002",
        reason="partner",
        status="denied",
        decided_at=NOW,
        notify_attempts=2,
        notify_next_at=NOW,
    )
    old.get_model("accounts", "ContactNotice").objects.create(
        kind="email_changed",
        recipient="old@northwind.example",
        language="ja",
        data={"email": "old@northwind.example", "new_email": "new@northwind.example"},
    )

    try:
        # When they move onto the outbox
        new = migrate(AFTER)
        Delivery = new.get_model("outbox", "Delivery")
        rows = {row.message_id: row for row in Delivery.objects.filter(kind="fulfillment")}

        # Then every message keeps its id, state, recipient and what it is about
        assert (rows["<a@keyship.example>"].pk, rows["<a@keyship.example>"].status) == (
            sent.pk,
            "sent",
        )
        again = rows["<b@keyship.example>"]
        assert (again.pk, again.status, again.attempts, again.resend_of_id, again.reason) == (
            resend.pk,
            "retry",
            2,
            sent.pk,
            "lost it",
        )
        assert {row.topic for row in rows.values()} == {f"shipment:{shipment.pk}"}
        assert {row.about for row in rows.values()} == {"SO-1001"}
        moved_digest = Delivery.objects.get(kind="reminder_digest")
        assert (moved_digest.pk, moved_digest.topic, moved_digest.recipient) == (
            digest.pk,
            "digest:2026-12-01",
            "ops@northwind.example",
        )
        assert new.get_model("notifications", "Reminder").objects.get().delivery_id == digest.pk
        decisions = {
            row.topic: row for row in Delivery.objects.filter(kind="access_decision")
        }
        assert decisions[f"access_request:{told.pk}"].status == "sent"
        waiting = decisions[f"access_request:{untold.pk}"]
        assert (waiting.status, waiting.attempts, waiting.recipient, waiting.language) == (
            "queued",
            2,
            "alice@northwind.example",
            "de",
        )
        notice = Delivery.objects.get(kind="contact_notice")
        assert (notice.status, notice.recipient, notice.payload["notice"]) == (
            "queued",
            "old@northwind.example",
            "email_changed",
        )
        # A new delivery gets an id after the moved ones.
        assert Delivery.objects.create(
            kind="license_keys", topic="entitlement:1", recipient="x@y.example", message_id="<n>"
        ).pk > max(sent.pk, resend.pk, digest.pk)

        # And the way back restores the old rows
        back = migrate(BEFORE)
        kept = back.get_model("notifications", "EmailDelivery").objects.in_bulk()
        assert {pk: row.status for pk, row in kept.items()} == {
            sent.pk: "sent",
            resend.pk: "retry",
            digest.pk: "queued",
        }
        assert back.get_model("notifications", "Reminder").objects.get().delivery_id == digest.pk
        requests = back.get_model("accounts", "AccessRequest").objects.in_bulk()
        assert requests[told.pk].notified_at is not None
        assert (requests[untold.pk].notified_at, requests[untold.pk].notify_attempts) == (None, 2)
        assert back.get_model("accounts", "ContactNotice").objects.get().kind == "email_changed"
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

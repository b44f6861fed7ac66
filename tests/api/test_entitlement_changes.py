"""The ERP's change feed: every change of an entitlement, those the calendar makes included,
comes exactly once to a reader that keeps its cursor."""

import datetime
import threading

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.api.models import Scope
from apps.core.actors import Job
from apps.core.models import AuditEvent
from apps.entitlements.activations import activations_create, activations_revoke
from apps.entitlements.changes import entitlement_status_changes_record
from apps.entitlements.models import Entitlement, EntitlementChange
from apps.entitlements.services import certificate_reissue
from apps.fulfillment.services import order_lines_fulfil_due
from tests.api.conftest import api
from tests.factories.accounts import UserFactory
from tests.factories.catalog import ProductFactory
from tests.fulfillment.helpers import order_with_lines
from tests.fulfillment.test_renewals import renewal_order

# Rows of a transaction that has not ended are not in the feed: the tests commit.
pytestmark = pytest.mark.django_db(transaction=True)

D = datetime.date
FEED = "/api/v1/entitlement-changes/"
JOB = Job("entitlement_status_changes_task")


def at(moment: datetime.datetime):
    return time_machine.travel(moment, tick=False)


def utc(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=datetime.UTC)


class Reader:
    """The ERP: polls the feed with the cursor it kept."""

    def __init__(self, http, page_size=100):
        self.http, self.cursor, self.page_size = http, None, page_size
        self.pages = 0

    def poll(self) -> list[tuple]:
        seen = []
        while True:
            params = {"limit": self.page_size, **({"after": self.cursor} if self.cursor else {})}
            response = self.http.get(FEED, params)
            assert response.status_code == 200, response.json()
            body = response.json()
            self.pages += 1
            seen += [
                (c["type"], c["ssrn"], c["status"], c["effective_on"]) for c in body["results"]
            ]
            self.cursor = body["cursor"]
            if not body["more"]:
                return seen


@pytest.fixture
def reader():
    return Reader(api(scopes=[Scope.ENTITLEMENTS_READ], name="erp-feed"))


@pytest.fixture
def products():
    product = ProductFactory(sku="TD-1Y", name="Threat Defense", subscription=True)
    renewal = ProductFactory(sku="TD-REN", subscription=True, renews=product)
    return product, renewal


def test_each_change_of_a_subscriptions_life_comes_once(reader, products, settings):
    settings.FULFILLMENT_TIME_ZONE = "America/New_York"
    product, renewal = products
    staff = UserFactory(is_staff=True)

    # Created: shipped on 1 December 2026, term end 1 December 2027, grace to 31 December
    with at(utc(2026, 12, 1, 15)):
        order_with_lines(dates=[D(2026, 12, 1)], product=product)
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
        entitlement = Entitlement.objects.get()
        ssrn = entitlement.ssrn
        assert reader.poll() == [("created", ssrn, "active", "2026-12-01")]
        assert reader.poll() == []

        # Activated on two devices, then one activation revoked
        activations_create(entitlement_id=entitlement.pk, serial_numbers=["SN-1"], actor=staff)
        assert reader.poll() == [("activated", ssrn, "active", "2026-12-01")]
        activation = entitlement.activations.get()
        activations_revoke(activation_ids=[activation.pk], actor=staff, reason="RMA")
        certificate_reissue(entitlement=entitlement, actor=staff, reason="new address")
        assert reader.poll() == [
            ("activation_revoked", ssrn, "active", "2026-12-01"),
            ("certificate_reissued", ssrn, "active", "2026-12-01"),
        ]

    # The day boundary, in the business time zone (New York): 23:59 on the term's last day
    # moves nothing; one minute past midnight the entitlement is in grace.
    with at(utc(2027, 12, 2, 4, 59)):
        assert entitlement_status_changes_record(actor=JOB) == 0
        assert reader.poll() == []
    with at(utc(2027, 12, 2, 5, 1)):
        assert entitlement_status_changes_record(actor=JOB) == 1
        assert entitlement_status_changes_record(actor=JOB) == 0
        assert reader.poll() == [("status_changed", ssrn, "grace", "2027-12-02")]
        assert reader.poll() == []

    # Renewed in grace: active again until 1 December 2028 (a renewal has no grace)
    renewal_order(renewal, ssrn, D(2027, 12, 10))
    with at(utc(2027, 12, 10, 15)):
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
        assert reader.poll() == [("renewed", ssrn, "active", "2027-12-10")]

    # ...and expired the day after its new end, told once however often the job runs
    with at(utc(2028, 12, 3, 12)):
        entitlement_status_changes_record(actor=JOB)
        entitlement_status_changes_record(actor=JOB)
        assert reader.poll() == [("status_changed", ssrn, "expired", "2028-12-02")]
    audited = AuditEvent.objects.filter(action="entitlement.status_changed")
    assert [(e.data["to"], e.actor_name) for e in audited.order_by("id")] == [
        ("grace", "entitlement_status_changes_task"),
        ("expired", "entitlement_status_changes_task"),
    ]


def test_a_job_that_missed_the_grace_period_tells_both_moves_in_order(reader, products):
    product, _ = products
    with at(utc(2026, 12, 1, 9)):
        order_with_lines(dates=[D(2026, 12, 1)], product=product)
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
        ssrn = Entitlement.objects.get().ssrn
        reader.poll()

    with at(utc(2028, 1, 15, 9)):
        entitlement_status_changes_record(actor=JOB)
        assert reader.poll() == [
            ("status_changed", ssrn, "grace", "2027-12-02"),
            ("status_changed", ssrn, "expired", "2028-01-01"),
        ]


def test_a_renewal_tells_the_move_the_calendar_made_before_it(reader, products):
    # Given an entitlement whose term ended yesterday, before the job ran
    product, renewal = products
    with at(utc(2026, 12, 1, 9)):
        order_with_lines(dates=[D(2026, 12, 1)], product=product)
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
        ssrn = Entitlement.objects.get().ssrn
        reader.poll()
    renewal_order(renewal, ssrn, D(2027, 12, 2))

    # When the renewal ships first
    with at(utc(2027, 12, 2, 0, 1)):
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
        entitlement_status_changes_record(actor=JOB)

    # Then the feed says grace, then renewed: in the order they happened
    assert reader.poll() == [
        ("status_changed", ssrn, "grace", "2027-12-02"),
        ("renewed", ssrn, "active", "2027-12-02"),
    ]


def test_a_device_activated_or_revoked_first_is_told_after_the_calendars_move(reader, products):
    # Given an entitlement whose term ended yesterday, before the job ran
    product, _ = products
    with at(utc(2026, 12, 1, 9)):
        order_with_lines(dates=[D(2026, 12, 1)], product=product)
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
        entitlement = Entitlement.objects.get()
        reader.poll()

    # When a device is activated, and revoked, first
    with at(utc(2027, 12, 2, 0, 1)):
        (activation,) = activations_create(
            entitlement_id=entitlement.pk, serial_numbers=["FTX1"], actor=UserFactory()
        )
        activations_revoke(activation_ids=[activation.pk], actor=UserFactory(), reason="sold")
        entitlement_status_changes_record(actor=JOB)

    # Then the feed says grace before the activation that happened in it, and once
    ssrn = entitlement.ssrn
    assert reader.poll() == [
        ("status_changed", ssrn, "grace", "2027-12-02"),
        ("activated", ssrn, "grace", "2027-12-02"),
        ("activation_revoked", ssrn, "grace", "2027-12-02"),
    ]


def test_pages_follow_each_other_without_a_gap_or_a_repeat(products):
    product, _ = products
    with at(utc(2026, 12, 1, 9)):
        order = order_with_lines(dates=[D(2026, 12, 1)] * 7, product=product)
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    paged = Reader(api(scopes=[Scope.ENTITLEMENTS_READ], name="paged"), page_size=3)

    seen = paged.poll()

    assert paged.pages == 3
    assert sorted(ssrn for _, ssrn, _, _ in seen) == sorted(
        Entitlement.objects.filter(order_line__order=order).values_list("ssrn", flat=True)
    )
    assert paged.poll() == []


@pytest.mark.postgres  # two writers at once: SQLite locks the whole database
def test_a_change_that_commits_late_is_not_skipped(reader, products):
    # Given a change written first but committed last
    product, _ = products
    with at(utc(2026, 12, 1, 9)):
        order_with_lines(dates=[D(2026, 12, 1)] * 2, product=product)
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    first, second = Entitlement.objects.order_by("pk")
    reader.poll()
    staff = UserFactory(is_staff=True)
    written, release = threading.Event(), threading.Event()

    def slow_activation():
        try:
            with transaction.atomic():
                activations_create(entitlement_id=first.pk, serial_numbers=["SN-A"], actor=staff)
                written.set()
                release.wait(10)
        finally:
            connection.close()

    slow = threading.Thread(target=slow_activation)
    slow.start()
    assert written.wait(10)
    activations_create(entitlement_id=second.pk, serial_numbers=["SN-B"], actor=staff)

    # When the reader polls while the first is still open, it reads the second
    assert [(kind, ssrn) for kind, ssrn, _, _ in reader.poll()] == [("activated", second.ssrn)]

    # Then the first comes on the next poll after it commits, and each only once
    release.set()
    slow.join()
    assert [(kind, ssrn) for kind, ssrn, _, _ in reader.poll()] == [("activated", first.ssrn)]
    assert reader.poll() == []


def test_the_feed_needs_its_scope_and_shows_codes_only_to_clients_with_theirs(products):
    product, _ = products
    with at(utc(2026, 12, 1, 9)):
        order_with_lines(dates=[D(2026, 12, 1)], product=product)
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    entitlement = Entitlement.objects.get()

    orders_only = api(scopes=[Scope.ORDERS_READ, Scope.ORDERS_WRITE], name="orders-only")
    refused = orders_only.get(FEED)
    assert refused.status_code == 403
    assert refused.json()["errors"] == ['This API client lacks the scope "entitlements:read".']
    assert api(scopes=[], name="nothing").get(FEED).status_code == 403

    plain = api(scopes=[Scope.ENTITLEMENTS_READ], name="plain").get(FEED).json()["results"][0]
    assert plain["entitlement"]["ssrn"] == entitlement.ssrn
    assert "activation_code" not in plain["entitlement"]
    assert entitlement.activation_code not in str(plain)
    with_codes = api(scopes=[Scope.ENTITLEMENTS_READ, Scope.ACTIVATION_CODES], name="codes").get(
        FEED
    )
    assert (
        with_codes.json()["results"][0]["entitlement"]["activation_code"]
        == entitlement.activation_code
    )


def test_a_bad_cursor_or_limit_is_a_400_naming_it(reader):
    http = reader.http
    assert http.get(FEED, {"after": "yesterday"}).json() == {
        "errors": ["after: not a cursor from this feed"]
    }
    assert http.get(FEED, {"limit": 0}).status_code == 400
    empty = http.get(FEED).json()
    assert empty == {"results": [], "cursor": "0", "more": False}
    assert EntitlementChange.objects.count() == 0


@pytest.mark.parametrize("after", ["8", "999999999999999999", "\uff11"])
def test_a_cursor_this_feed_never_gave_is_a_400_not_an_empty_page(reader, products, after):
    # A cursor past the end (another installation's, a typo) would otherwise answer empty
    # pages until the feed grew past it, and the changes before it would never come.
    product, _ = products
    with at(utc(2026, 12, 1, 9)):
        order_with_lines(dates=[D(2026, 12, 1)] * 2, product=product)
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    assert len(reader.poll()) == 2 and reader.cursor == "2"

    response = reader.http.get(FEED, {"after": after})

    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error.startswith("after: ")
    assert reader.http.get(FEED, {"after": "2"}).json() == {
        "results": [],
        "cursor": "2",
        "more": False,
    }


def test_a_page_of_the_feed_costs_the_same_queries_however_many_rows(
    products, django_assert_num_queries
):
    product, _ = products
    with at(utc(2026, 12, 1, 9)):
        order_with_lines(dates=[D(2026, 12, 1)], product=product)
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    http = api(scopes=[Scope.ENTITLEMENTS_READ], name="counted")
    with CaptureQueriesContext(connection) as one:
        assert len(http.get(FEED).json()["results"]) == 1
    with at(utc(2026, 12, 2, 9)):
        order_with_lines(dates=[D(2026, 12, 2)] * 6, product=product)
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    with django_assert_num_queries(len(one.captured_queries)):
        assert len(http.get(FEED).json()["results"]) == 7

"""The admin of webhook endpoints: written through the services, the secret shown once on
its own page (never in a message or an address), actions audited, deliveries one click away."""

import pytest
from django.contrib.admin import helpers
from django.contrib.messages import get_messages
from django.urls import reverse

from apps.core.actors import Job
from apps.core.models import AuditEvent
from apps.outbox.endpoints import webhook_endpoint_test
from apps.outbox.models import Channel, Delivery, WebhookEndpoint
from tests.admin_forms import admin_form_data
from tests.factories.accounts import AccountFactory, UserFactory
from tests.webhooks.conftest import endpoint_for

pytestmark = pytest.mark.django_db

ADD = reverse("admin:outbox_webhookendpoint_add")
CHANGELIST = reverse("admin:outbox_webhookendpoint_changelist")


@pytest.fixture
def operator(client):
    user = UserFactory(is_staff=True, is_superuser=True, email="olivia@keyship.example")
    client.force_login(user)
    return user


def add(client, **values):
    data = admin_form_data(client.get(ADD))
    data.update(values)
    return client.post(ADD, data)


def test_adding_shows_the_secret_once_on_its_own_page(client, operator):
    account = AccountFactory()

    response = add(
        client,
        url="https://93.184.215.14/hooks",
        events=["entitlement.created", "line.shipped"],
        account_ids=f"{account.account_id}, ",
    )

    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert response["Location"] == reverse(
        "admin:outbox_webhookendpoint_secret", args=[endpoint.pk]
    )
    assert endpoint.account_ids == [account.account_id]
    assert endpoint.owner_email == "olivia@keyship.example"  # told when it is disabled
    assert endpoint.secret not in response["Location"]
    assert all(endpoint.secret not in cookie.value for cookie in response.cookies.values())
    assert not list(get_messages(response.wsgi_request))
    page = client.get(response["Location"])
    assert endpoint.secret in page.content.decode()
    assert "no-store" in page["Cache-Control"]
    again = client.get(response["Location"])
    assert endpoint.secret not in again.content.decode()
    assert "is not shown again" in again.content.decode()
    event = AuditEvent.objects.get(action="webhook_endpoint.created")
    assert event.actor == operator and endpoint.secret not in str(event.data)


@pytest.mark.parametrize(
    "values,error",
    [
        ({"url": "https://127.0.0.1/hooks"}, "url: 127.0.0.1 is a loopback address"),
        ({"url": "https://localhost/hooks"}, "url: localhost resolves to"),
        ({"account_ids": "0999999999"}, "No account has the Account ID 0999999999."),
        ({"account_ids": "12x"}, "is not an Account ID"),
    ],
)
def test_a_bad_endpoint_comes_back_with_what_is_wrong_and_nothing_written(
    client, operator, values, error
):
    fields = {"url": "https://93.184.215.14/hooks", "events": ["line.shipped"], **values}

    response = add(client, **fields)

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_a_change_goes_through_the_service(client, operator):
    endpoint, _ = endpoint_for("https://93.184.215.14/hooks")
    url = reverse("admin:outbox_webhookendpoint_change", args=[endpoint.pk])
    data = admin_form_data(client.get(url))
    data["events"] = ["order.received"]

    assert client.post(url, data).status_code == 302

    endpoint.refresh_from_db()
    assert endpoint.events == ["order.received"]
    event = AuditEvent.objects.get(action="webhook_endpoint.updated")
    assert event.actor == operator and "events" in event.data


def _act(client, action, endpoint):
    return client.post(CHANGELIST, {"action": action, helpers.ACTION_CHECKBOX_NAME: [endpoint.pk]})


def test_disable_enable_and_a_test_event_are_audited(client, operator, settings):
    endpoint, _ = endpoint_for("https://93.184.215.14/hooks", events=["order.received"])

    _act(client, "disable", endpoint)
    endpoint.refresh_from_db()
    assert not endpoint.active
    _act(client, "enable", endpoint)
    endpoint.refresh_from_db()
    assert endpoint.active
    _act(client, "send_test_event", endpoint)

    test = Delivery.objects.get(endpoint=endpoint)
    assert (test.channel, test.payload["type"]) == (Channel.WEBHOOK, "webhook.test")
    assert [
        (e.action, e.actor)
        for e in AuditEvent.objects.filter(action__startswith="webhook_endpoint.").order_by("pk")
    ][1:] == [
        ("webhook_endpoint.disabled", operator),
        ("webhook_endpoint.enabled", operator),
        ("webhook_endpoint.test_sent", operator),
    ]


def test_a_test_event_reaches_the_endpoint(
    client, operator, receiver, django_capture_on_commit_callbacks
):
    endpoint, secret = endpoint_for(receiver.url, events=["order.received"])

    with django_capture_on_commit_callbacks(execute=True):
        _act(client, "send_test_event", endpoint)

    (request,) = receiver.received
    assert request.event["type"] == "webhook.test" and request.signature_valid(secret)


def test_the_endpoint_links_to_its_deliveries(client, operator):
    endpoint, _ = endpoint_for("https://93.184.215.14/hooks")
    other, _ = endpoint_for("https://93.184.215.14/other")
    webhook_endpoint_test(endpoint_id=endpoint.pk, actor=Job("t"))
    webhook_endpoint_test(endpoint_id=other.pk, actor=Job("t"))
    page = client.get(reverse("admin:outbox_webhookendpoint_change", args=[endpoint.pk]))
    link = f"{reverse('admin:outbox_delivery_changelist')}?endpoint__id__exact={endpoint.pk}"
    assert link in page.content.decode().replace("&amp;", "&")

    listed = client.get(link)

    assert listed.status_code == 200
    assert [row.pk for row in listed.context["cl"].result_list] == [
        Delivery.objects.get(endpoint=endpoint).pk
    ]


def test_deleting_goes_through_the_service(client, operator):
    endpoint, _ = endpoint_for("https://93.184.215.14/hooks")
    url = reverse("admin:outbox_webhookendpoint_delete", args=[endpoint.pk])

    assert client.post(url, {"post": "yes"}).status_code == 302

    assert not WebhookEndpoint.objects.exists()
    assert AuditEvent.objects.get(action="webhook_endpoint.deleted").actor == operator


def test_the_form_offers_reinstated_entitlements(client, operator):
    response = add(client, url="https://93.184.215.14/hooks", events=["entitlement.reinstated"])

    assert response.status_code == 302
    assert WebhookEndpoint.objects.get().events == ["entitlement.reinstated"]

"""Loopback and private targets are refused, at registration and at delivery, unless
WEBHOOK_ALLOW_PRIVATE_URLS is on."""

import pytest

from apps.core.actors import Job
from apps.core.contracts import Rejected
from apps.core.models import AuditEvent
from apps.outbox.endpoints import webhook_endpoint_create, webhook_endpoint_update
from apps.outbox.models import Channel, Delivery, DeliveryStatus, WebhookEndpoint
from tests.fulfillment.helpers import order_with_lines, today
from tests.webhooks.conftest import endpoint_for, webhooks_send
from tests.webhooks.test_delivery import ship_one_line

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url,reason",
    [
        ("https://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
        ("https://localhost:8443/hook", "localhost resolves to"),
        ("https://10.1.2.3/hook", "10.1.2.3 is a private address"),
        ("https://192.168.0.10/hook", "is a private address"),
        ("https://169.254.169.254/latest/meta-data", "is a link-local address"),
        ("https://[::1]/hook", "::1 is a loopback address"),
        ("https://[::ffff:127.0.0.1]/hook", "a loopback address"),
        ("https://224.0.0.1/hook", "a multicast address"),
        ("https://0.0.0.0/hook", "0.0.0.0 is"),
        ("https://100.64.0.1/hook", "100.64.0.1 is"),
        ("https://[fec0::1]/hook", "fec0::1 is a site-local address"),
        ("https://[2002:7f00:1::]/hook", "2002:7f00:1:: is a loopback address"),
        ("https://[2002:a01:203::1]/hook", "2002:a01:203::1 is a private address"),
        ("https://93.184.215.14/a hook", "not a URL"),
        ("https://93.184.215.14/hook\x00", "not a URL"),
        ("http://93.184.215.14/hook", "must start with https://"),
        ("ftp://93.184.215.14/hook", "must start with https://"),
        ("https://user:pw@93.184.215.14/hook", "user name or password"),
        ("https:///hook", "names no host"),
        ("not a url", "must start with https://"),
    ],
)
def test_an_endpoint_that_would_reach_inside_is_refused_and_nothing_is_written(url, reason):
    with pytest.raises(Rejected) as refused:
        webhook_endpoint_create(url=url, events=["entitlement.created"], actor=Job("t"))

    (error,) = refused.value.errors
    assert error.startswith("url: ") and reason in error, error
    assert not WebhookEndpoint.objects.exists()
    assert not AuditEvent.objects.filter(action="webhook_endpoint.created").exists()


def test_a_public_address_is_accepted():
    endpoint, secret = webhook_endpoint_create(
        url="https://93.184.215.14/hooks", events=["entitlement.created"], actor=Job("t")
    )

    assert endpoint.url == "https://93.184.215.14/hooks"
    assert secret.startswith("whsec_") and endpoint.secret == secret
    assert secret not in endpoint.secret_sealed
    event = AuditEvent.objects.get(action="webhook_endpoint.created")
    assert secret not in str(event.data) + event.message


def test_a_changed_url_is_checked_too():
    endpoint, _ = webhook_endpoint_create(
        url="https://93.184.215.14/hooks", events=["entitlement.created"], actor=Job("t")
    )

    with pytest.raises(Rejected) as refused:
        webhook_endpoint_update(endpoint_id=endpoint.pk, url="https://localhost/", actor=Job("t"))

    assert refused.value.errors[0].startswith("url: localhost resolves to")
    endpoint.refresh_from_db()
    assert endpoint.url == "https://93.184.215.14/hooks"


def test_unknown_event_types_are_named():
    with pytest.raises(Rejected) as refused:
        webhook_endpoint_create(
            url="https://93.184.215.14/hooks",
            events=["entitlement.created", "Entitlement.Created", "order.shipped"],
            actor=Job("t"),
        )

    assert [error.split(":")[0] for error in refused.value.errors] == ["events[1]", "events[2]"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}/hook", "http://localhost:{port}/hook"])
def test_a_delivery_to_a_private_target_is_refused_when_the_setting_is_off(receiver, settings, url):
    port = receiver.server.server_port
    endpoint_for(url.format(port=port), events=["entitlement.created"])
    ship_one_line()
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False

    webhooks_send()

    assert receiver.received == []
    delivery = Delivery.objects.get(channel=Channel.WEBHOOK)
    assert delivery.status == DeliveryStatus.FAILED
    assert "refused" in delivery.last_error


def test_the_delivery_connects_to_the_address_it_checked(receiver, monkeypatch):
    """A name that resolves to a public address when checked and to another one a moment
    later (DNS rebinding) is posted to at the address that was checked, once per delivery."""
    import socket

    from apps.outbox import endpoints

    answers = []
    real = socket.getaddrinfo

    def resolver(host, port, *args, **kwargs):
        answers.append(host)
        return real("127.0.0.1" if host == "rebind.example" else host, port, *args, **kwargs)

    monkeypatch.setattr(endpoints.socket, "getaddrinfo", resolver)
    endpoint_for(receiver.url.replace("127.0.0.1", "rebind.example"), events=["line.shipped"])
    answers.clear()
    order_with_lines(dates=[today()])
    from apps.fulfillment.services import order_lines_fulfil_due

    order_lines_fulfil_due(actor=Job("t"))
    webhooks_send()

    (request,) = receiver.received
    assert request.headers["Host"].startswith("rebind.example")
    assert answers.count("rebind.example") == 1


def test_the_deploy_check_warns_when_private_targets_are_allowed_in_production(settings):
    from django.core.checks import run_checks

    def warnings():
        return [m.id for m in run_checks(include_deployment_checks=True) if m.id == "keyship.W001"]

    settings.DEBUG, settings.WEBHOOK_ALLOW_PRIVATE_URLS = False, True
    assert warnings() == ["keyship.W001"]
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    assert warnings() == []

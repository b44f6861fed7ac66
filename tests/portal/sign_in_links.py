"""Helpers for the tests of sign-in links and order addresses."""

import re

from django.urls import reverse

from apps.outbox import kinds
from apps.outbox.models import Delivery, DeliveryKind
from tests.factories.orders import OrderEmailFactory

ASK = reverse("portal:sign-in-link-ask")
LANDING = reverse("portal:sign-in-link")
LINK = re.compile(r"(https?://\S+?)#([A-Za-z0-9_-]+)")


def on_the_order_of(entitlement, email: str):
    """Put `email` on the sales order that `entitlement` shipped from."""
    return OrderEmailFactory(order=entitlement.order_line.order, email=email)


def ask(client, email: str):
    return client.post(ASK, {"email": email})


def latest_link(email: str) -> tuple[str, str]:
    """(the link's address without its fragment, its token) of the latest sign-in link
    queued for `email`, read from the outbox as the email will carry it."""
    delivery = (
        Delivery.objects.filter(kind=DeliveryKind.SIGN_IN_LINK, recipient__iexact=email)
        .order_by("-pk")
        .first()
    )
    assert delivery is not None, f"no sign-in email for {email}"
    email_text = kinds.email_kind(delivery.kind).writer([delivery])(delivery).body
    url, token = LINK.search(email_text).groups()
    return url, token


def use(client, token: str):
    """What the landing page's script does: the token from the fragment, posted."""
    return client.post(LANDING, {"token": token})


def sign_in_as_address(client, email: str):
    """Ask for a link for `email` and use it; the landing POST's response."""
    answer = ask(client, email)
    assert answer.status_code == 302, answer.status_code
    _, token = latest_link(email)
    return use(client, token)

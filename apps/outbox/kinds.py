"""How each kind of email is written: one boundary that every app's kinds plug into.

The outbox sits below the apps whose messages it carries, so it cannot know how to write a
Fulfillment Email or an access decision. Each app registers its kinds when it is ready
(`AppConfig.ready`), and the sender asks the registry: one sending path, whatever the kind.
"""

import json
from collections.abc import Callable, Iterable

from django.core.mail import EmailMessage, EmailMultiAlternatives

from apps.outbox.models import Delivery


class EmailKind:
    """One kind of email. `writer` is called once per batch of deliveries of this kind (so
    that a kind can read what its emails need in a few queries for the whole batch) and
    returns a function that builds each delivery's email, in its language."""

    def waiting(self, deliveries: list[Delivery]) -> set[int]:
        """The deliveries that cannot be written yet (their documents are not ready): they
        wait, without it counting as an attempt."""
        return set()

    def writer(self, deliveries: list[Delivery]) -> Callable[[Delivery], EmailMessage]:
        raise NotImplementedError


class SealedEmails(EmailKind):
    """Emails written whole when they are queued because they hold a secret (a link that
    signs in, or resets a password): their content is sealed at rest (sealed_email)."""

    def writer(self, deliveries: list[Delivery]):
        def message(delivery: Delivery) -> EmailMessage:
            content = json.loads(delivery.content)
            email = EmailMultiAlternatives(
                subject=content["subject"],
                body=content["text"],
                to=[delivery.recipient],
                headers={"Message-ID": delivery.message_id},
            )
            if content.get("html"):
                email.attach_alternative(content["html"], "text/html")
            return email

        return message


def sealed_email(*, subject: str, text: str, html: str = "") -> str:
    """The content of a SealedEmails delivery (delivery_queue's `content`)."""
    return json.dumps({"subject": " ".join(subject.splitlines()), "text": text, "html": html})


_kinds: dict[str, EmailKind] = {}


def register(kind: str, email_kind: EmailKind) -> None:
    _kinds[kind] = email_kind


def email_kind(kind: str) -> EmailKind:
    try:
        return _kinds[kind]
    except KeyError:
        raise LookupError(f"no email kind {kind!r} is registered") from None


def registered() -> Iterable[str]:
    return _kinds.keys()

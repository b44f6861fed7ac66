"""Brute force and abuse: lockouts that no spelling escapes, the client address behind a
proxy, the password reset's limits, and an access request that tells nothing away."""

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.test import Client, TestCase
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from apps.accounts.models import AccessRequest, AccessRequestStatus
from tests.factories.accounts import UserFactory
from tests.portal.helpers import new_account, portal_contact

pytestmark = pytest.mark.django_db
LOGIN = reverse("login")
RESET = reverse("password_reset")
ACCESS = reverse("portal:access")
PROXY = "10.0.0.1"


def _behind_the_proxy(forwarded_for: str) -> Client:
    """A browser whose requests reach Keyship through the reverse proxy."""
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded_for)


def _sign_in(client, email, password="password"):
    return client.post(LOGIN, {"username": email, "password": password})


def test_the_lockout_counts_every_spelling_of_an_address_as_one(client):
    portal_contact(email="alice@northwind.example")
    spellings = ["alice@northwind.example", "ALICE@NORTHWIND.EXAMPLE", "Alice@Northwind.example"]
    for attempt in range(5):
        _sign_in(client, f" {spellings[attempt % 3]} ", "guess")

    locked = _sign_in(client, "aLiCe@northwind.EXAMPLE")

    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_two_clients_behind_one_proxy_do_not_lock_each_other_out(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    portal_contact(email="alice@northwind.example")
    attacker = _behind_the_proxy("203.0.113.5")
    for _ in range(5):
        _sign_in(attacker, "alice@northwind.example", "guess")
    assert _sign_in(attacker, "alice@northwind.example").status_code == 429

    alice = _behind_the_proxy("198.51.100.7")

    assert _sign_in(alice, "alice@northwind.example").status_code == 302


def test_a_forged_forwarded_for_does_not_escape_the_lockout(settings):
    portal_contact(email="alice@northwind.example")
    # Without a trusted proxy the header is the client's own word: it counts for nothing.
    for number in range(5):
        _sign_in(_behind_the_proxy(f"192.0.2.{number}"), "alice@northwind.example", "guess")
    assert _sign_in(_behind_the_proxy("192.0.2.99"), "alice@northwind.example").status_code == 429

    # Behind one proxy, only the address the proxy adds (the right-most) counts.
    settings.TRUSTED_PROXY_COUNT = 1
    portal_contact(email="bob@northwind.example")
    for number in range(5):
        forged = _behind_the_proxy(f"192.0.2.{number}, 203.0.113.5")
        _sign_in(forged, "bob@northwind.example", "guess")
    again = _behind_the_proxy("192.0.2.99, 203.0.113.5")
    assert _sign_in(again, "bob@northwind.example").status_code == 429


def test_code_attempts_of_one_client_behind_the_proxy_do_not_block_another(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.ACTIVATION_CODE_RATE = "3/m"
    url = reverse("portal:activate-with-code")
    guesser, installer = _behind_the_proxy("203.0.113.5"), _behind_the_proxy("198.51.100.7")
    guesser.force_login(UserFactory())
    installer.force_login(UserFactory())
    body = {"activation_code": "wrong", "serial_numbers": "SN-1"}
    for _ in range(4):
        guesser.post(url, body)
    assert guesser.post(url, body).status_code == 429

    assert installer.post(url, body).status_code == 400


def _reset(client, email):
    # The email leaves through the outbox once the request's transaction commits.
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(RESET, {"email": email})


def test_password_resets_are_limited_per_address_without_saying_so(client, settings):
    settings.PASSWORD_RESET_RATE = "3/h"
    portal_contact(email="carol@blueharbor.example")

    answers = [_reset(client, "Carol@BlueHarbor.example") for _ in range(6)]

    assert len(mail.outbox) == 3
    assert {answer.status_code for answer in answers} == {302}
    assert {answer.url for answer in answers} == {reverse("password_reset_done")}
    # Another address is not held back by Carol's.
    portal_contact(email="dave@blueharbor.example")
    _reset(client, "dave@blueharbor.example")
    assert mail.outbox[-1].to == ["dave@blueharbor.example"]


def test_password_resets_are_limited_per_client(settings):
    settings.PASSWORD_RESET_CLIENT_RATE = "4/h"
    for number in range(6):
        portal_contact(email=f"user{number}@blueharbor.example")
    client = Client(REMOTE_ADDR="203.0.113.5")

    answers = [_reset(client, f"user{number}@blueharbor.example") for number in range(6)]

    assert len(mail.outbox) == 4
    assert {answer.url for answer in answers} == {reverse("password_reset_done")}
    _reset(Client(REMOTE_ADDR="198.51.100.7"), "user5@blueharbor.example")
    assert len(mail.outbox) == 5


def test_staff_passwords_are_not_reset_from_the_portal_and_nobody_is_told(client):
    staff = UserFactory(email="ops@keyship.example", is_staff=True)
    root = UserFactory(email="root@keyship.example", is_staff=True, is_superuser=True)
    portal_contact(email="carol@blueharbor.example")

    staff_answer = _reset(client, "OPS@keyship.example")
    root_answer = _reset(client, "root@keyship.example")
    contact_answer = _reset(client, "carol@blueharbor.example")

    assert staff_answer.url == root_answer.url == contact_answer.url
    assert [message.to for message in mail.outbox] == [["carol@blueharbor.example"]]
    assert staff.has_usable_password() and root.has_usable_password()


def test_an_unknown_account_id_gets_the_same_answer_as_a_known_one(client, admin_client):
    known = new_account(account_id="0100012345")
    contact = portal_contact()
    client.force_login(contact.user)

    answers = [
        client.post(ACCESS, {"account_id": account_id, "reason": "I run their firewalls."})
        for account_id in (known.account_id, "0100099999")
    ]

    assert [answer.status_code for answer in answers] == [302, 302]
    page = client.get(ACCESS).content.decode()
    assert "0100012345" in page and "0100099999" in page
    assert "No account has" not in page
    requests = AccessRequest.objects.order_by("pk")
    assert [r.requested_account_id for r in requests] == ["0100012345", "0100099999"]
    assert [r.account for r in requests] == [known, None]
    queue = admin_client.get(reverse("admin:accounts_accessrequest_changelist"))
    assert "0100099999" in queue.content.decode()
    # Asking again for the unknown account keeps one pending request, as for a known one.
    client.post(ACCESS, {"account_id": "0100099999", "reason": "Still."})
    assert AccessRequest.objects.filter(status=AccessRequestStatus.PENDING).count() == 2


def test_a_reset_link_for_a_staff_login_does_not_set_its_password(client):
    staff = UserFactory(email="ops@keyship.example", is_staff=True)
    uid = urlsafe_base64_encode(force_bytes(staff.pk))
    link = reverse("password_reset_confirm", args=[uid, default_token_generator.make_token(staff)])

    page = client.get(link, follow=True)

    assert "new_password1" not in page.content.decode()


def test_a_request_for_an_unknown_account_id_is_denied_or_waits_for_the_account(
    client, admin_client, django_capture_on_commit_callbacks
):
    contact = portal_contact()
    client.force_login(contact.user)
    client.post(ACCESS, {"account_id": "0100099999", "reason": "Our new site."})
    client.post(ACCESS, {"account_id": "0100088888", "reason": "Our old site."})
    later, never = AccessRequest.objects.order_by("pk")
    changelist = reverse("admin:accounts_accessrequest_changelist")

    # Approving an Account ID that names no account associates nothing and says why
    answer = admin_client.post(
        changelist, {"action": "approve", "_selected_action": [later.pk]}, follow=True
    )
    assert "No account has the Account ID 0100099999" in answer.content.decode()
    later.refresh_from_db()
    assert later.status == AccessRequestStatus.PENDING

    # Once the account is there, the approval associates; a denial tells the contact
    account = new_account(account_id="0100099999")
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(changelist, {"action": "approve", "_selected_action": [later.pk]})
        admin_client.post(
            changelist,
            {
                "action": "deny",
                "_selected_action": [never.pk],
                "confirm": "1",
                "reason": "Ask your manager.",
            },
        )
    assert list(contact.accounts.all()) == [account]
    subjects = sorted(message.subject for message in mail.outbox)
    assert "0100088888" in subjects[1] and "0100099999" in subjects[0]


def test_one_login_cannot_fill_customer_cares_queue_with_made_up_account_ids(client):
    known = new_account(account_id="0100012345")
    client.force_login(portal_contact().user)
    for number in range(10):
        client.post(ACCESS, {"account_id": f"01000999{number:02d}", "reason": "Guessing."})

    # The eleventh is refused the same way whether its Account ID exists or not
    answers = [
        client.post(ACCESS, {"account_id": account_id, "reason": "Guessing."})
        for account_id in (known.account_id, "0100077777")
    ]

    assert [answer.status_code for answer in answers] == [400, 400]
    assert all("10 of your requests are waiting" in a.content.decode() for a in answers)
    assert AccessRequest.objects.count() == 10

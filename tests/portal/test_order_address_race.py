"""Two first access requests of one order address at once: one login and contact is made,
and both requests are filed; neither answers with an error."""

import threading

import pytest
from django.db import connection, transaction

from apps.accounts.models import AccessRequest, Contact, User
from apps.accounts.services import contact_save
from apps.core.actors import UnknownCaller
from apps.portal.address_access import order_address_access_request
from tests.portal.helpers import entitlement_of, new_account
from tests.portal.sign_in_links import on_the_order_of

ADDRESS = "buyer@harbor.example"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_first_requests_at_once_make_one_contact_and_file_both():
    # Given an order address whose first request is being filed (its login is written, not
    # yet committed) when the second one arrives
    account = new_account(account_id="0100012345")
    on_the_order_of(entitlement_of(account), ADDRESS)
    first_wrote, first_may_commit, outcome = threading.Event(), threading.Event(), {}

    def first():
        try:
            with transaction.atomic():
                contact_save(
                    contact_id="ADDR-FIRST",
                    email=ADDRESS,
                    name="",
                    language="en",
                    actor=UnknownCaller("203.0.113.1"),
                )
                first_wrote.set()
                first_may_commit.wait(timeout=30)
        finally:
            connection.close()

    def second():
        try:
            outcome["request"], outcome["created"] = order_address_access_request(
                email=ADDRESS,
                account=account,
                reason="Our firewalls.",
                language="en",
                actor=UnknownCaller("203.0.113.2"),
            )
        except Exception as error:  # noqa: BLE001 - the test reports what the user would meet
            outcome["error"] = error
        finally:
            connection.close()

    writer = threading.Thread(target=first)
    writer.start()
    assert first_wrote.wait(timeout=30)
    asker = threading.Thread(target=second)
    asker.start()
    asker.join(timeout=2)  # it waits on the first one's login
    first_may_commit.set()
    writer.join(timeout=30)
    asker.join(timeout=30)

    # Then the second request is filed for the login the first one made
    assert "error" not in outcome, outcome.get("error")
    assert outcome["created"] is False
    assert User.objects.filter(email__iexact=ADDRESS).count() == 1
    assert Contact.objects.get().contact_id == "ADDR-FIRST"
    assert AccessRequest.objects.get().contact.contact_id == "ADDR-FIRST"

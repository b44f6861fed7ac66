"""A customer admin's decision and Customer Care taking the role away, at the same moment:
the decision waits for the change and is refused once the role is gone."""

import threading

import pytest
from django.db import connection, transaction

from apps.accounts.customer_admins import access_requests_decide_as_customer_admin
from apps.accounts.models import AccessRequest, AccessRequestStatus
from apps.accounts.services import account_association_save
from apps.core.contracts import Rejected
from tests.factories.accounts import UserFactory
from tests.portal.helpers import customer_admin_of, new_account, pending_request


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_decision_made_while_the_role_is_taken_away_is_refused():
    northwind = new_account()
    alice = customer_admin_of(northwind)
    association = alice.associations.get()
    request = pending_request(northwind)
    care = UserFactory(is_staff=True)
    unset, decided = threading.Event(), threading.Event()
    outcome = []

    def decide():
        try:
            unset.wait()
            access_requests_decide_as_customer_admin(
                request_ids=[request.pk], approve=True, actor=alice.user
            )
            outcome.append("decided")
        except Rejected as rejected:
            outcome.append(rejected.errors)
        finally:
            decided.set()
            connection.close()

    deciding = threading.Thread(target=decide)
    deciding.start()
    # Given Customer Care's change in flight (its row lock held, not committed yet)
    with transaction.atomic():
        account_association_save(
            contact=alice,
            account=northwind,
            note="",
            association=association,
            is_admin=False,
            actor=care,
        )
        unset.set()
        # When the customer admin decides meanwhile, the decision waits for the lock
        assert not decided.wait(timeout=1)
    deciding.join(timeout=10)

    # Then, once the change commits, the decision is refused and nothing was decided
    assert outcome == [[f"Access request {request.pk} is not one you can decide."]]
    assert AccessRequest.objects.get(pk=request.pk).status == AccessRequestStatus.PENDING

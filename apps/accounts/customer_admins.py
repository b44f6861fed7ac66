"""Customer admins: contacts that Customer Care marked admin of an account they are
associated with (`AccountAssociation.is_admin`).

In the portal a customer admin approves or denies the pending access requests for the
accounts they administer, sees who is associated with those accounts, and removes an
association from them. Every check is made here, inside the service's transaction and under
row locks: a view's own look-up is only there to answer 404 early. Customer Care can still
overrule any decision (`access_requests_overrule`).

The decision itself is `access_requests_decide`'s, so the contact is told by email as for a
decision of Customer Care, and its audit event names the customer admin as actor.
"""

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from apps.accounts.models import (
    AccessRequest,
    AccessRequestStatus,
    Account,
    AccountAssociation,
)
from apps.accounts.services import access_requests_decide, account_association_delete
from apps.core.contracts import Rejected
from apps.core.services import audit_event_record
from apps.core.text import has_control_characters

NOTE_MAX_LENGTH = AccessRequest._meta.get_field("decision_note").max_length


# Reads ------------------------------------------------------------------------------------


def _administered(user, *, lock: bool = False):
    rows = AccountAssociation.objects.filter(contact__user=user, is_admin=True)
    if lock:
        # Only the association rows: Customer Care unsetting one waits for this transaction.
        rows = rows.select_for_update(of=("self",))
    return rows.select_related("account").order_by("account__account_id")


def _requests_of(accounts) -> Q:
    """The access requests for these accounts: those that name one, and those kept without
    an account whose Account ID names one now (imported since the contact asked)."""
    return Q(account__in=[a.pk for a in accounts]) | Q(
        account__isnull=True, requested_account_id__in=[a.account_id for a in accounts]
    )


def customer_admin_accounts(*, user) -> list[Account]:
    """The accounts this login is customer admin of (none for staff or a stranger)."""
    if not user.is_authenticated:
        return []
    return [association.account for association in _administered(user)]


def is_customer_admin(*, user) -> bool:
    return user.is_authenticated and _administered(user).exists()


@dataclass
class AdministeredAccount:
    """One account of a customer admin's page: its pending requests and its contacts."""

    account: Account
    pending: list[AccessRequest] = field(default_factory=list)
    associations: list[AccountAssociation] = field(default_factory=list)


def customer_admin_overview(*, user) -> list[AdministeredAccount]:
    """For each account the login administers: the pending access requests (oldest first)
    and the associated contacts (admins first, then by address). Three queries, whatever
    the number of accounts, requests or contacts. Nothing about a contact's other accounts."""
    accounts = customer_admin_accounts(user=user)
    if not accounts:
        return []
    by_pk = {account.pk: AdministeredAccount(account=account) for account in accounts}
    by_account_id = {item.account.account_id: item for item in by_pk.values()}
    pending = (
        AccessRequest.objects.filter(_requests_of(accounts), status=AccessRequestStatus.PENDING)
        .select_related("contact__user")
        .order_by("created_at", "pk")
    )
    for access_request in pending:
        item = (
            by_pk.get(access_request.account_id)
            if access_request.account_id
            else by_account_id.get(access_request.requested_account_id)
        )
        item.pending.append(access_request)
    associations = (
        AccountAssociation.objects.filter(account__in=list(by_pk))
        .select_related("contact__user")
        .order_by("-is_admin", "contact__user__email", "pk")
    )
    for association in associations:
        by_pk[association.account_id].associations.append(association)
    return list(by_pk.values())


def access_request_for_customer_admin(*, user, pk: int) -> AccessRequest | None:
    """The access request `pk` if it is for an account the login administers now."""
    accounts = customer_admin_accounts(user=user)
    if not accounts:
        return None
    return AccessRequest.objects.filter(_requests_of(accounts), pk=pk).first()


def association_for_customer_admin(*, user, pk: int) -> AccountAssociation | None:
    """The association `pk` if its account is one the login administers now."""
    return (
        AccountAssociation.objects.filter(
            pk=pk,
            account__associations__contact__user=user,
            account__associations__is_admin=True,
        )
        .select_related("contact__user", "account")
        .first()
    )


# Writes -----------------------------------------------------------------------------------


def _not_yours(pk) -> str:
    # The same words whether the request exists or not: a customer admin learns nothing
    # about the requests of other accounts.
    return _("Access request %(id)s is not one you can decide.") % {"id": pk}


@transaction.atomic
def access_requests_decide_as_customer_admin(
    *, request_ids, approve: bool, actor, note: str = ""
) -> int:
    """A customer admin approves or denies pending access requests for accounts they
    administer; returns how many were decided.

    One transaction. The actor's admin associations are locked first, then the requests:
    while it runs, Customer Care cannot take the admin role away, and nobody else decides
    the same requests. Unless every request is pending and for an account that the actor is
    customer admin of at this moment, it is Rejected and writes nothing. The decision is
    access_requests_decide's (association, audit event with the actor, the contact's
    email once committed); the rows are then marked as decided by a customer admin.
    """
    note = note.strip()
    if len(note) > NOTE_MAX_LENGTH:
        raise Rejected([_("note: at most %(count)d characters.") % {"count": NOTE_MAX_LENGTH}])
    if has_control_characters(note):
        raise Rejected([_("note: control characters are not allowed.")])
    try:
        ids = sorted({int(pk) for pk in request_ids})
    except (TypeError, ValueError):
        raise Rejected([_("No access request was chosen.")]) from None
    if not ids:
        raise Rejected([_("No access request was chosen.")])
    administered = [a.account for a in _administered(actor, lock=True)]
    requests = {
        r.pk: r
        for r in AccessRequest.objects.select_for_update(of=("self",))
        .filter(pk__in=ids)
        .filter(_requests_of(administered) if administered else Q(pk__in=[]))
    }
    problems = []
    for pk in ids:
        access_request = requests.get(pk)
        if access_request is None:
            problems.append(_not_yours(pk))
        elif access_request.status != AccessRequestStatus.PENDING:
            problems.append(
                _("The request of %(email)s was decided already.")
                % {"email": access_request.contact.email}
            )
    if problems:
        raise Rejected(problems)
    decided = access_requests_decide(request_ids=ids, approve=approve, actor=actor, note=note)
    AccessRequest.objects.filter(pk__in=ids, decided_by=actor).exclude(
        status=AccessRequestStatus.PENDING
    ).update(decided_by_customer_admin=True)
    return decided


@transaction.atomic
def account_association_remove_as_customer_admin(*, association_id: int, actor) -> None:
    """A customer admin removes a contact's association from an account they administer:
    that contact no longer sees the account's entitlements.

    One transaction, under locks of the actor's admin associations and of the association.
    Rejected, writing nothing, for an account the actor does not administer (now), for
    another customer admin's association (Customer Care's call), and for the actor's own
    last admin association (they would lock themselves out). The removal itself is
    account_association_delete's, audited with the customer admin as actor.
    """
    administered = list(_administered(actor, lock=True))
    association = (
        AccountAssociation.objects.select_for_update(of=("self",))
        .select_related("contact__user", "account")
        .filter(pk=association_id, account__in=[a.account_id for a in administered])
        .first()
    )
    if association is None:
        raise Rejected([_("This association is not one you can remove.")])
    if association.is_admin and association.contact.user_id != actor.pk:
        raise Rejected(
            [
                _(
                    "%(email)s is a customer admin of account %(account_id)s: only Customer "
                    "Care can remove them."
                )
                % {"email": association.contact.email, "account_id": association.account.account_id}
            ]
        )
    if association.is_admin and len(administered) == 1:
        raise Rejected(
            [
                _(
                    "Account %(account_id)s is the last one you are customer admin of: ask "
                    "Customer Care to remove you from it."
                )
                % {"account_id": association.account.account_id}
            ]
        )
    account_association_delete(association=association, actor=actor)


@dataclass
class OverruleReport:
    overruled: list[AccessRequest] = field(default_factory=list)
    left: list[tuple[AccessRequest, str]] = field(default_factory=list)


@transaction.atomic
def access_requests_overrule(*, request_ids, reason: str, actor) -> OverruleReport:
    """Customer Care reverses decided access requests, whoever decided them: an approval
    becomes a denial (the association it made is removed), a denial an approval.

    One transaction; the requests are locked. Each overruled request is audited as
    `access_request.overruled` (the reason, and the decision before and after), then decided
    again by access_requests_decide, as a decision of `actor`: the contact is told by email
    as for any decision (the reason stays in the audit log). A pending request, a denial for
    an Account ID that names no account, and a request that the contact has asked again
    since (a newer pending one) are left as they are, each with why.
    """
    reason = reason.strip()
    if not reason:
        raise Rejected([_("reason: say why the decision is overruled.")])
    report = OverruleReport()
    rows = (
        AccessRequest.objects.select_for_update(of=("self",))
        .filter(pk__in=list(request_ids))
        .select_related("contact__user", "account", "decided_by")
        .order_by("pk")
    )
    for access_request in rows:
        approve = access_request.status == AccessRequestStatus.DENIED
        account = (
            access_request.account
            or Account.objects.filter(account_id=access_request.requested_account_id).first()
        )
        asked_again = (
            AccessRequest.objects.filter(
                contact=access_request.contact_id,
                requested_account_id=access_request.requested_account_id,
                status=AccessRequestStatus.PENDING,
            )
            .exclude(pk=access_request.pk)
            .first()
        )
        if access_request.status == AccessRequestStatus.PENDING:
            report.left.append((access_request, _("it is pending: approve or deny it")))
            continue
        if approve and account is None:
            report.left.append(
                (access_request, _("no account has its Account ID, so it cannot be approved"))
            )
            continue
        if asked_again is not None:
            report.left.append(
                (access_request, _("the contact asked again since: decide that request instead"))
            )
            continue
        removed = False
        if not approve and account is not None:
            association = AccountAssociation.objects.filter(
                contact=access_request.contact_id, account=account
            ).first()
            if association is not None:
                account_association_delete(association=association, actor=actor)
                removed = True
        audit_event_record(
            actor=actor,
            action="access_request.overruled",
            target=access_request,
            message=reason,
            data={
                "status": {
                    "old": access_request.status,
                    "new": AccessRequestStatus.APPROVED if approve else AccessRequestStatus.DENIED,
                },
                "decided_by": {
                    "old": str(access_request.decided_by or ""),
                    "new": str(actor),
                },
                "decided_by_customer_admin": {
                    "old": access_request.decided_by_customer_admin,
                    "new": False,
                },
                "association_removed": removed,
            },
        )
        # Pending again for a moment, so that access_requests_decide decides it (and tells
        # the contact) exactly as it decides any request.
        AccessRequest.objects.filter(pk=access_request.pk).update(
            status=AccessRequestStatus.PENDING,
            decided_by=None,
            decided_at=None,
            decided_by_customer_admin=False,
            decision_note="",
        )
        access_requests_decide(request_ids=[access_request.pk], approve=approve, actor=actor)
        access_request.refresh_from_db()
        report.overruled.append(access_request)
    return report

import uuid

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.contracts import AccountIn, AccountsFile, ContactIn
from apps.accounts.emails import ASSOCIATION_ADDED, EMAIL_CHANGED
from apps.accounts.models import (
    AccessRequest,
    AccessRequestStatus,
    Account,
    AccountAssociation,
    Contact,
    User,
)
from apps.core.contracts import ImportResult, Rejected, validate
from apps.core.services import audit_event_record, field_changes, field_values, record_upsert
from apps.core.text import has_control_characters
from apps.outbox.models import Delivery, DeliveryKind, topic
from apps.outbox.services import delivery_queue

# Requests for any well-formed Account ID are kept, known or not; this many waiting at once
# is more than anyone needs, and keeps one login from filling Customer Care's queue.
MAX_PENDING_ACCESS_REQUESTS = 10


def _login_for(*, email: str, name: str, contact: Contact | None) -> User:
    """The login of a contact with this address: its own, or a new one without a password."""
    taken = User.objects.filter(email__iexact=email)
    if contact is not None:
        taken = taken.exclude(pk=contact.user_id)
    if taken.exists():
        raise Rejected([f"email: {email} already belongs to another login"])
    if contact is None:
        # No password: the contact sets one through "forgot password" on the portal.
        return User.objects.create_user(email=email, name=name)
    user = contact.user
    if (user.email, user.name) != (email, name):
        user.email, user.name = email, name
        user.save(update_fields=["email", "name"])
    return user


@transaction.atomic
def contact_save(
    *,
    contact_id: str,
    email: str,
    name: str,
    language: str,
    actor,
    contact=None,
    api_client: str = "",
) -> Contact:
    """Create a contact with its login, or update one. One transaction, audited: a
    contact.updated event holds each changed field's old and new value.

    A new email address (not one that differs only by case) is told to the old address once
    the transaction commits: a login taken over by changing its address does not go unseen.
    `api_client` names the API client that made the change, if one did. The values follow
    the accounts file's contract (Rejected otherwise, writing nothing), whoever passes them.
    """
    validate(
        ContactIn,
        {"contact_id": contact_id, "email": email, "name": name, "language": language},
    )
    before = None if contact is None else contact.user.email
    old = None if contact is None else field_values(_contact_audited(contact), CONTACT_AUDITED)
    user = _login_for(email=email, name=name, contact=contact)
    if contact is None:
        contact = Contact.objects.create(user=user, contact_id=contact_id, language=language)
        action = "contact.created"
    else:
        contact.contact_id, contact.language = contact_id, language
        contact.save(update_fields=["contact_id", "language", "updated_at"])
        action = "contact.updated"
    data = (
        {"email": email}
        if old is None
        else field_changes(old, _contact_audited(contact), CONTACT_AUDITED)
    )
    if before is not None and before.lower() != email.lower():
        _notice_queue(
            recipient=before,
            language=language,
            data={
                "notice": EMAIL_CHANGED,
                "email": before,
                "new_email": email,
                "api_client": api_client,
            },
        )
    audit_event_record(actor=actor, action=action, target=contact, data=data)
    return contact


# What a contact.updated event shows the old and new value of.
CONTACT_AUDITED = ["contact_id", "email", "name", "language"]


def _contact_audited(contact: Contact) -> dict:
    return {
        "contact_id": contact.contact_id,
        "email": contact.user.email,
        "name": contact.user.name,
        "language": contact.language,
    }


def _notice_queue(*, recipient: str, language: str, data: dict) -> Delivery:
    """A contact notice on the outbox; it leaves once the caller's transaction commits."""
    return delivery_queue(
        kind=DeliveryKind.CONTACT_NOTICE,
        topic=topic("notice", uuid.uuid4().hex),
        about=data.get("account_id") or data.get("email", ""),
        recipient=recipient,
        language=language,
        payload=data,
    )


@transaction.atomic
def contact_language_set(*, contact: Contact, language: str) -> None:
    """The language a contact reads the portal and their emails in."""
    if contact.language != language:
        contact.language = language
        contact.save(update_fields=["language", "updated_at"])


def _file_problems(data: dict) -> list[str]:
    problems = []
    seen: dict[str, int] = {}
    for index, row in enumerate(data["accounts"]):
        if row["account_id"] in seen:
            problems.append(
                f"accounts[{index}].account_id: {row['account_id']} is already in "
                f"accounts[{seen[row['account_id']]}]"
            )
        seen.setdefault(row["account_id"], index)
    known = set(seen) | set(
        Account.objects.filter(
            account_id__in={a for c in data["contacts"] for a in c["account_ids"]}
        ).values_list("account_id", flat=True)
    )
    ids: dict[str, int] = {}
    emails: dict[str, int] = {}
    for index, row in enumerate(data["contacts"]):
        for key, value, first in (
            ("contact_id", row["contact_id"], ids),
            ("email", row["email"].lower(), emails),
        ):
            if value in first:
                problems.append(
                    f"contacts[{index}].{key}: {value} is already in contacts[{first[value]}]"
                )
            first.setdefault(value, index)
        for position, account_id in enumerate(row["account_ids"]):
            if account_id not in known:
                problems.append(
                    f"contacts[{index}].account_ids[{position}]: unknown Account ID {account_id}"
                )
        taken = (
            User.objects.filter(email__iexact=row["email"])
            .exclude(contact__contact_id=row["contact_id"])
            .exists()
        )
        if taken:
            problems.append(
                f"contacts[{index}].email: {row['email']} already belongs to another login"
            )
    return problems


@transaction.atomic
def accounts_import(*, document, actor, api_client: str = "") -> ImportResult:
    """Upsert accounts and contacts from the accounts file; all or nothing.

    Accounts and contacts are matched on Account ID and Contact ID. A contact's
    `account_ids` add associations; an import never removes one (that is Customer Care's
    call, and recorded). Importing the same file twice changes nothing. Every association
    added is audited; one that `api_client` (the API client's name) adds is also announced
    to the account's other contacts, and a changed email to the old address (contact_save).
    An account.updated event holds each changed field's old and new value.
    """
    data = validate(AccountsFile, document)
    problems = _file_problems(data)
    if problems:
        raise Rejected(problems)
    result = ImportResult()
    accounts = {}
    before = {
        account.account_id: field_values(account, ACCOUNT_AUDITED)
        for account in Account.objects.filter(
            account_id__in=[row["account_id"] for row in data["accounts"]]
        )
    }
    for row in data["accounts"]:
        account, outcome = record_upsert(
            model=Account,
            lookup={"account_id": row["account_id"]},
            values={"name": row["name"], "kind": row["kind"]},
        )
        accounts[account.account_id] = account
        if outcome != "unchanged":
            audit_event_record(
                actor=actor,
                action=f"account.{outcome}",
                target=account,
                data=field_changes(before.get(account.account_id), account, ACCOUNT_AUDITED)
                if outcome == "updated"
                else {},
            )
        result.add(f"account {account.account_id}", outcome)
    for row in data["contacts"]:
        contact = (
            Contact.objects.select_related("user").filter(contact_id=row["contact_id"]).first()
        )
        before = None if contact is None else (contact.email, contact.name, contact.language)
        after = (row["email"], row["name"], row["language"])
        if before != after:
            contact = contact_save(
                **_contact_fields(row), actor=actor, contact=contact, api_client=api_client
            )
        added = account_associations_add(
            contact=contact,
            account_ids=row["account_ids"],
            accounts=accounts,
            actor=actor,
            api_client=api_client,
        )
        outcome = (
            "created"
            if before is None
            else ("updated" if before != after or added else "unchanged")
        )
        result.add(f"contact {contact.contact_id}", outcome)
    return result


# What an account.updated event shows the old and new value of.
ACCOUNT_AUDITED = ["name", "kind"]


def _contact_fields(row: dict) -> dict:
    return {key: row[key] for key in ("contact_id", "email", "name", "language")}


def account_associations_add(
    *, contact: Contact, account_ids, actor, accounts=None, api_client: str = ""
) -> int:
    """Associate the contact with these accounts where it is not yet; returns how many.

    In the caller's transaction. Each association added is audited; when an API client adds
    it, the account's other contacts are told by email (in their language) once the
    transaction commits, so that nobody joins an account unseen.
    """
    accounts = accounts or {}
    existing = set(contact.associations.values_list("account__account_id", flat=True))
    added = 0
    for account_id in account_ids:
        if account_id in existing:
            continue
        account = accounts.get(account_id) or Account.objects.get(account_id=account_id)
        association = AccountAssociation.objects.create(
            contact=contact,
            account=account,
            note=_api_note(api_client),
        )
        audit_event_record(
            actor=actor,
            action="account_association.created",
            target=association,
            data={
                "contact_id": contact.contact_id,
                "email": contact.email,
                "account_id": account_id,
                "api_client": api_client,
            },
        )
        if api_client:
            _association_announce(contact=contact, account=account, api_client=api_client)
        existing.add(account_id)
        added += 1
    return added


def _api_note(api_client: str) -> str:
    return f"API client {api_client}"[:200] if api_client else ""


def _association_announce(*, contact: Contact, account: Account, api_client: str) -> None:
    others = (
        Contact.objects.filter(associations__account=account)
        .exclude(pk=contact.pk)
        .select_related("user")
        .order_by("pk")
    )
    for other in others:
        _notice_queue(
            recipient=other.email,
            language=other.language,
            data={
                "notice": ASSOCIATION_ADDED,
                "account_id": account.account_id,
                "account_name": account.name,
                "email": contact.email,
                "api_client": api_client,
            },
        )


@transaction.atomic
def access_request_create(
    *, contact: Contact, account_id: str, reason: str, actor
) -> AccessRequest:
    """A contact asks to see an account. Asking again while a request is pending returns
    that request; asking for an account the contact already sees is refused. `actor` is who
    asked: the contact's own login in the portal, a job for the demo's data.

    An Account ID that names no account is answered as any other (a pending request the
    contact sees in their list), so the portal does not tell which Account IDs exist; the
    request is kept without an account, for Customer Care to deny (or approve, once the
    account is there).
    """
    account_id = account_id.strip()
    account = Account.objects.filter(account_id=account_id).first()
    if account is not None and contact.associations.filter(account=account).exists():
        raise Rejected(
            [_("You already see the entitlements of %(account_id)s.") % {"account_id": account_id}]
        )
    pending = contact.access_requests.filter(
        requested_account_id=account_id, status=AccessRequestStatus.PENDING
    ).first()
    if pending:
        return pending
    # Locks the contact, so two requests at once cannot both pass the count below.
    Contact.objects.select_for_update().filter(pk=contact.pk).first()
    waiting = contact.access_requests.filter(status=AccessRequestStatus.PENDING).count()
    if waiting >= MAX_PENDING_ACCESS_REQUESTS:
        raise Rejected(
            [
                _(
                    "%(count)d of your requests are waiting for Customer Care. Ask again once "
                    "they are decided."
                )
                % {"count": waiting}
            ]
        )
    access_request = AccessRequest.objects.create(
        contact=contact, requested_account_id=account_id, account=account, reason=reason
    )
    audit_event_record(
        actor=actor,
        action="access_request.created",
        target=access_request,
        data={"account_id": account_id, "account_known": account is not None},
    )
    return access_request


@transaction.atomic
def access_requests_decide(*, request_ids, approve: bool, actor, note: str = "") -> int:
    """Approve or deny pending access requests; returns how many were decided.

    An approval associates the contact with the account. Each contact is told by email once
    the transaction commits. Requests already decided are left as they are, so deciding
    twice (two Customer Care agents at once) tells nobody twice. A request for an Account ID
    that names no account cannot be approved: it stays pending (and is not counted).
    """
    pending = (
        # Only the requests' rows: the account may be missing (an outer join, not lockable).
        AccessRequest.objects.select_for_update(of=("self",))
        .filter(pk__in=request_ids, status=AccessRequestStatus.PENDING)
        .select_related("contact__user", "account")
        .order_by("pk")
    )
    decided = 0
    for access_request in pending:
        if access_request.account is None:
            # Asked for an Account ID that named no account; it may have been imported since.
            access_request.account = Account.objects.filter(
                account_id=access_request.requested_account_id
            ).first()
            if access_request.account is None and approve:
                continue  # nothing to associate: left pending, for a denial
        access_request.status = (
            AccessRequestStatus.APPROVED if approve else AccessRequestStatus.DENIED
        )
        access_request.decided_by = actor
        access_request.decided_at = timezone.now()
        access_request.decision_note = note
        access_request.save(
            update_fields=[
                "account",
                "status",
                "decided_by",
                "decided_at",
                "decision_note",
                "updated_at",
            ]
        )
        if approve:
            AccountAssociation.objects.get_or_create(
                contact=access_request.contact,
                account=access_request.account,
                defaults={"note": f"access request {access_request.pk}"},
            )
        audit_event_record(
            actor=actor,
            action=f"access_request.{access_request.status}",
            target=access_request,
            message=note,
        )
        delivery_queue(
            kind=DeliveryKind.ACCESS_DECISION,
            topic=topic("access_request", access_request.pk),
            about=access_request.requested_account_id,
            recipient=access_request.contact.email,
            language=access_request.contact.language,
        )
        decided += 1
    return decided


ACCOUNT_FIELDS = ("account_id", "name", "kind")


@transaction.atomic
def account_save(*, account_id: str, name: str, kind: str, actor, account=None) -> Account:
    """Create an account, or change the stored row of `account` (whose attributes may hold
    the new values already, as an admin form leaves them). One transaction; audited with each
    changed field's old and new value; a save that changes nothing writes nothing. The
    values follow the accounts file's contract (Rejected otherwise, writing nothing)."""
    after = {"account_id": account_id, "name": name, "kind": kind}
    validate(AccountIn, after)
    taken = Account.objects.filter(account_id=account_id)
    if account is not None and account.pk:
        taken = taken.exclude(pk=account.pk)
    if taken.exists():
        raise Rejected([f"account_id: {account_id} belongs to another account"])
    if account is None or not account.pk:
        account = Account.objects.create(**after)
        changes = field_changes(before={}, after=after)
        audit_event_record(actor=actor, action="account.created", target=account, data=changes)
        return account
    stored = Account.objects.select_for_update().get(pk=account.pk)
    changes = field_changes(before={f: getattr(stored, f) for f in ACCOUNT_FIELDS}, after=after)
    if changes:
        for name_, value in after.items():
            setattr(stored, name_, value)
        stored.save(update_fields=[*changes, "updated_at"])
        audit_event_record(actor=actor, action="account.updated", target=stored, data=changes)
    return stored


def _association_data(association: AccountAssociation) -> dict:
    return {
        "contact_id": association.contact.contact_id,
        "email": association.contact.email,
        "account_id": association.account.account_id,
    }


@transaction.atomic
def account_association_save(
    *,
    contact: Contact,
    account: Account,
    note: str,
    actor,
    association=None,
    is_admin: bool | None = None,
) -> AccountAssociation:
    """Associate a contact with an account (what decides what the contact sees), or change
    the stored row of `association`. `is_admin` makes the contact a customer admin of the
    account, or no longer one (None keeps it as it is; a new association is no admin).
    Audited (contact, address, Account ID, and each change old and new); the history of
    associations records it as well.

    The stored row is locked while it changes, so a customer admin deciding in the portal
    at the same moment (who locks their own admin associations) sees the old value or the
    new one, never a mix."""
    duplicate = AccountAssociation.objects.filter(contact=contact, account=account)
    if association is not None and association.pk:
        duplicate = duplicate.exclude(pk=association.pk)
    if duplicate.exists():
        raise Rejected(
            [f"account: {contact.contact_id} is associated with {account.account_id} already"]
        )
    if association is None or not association.pk:
        association = AccountAssociation.objects.create(
            contact=contact, account=account, note=note, is_admin=bool(is_admin)
        )
        audit_event_record(
            actor=actor,
            action="account_association.created",
            target=association,
            data={
                **_association_data(association),
                "note": note,
                "is_admin": {"old": None, "new": association.is_admin},
            },
        )
        return association
    stored = (
        AccountAssociation.objects.select_for_update()
        .select_related("contact__user", "account")
        .get(pk=association.pk)
    )
    before = {**_association_data(stored), "note": stored.note, "is_admin": stored.is_admin}
    stored.contact, stored.account, stored.note = contact, account, note
    if is_admin is not None:
        stored.is_admin = is_admin
    after = {**_association_data(stored), "note": note, "is_admin": stored.is_admin}
    changes = field_changes(before=before, after=after)
    if changes:
        stored.save()
        audit_event_record(
            actor=actor,
            action="account_association.updated",
            target=stored,
            data={**_association_data(stored), "changes": changes},
        )
    return stored


@transaction.atomic
def account_association_delete(*, association: AccountAssociation, actor) -> None:
    """Remove an association: the contact no longer sees the account's entitlements, from
    the next page on. Audited; the history of associations records it as well."""
    stored = (
        AccountAssociation.objects.select_for_update()
        .select_related("contact__user", "account")
        .filter(pk=association.pk)
        .first()
    )
    if stored is None:
        return
    audit_event_record(
        actor=actor,
        action="account_association.deleted",
        target=stored,
        data={**_association_data(stored), "is_admin": stored.is_admin},
    )
    stored.delete()


USER_FIELDS = ("email", "name", "is_active", "is_staff", "is_superuser")


@transaction.atomic
def user_save(
    *,
    email: str,
    name: str,
    is_active: bool,
    is_staff: bool,
    is_superuser: bool,
    actor,
    user=None,
    groups=None,
    password: str | None = None,
) -> User:
    """Create a login (staff or not), or change the stored row of `user`: its address, name,
    status and, when `groups` is given, its roles. A new login gets `password`, or none it
    can use. Audited with each changed field's old and new value and the roles added or
    removed; never the password. A name with a control character is Rejected: it is what
    the audit trail shows for who did something."""
    if has_control_characters(name):
        raise Rejected([f"name: {_('control characters are not allowed')}"])
    after = {
        "email": email,
        "name": name,
        "is_active": is_active,
        "is_staff": is_staff,
        "is_superuser": is_superuser,
    }
    taken = User.objects.filter(email__iexact=email)
    if user is not None and user.pk:
        taken = taken.exclude(pk=user.pk)
    if taken.exists():
        raise Rejected([f"email: {email} already belongs to another login"])
    if user is None or not user.pk:
        stored = User(**after)
        if password:
            stored.set_password(password)
        else:
            stored.set_unusable_password()
        stored.save()
        action, before, old_groups = "user.created", {}, set()
    else:
        stored = User.objects.select_for_update().get(pk=user.pk)
        action, before = "user.updated", {f: getattr(stored, f) for f in USER_FIELDS}
        old_groups = set(stored.groups.values_list("name", flat=True))
        for field, value in after.items():
            setattr(stored, field, value)
        stored.save(update_fields=list(USER_FIELDS))
    data: dict = {}
    changes = field_changes(before=before, after=after)
    if changes:
        data["fields"] = changes
    if groups is not None:
        stored.groups.set(groups)
        new_groups = {group.name for group in groups}
        if new_groups - old_groups:
            data["groups_added"] = sorted(new_groups - old_groups)
        if old_groups - new_groups:
            data["groups_removed"] = sorted(old_groups - new_groups)
    if data or action == "user.created":
        audit_event_record(actor=actor, action=action, target=stored, data=data)
    return stored


@transaction.atomic
def user_password_set(*, user: User, password: str | None, actor) -> User:
    """Give a login a new password, or with None none it can sign in with. One transaction;
    audited with whether the login signs in with a password, before and after, never the
    password or its hash."""
    stored = User.objects.select_for_update().get(pk=user.pk)
    before = stored.has_usable_password()
    if password:
        stored.set_password(password)
    else:
        stored.set_unusable_password()
    stored.save(update_fields=["password"])
    audit_event_record(
        actor=actor,
        action="user.password_set",
        target=stored,
        data={"usable_password": {"old": before, "new": stored.has_usable_password()}},
    )
    return stored

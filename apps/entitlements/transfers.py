"""Transfer an entitlement to other accounts, and split seats off into a new entitlement.

Both are one transaction holding the entitlement's row lock, as activations and the other
lifecycle actions take it: a split and an activation of the same entitlement take turns, so
a split never leaves more live activations than seats. Each refuses with its reason and
writes nothing when it does not apply; otherwise it writes its audit event (old and new
values), its change in the feed (which tells the webhooks), a new certificate version, and
the emails: a notice (no code) to the contacts who lose or keep the entitlement, and the
activation code with the new certificate to the contacts of the accounts that now own it.

Who owns after a transfer: the first account given is the end customer (the certificate's
holder, the one who may renew); each other one keeps the roles other than end customer it
already held on the entitlement, or else becomes a partner. A transfer gives the
entitlement a new activation code (the previous accounts' people know the old one); its
devices keep their activations and keys, which name the SSRN, not the code.
"""

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import Account
from apps.catalog.models import DeliveryMethod
from apps.core import codes, sealing
from apps.core.contracts import Rejected
from apps.core.dates import business_today
from apps.core.services import audit_event_record
from apps.entitlements.activations import SEATS_PER_DEVICE
from apps.entitlements.changes import entitlement_calendar_changes, entitlement_changes_record
from apps.entitlements.lifecycle import (
    _locked,
    _status_label,
    lifecycle_notices_queue,
    reason_clean,
)
from apps.entitlements.models import (
    Certificate,
    ChangeKind,
    Entitlement,
    EntitlementAccount,
    EntitlementAccountHistory,
    Term,
)
from apps.entitlements.selectors import account_contacts, entitlement_contacts
from apps.entitlements.services import _render_later, certificate_reissue
from apps.orders.models import AccountRole
from apps.outbox.models import DeliveryKind, topic
from apps.outbox.services import delivery_queue

# An entitlement is seen by a few accounts (an order names a handful): more is a mistake.
MAX_ACCOUNTS = 20


@dataclass
class Owners:
    """The accounts an entitlement would have: (account, role) in order, and what changes."""

    before: list[tuple[Account, str]]
    after: list[tuple[Account, str]]
    ended: list[EntitlementAccount] = field(default_factory=list)
    added: list[tuple[Account, str]] = field(default_factory=list)

    @staticmethod
    def described(pairs) -> list[dict]:
        return [{"account_id": account.account_id, "role": role} for account, role in pairs]


@dataclass
class SplitPlan:
    source: Entitlement
    quantity: int
    remaining: int
    seats_used: int
    owners: Owners


def accounts_parse(account_ids) -> list[Account]:
    """The accounts named by `account_ids` (a list of Account IDs), in the order given.
    Rejected, naming the field, when it is not such a list or names an unknown account."""
    if not isinstance(account_ids, list | tuple) or not account_ids:
        raise Rejected([_("account_ids: give a list of at least one Account ID.")])
    if len(account_ids) > MAX_ACCOUNTS:
        raise Rejected([_("account_ids: at most %(count)d Account IDs.") % {"count": MAX_ACCOUNTS}])
    wanted, problems = [], []
    for number, value in enumerate(account_ids):
        text = value.strip() if isinstance(value, str) else ""
        if not (text.isascii() and text.isdigit() and 4 <= len(text) <= 20):
            problems.append(
                _("account_ids[%(number)d]: an Account ID is 4 to 20 digits, as text.")
                % {"number": number}
            )
        elif text in wanted:
            problems.append(
                _("account_ids[%(number)d]: %(account_id)s is given twice.")
                % {"number": number, "account_id": text}
            )
        else:
            wanted.append(text)
    if problems:
        raise Rejected(problems)
    found = Account.objects.in_bulk(wanted, field_name="account_id")
    unknown = [account_id for account_id in wanted if account_id not in found]
    if unknown:
        raise Rejected(
            [
                _("account_ids: no account has the Account ID %(account_ids)s.")
                % {"account_ids": ", ".join(unknown)}
            ]
        )
    return [found[account_id] for account_id in wanted]


def _owners(entitlement: Entitlement, accounts: list[Account]) -> Owners:
    rows = list(entitlement.entitlement_accounts.select_related("account").order_by("id"))
    before = [(row.account, row.role) for row in rows]
    after = []
    for number, account in enumerate(accounts):
        if number == 0:
            after.append((account, AccountRole.END_CUSTOMER.value))
            continue
        kept = [
            row.role
            for row in rows
            if row.account_id == account.pk and row.role != AccountRole.END_CUSTOMER
        ]
        after += [(account, role) for role in kept or [AccountRole.PARTNER.value]]
    keys_after = {(account.pk, role) for account, role in after}
    keys_before = {(row.account_id, row.role) for row in rows}
    return Owners(
        before=before,
        after=after,
        ended=[row for row in rows if (row.account_id, row.role) not in keys_after],
        added=[(account, role) for account, role in after if (account.pk, role) not in keys_before],
    )


def _refuse_unless_live(entitlement: Entitlement, message: str) -> None:
    # Suspended is refused too: a suspension stops the code and keys being handed out,
    # and a transfer or split hands a code out. Reinstate first, then move it.
    if entitlement.revoked_at or entitlement.suspended_at:
        raise Rejected([message % {"ssrn": entitlement.ssrn, "status": _status_label(entitlement)}])


def transfer_plan(*, entitlement: Entitlement, accounts: list[Account]) -> Owners:
    """What a transfer of `entitlement` to `accounts` would do, or Rejected saying why not.
    Writes nothing (the admin's preview shows it; the service acts on it)."""
    _refuse_unless_live(
        entitlement, _("The entitlement %(ssrn)s is %(status)s: it cannot be transferred.")
    )
    owners = _owners(entitlement, accounts)
    if not owners.ended and not owners.added:
        raise Rejected(
            [
                _("account_ids: %(ssrn)s already belongs to these accounts in these roles.")
                % {"ssrn": entitlement.ssrn}
            ]
        )
    return owners


def split_plan(*, entitlement: Entitlement, quantity, accounts: list[Account]) -> SplitPlan:
    """What splitting `quantity` seats of `entitlement` off to `accounts` would do, or
    Rejected saying why not. Writes nothing. The seats in use are counted as they stand:
    the service counts them again under the entitlement's lock."""
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise Rejected([_("quantity: a whole number of seats.")])
    _refuse_unless_live(
        entitlement, _("The entitlement %(ssrn)s is %(status)s: it cannot be split.")
    )
    if entitlement.product.delivery_method != DeliveryMethod.JAL:
        raise Rejected(
            [
                _(
                    "The entitlement %(ssrn)s is delivered as “%(method)s”: only an "
                    "entitlement activated on devices is split."
                )
                % {
                    "ssrn": entitlement.ssrn,
                    "method": entitlement.product.get_delivery_method_display(),
                }
            ]
        )
    used = entitlement.activations.filter(revoked_at__isnull=True).count() * SEATS_PER_DEVICE
    free = entitlement.quantity - used
    if quantity < 1 or quantity >= entitlement.quantity:
        raise Rejected(
            [
                _("quantity: from 1 to %(most)d (%(ssrn)s has %(quantity)d seats and keeps one).")
                % {
                    "most": entitlement.quantity - 1,
                    "ssrn": entitlement.ssrn,
                    "quantity": entitlement.quantity,
                }
            ]
        )
    if quantity > free:
        raise Rejected(
            [
                _(
                    "quantity: %(free)d of the %(quantity)d seats of %(ssrn)s are free (%(used)d "
                    "in use by activated devices): revoke activations to split off more."
                )
                % {
                    "free": free,
                    "quantity": entitlement.quantity,
                    "ssrn": entitlement.ssrn,
                    "used": used,
                }
            ]
        )
    owners = _owners(entitlement, accounts)
    owners.ended, owners.added = [], owners.after
    return SplitPlan(
        source=entitlement,
        quantity=quantity,
        remaining=entitlement.quantity - quantity,
        seats_used=used,
        owners=owners,
    )


def _handover(*, entitlement: Entitlement, certificate: Certificate, action: str, reason: str):
    """Queue the activation code and the certificate to each contact of the entitlement's
    accounts, in the contact's language. The code is not in the row: the email is written
    once the certificate is rendered, and only for a contact who still sees the
    entitlement (see HandoverEmails)."""
    contacts = entitlement_contacts(entitlement)
    for contact in contacts:
        delivery_queue(
            kind=DeliveryKind.ENTITLEMENT_HANDOVER,
            topic=topic("entitlement", entitlement.pk),
            about=entitlement.ssrn,
            recipient=contact.user.email,
            language=contact.language,
            payload={
                "name": contact.user.name,
                "contact_id": contact.pk,
                "certificate_version": certificate.version,
                "action": action,
                "reason": reason,
            },
        )
    return contacts


def _new_code(entitlement: Entitlement) -> None:
    code = codes.new_activation_code()
    entitlement.activation_code_digest = sealing.code_digest(code)
    entitlement.activation_code_sealed = sealing.seal(code)


@transaction.atomic
def entitlement_transfer(*, entitlement_id: int, account_ids, reason: str, actor) -> Entitlement:
    """Give the entitlement to the accounts of `account_ids` (the first is the end
    customer), with a new activation code. The accounts that lose it keep a history row;
    their contacts stop seeing it at once and are told why, without the new code; the
    contacts of the accounts that now own it get the code and the new certificate.

    One transaction under the entitlement's row lock. Refused (nothing written) when it is
    revoked or suspended, an Account ID is unknown, or nothing would change. Not idempotent
    by design: each transfer mints a new code (a repeat of the same transfer is refused).
    """
    reason = reason_clean(reason)
    accounts = accounts_parse(account_ids)
    entitlement = _locked(entitlement_id)
    owners = transfer_plan(entitlement=entitlement, accounts=accounts)
    # The calendar's untold moves come first in the feed, as for the other actions.
    entitlement_calendar_changes(entitlements=[entitlement], today=business_today())
    now = timezone.now()
    EntitlementAccountHistory.objects.bulk_create(
        EntitlementAccountHistory(
            entitlement=entitlement,
            account=row.account,
            role=row.role,
            since=row.since or entitlement.created_at,
            until=now,
            reason=reason,
        )
        for row in owners.ended
    )
    EntitlementAccount.objects.filter(pk__in=[row.pk for row in owners.ended]).delete()
    EntitlementAccount.objects.bulk_create(
        EntitlementAccount(
            entitlement=entitlement,
            product_id=entitlement.product_id,
            account=account,
            role=role,
            since=now,
        )
        for account, role in owners.added
    )
    _new_code(entitlement)
    entitlement.transferred_at = now
    entitlement.save(
        update_fields=[
            "activation_code_digest",
            "activation_code_sealed",
            "transferred_at",
            "feed_status",
            "updated_at",
        ]
    )
    audit_event_record(
        actor=actor,
        action="entitlement.transferred",
        target=entitlement,
        message=reason,
        data={
            "reason": reason,
            "accounts": {
                "old": Owners.described(owners.before),
                "new": Owners.described(owners.after),
            },
            "activation_code": "replaced",
        },
    )
    # The reason and the accounts that own it now; never the previous ones: customers read
    # the feed, and the previous owners are not theirs to know.
    entitlement_changes_record(
        entitlements=[entitlement],
        kind=ChangeKind.TRANSFERRED,
        data={"reason": reason, "account_ids": [account.account_id for account in accounts]},
    )
    certificate = certificate_reissue(
        entitlement=entitlement,
        actor=actor,
        reason=("transferred to " + ", ".join(account.account_id for account in accounts))[:200],
    )
    told = _handover(
        entitlement=entitlement, certificate=certificate, action="transferred", reason=reason
    )
    left = {row.account_id for row in owners.ended}
    lifecycle_notices_queue(
        entitlement=entitlement,
        contacts=[contact for contact in account_contacts(left) if contact not in told],
        action="transferred",
        reason=reason,
    )
    return entitlement


@transaction.atomic
def entitlement_split(
    *, entitlement_id: int, quantity, account_ids, reason: str, actor
) -> Entitlement:
    """Move `quantity` seats of the entitlement to a new entitlement of the accounts of
    `account_ids` (the first is its end customer), with its own SSRN and activation code,
    the same product, dates and terms (so its subscription timer is the source's), and
    return it. The source keeps its activations and the rest of its seats.

    One transaction under the source's row lock, which activations take too: the free
    seats are counted under it, so a split never leaves more live activations than seats.
    Refused (nothing written) unless 1 <= quantity < the source's quantity and quantity <=
    its free seats, or when it is revoked, suspended or not activated on devices.
    """
    reason = reason_clean(reason)
    accounts = accounts_parse(account_ids)
    source = _locked(entitlement_id)
    plan = split_plan(entitlement=source, quantity=quantity, accounts=accounts)
    today = business_today()
    entitlement_calendar_changes(entitlements=[source], today=today)
    now = timezone.now()
    code = codes.new_activation_code()
    split = Entitlement.objects.create(
        ssrn=codes.new_ssrn(),
        activation_code_digest=sealing.code_digest(code),
        activation_code_sealed=sealing.seal(code),
        product=source.product,
        order_line=source.order_line,
        split_from=source,
        quantity=quantity,
        starts_on=source.starts_on,
        term_ends_on=source.term_ends_on,
        grace_ends_on=source.grace_ends_on,
        feed_status=source.status_on(today),
    )
    Term.objects.bulk_create(
        Term(
            entitlement=split,
            sequence=term.sequence,
            kind=term.kind,
            order_line_id=term.order_line_id,
            starts_on=term.starts_on,
            ends_on=term.ends_on,
            grace_ends_on=term.grace_ends_on,
            copied_from=term.copied_from or term,  # a split of a split: the first term
        )
        for term in source.terms.select_related("copied_from").order_by("sequence")
    )
    EntitlementAccount.objects.bulk_create(
        EntitlementAccount(
            entitlement=split, product_id=split.product_id, account=account, role=role, since=now
        )
        for account, role in plan.owners.after
    )
    certificate = Certificate.objects.create(
        entitlement=split,
        language=source.order_line.order.language,
        reason=f"split from {source.ssrn}",
    )
    transaction.on_commit(lambda: _render_later(certificate.pk))
    source.quantity = plan.remaining
    source.save(update_fields=["quantity", "feed_status", "updated_at"])
    data = {
        "reason": reason,
        "quantity": {"old": plan.remaining + quantity, "new": plan.remaining},
        "new_ssrn": split.ssrn,
        "new_quantity": quantity,
        "account_ids": [account.account_id for account in accounts],
    }
    audit_event_record(
        actor=actor, action="entitlement.split", target=source, message=reason, data=data
    )
    audit_event_record(
        actor=actor,
        action="entitlement.split_created",
        target=split,
        message=reason,
        data={**data, "split_from": source.ssrn},
    )
    entitlement_changes_record(
        entitlements=[source],
        kind=ChangeKind.SPLIT,
        # Not "ssrn" nor "quantity": a webhook event's data names its own entitlement's.
        data={"reason": reason, "seats_moved": quantity, "new_ssrn": split.ssrn},
    )
    entitlement_changes_record(
        entitlements=[split], kind=ChangeKind.CREATED, data={"split_from": source.ssrn}
    )
    # The source's certificate prints its quantity.
    certificate_reissue(
        entitlement=source, actor=actor, reason=f"{quantity} seat(s) split off to {split.ssrn}"
    )
    _handover(entitlement=split, certificate=certificate, action="split", reason=reason)
    lifecycle_notices_queue(
        entitlement=source,
        contacts=entitlement_contacts(source),
        action="split",
        reason=reason,
        quantity=quantity,
        remaining=plan.remaining,
        new_ssrn=split.ssrn,
    )
    return split

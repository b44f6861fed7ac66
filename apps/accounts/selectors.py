from apps.accounts.models import Account, Contact


def associated_contact_emails(*, contact_ids) -> dict[str, str]:
    """The login address of each of these contacts that is associated with an account, by
    Contact ID: whoever controls that address controls what the contact sees."""
    return dict(
        Contact.objects.filter(contact_id__in=set(contact_ids), associations__isnull=False)
        .distinct()
        .values_list("contact_id", "user__email")
    )


def unknown_account_ids(account_ids) -> list[str]:
    """Those of these Account IDs that name no account, in the order given."""
    known = set(
        Account.objects.filter(account_id__in=set(account_ids)).values_list("account_id", flat=True)
    )
    return [account_id for account_id in dict.fromkeys(account_ids) if account_id not in known]

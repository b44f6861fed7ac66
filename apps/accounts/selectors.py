from apps.accounts.models import Contact


def associated_contact_emails(*, contact_ids) -> dict[str, str]:
    """The login address of each of these contacts that is associated with an account, by
    Contact ID: whoever controls that address controls what the contact sees."""
    return dict(
        Contact.objects.filter(contact_id__in=set(contact_ids), associations__isnull=False)
        .distinct()
        .values_list("contact_id", "user__email")
    )

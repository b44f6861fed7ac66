"""Upcoming expiries by account, for Customer Care (admin page /admin/upcoming-expiries/)."""

import datetime
from collections import defaultdict

from django.db.models import Prefetch

from apps.entitlements.models import Entitlement, EntitlementAccount
from apps.notifications.models import Reminder


def upcoming_expiries_by_account(*, today: datetime.date, within_days: int) -> list[dict]:
    """Subscriptions whose current term ends in the next `within_days` days, grouped by the
    accounts that see them, each with the reminders already sent about that term."""
    entitlements = list(
        Entitlement.objects.filter(
            revoked_at__isnull=True,
            term_ends_on__gte=today,
            term_ends_on__lte=today + datetime.timedelta(days=within_days),
        )
        .select_related("product")
        .prefetch_related(
            Prefetch("entitlement_accounts", EntitlementAccount.objects.select_related("account")),
            Prefetch("terms__reminders", Reminder.objects.order_by("created_at")),
        )
        .order_by("term_ends_on", "ssrn")
    )
    accounts: dict = defaultdict(list)
    for entitlement in entitlements:
        current = max(entitlement.terms.all(), key=lambda term: term.sequence, default=None)
        reminders = list(current.reminders.all()) if current else []
        row = {
            "entitlement": entitlement,
            "days_left": (entitlement.term_ends_on - today).days,
            "reminders": sorted(
                {(r.window, r.created_at.date()) for r in reminders}, key=lambda x: x[1]
            ),
        }
        for account in {role.account for role in entitlement.entitlement_accounts.all()}:
            accounts[account].append(row)
    return [
        {"account": account, "rows": rows}
        for account, rows in sorted(accounts.items(), key=lambda item: item[0].account_id)
    ]

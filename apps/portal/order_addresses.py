"""What an order address sees, and its session.

An order address (an email address on a sales order that is not a contact's login) signs
in with a sign-in link (sign_in_links.py). Its session holds no login: Django's user stays
anonymous, so every page, download and API call that asks for a login refuses it as it
refuses anyone else, and only the pages of address_views.py read the address. It sees the
entitlements that the lines of its orders made, looked up again on every request, so an
address taken off an order loses them on the next one.
"""

import datetime

from django.conf import settings
from django.db.models import Count, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.accounts.models import Account
from apps.core.middleware import staff_session_expiry_set
from apps.entitlements.models import Activation, Entitlement, EntitlementAccount
from apps.orders.models import OrderEmail

SESSION_KEY = "portal_order_address"


def address_normalised(email: str) -> str:
    """Addresses compare in lower case (order addresses are unique per order so)."""
    return email.strip().lower()


# --- What it sees -------------------------------------------------------------------------


def entitlements_of_order_address(*, email: str) -> QuerySet[Entitlement]:
    """The entitlements made by the lines of every order that has `email` (any case) as an
    address. A renewal order's address does not see the entitlement its line renewed: the
    renewal's email never carried that entitlement's activation code, nor does this. Nor does
    it see one transferred since (it has a new code, for its new accounts only) or seats split
    off to a new entitlement (transfers.py)."""
    orders = OrderEmail.objects.filter(email__lower=address_normalised(email)).values("order_id")
    return Entitlement.objects.filter(
        order_line__order_id__in=orders, transferred_at__isnull=True, split_from__isnull=True
    )


def _seats_used() -> Subquery:
    live = (
        Activation.objects.filter(entitlement=OuterRef("pk"), revoked_at__isnull=True)
        .order_by()
        .values("entitlement")
        .annotate(used=Count("pk"))
        .values("used")
    )
    return Coalesce(Subquery(live, output_field=IntegerField()), Value(0))


def entitlement_list_for_order_address(*, email: str, today: datetime.date) -> QuerySet:
    """The address's entitlements, newest first, with what the list shows of each loaded in
    a fixed number of queries."""
    return (
        entitlements_of_order_address(email=email)
        .with_status(today)
        .annotate(seats_used=_seats_used())
        .order_by("-starts_on", "-pk")
        .select_related("product", "order_line__order")
        .prefetch_related(
            Prefetch(
                "entitlement_accounts",
                queryset=EntitlementAccount.objects.select_related("account").order_by("role"),
            )
        )
    )


def accounts_of_order_address(*, email: str) -> QuerySet[Account]:
    """The accounts its entitlements name (as their pages show): those it may ask to see."""
    return Account.objects.filter(
        pk__in=EntitlementAccount.objects.filter(
            entitlement__in=entitlements_of_order_address(email=email)
        ).values("account_id")
    ).order_by("account_id")


# --- Its session --------------------------------------------------------------------------


def order_address_session_start(*, request, email: str) -> datetime.datetime:
    """Sign the browser in as `email`: whoever was signed in is signed out, the session
    gets a new key (a key fixed beforehand by someone else is worth nothing), and it ends
    ORDER_ADDRESS_SESSION_AGE seconds from now, however busy it is."""
    request.session.flush()
    until = timezone.now() + datetime.timedelta(seconds=settings.ORDER_ADDRESS_SESSION_AGE)
    request.session[SESSION_KEY] = {"email": address_normalised(email), "until": until.isoformat()}
    request.session.set_expiry(until)
    return until


def order_address_of(request) -> str | None:
    """The order address this browser signed in as, or None (none, a login instead, or its
    time is up: the session then ends)."""
    if request.user.is_authenticated:
        return None
    data = request.session.get(SESSION_KEY)
    if not isinstance(data, dict):
        return None
    try:
        until = datetime.datetime.fromisoformat(data["until"])
        email = str(data["email"])
    except (KeyError, TypeError, ValueError):
        return None
    if until <= timezone.now():
        request.session.flush()
        return None
    return email


def order_address_session_end(sender, request=None, user=None, **kwargs):
    """`user_logged_in` receiver: a password sign-in in the same browser ends the address's
    session, and its short end with it (a staff login's own end is set again)."""
    session = getattr(request, "session", None)
    if session is not None and session.pop(SESSION_KEY, None) is not None:
        session.set_expiry(None)
        if user is not None:
            staff_session_expiry_set(session=session, user=user)

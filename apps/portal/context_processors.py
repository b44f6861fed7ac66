from apps.accounts.customer_admins import is_customer_admin


def customer_admin(request) -> dict:
    """`is_customer_admin` for the portal's navigation. The template calls it, so a page
    that does not show the navigation (the admin's) runs no query for it."""
    user = getattr(request, "user", None)
    return {"is_customer_admin": lambda: user is not None and is_customer_admin(user=user)}

"""The two staff roles, as Django groups. A migration keeps the groups in step.

Customer Care looks after people: accounts, contacts, their associations and access
requests; it reads orders and entitlements to answer questions, revokes activations, moves
them to replacement devices (rehost, RMA: directly or by deciding a portal user's request),
and suspends, reinstates, revokes, transfers and splits entitlements.
Operations looks after the flow: orders and their lines, the catalog and the legacy key
pools.
"""

VIEW = ("view",)
ALL = ("view", "add", "change", "delete")

CUSTOMER_CARE = "Customer Care"
OPERATIONS = "Operations"

ROLES: dict[str, dict[str, tuple[str, ...]]] = {
    CUSTOMER_CARE: {
        "accounts.account": ("view", "add", "change"),
        "accounts.contact": ("view", "add", "change"),
        "accounts.accountassociation": ALL,
        "accounts.historicalaccountassociation": VIEW,
        "accounts.accessrequest": ("view", "change"),
        "catalog.product": VIEW,
        "orders.salesorder": VIEW,
        "orders.orderaccount": VIEW,
        "orders.orderemail": VIEW,
        "orders.orderline": VIEW,
        "entitlements.entitlement": (
            "view",
            "view_activation_code",
            "reissue_certificate",
            "suspend_entitlement",
            "revoke_entitlement",
            "transfer_entitlement",
        ),
        "entitlements.entitlementaccount": VIEW,
        "entitlements.entitlementaccounthistory": VIEW,
        "entitlements.activation": ("view", "revoke_activation", "rehost_activation"),
        "entitlements.rehostrequest": ("view", "change"),
        "entitlements.certificate": VIEW,
        "orders.shipment": VIEW,
        "outbox.delivery": ("view", "change"),
        # Customers' own endpoints, registered for their accounts.
        "outbox.webhookendpoint": ALL,
        "core.auditevent": VIEW,
    },
    OPERATIONS: {
        "accounts.account": VIEW,
        "accounts.contact": VIEW,
        "accounts.accessrequest": VIEW,
        "catalog.product": ALL,
        "orders.salesorder": ALL,
        "orders.orderaccount": ALL,
        "orders.orderemail": ALL,
        "orders.orderline": ("view", "add", "change"),
        "entitlements.entitlement": ("view", "reissue_certificate", "record_paper_delivery"),
        "entitlements.entitlementaccount": VIEW,
        "entitlements.entitlementaccounthistory": VIEW,
        "entitlements.activation": VIEW,
        "entitlements.certificate": ("view", "change"),
        "orders.shipment": VIEW,
        "outbox.delivery": ("view", "change"),
        # The ERP's endpoints.
        "outbox.webhookendpoint": ALL,
        "lms.legacykey": ALL,
        "core.auditevent": VIEW,
    },
}


def _codename(model: str, action: str) -> str:
    # Custom permissions are named in full ("view_activation_code"); the default four by verb.
    return action if "_" in action else f"{action}_{model}"


def role_groups_sync(apps) -> None:
    """Give each role's group exactly its permissions. Idempotent; takes a migration's
    app registry so a migration can call it."""
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after the last migration; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, grants in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = Permission.objects.none()
        for label, actions in grants.items():
            app_label, model = label.split(".")
            # A model or permission that a later migration brings is granted by the
            # migration that syncs the roles after it.
            wanted |= Permission.objects.filter(
                content_type__app_label=app_label,
                content_type__model=model,
                codename__in=[_codename(model, action) for action in actions],
            )
        group.permissions.set(wanted)

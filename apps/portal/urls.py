from django.urls import path

import apps.core.converters  # noqa: F401  (registers <key:...>)
from apps.portal import code_holders, customer_admin, views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("entitlements/", views.entitlement_list, name="entitlements"),
    path("entitlements/<key:ssrn>/", views.entitlement_detail, name="entitlement"),
    path(
        "entitlements/<key:ssrn>/certificate/",
        views.certificate_download,
        name="certificate",
    ),
    path("entitlements/<key:ssrn>/activate/", views.entitlement_activate, name="activate"),
    path("entitlements/<key:ssrn>/keys/", views.license_keys_download, name="keys"),
    path("entitlements/<key:ssrn>/keys/email/", views.license_keys_email, name="keys-email"),
    path("activate/", code_holders.activate_with_code, name="activate-with-code"),
    path("legacy-keys/", code_holders.legacy_key_retrieval, name="legacy-keys"),
    path("access/", views.access_requests, name="access"),
    path("customer-admin/", customer_admin.overview, name="customer-admin"),
    path(
        "customer-admin/requests/<int:pk>/decide/",
        customer_admin.decide,
        name="customer-admin-decide",
    ),
    path(
        "customer-admin/associations/<int:pk>/remove/",
        customer_admin.remove,
        name="customer-admin-remove",
    ),
    path("language/", views.language, name="language"),
]

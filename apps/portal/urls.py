from django.urls import path

import apps.core.converters  # noqa: F401  (registers <key:...>)
from apps.portal import address_views, code_holders, customer_admin, views

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
    path(
        "entitlements/<key:ssrn>/activations/<int:activation_id>/rehost/",
        views.rehost_request,
        name="rehost-request",
    ),
    path("entitlements/<key:ssrn>/keys/", views.license_keys_download, name="keys"),
    path("entitlements/<key:ssrn>/keys/email/", views.license_keys_email, name="keys-email"),
    path("seats/", views.seats, name="seats"),
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

# Sign-in links and the pages of the order addresses they sign in (address_views.py).
urlpatterns += [
    path("sign-in-link/ask/", address_views.sign_in_link_ask, name="sign-in-link-ask"),
    path("sign-in-link/sent/", address_views.sign_in_link_sent, name="sign-in-link-sent"),
    path("sign-in-link/", address_views.sign_in_link_landing, name="sign-in-link"),
    path(
        "order-address/entitlements/",
        address_views.address_entitlements,
        name="address-entitlements",
    ),
    path(
        "order-address/entitlements/<key:ssrn>/",
        address_views.address_entitlement,
        name="address-entitlement",
    ),
    path(
        "order-address/entitlements/<key:ssrn>/certificate/",
        address_views.address_certificate,
        name="address-certificate",
    ),
    path(
        "order-address/entitlements/<key:ssrn>/keys/",
        address_views.address_keys,
        name="address-keys",
    ),
    path("order-address/access/", address_views.address_access, name="address-access"),
    path("order-address/sign-out/", address_views.address_sign_out, name="address-sign-out"),
]

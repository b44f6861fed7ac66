from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import path, re_path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

import apps.core.converters  # noqa: F401  (registers <key:...>)
from apps.api import views, webhook_views


class LineActionConverter:
    regex = "hold|release|cancel"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


register_converter(LineActionConverter, "line_action")


class EntitlementActionConverter(LineActionConverter):
    regex = "suspend|reinstate|revoke"


register_converter(EntitlementActionConverter, "entitlement_action")

app_name = "api"

urlpatterns = [
    path("v1/orders/", views.OrdersView.as_view(), name="orders"),
    path("v1/orders/<key:order_number>/", views.OrderDetailView.as_view(), name="order"),
    path(
        "v1/orders/<key:order_number>/lines/<int:line_number>/",
        views.OrderLineView.as_view(),
        name="order-line",
    ),
    path(
        "v1/orders/<key:order_number>/lines/<int:line_number>/<line_action:action>/",
        views.OrderLineActionView.as_view(),
        name="order-line-action",
    ),
    path("v1/entitlements/", views.EntitlementsView.as_view(), name="entitlements"),
    path("v1/entitlements/<key:ssrn>/", views.EntitlementDetailView.as_view(), name="entitlement"),
    path(
        "v1/entitlements/<key:ssrn>/<entitlement_action:action>/",
        views.EntitlementActionView.as_view(),
        name="entitlement-action",
    ),
    path(
        "v1/entitlements/<key:ssrn>/transfer/",
        views.EntitlementTransferView.as_view(),
        name="entitlement-transfer",
    ),
    path(
        "v1/entitlements/<key:ssrn>/split/",
        views.EntitlementSplitView.as_view(),
        name="entitlement-split",
    ),
    path(
        "v1/entitlements/<key:ssrn>/rehost/",
        views.EntitlementRehostView.as_view(),
        name="entitlement-rehost",
    ),
    path(
        "v1/entitlement-changes/",
        views.EntitlementChangesView.as_view(),
        name="entitlement-changes",
    ),
    path("v1/products/", views.ProductsView.as_view(), name="products"),
    path("v1/accounts/", views.AccountsView.as_view(), name="accounts"),
    path(
        "v1/webhook-endpoints/",
        webhook_views.WebhookEndpointsView.as_view(),
        name="webhook-endpoints",
    ),
    path(
        "v1/webhook-endpoints/<int:endpoint_id>/",
        webhook_views.WebhookEndpointDetailView.as_view(),
        name="webhook-endpoint",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "docs/",
        # Redoc styles its page with <style> elements it writes, and searches in a worker it
        # makes from a blob: this page allows both (its scripts still come from this site only).
        csp_update({"style-src": [UNSAFE_INLINE], "worker-src": [SELF, "blob:"]})(
            SpectacularRedocView.as_view(url_name="api:schema")
        ),
        name="docs",
    ),
    re_path(r"^v1/", views.NotFoundView.as_view()),
]

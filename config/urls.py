from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

import apps.core.converters  # noqa: F401  (registers <key:...>)
from apps.backoffice.metrics import metrics_view
from apps.core.views import healthz
from apps.entitlements.views import (
    entitlement_verify,
    license_key_refresh_view,
    license_key_revocations,
    license_public_keys,
)
from apps.outbox.views import mailgun_tracking_webhook
from apps.portal.password_reset import PasswordResetConfirmView, PasswordResetView

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/", include("apps.api.urls")),
    # Only Mailgun's tracking webhook, which checks the ESP's signature: anymail's other
    # webhooks would take unsigned events from anyone unless basic auth is configured.
    path(
        "anymail/mailgun/tracking/",
        mailgun_tracking_webhook,
        name="anymail-mailgun-tracking",
    ),
    path("verify/<key:ssrn>/", entitlement_verify, name="entitlement-verify"),
    path(
        ".well-known/keyship-license-keys.json",
        license_public_keys,
        name="license-public-keys",
    ),
    path(
        ".well-known/keyship-license-key-revocations.json",
        license_key_revocations,
        name="license-key-revocations",
    ),
    # For devices, with their key as the credential (apps/entitlements/key_refresh.py).
    path("license-keys/refresh/", license_key_refresh_view, name="license-key-refresh"),
    path(
        "account/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path(
        "account/password_reset/",
        PasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "account/reset/<uidb64>/<token>/",
        PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("account/", include("django.contrib.auth.urls")),
    path("", include("apps.portal.urls")),
]

if settings.DEBUG:
    from apps.outbox.demo import demo_webhook_receiver

    # The demo's webhook endpoint (`make run`): it writes what it receives to var/webhooks/.
    urlpatterns.insert(0, path("demo/webhooks/", demo_webhook_receiver, name="demo-webhooks"))

from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from apps.core.views import healthz
from apps.entitlements.views import entitlement_verify

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("verify/<str:ssrn>/", entitlement_verify, name="entitlement-verify"),
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
]

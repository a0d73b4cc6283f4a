from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from copytrade.apis import WebhookApi
from core.apis import MeApi, TokenObtainApi, TokenRevokeApi, admin_login, healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # Before admin's own URLs: the same login view, with attempts throttled.
    path("admin/login/", admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
    path("api/auth/token/", TokenObtainApi.as_view(), name="auth-token"),
    path("api/auth/me/", MeApi.as_view(), name="auth-me"),
    path("api/auth/token/revoke/", TokenRevokeApi.as_view(), name="auth-token-revoke"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/exchange-accounts/", include("exchanges.urls")),
    path("webhook", WebhookApi.as_view(), name="webhook"),
    path("api/", include("copytrade.urls")),
    # The leaderboard is marketplace's (it ranks on audited metrics), under seed 000's prefix.
    path("api/copy-trading/", include("marketplace.urls_leaderboard")),
    # Payouts are billing's, under the marketplace prefix of seed 001.
    path("api/marketplace/payouts/", include("billing.urls_payouts")),
    path("api/marketplace/", include("marketplace.urls")),
    path("api/notifications/", include("core.urls")),
    path("api/billing/", include("billing.urls")),
]

handler404 = "core.apis.not_found"

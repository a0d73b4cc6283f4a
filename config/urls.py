from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from config.metrics import metrics_view
from copytrade.apis import WebhookApi
from core.apis import AuditEntryListApi, MeApi, TokenObtainApi, TokenRevokeAllApi, TokenRevokeApi, admin_login, healthz

# The API docs load only what we serve (drf-spectacular-sidecar's files): Redoc's bundle still
# links its logo from a CDN, and under this policy a browser never sends that request.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; font-src 'self' data:; worker-src 'self' blob:"
)


def same_origin_only(view):
    def docs_view(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
        return response

    return docs_view


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # Prometheus: closed to the public (config/metrics.py), outside the API and its schema.
    path("metrics", metrics_view, name="metrics"),
    # Before admin's own URLs: the same login view, with attempts throttled.
    path("admin/login/", admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
    path("api/auth/token/", TokenObtainApi.as_view(), name="auth-token"),
    path("api/auth/me/", MeApi.as_view(), name="auth-me"),
    path("api/auth/token/revoke/", TokenRevokeApi.as_view(), name="auth-token-revoke"),
    path("api/auth/token/revoke-all/", TokenRevokeAllApi.as_view(), name="auth-token-revoke-all"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file, not inline (a CSP can forbid inline scripts).
    path("api/docs/", same_origin_only(SpectacularSwaggerSplitView.as_view(url_name="schema")), name="swagger-ui"),
    # Redoc's own template loads Google Fonts; ours does not (config/templates/api_docs/redoc.html).
    path(
        "api/redoc/",
        same_origin_only(SpectacularRedocView.as_view(url_name="schema", template_name="api_docs/redoc.html")),
        name="redoc",
    ),
    path("api/exchange-accounts/", include("exchanges.urls")),
    path("webhook", WebhookApi.as_view(), name="webhook"),
    # A follower's copies with their fees and net results are billing's (the fees are), under seed 000's prefix.
    path("api/copy-trading/", include("billing.urls_copies")),
    path("api/", include("copytrade.urls")),
    # The leaderboard is marketplace's (it ranks on audited metrics), under seed 000's prefix.
    path("api/copy-trading/", include("marketplace.urls_leaderboard")),
    # Payouts are billing's, under the marketplace prefix of seed 001.
    path("api/marketplace/payouts/", include("billing.urls_payouts")),
    path("api/marketplace/", include("marketplace.urls")),
    path("api/notifications/", include("core.urls")),
    path("api/audit/", AuditEntryListApi.as_view(), name="audit-entries"),
    path("api/billing/", include("billing.urls")),
    path("accounts/", include("allauth.urls")),
    # The pages last: everything above keeps its paths.
    path("", include("web.urls")),
]

handler400 = "core.apis.bad_request"
handler404 = "core.apis.not_found"
handler500 = "core.database.server_error"

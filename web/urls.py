from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView

from web import views

app_name = "web"

urlpatterns = [
    path("", views.leaderboard, name="leaderboard"),
    # Browsers ask for /favicon.ico on pages that name no icon (admin, API pages).
    path("favicon.ico", RedirectView.as_view(url=static("web/favicon.svg"), permanent=True), name="favicon"),
    path("leaders/<int:strategy_id>/", views.leader_profile, name="leader"),
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/unread-count/", views.notification_unread_badge, name="notifications-unread-count"),
    path("notifications/read-all/", views.notification_read_all, name="notifications-read-all"),
    path("notifications/<int:notification_id>/read/", views.notification_read, name="notification-read"),
    path("settings/tokens/", views.api_token_list, name="api-tokens"),
    path("settings/tokens/<int:token_id>/revoke/", views.api_token_revoke, name="api-token-revoke"),
    path("settings/exchange-accounts/", views.exchange_account_list, name="exchange-accounts"),
    path("settings/exchange-accounts/<int:account_id>/delete/", views.exchange_account_delete, name="exchange-account-delete"),
]

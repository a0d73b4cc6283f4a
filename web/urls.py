from django.urls import path

from web import views

app_name = "web"

urlpatterns = [
    path("", views.show_leaderboard, name="leaderboard"),
    # Browsers ask for /favicon.ico on pages that name no icon (admin, API pages).
    path("favicon.ico", views.show_favicon, name="favicon"),
    path("leaders/<int:strategy_id>/", views.show_leader, name="leader"),
    path("notifications/", views.show_notifications, name="notifications"),
    path("notifications/unread-count/", views.show_unread_badge, name="notifications-unread-count"),
    path("notifications/read-all/", views.mark_all_notifications_read, name="notifications-read-all"),
    path("notifications/<int:notification_id>/read/", views.mark_notification_read, name="notification-read"),
    path("settings/tokens/", views.manage_api_tokens, name="api-tokens"),
    path("settings/tokens/<int:token_id>/revoke/", views.revoke_api_token, name="api-token-revoke"),
    path("settings/tokens/revoke-all/", views.revoke_all_api_tokens, name="api-tokens-revoke-all"),
    path("settings/exchange-accounts/", views.manage_exchange_accounts, name="exchange-accounts"),
    path("settings/exchange-accounts/<int:account_id>/delete/", views.delete_exchange_account, name="exchange-account-delete"),
]

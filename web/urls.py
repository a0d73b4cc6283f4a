from django.urls import path

from web import views, views_follower, views_leader

app_name = "web"

urlpatterns = [
    path("", views.show_leaderboard, name="leaderboard"),
    # Browsers ask for /favicon.ico on pages that name no icon (admin, API pages).
    path("favicon.ico", views.show_favicon, name="favicon"),
    path("leaders/<id:strategy_id>/", views.show_leader, name="leader"),
    path("leaders/<id:strategy_id>/rate/", views.rate_leader, name="leader-rate"),
    path("leaders/<id:strategy_id>/copy/", views_follower.start_copy, name="copy-start"),
    path("leaders/<id:strategy_id>/copy/preview/", views_follower.preview_copy, name="copy-preview"),
    path("copies/", views_follower.show_my_copies, name="my-copies"),
    path("copies/<id:copy_id>/", views_follower.show_copy, name="copy"),
    path("copies/<id:copy_id>/pause/", views_follower.pause_copy, name="copy-pause"),
    path("copies/<id:copy_id>/resume/", views_follower.resume_copy, name="copy-resume"),
    path("copies/<id:copy_id>/stop/", views_follower.stop_copy, name="copy-stop"),
    path("copies/<id:copy_id>/drift-policy/", views_follower.set_copy_drift_policy, name="copy-drift-policy"),
    path("copies/<id:copy_id>/settings/", views_follower.edit_copy, name="copy-settings"),
    path("invoices/", views_follower.show_invoices, name="invoices"),
    path("leader/strategies/", views_leader.manage_strategies, name="strategies"),
    path("leader/strategies/<id:strategy_id>/rotate-secret/", views_leader.rotate_strategy_secret, name="strategy-rotate-secret"),
    path("leader/strategies/<id:strategy_id>/capacity/", views_leader.set_strategy_capacity, name="strategy-capacity"),
    path("leader/strategies/<id:strategy_id>/listing/", views_leader.set_strategy_listing, name="strategy-listing"),
    path(
        "leader/strategies/<id:strategy_id>/recommended-settings/",
        views_leader.set_strategy_recommendation,
        name="strategy-recommendation",
    ),
    path("leader/strategies/<id:strategy_id>/invitations/", views_leader.create_strategy_invitation, name="strategy-invitations"),
    path("leader/invitations/<id:invitation_id>/revoke/", views_leader.revoke_strategy_invitation, name="strategy-invitation-revoke"),
    path("leader/earnings/", views_leader.show_earnings, name="earnings"),
    path("provider/", views_leader.manage_provider, name="provider"),
    path("notifications/", views.show_notifications, name="notifications"),
    path("notifications/unread-count/", views.show_unread_badge, name="notifications-unread-count"),
    path("notifications/read-all/", views.mark_all_notifications_read, name="notifications-read-all"),
    path("notifications/<id:notification_id>/read/", views.mark_notification_read, name="notification-read"),
    path("settings/notifications/", views.manage_notification_preferences, name="notification-preferences"),
    path("settings/tokens/", views.manage_api_tokens, name="api-tokens"),
    path("settings/tokens/<id:token_id>/revoke/", views.revoke_api_token, name="api-token-revoke"),
    path("settings/tokens/revoke-all/", views.revoke_all_api_tokens, name="api-tokens-revoke-all"),
    path("settings/exchange-accounts/", views.manage_exchange_accounts, name="exchange-accounts"),
    path("settings/exchange-accounts/<id:account_id>/delete/", views.delete_exchange_account, name="exchange-account-delete"),
]

from django.urls import path

from marketplace.apis import (
    ProviderApplyApi,
    StrategyCapacityApi,
    StrategyInvitationCreateApi,
    StrategyInvitationRevokeApi,
    StrategyRecommendationApi,
    TraderDetailApi,
    TraderListApi,
    TraderRateApi,
    TraderUpdateMetricsApi,
)

urlpatterns = [
    path("apply", ProviderApplyApi.as_view(), name="marketplace-apply"),
    path("strategies/<id:strategy_id>/capacity", StrategyCapacityApi.as_view(), name="marketplace-strategy-capacity"),
    path(
        "strategies/<id:strategy_id>/recommended-settings",
        StrategyRecommendationApi.as_view(),
        name="marketplace-strategy-recommended-settings",
    ),
    path("strategies/<id:strategy_id>/invitations", StrategyInvitationCreateApi.as_view(), name="marketplace-strategy-invitations"),
    path("invitations/<id:invitation_id>/revoke", StrategyInvitationRevokeApi.as_view(), name="marketplace-invitation-revoke"),
    path("traders", TraderListApi.as_view(), name="marketplace-traders"),
    path("traders/<id:provider_id>", TraderDetailApi.as_view(), name="marketplace-trader"),
    path("traders/<id:provider_id>/rate", TraderRateApi.as_view(), name="marketplace-trader-rate"),
    path("traders/<id:provider_id>/update-metrics", TraderUpdateMetricsApi.as_view(), name="marketplace-trader-update-metrics"),
]

from django.urls import path

from copytrade.apis import (
    CopiedTradesApi,
    CopyPauseApi,
    CopyResumeApi,
    CopyStartApi,
    CopyStopApi,
    CopyUpdateCheckApi,
    StrategyDetailApi,
    StrategyListCreateApi,
    StrategySecretRotateApi,
    StrategyTradesApi,
)

urlpatterns = [
    path("strategies/", StrategyListCreateApi.as_view(), name="strategies"),
    path("strategies/<id:strategy_id>/", StrategyDetailApi.as_view(), name="strategy-detail"),
    path("strategies/<id:strategy_id>/rotate-secret/", StrategySecretRotateApi.as_view(), name="strategy-rotate-secret"),
    path("strategies/<id:strategy_id>/trades/", StrategyTradesApi.as_view(), name="strategy-trades"),
    path("copy-trading/start", CopyStartApi.as_view(), name="copy-start"),
    path("copy-trading/stop", CopyStopApi.as_view(), name="copy-stop"),
    path("copy-trading/pause", CopyPauseApi.as_view(), name="copy-pause"),
    path("copy-trading/resume", CopyResumeApi.as_view(), name="copy-resume"),
    path("copy-trading/copies/<id:copy_id>/check", CopyUpdateCheckApi.as_view(), name="copy-update-check"),
    path("copy-trading/copied-trades", CopiedTradesApi.as_view(), name="copied-trades"),
]

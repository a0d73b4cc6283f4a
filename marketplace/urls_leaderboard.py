from django.urls import path

from marketplace.apis_leaderboard import CopyTopApi, LeaderDetailApi

urlpatterns = [
    path("top", CopyTopApi.as_view(), name="copy-top"),
    path("leader/<id:strategy_id>", LeaderDetailApi.as_view(), name="copy-leader"),
]

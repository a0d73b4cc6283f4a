from django.urls import path

from marketplace.apis_leaderboard import CopyTopApi

urlpatterns = [
    path("top", CopyTopApi.as_view(), name="copy-top"),
    # leader/<id> is served with its copy quality by billing.urls_copies (billing/apis_quality.py).
]

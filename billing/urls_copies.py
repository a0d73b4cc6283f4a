from django.urls import path

from billing.apis_copies import CopyDetailApi, MyCopiesWithResultsApi
from billing.apis_quality import LeaderDetailWithQualityApi

urlpatterns = [
    path("copies/<id:copy_id>", CopyDetailApi.as_view(), name="copy-update"),
    path("my-copies", MyCopiesWithResultsApi.as_view(), name="my-copies"),
    # The leader page's data is marketplace's; its copy quality needs what copiers pay (billing's).
    path("leader/<id:strategy_id>", LeaderDetailWithQualityApi.as_view(), name="copy-leader"),
]

from django.urls import path

from billing.apis_copies import CopyDetailApi, MyCopiesWithResultsApi

urlpatterns = [
    path("copies/<id:relationship_id>", CopyDetailApi.as_view(), name="copy-update"),
    path("my-copies", MyCopiesWithResultsApi.as_view(), name="my-copies"),
]

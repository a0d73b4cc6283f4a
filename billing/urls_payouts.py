from django.urls import path

from billing.apis import PayoutCalculateApi, PayoutCreateApi

urlpatterns = [
    path("calculate", PayoutCalculateApi.as_view(), name="payouts-calculate"),
    path("create", PayoutCreateApi.as_view(), name="payouts-create"),
]

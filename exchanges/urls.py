from django.urls import path

from exchanges.apis import ExchangeAccountDetailApi, ExchangeAccountListCreateApi

urlpatterns = [
    path("", ExchangeAccountListCreateApi.as_view(), name="exchange-accounts"),
    path("<id:account_id>/", ExchangeAccountDetailApi.as_view(), name="exchange-account-detail"),
]

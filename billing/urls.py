from django.urls import path

from billing.apis import EarningsApi, InvoiceListApi, StripeWebhookApi

urlpatterns = [
    path("stripe/webhook", StripeWebhookApi.as_view(), name="billing-stripe-webhook"),
    path("invoices/", InvoiceListApi.as_view(), name="billing-invoices"),
    path("earnings", EarningsApi.as_view(), name="billing-earnings"),
]

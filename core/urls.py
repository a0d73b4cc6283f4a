from django.urls import path

from core.apis import NotificationListApi, NotificationReadAllApi, NotificationReadApi

urlpatterns = [
    path("", NotificationListApi.as_view(), name="notifications"),
    path("read-all", NotificationReadAllApi.as_view(), name="notifications-read-all"),
    path("<id:notification_id>/read", NotificationReadApi.as_view(), name="notification-read"),
]

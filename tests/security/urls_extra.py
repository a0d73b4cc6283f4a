"""The project's URL conf plus one endpoint nobody wrote a rule for (see the matrix test)."""

from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView


class UnruledApi(APIView):
    def get(self, request):
        return Response({})

    def delete(self, request):
        return Response(status=204)


urlpatterns = [
    path("", include("config.urls")),
    path("api/unruled/", UnruledApi.as_view(), name="unruled"),
]

"""The services' domain errors on the pages: "not found" is the 404 page (someone else's
object and a missing one look the same), anything else a 400 page with the message."""

from django.http import Http404
from django.shortcuts import render

from core.errors import ApplicationError, NotFoundError


class ApplicationErrorMiddleware:
    """For plain Django views only: the REST API's views answer their own errors in the
    API's shape before anything reaches a middleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, NotFoundError):
            raise Http404(exception.message) from exception
        if isinstance(exception, ApplicationError):
            return render(request, "web/error.html", {"message": exception.message}, status=exception.status_code)
        return None

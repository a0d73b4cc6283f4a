"""The services' domain errors on the pages: "not found" is the 404 page (someone else's
object and a missing one look the same), anything else a 400 page with the message; and the
admin closed to staff without a second factor where STAFF_REQUIRE_MFA says so."""

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render

from core.errors import ApplicationError, NotFoundError
from core.second_factor import second_factor_enabled


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


class StaffSecondFactorMiddleware:
    """With STAFF_REQUIRE_MFA (production): the admin moves money, so a staff member without
    an authenticator is sent to set one up before any admin page opens."""

    EXEMPT = ("/admin/login/", "/admin/logout/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            settings.STAFF_REQUIRE_MFA
            and request.path.startswith("/admin/")
            and not request.path.startswith(self.EXEMPT)
            and request.user.is_authenticated
            and request.user.is_staff
            and not second_factor_enabled(user=request.user)
        ):
            messages.warning(
                request,
                "The admin moves other people's money: staff must sign in with a second factor. "
                "Set up an authenticator app here, then open the admin again.",
            )
            return redirect("mfa_activate_totp")
        return self.get_response(request)

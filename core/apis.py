"""Endpoints of the bottom layer: API tokens, who am I, notifications, health, the admin
login's throttle and the 404 of the API."""

import redis
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import REDIRECT_FIELD_NAME, authenticate, logout
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_conventions import PageFilterSerializer, Pagination, paginated_response
from core.database import connection_saturation
from core.errors import ApplicationError, ThrottledError
from core.ids import InvalidIdError
from core.models import AuditEntry, Notification
from core.notifications import notification_mark_all_read, notification_mark_read
from core.second_factor import second_factor_enabled, second_factor_require
from core.selectors import audit_entry_list, display_name, notification_list
from core.throttling import ScopedThrottle, client_throttle_take
from core.tokens import api_token_create, api_token_revoke, api_token_revoke_all


def bad_request(request, exception=None):
    """A request Django refused before any view (an id in the path that is not one, a
    suspicious header): the API's error shape under /api/ and /webhook, a page elsewhere.
    Only our own refusal's words are shown; others may name the site's settings."""
    message = str(exception) if isinstance(exception, InvalidIdError) else "The request could not be understood."
    if request.path.startswith(("/api/", "/webhook")):
        return JsonResponse({"message": message, "extra": {}}, status=400)
    return render(request, "400.html", {"message": message}, status=400)


def not_found(request, exception=None):
    """Unknown URLs: the API's error shape under /api/ and /webhook, Django's page elsewhere."""
    from django.views.defaults import page_not_found

    if request.path.startswith(("/api/", "/webhook")):
        return JsonResponse({"message": "Not found.", "extra": {}}, status=404)
    return page_not_found(request, exception)


@never_cache
@require_GET
def healthz(request):
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["postgres"] = "ok"
    except Exception as exc:  # any failure means "down"; the type is in the message
        checks["postgres"] = f"down: {type(exc).__name__}"
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"down: {type(exc).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    if checks["postgres"] == "ok":
        body["connections"] = connection_saturation()
    return JsonResponse(body, status=200 if healthy else 503)


def admin_login(request, extra_context=None):
    """Django admin's login view; password attempts (POST) share the API login's budget
    ("auth") per client address: a guesser cannot switch doors to get more. It asks for a
    password only: an account with two-factor sign-in is signed out again and sent to the
    site's sign-in page, which asks for the code too."""
    if request.method == "POST":
        wait = client_throttle_take(request=request, scope="auth")
        if wait > 0:
            retry_after = ThrottledError(wait).retry_after
            return HttpResponse("Too many login attempts; try again later.", status=429, headers={"Retry-After": str(retry_after)})
    response = admin.site.login(request, extra_context)
    if request.method == "POST" and second_factor_enabled(user=request.user):
        logout(request)
        next_url = request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index")
        if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
            next_url = reverse("admin:index")
        messages.info(request, "This account has two-factor sign-in: sign in here with your password and the code.")
        return redirect(f"{reverse('account_login')}?{urlencode({REDIRECT_FIELD_NAME: next_url})}")
    return response


class TokenObtainApi(APIView):
    """Username + password → a new API token, named after this endpoint, valid for
    API_TOKEN_LIFETIME_DAYS (tokens are also created, listed and revoked on the web page
    /settings/tokens/). The answer carries a secret: no cache may keep it."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [ScopedThrottle]
    throttle_scope = "auth"
    TOKEN_NAME = "POST /api/auth/token/"

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=128, trim_whitespace=False)
        # Required for accounts with two-factor sign-in: the password alone is not enough here either.
        code = serializers.CharField(max_length=32, required=False, allow_blank=True, help_text="Authenticator or recovery code")

    @extend_schema(
        request=InputSerializer,
        responses={200: inline_serializer("TokenOutput", {"token": serializers.CharField(), "expires_at": serializers.DateTimeField()})},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        code = serializer.validated_data.pop("code", "")
        user = authenticate(request, **serializer.validated_data)
        if user is None or not user.is_active:
            raise ApplicationError("Unable to log in with the provided credentials.", status_code=400)
        second_factor_require(user=user, code=code, to="sign in")
        token, key = api_token_create(user=user, name=self.TOKEN_NAME)
        return Response({"token": key, "expires_at": serializers.DateTimeField().to_representation(token.expires_at)})

    def finalize_response(self, request, response, *args, **kwargs):
        # Refusals too: nothing from this endpoint belongs in a cache.
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response


class TokenRevokeApi(APIView):
    """Revoke the token used for this request; from a browser session (no token), every
    token of the user (log out everywhere)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        if request.auth is not None:
            api_token_revoke(user=request.user, token_id=request.auth.pk)
        else:
            api_token_revoke_all(user=request.user)
        return Response(status=204)


class TokenRevokeAllApi(APIView):
    """Revoke every token of the caller, including the one used for this request."""

    @extend_schema(request=None, responses={200: inline_serializer("TokenRevokeAllOutput", {"revoked": serializers.IntegerField()})})
    def post(self, request):
        return Response({"revoked": api_token_revoke_all(user=request.user)})


class MeApi(APIView):
    """Who the caller is: id, username, the display name others see, and whether they are
    staff or a curator."""

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        username = serializers.CharField()
        display_name = serializers.CharField()
        is_staff = serializers.BooleanField()
        is_curator = serializers.BooleanField()

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request):
        user = request.user
        data = {
            "id": user.id,
            "username": user.username,
            "display_name": display_name(user),
            "is_staff": user.is_staff,
            "is_curator": user.groups.filter(name="curators").exists(),
        }
        return Response(self.OutputSerializer(data).data)


# --- Notifications -------------------------------------------------------------------


class NotificationOutputSerializer(serializers.ModelSerializer):
    kind_text = serializers.CharField(source="get_kind_display", read_only=True, help_text="What `kind` means, in words.")

    class Meta:
        model = Notification
        fields = ["id", "kind", "kind_text", "title", "body", "created_at", "read_at"]
        read_only_fields = fields


class NotificationListApi(APIView):
    pagination_class = Pagination

    class FilterSerializer(PageFilterSerializer):
        unread = serializers.BooleanField(required=False, default=False)

    @extend_schema(operation_id="notifications_list", parameters=[FilterSerializer], responses=NotificationOutputSerializer(many=True))
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        return paginated_response(
            request=request,
            view=self,
            queryset=notification_list(user=request.user, unread_only=filters.validated_data["unread"]),
            serializer_class=NotificationOutputSerializer,
        )


class NotificationReadApi(APIView):
    @extend_schema(operation_id="notifications_read", request=None, responses=NotificationOutputSerializer)
    def post(self, request, notification_id: int):
        return Response(NotificationOutputSerializer(notification_mark_read(user=request.user, notification_id=notification_id)).data)


class NotificationReadAllApi(APIView):
    @extend_schema(
        operation_id="notifications_read_all",
        request=None,
        responses={200: inline_serializer("NotificationReadAllOutput", {"marked_read": serializers.IntegerField()})},
    )
    def post(self, request):
        return Response({"marked_read": notification_mark_all_read(user=request.user)})


class CanReadAuditTrail(BasePermission):
    """The billing role and superusers (`core.view_auditentry`)."""

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.has_perm("core.view_auditentry"))


class AuditEntryOutputSerializer(serializers.ModelSerializer):
    action_text = serializers.CharField(source="get_action_display", help_text="What happened, in words.")

    class Meta:
        model = AuditEntry
        fields = ["id", "at", "actor_user_id", "actor_name", "action", "action_text", "target_type", "target_id", "before", "after"]


class AuditEntryListApi(APIView):
    """The audit trail (staff actions and changes to money), newest first: the billing role
    and superusers only."""

    permission_classes = [CanReadAuditTrail]
    pagination_class = Pagination

    class FilterSerializer(PageFilterSerializer):
        action = serializers.ChoiceField(choices=AuditEntry.Action.choices, required=False)
        target_type = serializers.CharField(max_length=100, required=False, help_text='e.g. "billing.payout"')
        target_id = serializers.CharField(max_length=64, required=False)

    @extend_schema(operation_id="audit_entries_list", parameters=[FilterSerializer], responses=AuditEntryOutputSerializer(many=True))
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        return paginated_response(
            request=request, view=self, queryset=audit_entry_list(**filters.filters), serializer_class=AuditEntryOutputSerializer
        )

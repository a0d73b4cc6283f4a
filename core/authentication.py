"""DRF authentication by a named API token (core.models.ApiToken): `Authorization: Token <key>`."""

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from core.tokens import api_token_authenticate


class ApiTokenAuthentication(TokenAuthentication):
    """DRF's header parsing and 401 challenge; the key is looked up by its hash."""

    def authenticate_credentials(self, key):
        token = api_token_authenticate(key=key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        return token.user, token

"""Domain errors: services raise them, the API's exception handler (`core.api_conventions`) and the
pages turn them into a 4xx with the message a person can act on."""

import math

from rest_framework import status


class ApplicationError(Exception):
    """A domain error a client can act on. `status_code` picks the 4xx."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, extra: dict | None = None, *, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
        if status_code is not None:
            self.status_code = status_code


class NotFoundError(ApplicationError):
    status_code = status.HTTP_404_NOT_FOUND


class ConflictError(ApplicationError):
    status_code = status.HTTP_409_CONFLICT


class ThrottledError(ApplicationError):
    """Too many requests: come back in `retry_after` seconds (sent as Retry-After)."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS

    def __init__(self, wait: float):
        self.retry_after = max(1, math.ceil(wait))
        super().__init__(f"Request was throttled. Expected available in {self.retry_after} seconds.", {"retry_after": self.retry_after})

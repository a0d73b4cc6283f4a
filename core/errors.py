"""Domain errors: services raise them, the API's exception handler (`core.api`) and the
pages turn them into a 4xx with the message a person can act on."""

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

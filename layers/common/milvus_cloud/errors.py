"""Errors that map to the contract's failure shape: {"status": "failed", "description", "code"}."""

from __future__ import annotations


class ApiError(Exception):
    status_code = 500
    code = "internal-error"

    def __init__(self, description: str, *, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(description)
        self.description = description
        if code:
            self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        return {"status": "failed", "description": self.description, "code": self.code}


class BadRequest(ApiError):
    status_code = 400
    code = "invalid-request"


class Unauthorized(ApiError):
    status_code = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status_code = 403
    code = "forbidden"


class NotFound(ApiError):
    status_code = 404
    code = "not-found"


class Conflict(ApiError):
    status_code = 409
    code = "conflict"


class QuotaExceeded(ApiError):
    status_code = 429
    code = "quota-exceeded"


class ServiceUnavailable(ApiError):
    status_code = 503
    code = "service-unavailable"

    def __init__(self, description: str, *, retry_after: int = 5, code: str | None = None):
        super().__init__(description, code=code, headers={"Retry-After": str(retry_after)})


class TransientStepError(Exception):
    """Raised by a workflow step for a fault worth retrying; the state machine retries it by this name."""


class PermanentStepError(Exception):
    """Raised by a workflow step for a fault that no retry fixes; the state machine rolls back."""

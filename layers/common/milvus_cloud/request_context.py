"""What one invocation learns as it goes, for the audit trail (no heavy imports: every route loads it)."""

from contextvars import ContextVar

# Who the invocation authenticated as.
authenticated_user: ContextVar[str | None] = ContextVar("authenticated_user", default=None)
# Set when an accepted call changed nothing (an unchanged whitelist): nothing to audit, no write.
nothing_changed: ContextVar[bool] = ContextVar("nothing_changed", default=False)


def start_invocation() -> None:
    authenticated_user.set(None)
    nothing_changed.set(False)

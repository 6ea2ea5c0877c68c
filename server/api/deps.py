"""Dependencies: the database session, and THE authorisation dependency every /api/v1 route sits behind."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from server.auth import Principal, authenticate
from server.context import ServerContext

_bearer = HTTPBearer(auto_error=False, description="API token: `Authorization: Bearer <token>`")


def get_context(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[ServerContext, Depends(get_context)]


def get_session(ctx: ContextDep) -> Iterator[Session]:
    with ctx.sessions() as session:
        yield session


def current_principal(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                      ctx: ContextDep) -> Principal:
    """401 without a valid token. Routers include it, so no route can forget it; handlers that need the
    caller ask for it again (FastAPI runs it once per request)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
    with ctx.sessions() as session:
        principal = authenticate(session, credentials.credentials)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid token", headers={"WWW-Authenticate": "Bearer"})
    return principal


SessionDep = Annotated[Session, Depends(get_session)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require_role(role: str) -> Callable[[Principal], Principal]:
    """A dependency that also demands ``role`` or higher (403 otherwise)."""

    def check(principal: PrincipalDep) -> Principal:
        if not principal.has_role(role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"needs role {role} or higher")
        return principal

    return check


def not_found(what: str) -> HTTPException:
    """Also the answer for another site's data: its existence is not disclosed."""
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{what} not found")


AdminDep = Annotated[Principal, Depends(require_role("admin"))]

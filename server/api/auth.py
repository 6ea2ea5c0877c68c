"""/auth: sign in with a user name and password (a session token, used like any API token), and sign out.

The API stays cookie-free (bearer tokens only), so no route of it can be driven by another site's page (CSRF). The
web app hands the session token to ``POST /web/session`` for the cookie its <video> and download links need.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from server.api.deps import ContextDep, PrincipalDep, SessionDep
from server.auth import revoke_session
from server.schemas import LoginIn, SessionOut, UserOut
from server.signin import SignedIn, Throttled, sign_in

# Outside the /api/v1 authorisation dependency: signing in is how one gets a token.
public = APIRouter(prefix="/auth", tags=["auth"])
# Behind it.
router = APIRouter(prefix="/auth", tags=["auth"])

BAD_CREDENTIALS = "wrong user name or password"


def client_ip(request: Request) -> str:
    """The caller's address (behind a reverse proxy, uvicorn's --forwarded-allow-ips makes it the real one)."""
    return request.client.host if request.client is not None else "unknown"


@public.post("/login", response_model=SessionOut, summary="Sign in with user name and password: a session token",
             responses={401: {"description": BAD_CREDENTIALS},
                        429: {"description": "too many failed sign-ins; the Retry-After header says when to try"}})
def login(body: LoginIn, request: Request, session: SessionDep, ctx: ContextDep) -> SessionOut:
    result = sign_in(session, body.username, body.password, client_ip(request), ctx.config.auth)
    if isinstance(result, Throttled):
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            f"too many failed sign-ins: try again in {result.retry_after_s} s",
                            headers={"Retry-After": str(result.retry_after_s)})
    if not isinstance(result, SignedIn):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, BAD_CREDENTIALS)
    return SessionOut(token=result.token, token_type="bearer", expires_at=result.expires_at,
                      user=UserOut.model_validate(result.user))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT,
             summary="Sign out: revoke the session token this request carries (API tokens are left alone)")
def logout(principal: PrincipalDep, session: SessionDep) -> Response:
    if revoke_session(session, principal):
        session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)

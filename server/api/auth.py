"""/auth: sign in with a user name and password (a session token, used like any API token), sign out, and change
one's own password.

The API stays cookie-free (bearer tokens only), so no route of it can be driven by another site's page (CSRF). The
web app hands the session token to ``POST /web/session`` for the cookie its <video> and download links need.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from server.api.deps import ContextDep, PrincipalDep, SessionDep
from server.auth import revoke_session
from server.passwords import WeakPasswordError
from server.schemas import LoginIn, PasswordChangeIn, SessionOut, UserOut
from server.signin import SignedIn, SignInResult, Throttled, change_password, sign_in

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
    return session_out(result, status.HTTP_401_UNAUTHORIZED, BAD_CREDENTIALS)


def session_out(result: SignInResult, refused_status: int, refused_detail: str) -> SessionOut:
    if isinstance(result, Throttled):
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            f"too many failed sign-ins: try again in {result.retry_after_s} s",
                            headers={"Retry-After": str(result.retry_after_s)})
    if not isinstance(result, SignedIn):
        raise HTTPException(refused_status, refused_detail)
    return SessionOut(token=result.token, token_type="bearer", expires_at=result.expires_at,
                      user=UserOut.model_validate(result.user))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT,
             summary="Sign out: revoke the session token this request carries (API tokens are left alone)")
def logout(principal: PrincipalDep, session: SessionDep) -> Response:
    if revoke_session(session, principal):
        session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/password", response_model=SessionOut,
             summary="Change your own password: every session of yours is signed out, and a new one returned",
             responses={403: {"description": "the current password is wrong"},
                        422: {"description": "the new password breaks the rules (8+ characters, not the user name)"},
                        429: {"description": "too many failed tries; the Retry-After header says when to try"}})
def password(body: PasswordChangeIn, principal: PrincipalDep, request: Request, session: SessionDep,
             ctx: ContextDep) -> SessionOut:
    try:
        result = change_password(session, principal.name, body.current_password, body.new_password,
                                 client_ip(request), ctx.config.auth)
    except WeakPasswordError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    # 403, not 401: the caller's token is fine (a 401 would make clients drop it and sign out).
    return session_out(result, status.HTTP_403_FORBIDDEN, "the current password is wrong")

"""/me, and /users for admins: create users, set their passwords and issue their API tokens."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import func, select

from server.api.deps import AdminDep, ContextDep, PrincipalDep, SessionDep, not_found
from server.auth import create_user, issue_token, set_password
from server.db import User
from server.passwords import PasswordPolicy, WeakPasswordError, check_password_rules
from server.schemas import PasswordIn, TokenOut, UserIn, UserOut

log = logging.getLogger(__name__)
router = APIRouter(tags=["users"])


@router.get("/me", response_model=UserOut, summary="Who the token belongs to")
def me(principal: PrincipalDep, session: SessionDep) -> UserOut:
    user = session.get(User, principal.user_id)
    if user is None:
        raise not_found("user")
    return UserOut.model_validate(user)


@router.get("/users", response_model=list[UserOut], summary="All users (admins)")
def list_users(_: AdminDep,
               session: SessionDep) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in session.scalars(select(User).order_by(User.id)).all()]


@router.post("/users", response_model=TokenOut, status_code=status.HTTP_201_CREATED,
             summary="Create a user and its first token (admins)")
def add_user(body: UserIn, _: AdminDep,
             session: SessionDep, ctx: ContextDep) -> TokenOut:
    # Sign-in matches names ignoring case, so "Ina" beside "ina" would make both ambiguous.
    if session.scalars(select(User).where(func.lower(User.name) == body.name.strip().lower())).first() is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"user {body.name!r} exists (names ignore case)")
    if body.password is not None:
        try:
            check_password_rules(body.password, body.name)
        except WeakPasswordError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    user = create_user(session, body.name, body.role, body.sites)
    if body.password is not None:
        set_password(session, user, body.password, PasswordPolicy(log2_n=ctx.config.auth.scrypt_log2_n))
    token = issue_token(session, user, label="created")
    session.commit()
    return TokenOut(token=token, user=UserOut.model_validate(user))


@router.post("/users/{user_id}/tokens", response_model=TokenOut, status_code=status.HTTP_201_CREATED,
             summary="Issue another token for a user (admins)")
def add_token(user_id: int, _: AdminDep,
              session: SessionDep) -> TokenOut:
    user = session.get(User, user_id)
    if user is None:
        raise not_found("user")
    token = issue_token(session, user, label="issued")
    session.commit()
    return TokenOut(token=token, user=UserOut.model_validate(user))


@router.put("/users/{user_id}/password", status_code=status.HTTP_204_NO_CONTENT,
            summary="Set or reset a user's password; revokes the user's sign-in sessions (admins)",
            responses={422: {"description": "the password breaks the rules (8+ characters, not the user name)"}})
def put_password(user_id: int, body: PasswordIn, principal: AdminDep, session: SessionDep,
                 ctx: ContextDep) -> None:
    user = session.get(User, user_id)
    if user is None:
        raise not_found("user")
    try:
        revoked = set_password(session, user, body.password, PasswordPolicy(log2_n=ctx.config.auth.scrypt_log2_n))
    except WeakPasswordError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    session.commit()
    log.info("%s set the password of %s (%d session(s) revoked)", principal.name, user.name, revoked)

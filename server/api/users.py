"""/me, and /users for admins: create users and issue their API tokens."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import select

from server.api.deps import AdminDep, PrincipalDep, SessionDep, not_found
from server.auth import create_user, issue_token
from server.db import User
from server.schemas import TokenOut, UserIn, UserOut

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
             session: SessionDep) -> TokenOut:
    if session.scalars(select(User).where(User.name == body.name)).first() is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"user {body.name!r} exists")
    user = create_user(session, body.name, body.role, body.sites)
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

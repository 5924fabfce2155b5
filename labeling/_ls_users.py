"""Adding an annotator who can log in and has an API token of their own.

On Label Studio 1.23 (community), ``POST /api/users`` makes a user without a usable password, so that user
can neither log in nor get a token. What works is what a person does: the organisation's invite link
(``GET /api/invite`` through the SDK) and the sign-up form, then the new user's own token from
``/api/current-user/token`` in that session.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import httpx

from labeling._errors import LabelStudioAuthError, LabelStudioError, LabelStudioUnavailable
from labeling._ls_client import LabelStudioConfig, LabelStudioSession

__all__ = ["Annotator", "add_annotator"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Annotator:
    """A user of the organisation and their API token (never printed by ``repr``)."""

    user_id: int
    email: str
    api_key: str = field(repr=False)

    def config(self, base: LabelStudioConfig) -> LabelStudioConfig:
        """``base`` with this annotator's key."""
        return LabelStudioConfig(url=base.url, api_key=self.api_key, document_root=base.document_root,
                                 timeout_s=base.timeout_s)


def add_annotator(session: LabelStudioSession, email: str, password: str) -> Annotator:
    """Sign ``email`` up through the invite link (or log in if the user exists); return their token."""
    invite = session.call("get the organisation's invite link", session.client.organizations.invites.get_invite_link)
    url = session.config.url
    try:
        with httpx.Client(base_url=url, follow_redirects=True, timeout=session.config.timeout_s) as web:
            token = _signup_or_login(web, url, str(invite.invite_url), email, password)
            me = web.get("/api/current-user/whoami")
    except httpx.HTTPError as exc:
        raise LabelStudioUnavailable(f"cannot add annotator {email}: Label Studio at {url} does not answer") from exc
    if me.status_code != 200:
        raise LabelStudioError(f"cannot add annotator {email}: whoami answered HTTP {me.status_code}")
    logger.info("annotator %s ready", email)
    return Annotator(user_id=int(me.json()["id"]), email=email, api_key=token)


def _signup_or_login(web: httpx.Client, url: str, invite_url: str, email: str, password: str) -> str:
    for page in (invite_url, "/user/login/"):
        web.get(page)
        csrf = web.cookies.get("csrftoken") or ""
        web.post(page, data={"email": email, "password": password, "csrfmiddlewaretoken": csrf},
                 headers={"Referer": url + page})
        answer = web.get("/api/current-user/token")
        if answer.status_code == 200 and answer.json().get("token"):
            return str(answer.json()["token"])
    raise LabelStudioAuthError(
        f"cannot add annotator {email}: sign-up and log-in both failed (existing user with another password?)"
    )

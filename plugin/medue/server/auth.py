"""MONAI Label's bearer-token check, made to work with PyJWT 2.

MONAI Label 0.8.5 decodes tokens with ``jwt.decode(token, key, options=...)`` and no
``algorithms``; PyJWT 2.0 and later refuse that call (RFC 8725 section 3.1: a verifier must say
which algorithms it accepts), so with auth on every token is rejected (401). This module replaces
that one function with the same check plus ``algorithms=["RS256"]``, the signature Keycloak (MONAI
Label's identity provider) issues; roles, realm and claims are read exactly as MONAI Label reads
them, and its ``RBAC`` dependency is used unchanged.
"""

from __future__ import annotations

import jwt
from monailabel.config import settings
from monailabel.endpoints.user import auth

ALGORITHMS = ["RS256"]


def from_token(token: str) -> auth.User:
    """The user a bearer token names, with its roles (MONAI Label's claims settings)."""
    if not settings.MONAI_LABEL_AUTH_ENABLE:
        return auth.DEFAULT_USER
    key = auth.get_public_key(settings.MONAI_LABEL_AUTH_REALM_URI)
    checks = {"verify_signature": True, "verify_aud": False, "verify_exp": True}
    payload = jwt.decode(token, key, algorithms=ALGORITHMS, options=checks)
    roles = payload
    for part in settings.MONAI_LABEL_AUTH_TOKEN_ROLES.split("#"):
        roles = roles.get(part) if isinstance(roles, dict) else None
    return auth.User(
        username=payload.get(settings.MONAI_LABEL_AUTH_TOKEN_USERNAME),
        email=payload.get(settings.MONAI_LABEL_AUTH_TOKEN_EMAIL),
        name=payload.get(settings.MONAI_LABEL_AUTH_TOKEN_NAME),
        roles=list(roles or []),
    )


def install() -> None:
    """Use :func:`from_token` for every MONAI Label endpoint (they look it up at call time)."""
    auth.from_token = from_token

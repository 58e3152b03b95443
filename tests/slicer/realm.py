"""A stand-in for a Keycloak realm on 127.0.0.1: what MONAI Label asks of one.

MONAI Label fetches ``{"public_key": ...}`` from the realm URI to check bearer tokens (RS256),
and its ``POST /auth/token`` forwards a user name and password to the realm's token endpoint
(found in ``.well-known/openid-configuration``, OpenID Connect Discovery 1.0) with the OAuth 2.0
password grant (RFC 6749 section 4.3). Users: ``admin`` (roles user + admin), ``viewer`` (user
role only), ``brief`` (admin, but each token expires after 2 s); every password is ``secret``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ADMIN, USER = "monailabel-admin", "monailabel-user"
PASSWORD = "secret"
USERS = {"admin": ([USER, ADMIN], 600), "viewer": ([USER], 600), "brief": ([USER, ADMIN], 2)}


class Realm:
    """The realm server; ``uri`` is what MONAI_LABEL_AUTH_REALM_URI is set to."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.httpd = HTTPServer(("127.0.0.1", 0), self._handler(base64.b64encode(public).decode()))
        self.uri = f"http://127.0.0.1:{self.httpd.server_port}/realms/medue"
        self.logins: list[str] = []
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def token(self, user: str) -> str:
        roles, seconds = USERS[user]
        claims = {"preferred_username": user, "realm_access": {"roles": roles},
                  "exp": int(time.time()) + seconds}  # fmt: skip
        return jwt.encode(claims, self.key, algorithm="RS256")

    def stop(self) -> None:
        self.httpd.shutdown()

    def _handler(self, public_key: str):
        realm = self
        path = "/realms/medue"

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path == path:
                    self._json(200, {"public_key": public_key})
                elif self.path == f"{path}/.well-known/openid-configuration":
                    token = f"{realm.uri}/protocol/openid-connect/token"
                    self._json(200, {"issuer": realm.uri, "token_endpoint": token})
                else:
                    self._json(404, {"error": "not found"})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                user = form.get("username", "")
                if self.path != f"{path}/protocol/openid-connect/token":
                    self._json(404, {"error": "not found"})
                elif user in USERS and form.get("password") == PASSWORD:
                    realm.logins.append(user)
                    self._json(200, {"access_token": realm.token(user), "token_type": "Bearer",
                                     "expires_in": USERS[user][1]})  # fmt: skip
                else:
                    self._json(401, {"error": "invalid_grant"})

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        return Handler

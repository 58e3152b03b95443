"""With MONAI Label's auth on, the protect endpoints need its admin role.

The identity provider is a small realm endpoint on 127.0.0.1 serving an RSA public key, as
Keycloak does (MONAI Label fetches ``{"public_key": ...}`` from its realm URI and checks each
bearer token's RS256 signature and roles against it); the tokens are signed with the private key.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.server.running import Server, free_port

ADMIN, USER = "monailabel-admin", "monailabel-user"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def realm(key: rsa.RSAPrivateKey) -> Iterator[str]:
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    body = json.dumps({"public_key": base64.b64encode(public).decode()}).encode()

    class Realm(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    httpd = HTTPServer(("127.0.0.1", free_port()), Realm)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}/realms/medue"
    httpd.shutdown()


@pytest.fixture(scope="module")
def secured(
    studies: Path, realm: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("secured")
    env = {"MONAI_LABEL_AUTH_ENABLE": "true", "MONAI_LABEL_AUTH_REALM_URI": realm}
    running = Server(studies, base / "export", base / "server.log", env).start()
    yield running
    running.stop()


def _token(key: rsa.RSAPrivateKey, roles: list[str]) -> dict:
    claims = {"preferred_username": "someone", "realm_access": {"roles": roles},
              "exp": int(time.time()) + 600}  # fmt: skip
    return {"Authorization": f"Bearer {jwt.encode(claims, key, algorithm='RS256')}"}


def test_protect_endpoints_need_the_admin_role(secured: Server, key) -> None:
    assert secured.get("/protect/jobs").status_code == 401
    assert secured.get("/protect/jobs", headers=_token(key, [USER])).status_code == 403
    refused = secured.post("/protect/jobs", json={}, headers=_token(key, [USER]))
    assert refused.status_code == 403 and ADMIN in refused.json()["detail"]
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert secured.get("/protect/jobs", headers=_token(other_key, [ADMIN])).status_code == 401
    admin = _token(key, [ADMIN])
    assert secured.get("/protect/jobs", headers=admin).json() == {"jobs": []}
    assert secured.get("/protect/images", headers=admin).status_code == 200


def test_previews_need_a_signed_in_user(secured: Server, key) -> None:
    preview = "/infer/protect_pattern-blocks"
    params = {"image": "brain2", "output": "json"}
    assert secured.post(preview, params=params).status_code == 401
    answer = secured.post(preview, params=params, headers=_token(key, [USER]))
    assert answer.status_code == 200 and answer.json()["metrics"]["max_abs_change"] > 0

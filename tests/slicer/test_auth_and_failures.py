"""MedUEProtectLib against a real ``medue serve`` with MONAI Label's auth on (a stand-in Keycloak
realm on 127.0.0.1), over studies holding a truncated image: login paths and a failed job."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from MedUEProtectLib import (
    AuthRefused,
    AuthRequired,
    JobFailed,
    JobMonitor,
    JobRequest,
    JobStatus,
    MedUEClient,
    PreviewSettings,
    RequestRefused,
)

from tests.server.running import Server
from tests.slicer.realm import PASSWORD


def _client(server: Server, user: str | None = "admin") -> MedUEClient:
    client = MedUEClient(server.url)
    if user:
        client.login(user, PASSWORD)
    return client


def test_a_login_is_asked_for_then_checked(secured_server: Server, realm) -> None:
    client = MedUEClient(secured_server.url)
    with pytest.raises(AuthRequired, match="needs a login .* then Login"):
        client.connect()
    assert client.auth_enabled()
    with pytest.raises(AuthRefused, match="login refused for 'admin': wrong user name or pass"):
        client.login("admin", "wrong")
    with pytest.raises(AuthRefused, match="both a user name and a password"):
        client.login("admin", "")
    assert client.login("admin", PASSWORD) == "admin" and "admin" in realm.logins
    info = client.connect()
    assert info.auth and info.user == "admin" and info.protect_refused is None
    assert "logged in as admin" in info.summary()
    assert [i.id for i in client.images()] == ["breast1", "broken"]


def test_a_user_without_the_admin_role_previews_but_cannot_protect(secured_server) -> None:
    client = _client(secured_server, "viewer")
    info = client.connect()
    assert "monailabel-admin" in info.protect_refused
    result = client.preview(PreviewSettings("pattern-blocks", image_id="breast1"))
    assert result.metrics["max_abs_change"] > 0
    with pytest.raises(AuthRefused, match="may not start a protect job: .*monailabel-admin"):
        client.submit(JobRequest())


def test_a_token_the_server_rejects(secured_server: Server, realm) -> None:
    client = MedUEClient(secured_server.url)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {"preferred_username": "admin", "exp": int(time.time()) + 600,
              "realm_access": {"roles": ["monailabel-admin", "monailabel-user"]}}  # fmt: skip
    client.http.token = jwt.encode(claims, other, algorithm="RS256")  # not the realm's key
    with pytest.raises(AuthRefused, match="no longer accepts your login"):
        client.images()


def test_an_expired_token_is_renewed_once(secured_server: Server, realm) -> None:
    client = _client(secured_server, "brief")  # tokens last 2 s
    time.sleep(2.5)
    before = realm.logins.count("brief")
    assert [i.id for i in client.images()] == ["breast1", "broken"]
    assert realm.logins.count("brief") == before + 1
    client.logout()
    with pytest.raises(AuthRequired):
        client.images()


def test_auth_off_login_is_refused_clearly(medue_server: Server) -> None:
    with pytest.raises(RequestRefused, match="auth is off"):
        MedUEClient(medue_server.url).login("admin", PASSWORD)


def test_a_job_the_worker_fails_is_one_clear_message(secured_server: Server) -> None:
    client = _client(secured_server)
    with pytest.raises(RequestRefused, match="broken.nii.gz: cannot be read as an image"):
        client.preview(PreviewSettings("pattern-blocks", image_id="broken"))
    status = client.submit(JobRequest(images=["broken"], export="broken-only"))
    monitor = JobMonitor(client, status.id)
    with pytest.raises(JobFailed) as failed:
        for _ in range(600):
            monitor.poll()
            time.sleep(0.3)
    assert str(failed.value) == (
        f"protect job {status.id} protected none of its 1 image(s): broken: cannot be read as an "
        "image (file is truncated)"
    )


def test_partly_failed_and_failed_jobs() -> None:
    """The two other endings, as the server words them (status JSON of ``GET /protect/jobs``)."""
    done = {"id": "breast1", "status": "done", "psnr_db": 65.8, "ssim": 0.9999, "max_abs_change": 2}
    images = [done, {"id": "broken", "status": "failed", "error": "cannot be read as an image"}]
    partly = JobStatus.from_json({"id": "a1", "state": "done", "images": images})
    assert partly.check() == "1 of 2 images were not protected: broken: cannot be read as an image"
    failed = JobStatus.from_json({"id": "a2", "state": "failed", "error": "internal error: x"})
    with pytest.raises(JobFailed, match="protect job a2 failed: internal error: x"):
        failed.check()

"""HTTP plumbing for the client: the base URL, timeouts, and every failure as one MedUEError.

Only ``requests`` and the standard library. Every call has a timeout: ``(connect, read)`` seconds,
so no call blocks longer than that (the read timeout bounds the wait for each chunk of an answer,
RFC 9110 gives no total). Answers are mapped to errors by status: 401 → :class:`AuthRequired`
(no login yet) or :class:`AuthRefused` (token rejected), 403 → :class:`AuthRefused`, 404 on an
image → :class:`ImageMissing`, other 4xx → :class:`RequestRefused`, 5xx → :class:`ServerFailed`,
connection refused, unreachable or timed out → :class:`ServerDown`.
"""

from __future__ import annotations

import json
from typing import Callable
from urllib.parse import urlsplit, urlunsplit

import requests

from MedUEProtectLib.errors import (
    AuthRefused,
    AuthRequired,
    BadUrl,
    ImageMissing,
    RequestRefused,
    ServerDown,
    ServerFailed,
)

CONNECT_TIMEOUT = 5.0  # seconds to open the connection
READ_TIMEOUT = 60.0  # seconds to wait for each part of an answer
Timeout = tuple[float, float]


def normalise_url(url: str) -> str:
    """``url`` as ``scheme://host[:port][/path]`` without a trailing slash; BadUrl if it is not
    an absolute http(s) URL with a host."""
    text = (url or "").strip()
    if "://" not in text and text and " " not in text:
        text = "http://" + text  # "127.0.0.1:8000" typed without a scheme
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or " " in text:
        raise BadUrl(
            f"{url!r} is not a server address: type it as http://HOST:PORT "
            "(e.g. http://127.0.0.1:8000)"
        )
    del port
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def detail_of(response: requests.Response) -> str:
    """The server's one-line reason: FastAPI's ``{"detail": ...}``, else the start of the body."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list):  # FastAPI's validation errors: list of {"loc", "msg"}
        detail = "; ".join(str(item.get("msg", item)) for item in detail if isinstance(item, dict))
    text = str(detail) if detail else (response.text or "").strip()
    text = " ".join(text.split())
    return text[:300] if text else response.reason or f"HTTP {response.status_code}"


class Http:
    """Requests to one server, with a bearer token once logged in.

    ``relogin`` (set by the client when it holds credentials) is called once when a token is
    rejected, then the request is sent again.
    """

    def __init__(self, url: str, timeout: Timeout = (CONNECT_TIMEOUT, READ_TIMEOUT)) -> None:
        self.url = normalise_url(url)
        self.timeout = timeout
        self.token: str | None = None
        self.relogin: Callable[[], None] | None = None
        self.session = requests.Session()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def send(
        self,
        method: str,
        path: str,
        what: str,
        missing: str | None = None,
        timeout: Timeout | None = None,
        **kwargs,
    ) -> requests.Response:
        """Send one request; ``what`` names the action in messages ("list the images"); with
        ``missing`` (what a 404 means: "image 'x' is not on this server") a 404 is ImageMissing."""
        response = self._send(method, path, what, timeout, **kwargs)
        if response.status_code == 401 and self.token and self.relogin is not None:
            self.relogin()
            response = self._send(method, path, what, timeout, **kwargs)
        raise_for(response, what, missing, logged_in=self.token is not None)
        return response

    def json(self, method: str, path: str, what: str, **kwargs) -> dict:
        response = self.send(method, path, what, **kwargs)
        try:
            answer = response.json()
        except ValueError:
            raise BadUrl(
                f"{self.url} answered {path} with something that is not JSON: is this the "
                "address of a MedUE server (medue serve)?"
            ) from None
        if not isinstance(answer, dict):
            raise BadUrl(f"{self.url} answered {path} with unexpected JSON: is it MedUE's server?")
        return answer

    def _send(self, method: str, path: str, what: str, timeout: Timeout | None, **kwargs):
        limit = timeout or self.timeout
        headers = {**self.headers(), **kwargs.pop("headers", {})}
        for attempt in (1, 2):
            try:
                return self.session.request(
                    method, self.url + path, headers=headers, timeout=limit, **kwargs
                )
            except requests.exceptions.Timeout:
                raise ServerDown(
                    f"the server at {self.url} did not answer within {limit[1]:g} s (trying to "
                    f"{what}): it may be overloaded or stopped; try again later"
                ) from None
            except requests.exceptions.ConnectionError as error:
                if attempt == 1 and _dropped(error):  # a kept-alive connection the server closed
                    _rewind(kwargs.get("files"))
                    continue
                raise ServerDown(
                    f"cannot reach the server at {self.url} ({_reason(error)}): is it running, "
                    "and is this its address and port?"
                ) from None
            except requests.exceptions.RequestException as error:
                raise BadUrl(f"cannot send a request to {self.url}: {_reason(error)}") from None
        raise AssertionError("unreachable")


def raise_for(response: requests.Response, what: str, missing: str | None, logged_in: bool):
    """Raise the MedUEError that ``response`` means, or return if it is a success."""
    status = response.status_code
    if status < 400:
        return
    detail = detail_of(response)
    if status == 401:
        if logged_in:
            raise AuthRefused(f"the server no longer accepts your login ({detail}): log in again")
        raise AuthRequired(
            f"this server needs a login to {what}: enter your user name and password, then Login"
        )
    if status == 403:
        raise AuthRefused(f"your account may not {what}: {detail}")
    if status == 404 and missing is not None:
        raise ImageMissing(f"{missing} ({detail})")
    if status < 500:
        raise RequestRefused(f"the server refused to {what}: {detail}")
    raise ServerFailed(
        f"the server failed to {what} (HTTP {status}: {detail}); its log has the details"
    )


def _reason(error: Exception) -> str:
    """A short reason from a requests/urllib3 exception chain ("connection refused")."""
    text = str(error)
    for words in ("Connection refused", "Name or service not known", "No route to host",
                  "Network is unreachable", "timed out", "Connection reset",
                  "Temporary failure in name resolution", "Remote end closed"):  # fmt: skip
        if words.lower() in text.lower():
            return words.lower()
    return text.split(":")[-1].strip(" )'\"")[:120] or type(error).__name__


def _dropped(error: Exception) -> bool:
    """Whether the connection broke after it was opened (worth one new try), not refused."""
    text = str(error).lower()
    return "connection aborted" in text or "remote end closed" in text or "reset" in text


def _rewind(files: dict | None) -> None:
    for item in (files or {}).values():
        stream = item[1] if isinstance(item, tuple) else item
        if hasattr(stream, "seek"):
            stream.seek(0)


def dumps(value: object) -> str:
    """Compact JSON for a form field."""
    return json.dumps(value, separators=(",", ":"))

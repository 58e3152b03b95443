"""The errors a user of the panel can meet, each with one clear message.

Every call of :class:`MedUEProtectLib.client.MedUEClient` raises one of these (never a bare
``requests`` exception): the panel shows ``str(error)`` as it is.
"""

from __future__ import annotations


class MedUEError(Exception):
    """Something the user must act on; ``str(error)`` is one line saying what and what to do."""


class BadUrl(MedUEError):
    """The address typed is not an HTTP(S) URL, or what answers there is not a MedUE server."""


class ServerDown(MedUEError):
    """Nothing answers at the address (refused, unreachable, or no answer within the timeout)."""


class AuthRequired(MedUEError):
    """The server's auth is on and no one is logged in."""


class AuthRefused(MedUEError):
    """Login refused, token rejected or expired, or the account lacks the role a call needs."""


class ImageMissing(MedUEError):
    """The image (or its protected copy) is not on the server."""


class JobFailed(MedUEError):
    """A protect job failed, or finished without protecting any of its images."""


class RequestRefused(MedUEError):
    """The server refused a request (bad settings, a job already running: its own words)."""


class ServerFailed(MedUEError):
    """The server answered with an internal error (5xx); its log has the details."""

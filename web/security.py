"""What every response of the web view carries, and who may get one.

- :class:`SecurityHeaders`: a strict Content-Security-Policy (no script at all, styles
  only from our own stylesheet, images only ours or ``data:``, forms only to us, never
  framed), ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer`` on
  every response, errors and static files included. Pages show text from hostile
  pages; Jinja2 escapes it, and the CSP is the second wall should an escape be missed.
- :class:`TokenGate`: when ``[web] token_env`` names a set variable, every request
  needs that token: ``?token=`` once (the answer sets an HttpOnly, SameSite=Strict
  cookie; a browser is sent on to the same page without the token in its address),
  the cookie, or ``Authorization: Bearer``. Compared in constant time
  (:func:`hmac.compare_digest`). No token: 401; a wrong one: 403.
- CSRF: a double-submit token. Pages with a form set a random ``dxmon_csrf`` cookie
  (SameSite=Strict, HttpOnly) and put the same value in the form; a POST whose form
  value does not match its cookie is refused with 403 (:func:`csrf_ok`). Another site
  can neither read the cookie nor make the browser send it.
- :func:`is_local`: the addresses the server may bind to without a token.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

__all__ = ["CSP", "SecurityHeaders", "TokenGate", "csrf_token", "csrf_ok", "set_csrf_cookie",
           "is_local", "LOCAL_HOSTS", "TOKEN_COOKIE", "CSRF_COOKIE"]

CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
TOKEN_COOKIE = "dxmon_token"
CSRF_COOKIE = "dxmon_csrf"


def is_local(host: str) -> bool:
    """Whether binding to ``host`` keeps the server on this machine."""
    return host.strip("[]").lower() in LOCAL_HOSTS


class SecurityHeaders:
    """ASGI middleware: the security headers on every HTTP response."""

    HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
               "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode("utf-8"),
                                                     expected.encode("utf-8"))


class TokenGate:
    """ASGI middleware: every request needs ``token`` (query, cookie or bearer header)."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token

    def _set_cookie(self, response: Response, scope) -> None:
        response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict",
                            secure=scope.get("scheme") == "https", path="/")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        given = request.query_params.get("token")
        auth = request.headers.get("authorization", "")
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        if _same(request.cookies.get(TOKEN_COOKIE), self.token) or _same(bearer, self.token):
            return await self.app(scope, receive, send)
        if given is not None and _same(given, self.token):
            if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                # a browser: the cookie, and the same page without the token in its address
                # (history, bookmarks, a shoulder); API clients and feed readers, which may
                # keep no cookie, are answered directly
                clean = request.url.remove_query_params("token")
                response = RedirectResponse(_local_path(clean), status_code=303)
                self._set_cookie(response, scope)
                return await response(scope, receive, send)

            async def send_with_cookie(message):
                if message["type"] == "http.response.start":
                    cookie = Response()
                    self._set_cookie(cookie, scope)
                    headers = MutableHeaders(scope=message)
                    headers.append("set-cookie", cookie.headers["set-cookie"])
                await send(message)

            return await self.app(scope, receive, send_with_cookie)
        if given is None and bearer is None and TOKEN_COOKIE not in request.cookies:
            response = PlainTextResponse(
                "dxmon: this web view needs its access token: open it once with ?token=...",
                status_code=401, headers={"WWW-Authenticate": "Bearer"})
        else:
            response = PlainTextResponse("dxmon: wrong access token", status_code=403)
        await response(scope, receive, send)


def _local_path(url) -> str:
    """``url``'s path and query only: a redirect that stays on this server."""
    return url.path + (f"?{url.query}" if url.query else "")


def csrf_token(request: Request) -> tuple[str, bool]:
    """(the CSRF token for this browser, whether it is new and must be set as a cookie)."""
    current = request.cookies.get(CSRF_COOKIE)
    if current and len(current) >= 32:
        return current, False
    return secrets.token_urlsafe(32), True


def set_csrf_cookie(response: Response, token: str, request: Request) -> None:
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")


def csrf_ok(request: Request, form_value: str | None) -> bool:
    """Whether a POST's form token matches its CSRF cookie (both present)."""
    cookie = request.cookies.get(CSRF_COOKIE)
    return bool(cookie) and _same(form_value, cookie)

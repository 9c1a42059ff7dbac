"""Serving the web view with uvicorn: ``dxmon web`` and ``dxmon serve --web``.

The server binds to 127.0.0.1 by default. Bound to any other address it refuses to
start (:class:`core.errors.ConfigError`, so ``dxmon`` exits 2 with one line) unless
``[web] token_env`` names a set environment variable (every request then needs that
token) or ``[web] trusted_proxy`` names the reverse proxy in front that authenticates
users (uvicorn then trusts that proxy's ``X-Forwarded-*`` headers, and only its). A
``token_env`` that names an unset variable is refused wherever the server binds: the
config asked for a token, so serving without one would be a silent downgrade.

Bound locally without a proxy, requests must name a local ``Host``: a web page that
points its own domain at 127.0.0.1 (DNS rebinding) cannot read the archive.

``dxmon serve --web`` runs uvicorn in a thread beside the scheduler
(:func:`start_in_thread`): the service keeps the main thread, where its SIGTERM/SIGINT
handling and the graceful stop of crawl processes already live; uvicorn installs no
signal handlers outside the main thread and stops when told (``should_exit``).
"""

from __future__ import annotations

import os
import signal
import threading
import time

import uvicorn

from core.config import Config
from core.errors import ConfigError, StorageError
from storage.schema import open_db
from web.app import create_app
from web.security import LOCAL_HOSTS, is_local

__all__ = ["run", "build_server", "start_in_thread", "access_token", "web_url"]


def access_token(config: Config, host: str) -> str | None:
    """The token every request must carry, or None; raises :class:`ConfigError` when the
    server may not start on ``host`` as configured."""
    web = config.web
    where = str(config.path) if config.path else None
    token = None
    if web.token_env:
        token = os.environ.get(web.token_env) or None
        if token is None:
            raise ConfigError(f"[web] token_env names {web.token_env}, which is not set: "
                              f"export {web.token_env}=<a long random token>",
                              key="web.token_env", path=where)
    if not is_local(host) and token is None and not web.trusted_proxy:
        raise ConfigError(
            f"refusing to serve the web view on {host}: anyone who can reach it could read "
            "the archive. Set [web] token_env to an environment variable holding an access "
            "token, or [web] trusted_proxy to the reverse proxy that authenticates users, or "
            "bind to 127.0.0.1", key="web.host", path=where)
    return token


def web_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


class _Server(uvicorn.Server):
    """uvicorn's server, ending with exit code 0 on SIGTERM/SIGINT as ``dxmon serve`` does.

    uvicorn re-raises the signal it caught once it has shut down gracefully, so the
    process would die by that signal (exit -15) after a clean stop; a service manager
    would then report a stop it asked for as a failure."""

    def handle_exit(self, sig, frame) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: stop waiting for open requests
        else:
            self.should_exit = True


def check_archive(config: Config) -> None:
    """Refuse to serve an archive that does not exist (a typo in ``[storage] path`` would
    otherwise show an empty archive, created on the spot) or cannot be read."""
    path = config.storage_path
    if not path.exists():
        raise StorageError(f"no archive at {path}: run `dxmon crawl` first, or point "
                           "[storage] path at an existing one")
    open_db(path, readonly=True).close()  # a damaged file fails here, in one line


def build_server(config: Config, host: str, port: int) -> uvicorn.Server:
    """The uvicorn server of the web view, checked (see the module doc), not started."""
    token = access_token(config, host)
    check_archive(config)
    proxy = config.web.trusted_proxy
    allowed = None
    if is_local(host) and not proxy:
        allowed = [*LOCAL_HOSTS, "[::1]"]
    app = create_app(config.storage_path, config, lang=config.web.lang, token=token,
                     allowed_hosts=allowed)
    settings = uvicorn.Config(app, host=host, port=port, log_level="info",
                              proxy_headers=bool(proxy), forwarded_allow_ips=proxy or None,
                              server_header=False, access_log=False)
    return _Server(settings)


def _cannot_listen(config: Config, host: str, port: int) -> ConfigError:
    return ConfigError(f"cannot listen on {host}:{port} (in use by another program, or not an "
                       "address of this machine): choose another with --port/--host or "
                       "[web] port/host", key="web.port",
                       path=str(config.path) if config.path else None)


def run(config: Config, host: str, port: int) -> None:
    """Serve the web view until SIGINT/SIGTERM (``dxmon web``)."""
    server = build_server(config, host, port)
    print(f"dxmon web: {web_url(host, port)} (archive {config.storage_path}); Ctrl-C stops",
          flush=True)
    try:
        server.run()
    except SystemExit:  # uvicorn exits 1 when it cannot bind, after logging why
        if not server.started:
            raise _cannot_listen(config, host, port) from None
        raise


# How long `serve --web` waits for the web server to listen before giving up: binding is
# immediate; the margin covers a loaded machine importing the app's first page
START_TIMEOUT_S = 30


def start_in_thread(config: Config, host: str, port: int) -> tuple[uvicorn.Server,
                                                                   threading.Thread]:
    """Start the web view in a daemon thread (``dxmon serve --web``) and wait until it
    listens (a port in use fails here, not silently in the thread); set the server's
    ``should_exit`` and join the thread to stop it."""
    server = build_server(config, host, port)
    thread = threading.Thread(target=server.run, name="dxmon-web", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise _cannot_listen(config, host, port)
        time.sleep(0.02)
    return server, thread

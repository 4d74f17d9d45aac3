"""``kubetune dashboard``: Optuna Dashboard over kubetune's trials, read-only, following running tasks.

Each task becomes one study in an in-memory Optuna storage (built by :mod:`kubetune.results.study`).
When a task's trials change, a fresh storage and a fresh dashboard app replace the old ones
whole, studies in the same order so that their ids and the URLs a browser holds stay valid.
Requests that would change anything (notes, deletions, ``tell``) are refused: the truth is
kubetune's state, which the dashboard only shows.

Requests whose ``Host`` is neither an IP address, nor localhost, nor a name given with
``--allow-host`` are refused too: a web page the user visits could otherwise rebind its own name
to 127.0.0.1 (DNS rebinding) and read the trials through the browser. A page cannot make a
browser send an IP address or ``localhost`` as the Host of its own origin.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Iterable, Sequence
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from optuna.storages import InMemoryStorage

from ..api import HPOTask, Trial
from ..errors import KubetuneError, MissingDependency
from .source import TrialSource
from .study import add_study

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MIN_REFRESH = 0.1
"""Seconds: the shortest pause between two re-reads of the trials (0 would re-read without pause)."""

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def dashboard_app(storage: InMemoryStorage) -> WsgiApp:
    """Optuna Dashboard's WSGI app over ``storage`` (the optional ``optuna-dashboard`` package)."""
    try:
        from optuna_dashboard import wsgi  # noqa: PLC0415 - an optional dependency, imported when used
    except ImportError:
        raise MissingDependency("the dashboard needs optuna-dashboard: pip install 'kubetune[report]'") from None
    app: WsgiApp = wsgi(storage)
    return app


class Dashboard:
    """A WSGI app showing the tasks of ``sources``; call :meth:`refresh` to pick up new trials."""

    def __init__(self, sources: Sequence[TrialSource], allowed_hosts: Iterable[str] = ()) -> None:
        self.sources = list(sources)
        self.allowed_hosts = frozenset(h.lower().rstrip(".") for h in allowed_hosts)
        """Host names besides IP addresses and localhost that requests may name (a Service, an Ingress)."""
        self._seen: list[tuple[HPOTask, list[Trial]]] | None = None
        self._app: WsgiApp | None = None
        self.studies: list[str] = []
        self.refresh()

    def refresh(self) -> bool:
        """Re-read every source; rebuild the storage if anything changed. True when it did."""
        seen = [(source.load_task(), source.load_trials()) for source in self.sources]
        if seen == self._seen:
            return False
        storage = InMemoryStorage()
        self.studies = [add_study(storage, task, trials).study_name for task, trials in seen]
        self._app, self._seen = dashboard_app(storage), seen  # one assignment: requests see old or new
        return True

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        host = str(environ.get("HTTP_HOST") or "")
        if not self.host_allowed(host):
            body = (
                f"kubetune dashboard: the Host {host!r} is not this machine's; give --allow-host NAME "
                "to serve it under that name\n"
            ).encode()
            start_response("403 Forbidden", [("Content-Type", "text/plain; charset=utf-8")])
            return [body]
        if environ.get("REQUEST_METHOD", "GET") not in READ_METHODS:
            body = b"kubetune dashboard is read-only: the trials live in kubetune's state\n"
            start_response("405 Method Not Allowed", [("Content-Type", "text/plain"), ("Allow", "GET, HEAD")])
            return [body]
        assert self._app is not None
        return self._app(environ, start_response)

    def host_allowed(self, host: str) -> bool:
        """True when ``host`` (a Host header, port included) names this server without a DNS name a page controls."""
        name = _host_name(host)
        if not name:
            return False
        if name == "localhost" or name.endswith(".localhost") or name in self.allowed_hosts:
            return True  # *.localhost resolves to the loopback address in browsers, never through DNS
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True


def _host_name(host: str) -> str:
    """The name or address of a Host header: ``[::1]:8080`` -> ``::1``, ``Example.org.:80`` -> ``example.org``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else ""
    return host.rpartition(":")[0].rstrip(".") if ":" in host else host.rstrip(".")


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a browser's open connection must not keep Ctrl-C from ending the server


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *_: Any) -> None:  # the dashboard polls every few seconds: no line per request
        pass


def serve(
    dashboard: Dashboard,
    *,
    host: str,
    port: int,
    refresh: float,
    ready: Callable[[str], None],
    stop: threading.Event | None = None,
) -> None:
    """Serve ``dashboard`` until interrupted (or ``stop`` is set), refreshing it every ``refresh`` s."""
    stop = stop or threading.Event()
    refresh = max(refresh, MIN_REFRESH)
    try:
        server = make_server(host, port, dashboard, server_class=_Server, handler_class=_QuietHandler)
    except OSError as error:  # the port in use, an address this machine does not have
        raise KubetuneError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None

    def follow() -> None:
        while not stop.wait(refresh):
            try:
                dashboard.refresh()
            except KubetuneError:  # a state file being replaced, a task deleted: keep showing the last view
                continue
        server.shutdown()

    follower = threading.Thread(target=follow, name="dashboard-refresh", daemon=True)
    follower.start()
    bound_host, bound_port = server.server_address[:2]
    ready(f"http://{_display(str(bound_host))}:{bound_port}/dashboard")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        stop.set()
        server.server_close()


def _display(host: str) -> str:
    return "localhost" if host in ("0.0.0.0", "127.0.0.1", "::") else host

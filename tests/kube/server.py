"""The HTTP face of the emulator: Kubernetes REST paths, discovery, list/watch, subresources, pod logs."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from tests.kube import errors, selectors
from tests.kube import resources as r
from tests.kube.errors import ApiError
from tests.kube.resources import ResourceType
from tests.kube.store import Change, Obj, Store, now, parse_body, parse_timestamp
from tests.kube.workloads import Kubelet, format_log

logger = logging.getLogger(__name__)

JSON = "application/json"
USER = "system:serviceaccount:kubetune:kubetune"
"""Who every request comes from, as a refusal names the user (the emulator authenticates no one)."""
CRD_TEARDOWN_SECONDS = 1.0
"""How long the watches of a custom resource stay open after its CRD is gone: the API server tears
the storage down once requests in flight drain, a second at least (apiextensions-apiserver's
crdHandler.tearDown), and the watches end then."""
_JOB_DELETE_WARNING = (
    '299 - "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background '
    'to remove them or set propagationPolicy=Orphan to suppress this warning"'
)


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=json.dumps(body).encode(), status=status, content_type=JSON, headers=headers)


def _event(kind: str, obj: Obj) -> bytes:
    return json.dumps({"type": kind, "object": obj}).encode() + b"\n"


def _int_param(query: Mapping[str, str], name: str, minimum: int | None = None) -> int | None:
    if name not in query or query[name] == "":
        return None
    try:
        value = int(query[name])
    except ValueError as e:
        raise errors.bad_request(f"{name}: invalid value {query[name]!r}: must be an integer") from e
    if minimum is not None and value < minimum:
        raise ApiError(422, "Invalid", f"{name}: Invalid value: {value}: must be greater than or equal to {minimum}")
    return value


def _injected(code: int, path: str) -> ApiError:
    """An injected failure, worded as the API server words that code."""
    if code == 409:
        why = "the object has been modified; please apply your changes to the latest version and try again"
        return ApiError(409, "Conflict", f"Operation cannot be fulfilled on {path}: {why}")
    if code == 429:
        return ApiError(429, "TooManyRequests", "injected failure: too many requests")
    return ApiError(code, "InternalError", "injected failure")


def _manager(request: web.Request) -> str:
    """Who writes: the fieldManager a client names, else its user agent's product, as the API server takes it."""
    return request.query.get("fieldManager") or request.headers.get("User-Agent", "unknown").split("/")[0]


def _serves(crd: Obj, rt: ResourceType) -> bool:
    """Whether a CRD is the one that serves a resource type."""
    spec = crd.get("spec") or {}
    return (spec.get("group"), (spec.get("names") or {}).get("plural")) == (rt.group, rt.plural)


def request_key(method: str, path: str, query: Mapping[str, str]) -> tuple[str, str]:
    """A request's verb and resource, as the API server's request metrics name them (``list``, ``pods/log``)."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        rest = parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        rest = parts[3:]
    else:
        return "get", "discovery"
    if rest[0] == "namespaces" and len(rest) >= 3:
        rest = rest[2:]
    resource = "/".join([rest[0], *rest[2:3]])
    named = len(rest) > 1
    if method == "GET":
        verb = "watch" if query.get("watch") in ("true", "1") else ("get" if named else "list")
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, "")
        verb = verb or ("delete" if named else "deletecollection") if method == "DELETE" else verb or method.lower()
    return verb, resource


class ApiServer:
    def __init__(self, store: Store, kubelet: Kubelet, *, bookmark_interval: float = 1.0) -> None:
        self.store = store
        self.kubelet = kubelet
        self.bookmark_interval = bookmark_interval
        self.closing = asyncio.Event()
        # Open watch streams, for tests to wait on ("is the operator watching yet?"): (type, namespace, user agent).
        self.watches: list[tuple[ResourceType, str | None, str]] = []
        # Failures a test injects: (method, path fragment) -> how many more requests fail, and with which code.
        self.faults: dict[tuple[str, str], int] = {}
        self.fault_codes: dict[tuple[str, str], int] = {}
        # What RBAC refuses: (group, resource) -> verbs, everywhere (a ClusterRole that does not grant them).
        self.refusals: dict[tuple[str, str], frozenset[str]] = {}
        # Every request served, as the API server's apiserver_request_total counts them: (verb, resource).
        self.requests: collections.Counter[tuple[str, str]] = collections.Counter()
        # Bytes of the bodies answered (watch streams and log follows excluded), by the same key.
        self.response_bytes: collections.Counter[tuple[str, str]] = collections.Counter()
        # Time spent answering, by the same key (watch streams excluded): what the requests cost the server.
        self.handling_seconds: collections.defaultdict[tuple[str, str], float] = collections.defaultdict(float)
        self.app = web.Application(middlewares=[self._errors])
        self.app.router.add_route("*", "/{path:.*}", self._route)

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        key = request_key(request.method, request.path, request.query)
        self.requests[key] += 1
        began = time.perf_counter()
        response = await self._answer(request, handler)
        if key[0] != "watch":
            self.handling_seconds[key] += time.perf_counter() - began
        if isinstance(response, web.Response) and response.body is not None:
            self.response_bytes[key] += len(response.body) if isinstance(response.body, bytes) else 0
        return response

    async def _answer(self, request: web.Request, handler: Any) -> web.StreamResponse:
        for (method, fragment), left in self.faults.items():
            if left > 0 and request.method == method and fragment in request.path:
                self.faults[(method, fragment)] = left - 1
                code = self.fault_codes.get((method, fragment), 500)
                return _json(_injected(code, request.path).status(), code)
        try:
            response: web.StreamResponse = await handler(request)
        except ApiError as e:
            return _json(e.status(), e.code)
        except web.HTTPException:
            raise
        except Exception as e:
            # An emulator bug: answer as the API server would (a 500 Status) and leave a traceback in the log.
            logger.exception("emulator failed on %s %s", request.method, request.path_qs)
            return _json(ApiError(500, "InternalError", f"emulator error: {e!r}").status(), 500)
        return response

    # --- routing ---

    async def _route(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        if request.method == "GET":
            if not parts:
                return _json({"paths": self._paths()})
            if parts in (["healthz"], ["livez"], ["readyz"]):
                return web.Response(text="ok")
            if parts == ["version"]:
                return _json(
                    {"major": "1", "minor": "33", "gitVersion": "v1.33.0-kubetune-emulator", "platform": "linux/amd64"}
                )
            if parts == ["api"]:
                address = f"{request.host}"
                return _json(
                    {
                        "kind": "APIVersions",
                        "versions": ["v1"],
                        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
                    }
                )
            if parts == ["apis"]:
                return _json(
                    {"kind": "APIGroupList", "apiVersion": "v1", "groups": [self._group(g) for g in self._groups()]}
                )
            if len(parts) == 2 and parts[0] == "apis":
                if parts[1] not in self._groups():
                    raise ApiError(404, "NotFound", "the server could not find the requested resource")
                return _json({"kind": "APIGroup", "apiVersion": "v1", **self._group(parts[1])})
            if parts == ["api", "v1"] or (len(parts) == 3 and parts[0] == "apis"):
                return _json(self._resource_list("" if parts[0] == "api" else parts[1], parts[-1]))
        if parts[:1] == ["api"] and len(parts) >= 3:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return await self._resource_request(request, group, version, rest)

    async def _resource_request(
        self, request: web.Request, group: str, version: str, rest: list[str]
    ) -> web.StreamResponse:
        self._authorize(request, group, rest)
        if (group, rest[0]) == ("authorization.k8s.io", "selfsubjectaccessreviews") and request.method == "POST":
            return await self._access_review(request)
        namespace: str | None = None
        # /namespaces/NS/PLURAL/... is namespaced content, unless PLURAL is not a namespaced type here:
        # then it is the namespace object's own subresource (/api/v1/namespaces/NS/status).
        if rest[0] == "namespaces" and len(rest) >= 3:
            candidate = self.store.resolve(group, version, rest[2])
            if candidate is not None and candidate.namespaced:
                namespace, rest = rest[1], rest[2:]
        rt = self.store.resolve(group, version, rest[0])
        if rt is None or len(rest) > 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else None
        if subresource is not None and subresource not in rt.subresources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if rt.namespaced and namespace is None and request.method not in ("GET",):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if request.query.get("dryRun"):
            raise errors.bad_request("dryRun is not emulated")
        method = request.method
        if subresource == "log":
            if method != "GET":
                raise ApiError(
                    405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
                )
            return await self._logs(request, namespace, name or "")
        if name is None:
            if method == "GET" and request.query.get("watch") in ("true", "1"):
                return await self._watch(request, rt, namespace, None)
            if method == "GET":
                return self._list(request, rt, namespace)
            if method == "POST":
                body = parse_body(await request.read(), request.headers.get("Content-Type", ""))
                if not isinstance(body, dict):
                    raise errors.bad_request("the body must be a JSON object")
                return _json(self.store.create(rt, namespace, body, manager=_manager(request)), 201)
            if method == "DELETE":
                return await self._delete_collection(request, rt, namespace)
        else:
            if method == "GET" and request.query.get("watch") in ("true", "1"):
                return await self._watch(request, rt, namespace, name)
            if method == "GET":
                return _json(self.store.get(rt, namespace, name))
            if method == "PUT":
                body = parse_body(await request.read(), request.headers.get("Content-Type", ""))
                if not isinstance(body, dict):
                    raise errors.bad_request("the body must be a JSON object")
                return _json(self.store.replace(rt, namespace, name, body, subresource, manager=_manager(request)))
            if method == "PATCH":
                return _json(
                    self.store.patch(
                        rt,
                        namespace,
                        name,
                        await request.read(),
                        request.headers.get("Content-Type", ""),
                        subresource,
                        manager=_manager(request),
                    )
                )
            if method == "DELETE" and subresource is None:
                return await self._delete(request, rt, namespace, name)
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    # --- authorization: RBAC's refusals, and SelfSubjectAccessReviews that agree with them ---

    def _authorize(self, request: web.Request, group: str, rest: list[str]) -> None:
        """Refuse a request RBAC would refuse (before the resource is looked up: a kind that is not
        installed is refused all the same)."""
        namespace, parts = (rest[1], rest[2:]) if rest[0] == "namespaces" and len(rest) >= 3 else (None, rest)
        verb = request_key(request.method, request.path, request.query)[0]
        if verb in self.refusals.get((group, parts[0]), frozenset()):
            name = parts[1] if len(parts) > 1 else None
            raise errors.refused(USER, verb, group, parts[0], namespace, name)

    async def _access_review(self, request: web.Request) -> web.Response:
        """A SelfSubjectAccessReview: may the caller do this? (As the refusals above answer it.)"""
        body = parse_body(await request.read(), request.headers.get("Content-Type", ""))
        body = body if isinstance(body, dict) else {}
        attributes = (body.get("spec") or {}).get("resourceAttributes") or {}
        refused = attributes.get("verb") in self.refusals.get(
            (attributes.get("group") or "", attributes.get("resource") or ""), frozenset()
        )
        status = {"allowed": not refused}
        if not refused:
            status["reason"] = "the emulator refuses only what a test refuses"
        answer = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                  "metadata": {"creationTimestamp": None}, "spec": body.get("spec"), "status": status}  # fmt: skip
        return _json(answer, 201)

    # --- discovery ---

    def _groups(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for rt in self.store.types:
            if rt.group and rt.version not in groups.setdefault(rt.group, []):
                groups[rt.group].append(rt.version)
        return groups

    def _group(self, group: str) -> dict[str, Any]:
        versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in self._groups()[group]]
        return {"name": group, "versions": versions, "preferredVersion": versions[0]}

    def _paths(self) -> list[str]:
        paths = {"/api", "/api/v1", "/apis", "/version", "/healthz"}
        for group, versions in self._groups().items():
            paths |= {f"/apis/{group}"} | {f"/apis/{group}/{v}" for v in versions}
        return sorted(paths)

    def _resource_list(self, group: str, version: str) -> dict[str, Any]:
        types = [rt for rt in self.store.types if rt.group == group and rt.version == version]
        if not types:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        resources = []
        for rt in types:
            verbs = [v for v in r.STANDARD_VERBS if not (rt == r.NAMESPACES and v == "deletecollection")]
            entry = {
                "name": rt.plural,
                "singularName": rt.singular,
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": verbs,
            }
            if rt.short_names:
                entry["shortNames"] = list(rt.short_names)
            if rt.categories:
                entry["categories"] = list(rt.categories)
            resources.append(entry)
            for sub in sorted(rt.subresources):
                sub_verbs = {"log": ["get"], "finalize": ["update"]}.get(sub, ["get", "patch", "update"])
                resources.append(
                    {
                        "name": f"{rt.plural}/{sub}",
                        "singularName": "",
                        "namespaced": rt.namespaced,
                        "kind": rt.kind,
                        "verbs": sub_verbs,
                    }
                )
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources,
        }

    # --- list, watch, delete ---

    def _matcher(self, request: web.Request, rt: ResourceType, name: str | None) -> selectors.Matcher:
        labels = selectors.parse_label_selector(request.query.get("labelSelector"))
        fields = selectors.parse_field_selector(request.query.get("fieldSelector"), rt.selectable_fields)
        check = selectors.matcher(labels, fields)
        return check if name is None else lambda obj: obj["metadata"]["name"] == name and check(obj)

    def _list(self, request: web.Request, rt: ResourceType, namespace: str | None) -> web.Response:
        items, rv = self.store.list(rt, namespace, self._matcher(request, rt, None))
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        # Chunking: the continue token is the last name served (lists are in name order), as opaque to clients.
        limit = _int_param(request.query, "limit", 0)
        token = request.query.get("continue")
        if token:
            items = [
                i
                for i in items
                if (i["metadata"].get("namespace", ""), i["metadata"]["name"]) > tuple(json.loads(token))
            ]
        if limit and len(items) > limit:
            last = items[limit - 1]["metadata"]
            meta["continue"] = json.dumps([last.get("namespace", ""), last["name"]])
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        if not rt.custom:
            # Built-in lists are typed: their items carry no kind/apiVersion. Custom resource items do.
            for item in items:
                item.pop("kind", None)
                item.pop("apiVersion", None)
        return _json({"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "metadata": meta, "items": items})

    def _to_event(
        self, rt: ResourceType, change: Change, namespace: str | None, match: selectors.Matcher
    ) -> tuple[str, Obj] | None:
        """A change as this watcher sees it: entering or leaving its selector is an ADDED or a DELETED."""
        if change.rt.storage_key != rt.storage_key:
            return None
        if namespace is not None and change.obj["metadata"].get("namespace") != namespace:
            return None
        now_in = match(change.obj)
        was_in = change.old is not None and change.type != "DELETED" and match(change.old)
        kind: str | None = {
            ("ADDED", True, False): "ADDED",
            ("MODIFIED", True, True): "MODIFIED",
            ("MODIFIED", True, False): "ADDED",
            ("MODIFIED", False, True): "DELETED",
            ("DELETED", True, False): "DELETED",
        }.get((change.type, now_in, was_in))
        if kind is None:
            return None
        obj = dict(change.obj)
        obj["apiVersion"] = rt.api_version
        return kind, obj

    async def _watch(
        self, request: web.Request, rt: ResourceType, namespace: str | None, name: str | None
    ) -> web.StreamResponse:
        match = self._matcher(request, rt, name)
        since = request.query.get("resourceVersion") or None
        if since is not None and not since.isdigit():
            raise errors.bad_request(f"invalid resource version: {since}")
        timeout = _int_param(request.query, "timeoutSeconds", 0)
        bookmarks = request.query.get("allowWatchBookmarks") in ("true", "1")
        initial = request.query.get("sendInitialEvents") in ("true", "1")

        response = web.StreamResponse(headers={"Content-Type": JSON, "Transfer-Encoding": "chunked"})
        await response.prepare(request)
        # Subscribe and take the snapshot with no await in between: no change can fall in the gap or repeat.
        queue: asyncio.Queue[Change] = asyncio.Queue()
        self.store.listeners.append(queue.put_nowait)
        entry = (rt, namespace, request.headers.get("User-Agent", ""))
        self.watches.append(entry)
        try:
            backlog: list[bytes] = []
            if since is None or since == "0" or initial:
                for obj in self.store.iter_objects(rt, namespace):
                    if match(obj):
                        backlog.append(_event("ADDED", {**obj, "apiVersion": rt.api_version}))
                if initial:
                    end = {"kind": rt.kind, "apiVersion": rt.api_version,
                           "metadata": {"resourceVersion": str(self.store.last_rv),
                                        "annotations": {"k8s.io/initial-events-end": "true"}}}  # fmt: skip
                    backlog.append(_event("BOOKMARK", end))
            else:
                oldest = self.store.history[0].rv if self.store.history else self.store.last_rv + 1
                if int(since) < self.store.compacted_rv or int(since) < oldest - 1:
                    gone = errors.gone(
                        f"too old resource version: {since} ({max(oldest - 1, self.store.compacted_rv)})"
                    )
                    await response.write(_event("ERROR", gone.status()))
                    return response
                for change in list(self.store.history):
                    event = self._to_event(rt, change, namespace, match) if change.rv > int(since) else None
                    if event:
                        backlog.append(_event(*event))
            for line in backlog:
                await response.write(line)
            await self._stream(response, queue, rt, namespace, match, timeout, bookmarks)
        except (ConnectionResetError, asyncio.CancelledError):
            pass  # the client went away or the server stops: either way the stream is over
        finally:
            self.store.listeners.remove(queue.put_nowait)
            self.watches.remove(entry)
        return response

    async def _stream(
        self,
        response: web.StreamResponse,
        queue: asyncio.Queue[Change],
        rt: ResourceType,
        namespace: str | None,
        match: selectors.Matcher,
        timeout: int | None,
        bookmarks: bool,
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout else None
        closing = asyncio.ensure_future(self.closing.wait())
        try:
            while not self.closing.is_set():
                wait = self.bookmark_interval if bookmarks else 3600.0
                if deadline is not None:
                    wait = min(wait, deadline - loop.time())
                    if wait <= 0:
                        return
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, closing}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    if bookmarks and not self.closing.is_set():
                        mark = {
                            "kind": rt.kind,
                            "apiVersion": rt.api_version,
                            "metadata": {"resourceVersion": str(self.store.last_rv)},
                        }
                        await response.write(_event("BOOKMARK", mark))
                    continue
                change = getter.result()
                if change.type == "DELETED" and change.rt == r.CRDS and _serves(change.obj, rt):
                    torn_down = loop.time() + CRD_TEARDOWN_SECONDS
                    deadline = torn_down if deadline is None else min(deadline, torn_down)
                event = self._to_event(rt, change, namespace, match)
                if event is not None:
                    await response.write(_event(*event))
        finally:
            closing.cancel()

    async def _delete(self, request: web.Request, rt: ResourceType, namespace: str | None, name: str) -> web.Response:
        options = await self._delete_options(request)
        obj, gone = self.store.delete(rt, namespace, name, **options)
        headers = {"Warning": _JOB_DELETE_WARNING} if rt == r.JOBS and options["propagation"] is None else None
        # 200 with the last state when it is gone; 202 Accepted while finalizers or a grace period hold it.
        return _json(obj, 200 if gone else 202, headers)

    async def _delete_options(self, request: web.Request) -> dict[str, Any]:
        body = (
            parse_body(await request.read(), request.headers.get("Content-Type", "")) if request.can_read_body else None
        )
        body = body if isinstance(body, dict) else {}
        query = request.query
        policy = query.get("propagationPolicy") or body.get("propagationPolicy")
        orphan = query.get("orphanDependents") or body.get("orphanDependents")
        if policy is None and orphan is not None:
            policy = "Orphan" if str(orphan).lower() == "true" else "Background"
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise ApiError(
                422,
                "Invalid",
                f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "{policy}"',
            )
        grace = _int_param(query, "gracePeriodSeconds", 0)
        if grace is None and body.get("gracePeriodSeconds") is not None:
            grace = int(body["gracePeriodSeconds"])
        return {"propagation": policy, "preconditions": body.get("preconditions"), "grace_period": grace}

    async def _delete_collection(self, request: web.Request, rt: ResourceType, namespace: str | None) -> web.Response:
        options = await self._delete_options(request)
        items, _ = self.store.list(rt, namespace, self._matcher(request, rt, None))
        deleted = []
        for item in items:
            with contextlib.suppress(ApiError):
                deleted.append(
                    self.store.delete(rt, item["metadata"].get("namespace"), item["metadata"]["name"], **options)[0]
                )
        return _json(
            {
                "kind": f"{rt.kind}List",
                "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": str(self.store.last_rv)},
                "items": deleted,
            }
        )

    # --- pod logs ---

    async def _logs(self, request: web.Request, namespace: str | None, name: str) -> web.StreamResponse:
        query = request.query
        pod = self.store.get(r.PODS, namespace, name)
        since_seconds = _int_param(query, "sinceSeconds", 1)
        if since_seconds is not None and query.get("sinceTime"):
            raise ApiError(
                422,
                "Invalid",
                f'PodLogOptions "{name}" is invalid: '
                "sinceSeconds: at most one of sinceTime or sinceSeconds may be specified",
            )
        since_dt: datetime.datetime | None = None
        if since_seconds is not None:
            since_dt = now() - datetime.timedelta(seconds=since_seconds)
        elif query.get("sinceTime"):
            try:
                since_dt = parse_timestamp(query["sinceTime"])
            except ValueError as e:
                raise errors.bad_request(f"sinceTime: invalid value {query['sinceTime']!r}") from e
        tail = _int_param(query, "tailLines", 0)
        limit = _int_param(query, "limitBytes", 1)
        timestamps = query.get("timestamps") in ("true", "1")
        previous = query.get("previous") in ("true", "1")
        lines, container, attempt = self.kubelet.log_lines(
            pod, query.get("container"), previous=previous, since=since_dt
        )
        data = format_log(lines, timestamps=timestamps, tail=tail, limit_bytes=limit)
        if query.get("follow") not in ("true", "1") or previous:
            return web.Response(body=data, content_type="text/plain")

        # follow: stream what is there, then new lines until the container stops (or limitBytes is reached).
        response = web.StreamResponse(headers={"Content-Type": "text/plain", "Transfer-Encoding": "chunked"})
        await response.prepare(request)
        sent, budget = len(lines), (limit - len(data)) if limit is not None else None
        await response.write(data)
        with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
            while budget is None or budget > 0:
                changed = self.kubelet.log_changed(pod)
                running = self.kubelet.is_running(pod, container, attempt)
                if changed is not None and running:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), timeout=0.1)
                current, _, _ = (
                    self.kubelet.log_lines(pod, container, since=since_dt)
                    if self.store.by_uid(pod["metadata"]["uid"])
                    else ([], "", 0)
                )
                chunk = format_log(current[sent:], timestamps=timestamps, tail=None, limit_bytes=budget)
                sent = max(sent, len(current))
                if chunk:
                    await response.write(chunk)
                    budget = None if budget is None else budget - len(chunk)
                if changed is None or not running or self.closing.is_set():
                    break
        return response

"""The emulated API server's storage and write semantics, independent of HTTP.

Everything here is synchronous and runs on the emulator's event loop only, so every write is atomic without
locks. Stored objects are never mutated in place: a write stores a new dict, so watch events and history can
share them safely. Public methods take and return copies.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import datetime
import itertools
import json
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import jsonpatch
import jsonpointer
import yaml

from tests.kube import errors, schema, strategies
from tests.kube import resources as r
from tests.kube.errors import ApiError
from tests.kube.resources import GcPolicy, ResourceType
from tests.kube.selectors import Matcher

Obj = dict[str, Any]
Key = tuple[str, str, str, str]  # group, plural, namespace ("" when cluster-scoped), name
EventType = Literal["ADDED", "MODIFIED", "DELETED"]

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# The random suffix alphabet of generateName: no vowels (no words) and no look-alike characters.
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


def timestamp(moment: datetime.datetime | None = None) -> str:
    """RFC 3339 with second precision, as metadata timestamps are serialized."""
    return (moment or now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(length))


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, null removes a key, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


@dataclasses.dataclass(frozen=True)
class Change:
    """One committed write, as watchers and controllers see it."""

    rv: int
    type: EventType
    rt: ResourceType
    obj: Obj  # the new state; for DELETED, the last state with the deletion's resourceVersion
    old: Obj | None

    @property
    def key(self) -> Key:
        meta = self.obj["metadata"]
        return (self.rt.group, self.rt.plural, meta.get("namespace", ""), meta["name"])


class Store:
    def __init__(self, *, history_limit: int = 10_000) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        self._objects: dict[Key, Obj] = {}
        # Per type, as etcd keeps them under one prefix: a list of one type never walks the others.
        self._by_type: dict[tuple[str, str], dict[Key, Obj]] = collections.defaultdict(dict)
        self._by_uid: dict[str, Key] = {}
        self._rv = itertools.count(1)
        self.last_rv = 0
        self.history: collections.deque[Change] = collections.deque(maxlen=history_limit)
        # The oldest resourceVersion a watch can resume from; older ones get 410 Gone, as after etcd compaction.
        self.compacted_rv = 0
        self.listeners: list[Callable[[Change], None]] = []
        # Mutating admission (webhooks) on create: each may change the object before it is stored.
        self.admission: list[Callable[[ResourceType, Obj], None]] = []
        for rt in r.BUILTIN_TYPES:
            self.register(rt)

    # --- resource types ---

    def register(self, rt: ResourceType) -> None:
        self._types[(rt.group, rt.version, rt.plural)] = rt

    def unregister(self, group: str, plural: str) -> None:
        for key in [k for k in self._types if k[0] == group and k[2] == plural]:
            del self._types[key]

    def resolve(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    @property
    def types(self) -> list[ResourceType]:
        return list(self._types.values())

    def find_type(self, name: str) -> ResourceType:
        """A type by a loose name ("pods", "Job", "hpotasks.kubetune.io", "hpo"); the core group wins ties."""
        found = sorted(
            (rt for rt in self._types.values() if rt.matches(name)), key=lambda rt: (rt.group != "", rt.group)
        )
        if not found:
            raise KeyError(f"no resource type is named {name!r}")
        return found[0]

    def type_for(self, api_version: str, kind: str) -> ResourceType | None:
        for rt in self._types.values():
            if rt.api_version == api_version and rt.kind == kind:
                return rt
        return None

    # --- reads ---

    def _key(self, rt: ResourceType, namespace: str | None, name: str) -> Key:
        return (rt.group, rt.plural, (namespace or "") if rt.namespaced else "", name)

    def peek(self, rt: ResourceType, namespace: str | None, name: str) -> Obj | None:
        """The stored object itself (do not mutate), or None."""
        return self._objects.get(self._key(rt, namespace, name))

    def by_uid(self, uid: str) -> Obj | None:
        key = self._by_uid.get(uid)
        return self._objects.get(key) if key else None

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        obj = self.peek(rt, namespace, name)
        if obj is None:
            raise errors.not_found(rt, name)
        return self._present(rt, obj)

    def iter_objects(self, rt: ResourceType, namespace: str | None = None) -> Iterable[Obj]:
        """Stored objects of a type (do not mutate), in name order."""
        # Select, then sort: sorting every stored object on each call made the emulator O(N log N) per
        # controller sync, and a 2,000-trial benchmark measured the emulator rather than the operator.
        of_type = self._by_type.get(rt.storage_key, {})
        keys = [k for k in of_type if namespace is None or k[2] == namespace]
        for key in sorted(keys):
            yield of_type[key]

    def list(self, rt: ResourceType, namespace: str | None, match: Matcher | None = None) -> tuple[list[Obj], int]:
        items = [self._present(rt, obj) for obj in self.iter_objects(rt, namespace) if match is None or match(obj)]
        return items, self.last_rv

    def _present(self, rt: ResourceType, obj: Obj) -> Obj:
        """A copy as served at this version (objects are stored once per group, served at any version)."""
        result = copy.deepcopy(obj)
        result["apiVersion"] = rt.api_version
        return result

    # --- writes ---

    def _commit(self, rt: ResourceType, kind: EventType, new: Obj, old: Obj | None) -> Obj:
        rv = next(self._rv)
        self.last_rv = rv
        new["metadata"]["resourceVersion"] = str(rv)
        key = self._key(rt, new["metadata"].get("namespace"), new["metadata"]["name"])
        if kind == "DELETED":
            self._objects.pop(key, None)
            self._by_type[key[:2]].pop(key, None)
            self._by_uid.pop(new["metadata"]["uid"], None)
        else:
            self._objects[key] = new
            self._by_type[key[:2]][key] = new
            self._by_uid[new["metadata"]["uid"]] = key
        change = Change(rv, kind, rt, new, old)
        self.history.append(change)
        if rt == r.CRDS:
            self._sync_crd(change)
        for listener in list(self.listeners):
            listener(change)
        return new

    def compact(self) -> None:
        """Forget the history, as etcd compaction does: watches from older versions then get 410 Gone."""
        self.history.clear()
        self.compacted_rv = self.last_rv

    def create(
        self, rt: ResourceType, namespace: str | None, body: Mapping[str, Any], *, manager: str | None = None
    ) -> Obj:
        obj: Obj = copy.deepcopy(dict(body))
        if not isinstance(obj.get("metadata", {}), dict):
            raise errors.bad_request("metadata must be an object")
        self._check_kind(rt, obj)
        meta = obj.setdefault("metadata", {})
        namespace = self._check_namespace(rt, namespace, meta)
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise errors.invalid(
                    rt, "", "metadata.name", "Required value: name or generateName is required", "FieldValueRequired"
                )
            meta["name"] = meta["generateName"] + random_suffix()
        name = meta["name"]
        strategies.validate_name(rt, name)
        strategies.validate_owner_references(rt, name, meta)
        if meta.get("resourceVersion"):  # etcd3's store.Create, before it looks for the name
            raise errors.unclassified("resourceVersion should not be set on objects to be created")
        if self.peek(rt, namespace, name) is not None:
            raise errors.already_exists(rt, name)
        for field in (
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "selfLink",
        ):
            meta.pop(field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = timestamp()
        if rt.tracks_generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        strategies.prepare_create(rt, obj)
        for admit in self.admission:
            admit(rt, obj)
        self._apply_schema(rt, obj, name)
        _manage(rt, obj, manager, None)
        return self._present(rt, self._commit(rt, "ADDED", obj, None))

    def _check_kind(self, rt: ResourceType, obj: Obj) -> None:
        if obj.get("kind", rt.kind) != rt.kind or obj.get("apiVersion", rt.api_version) != rt.api_version:
            raise errors.bad_request(
                f"the API version in the data ({obj.get('apiVersion')}) "
                f"does not match the expected API version ({rt.api_version})"
                if obj.get("apiVersion", rt.api_version) != rt.api_version
                else f"the kind in the data ({obj.get('kind')}) does not match the expected kind ({rt.kind})"
            )
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind

    def _check_namespace(self, rt: ResourceType, namespace: str | None, meta: Obj) -> str | None:
        if not rt.namespaced:
            meta.pop("namespace", None)
            return None
        if not namespace:
            raise errors.bad_request("the server could not find the requested resource")  # no namespace in the URL
        if meta.get("namespace", namespace) != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        meta["namespace"] = namespace
        ns = self.peek(r.NAMESPACES, None, namespace)
        if ns is None:
            raise errors.namespace_not_found(namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(
                f'{rt.kind.lower()}s "{meta.get("name") or meta.get("generateName", "")}" is forbidden: '
                f"unable to create new content in namespace {namespace} because it is being terminated"
            )
        return namespace

    def _apply_schema(self, rt: ResourceType, obj: Obj, name: str) -> None:
        if not rt.custom or rt.schema is None:
            return
        # apiVersion, kind and metadata are the API server's, whatever the CRD schema says.
        kept = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": obj["metadata"]}
        pruned = schema.apply_defaults(schema.prune(obj, rt.schema), rt.schema)
        obj.clear()
        obj.update(kept)
        obj.update({k: v for k, v in pruned.items() if k not in kept})
        problems = schema.validation_errors(obj, rt.schema)
        if problems:
            field, message = problems[0]
            raise errors.invalid(rt, name, field, f"Invalid value: {message}")

    def replace(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: Mapping[str, Any],
        subresource: str | None = None,
        *,
        manager: str | None = None,
    ) -> Obj:
        current = self.peek(rt, namespace, name)
        if current is None:
            raise errors.not_found(rt, name)
        new = copy.deepcopy(dict(body))
        self._check_kind(rt, new)
        meta = new.get("metadata")
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if meta.get("name", name) != name:
            raise errors.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        if rt.namespaced and meta.get("namespace", namespace) != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        meta.setdefault("name", name)
        # PUT without a resourceVersion is an unconditional update; with one, it is compare-and-swap.
        if not meta.get("resourceVersion"):
            meta["resourceVersion"] = current["metadata"]["resourceVersion"]
        return self._update(rt, current, new, subresource, manager=manager)

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: bytes,
        content_type: str,
        subresource: str | None = None,
        *,
        manager: str | None = None,
    ) -> Obj:
        current = self.peek(rt, namespace, name)
        if current is None:
            raise errors.not_found(rt, name)
        content_type = content_type.split(";", maxsplit=1)[0].strip()
        accepted = (
            [JSON_PATCH, MERGE_PATCH, APPLY_PATCH]
            if rt.custom
            else [JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH]
        )
        if content_type not in accepted:
            raise errors.unsupported_media_type(", ".join(accepted))
        if content_type == APPLY_PATCH:
            raise ApiError(415, "UnsupportedMediaType", "server-side apply is not emulated; use a merge or JSON patch")
        try:
            patch = json.loads(body or b"null")
        except ValueError as e:
            raise errors.bad_request(f"error decoding patch: {e}") from e
        base = self._present(rt, current)
        if content_type == JSON_PATCH:
            if not isinstance(patch, list):
                raise errors.bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
            try:
                new = jsonpatch.JsonPatch(patch).apply(base)
            except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
                # The real server answers 422 for any patch that fails to apply, `test` ops included.
                raise ApiError(422, "Invalid", str(e)) from e
        else:
            # Strategic merge on built-ins is treated as a merge patch: lists are replaced, not merged by key.
            if not isinstance(patch, dict):
                raise errors.bad_request("json: cannot unmarshal into Go value of type map[string]interface {}")
            new = merge_patch(base, patch)
        if not isinstance(new.get("metadata"), dict) or new["metadata"].get("name") != name:
            raise errors.invalid(rt, name, "metadata.name", "Invalid value: field is immutable")
        return self._update(rt, current, new, subresource, manager=manager)

    def update(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        mutate: Callable[[Obj], None],
        subresource: str | None = None,
        *,
        system: bool = False,
    ) -> Obj:
        """For the emulated controllers: mutate a copy of the latest state and write it (never conflicts)."""
        current = self.peek(rt, namespace, name)
        if current is None:
            raise errors.not_found(rt, name)
        new = copy.deepcopy(current)
        mutate(new)
        return self._update(rt, current, new, subresource, system=system)

    def _update(
        self,
        rt: ResourceType,
        current: Obj,
        candidate: Obj,
        subresource: str | None,
        *,
        system: bool = False,
        manager: str | None = None,
    ) -> Obj:
        name = current["metadata"]["name"]
        if subresource == "finalize" and rt == r.NAMESPACES:
            # namespaces/finalize writes spec.finalizers only: what the namespace controller uses to let go.
            finalized = copy.deepcopy(current)
            finalized.setdefault("spec", {})["finalizers"] = (candidate.get("spec") or {}).get("finalizers") or []
            candidate, subresource = finalized, None
        elif subresource not in (None, "status"):
            raise ApiError(
                405,
                "MethodNotAllowed",
                f"the server does not allow this method on the requested resource ({subresource})",
            )
        cmeta = candidate["metadata"]
        if cmeta.get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise errors.conflict(rt, name)
        if cmeta.get("uid") and cmeta["uid"] != current["metadata"]["uid"]:
            raise errors.conflict(
                rt,
                name,
                f"Precondition failed: UID in precondition: {current['metadata']['uid']}, "
                f"UID in object meta: {cmeta['uid']}",
            )

        if subresource == "status":
            # A status write changes status only: everything else comes from the stored object.
            new = copy.deepcopy(current)
            if "status" in candidate:
                new["status"] = candidate["status"]
            else:
                new.pop("status", None)
        else:
            new = candidate
            if rt.has_status:  # and a main-resource write changes everything but status
                if "status" in current:
                    new["status"] = copy.deepcopy(current["status"])
                else:
                    new.pop("status", None)
            meta, old_meta = new["metadata"], current["metadata"]
            for field in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "namespace",
            ):
                if field in old_meta:
                    meta[field] = old_meta[field]
                else:
                    meta.pop(field, None)
            # managedFields are the server's: a client's copy is ignored, the stored one carried on.
            meta.pop("managedFields", None)
            if "managedFields" in old_meta:
                meta["managedFields"] = copy.deepcopy(old_meta["managedFields"])
            strategies.validate_owner_references(rt, name, meta)
            if old_meta.get("deletionTimestamp"):
                added = set(meta.get("finalizers") or ()) - set(old_meta.get("finalizers") or ())
                if added:
                    raise errors.invalid(
                        rt,
                        name,
                        "metadata.finalizers",
                        "Forbidden: no new finalizers can be added if the object is being deleted",
                        "FieldValueForbidden",
                    )
            if not system:
                strategies.validate_update(rt, current, new)
        new["apiVersion"], new["kind"] = current["apiVersion"], current["kind"]
        self._apply_schema(rt, new, name)

        # A no-op write is not a write: no new resourceVersion, no watch event.
        if new == current:
            return self._present(rt, current)
        if rt.tracks_generation:
            ignored = {"metadata", "status"} if rt.has_status else {"metadata"}
            if {k: v for k, v in new.items() if k not in ignored} != {
                k: v for k, v in current.items() if k not in ignored
            }:
                new["metadata"]["generation"] = current["metadata"].get("generation", 0) + 1
        meta = new["metadata"]
        if not meta.get("finalizers"):
            meta.pop("finalizers", None)
        _manage(rt, new, manager, subresource)
        if (
            meta.get("deletionTimestamp")
            and not meta.get("finalizers")
            and not meta.get("deletionGracePeriodSeconds")
            and not _spec_finalizers(rt, new)
        ):
            # The last finalizer is gone: the object goes away in this very write (one DELETED event).
            return self._present(rt, self._commit(rt, "DELETED", new, current))
        return self._present(rt, self._commit(rt, "MODIFIED", new, current))

    def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        *,
        propagation: GcPolicy | None = None,
        preconditions: Mapping[str, Any] | None = None,
        grace_period: int | None = None,
    ) -> tuple[Obj, bool]:
        """Delete or mark for deletion; returns the object and whether it is gone already."""
        current = self.peek(rt, namespace, name)
        if current is None:
            raise errors.not_found(rt, name)
        meta = current["metadata"]
        for field, what in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            expected = (preconditions or {}).get(field)
            if expected and expected != meta[field]:
                why = f"Precondition failed: {what} in precondition: {expected}, {what} in object meta: {meta[field]}"
                raise errors.conflict(rt, name, why)
        policy = propagation or rt.default_gc_policy
        finalizers = list(meta.get("finalizers") or ())
        gc_finalizer = {"Orphan": "orphan", "Foreground": "foregroundDeletion"}.get(policy)
        if gc_finalizer and gc_finalizer not in finalizers:
            finalizers.append(gc_finalizer)
        # A pod bound to a node is deleted gracefully: the kubelet stops it, then removes it with grace 0.
        graceful = (
            rt == r.PODS
            and bool((current.get("spec") or {}).get("nodeName"))
            and (current.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            and (grace_period is None or grace_period > 0)
        )
        # A namespace is finalized by the namespace controller (spec.finalizers), after its content is gone.
        if not finalizers and not graceful and not _spec_finalizers(rt, current):
            return self._present(rt, self._commit(rt, "DELETED", copy.deepcopy(current), current)), True
        new = copy.deepcopy(current)
        if rt == r.NAMESPACES:
            new.setdefault("status", {})["phase"] = "Terminating"
        nmeta = new["metadata"]
        nmeta["finalizers"] = finalizers
        if not finalizers:
            del nmeta["finalizers"]
        if not nmeta.get("deletionTimestamp"):
            nmeta["deletionTimestamp"] = timestamp()
            if rt.tracks_generation:
                nmeta["generation"] = nmeta.get("generation", 0) + 1
        spec_grace = (current.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        nmeta["deletionGracePeriodSeconds"] = (
            (grace_period if grace_period is not None else spec_grace) if graceful else 0
        )
        if new == current:
            return self._present(rt, current), False
        return self._present(rt, self._commit(rt, "MODIFIED", new, current)), False

    # --- CustomResourceDefinitions: creating one serves its resource; deleting one removes its objects ---

    def _sync_crd(self, change: Change) -> None:
        crd = change.obj
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        self.unregister(group, plural)
        if change.type == "DELETED":
            for key in list(self._by_type.get((group, plural), {})):
                obj = self._objects[key]
                rt = self.type_for(obj["apiVersion"], obj["kind"]) or r.types_from_crd(crd)[0]
                self._commit(rt, "DELETED", copy.deepcopy(obj), obj)
            return
        for rt in r.types_from_crd(crd):
            self.register(rt)

    def install_crd(self, crd: Mapping[str, Any]) -> Obj:
        """Create a CRD (or replace its spec) and mark it Established, as the apiextensions controller would."""
        name = crd["metadata"]["name"]
        existing = self.peek(r.CRDS, None, name)
        if existing is None:
            self.create(r.CRDS, None, crd)
        else:
            self.update(r.CRDS, None, name, lambda obj: obj.update(spec=copy.deepcopy(crd["spec"])), system=True)
        return self.establish_crd(name)

    def establish_crd(self, name: str) -> Obj:
        def establish(obj: Obj) -> None:
            moment = timestamp()
            conditions = [
                {"type": t, "status": "True", "reason": reason, "message": message, "lastTransitionTime": moment}
                for t, reason, message in (
                    ("NamesAccepted", "NoConflicts", "no conflicts found"),
                    ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
                )
            ]
            obj["status"] = {"acceptedNames": copy.deepcopy(obj["spec"]["names"]), "conditions": conditions,
                             "storedVersions": [v["name"] for v in obj["spec"]["versions"]
                                                if v.get("storage")]}  # fmt: skip

        crd = self.peek(r.CRDS, None, name)
        if crd is not None and any(c["type"] == "Established" for c in (crd.get("status") or {}).get("conditions", [])):
            return self._present(r.CRDS, crd)
        return self.update(r.CRDS, None, name, establish, "status", system=True)


_SERVER_META = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "deletionTimestamp")
_LIST_KEYS = ("name", "type", "key", "mountPath", "containerPort", "ip")


def fields_v1(value: Any) -> Any:
    """The FieldsV1 set of a value: every field it sets, keyed as the API server keys them."""
    if isinstance(value, dict):
        return {f"f:{k}": fields_v1(v) for k, v in value.items()}
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        out: dict[str, Any] = {}
        for i, item in enumerate(value):
            key = next((k for k in _LIST_KEYS if k in item), None)
            label = f"k:{json.dumps({key: item[key]}, separators=(',', ':'))}" if key else f"i:{i}"
            out[label] = {".": {}, **fields_v1(item)}
        return out
    return {}


def _manage(rt: ResourceType, obj: Obj, manager: str | None, subresource: str | None) -> None:
    """Record the writer's fields in metadata.managedFields, as server-side field tracking does for any write.

    The emulator counts the whole part of the object a write touched (its status, or the rest) as the
    writer's: close to what the API server records, and as large, which is what lists and watches pay for.
    """
    if manager is None:  # the emulated controllers: the kubelet writes pod status, the controller manager the rest
        manager = "kubelet" if rt == r.PODS and subresource == "status" else "kube-controller-manager"
    meta = obj["metadata"]
    if subresource == "status":
        part = {"f:status": fields_v1(obj.get("status") or {})}
    else:
        visible = {k: v for k, v in obj.items() if k not in ("status", "apiVersion", "kind", "metadata")}
        visible["metadata"] = {
            k: v for k, v in meta.items() if k not in _SERVER_META and k not in ("name", "namespace")
        }
        part = fields_v1(visible)
    entries = [
        e for e in meta.get("managedFields") or [] if (e["manager"], e.get("subresource")) != (manager, subresource)
    ]
    entry = {"manager": manager, "operation": "Update", "apiVersion": obj.get("apiVersion", rt.api_version),
             "time": timestamp(), "fieldsType": "FieldsV1", "fieldsV1": part}  # fmt: skip
    if subresource:
        entry["subresource"] = subresource
    meta["managedFields"] = [*entries, entry]


def _spec_finalizers(rt: ResourceType, obj: Obj) -> list[str]:
    return list((obj.get("spec") or {}).get("finalizers") or ()) if rt == r.NAMESPACES else []


def parse_body(body: bytes, content_type: str) -> Any:
    """Request bodies are JSON, or YAML as kubectl may send; protobuf is not emulated."""
    kind = content_type.split(";", maxsplit=1)[0].strip()
    try:
        if kind in ("application/yaml", "application/apply-patch+yaml"):
            return yaml.safe_load(body)
        if kind in ("application/json", "", "*/*") or kind.endswith("+json"):
            return json.loads(body or b"null")
    except (ValueError, yaml.YAMLError) as e:
        raise errors.bad_request(f"the body could not be decoded: {e}") from e
    raise errors.unsupported_media_type("application/json, application/yaml")

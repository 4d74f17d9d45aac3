"""The control-plane controllers an operator relies on without noticing: garbage collector, namespaces, CRDs.

They run as tasks on the emulator's loop and react to store changes asynchronously, as the real ones do:
a test sees a dependent disappear shortly after its owner, not within the owner's DELETE call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from tests.kube import resources as r
from tests.kube.errors import ApiError
from tests.kube.resources import ResourceType
from tests.kube.store import Change, Obj, Store

logger = logging.getLogger(__name__)


def _refs(obj: Obj) -> list[dict[str, Any]]:
    return list(obj["metadata"].get("ownerReferences") or ())


def _owner_uids(obj: Obj) -> set[str]:
    return {ref["uid"] for ref in _refs(obj)}


def _ignore_gone(fn: Any, *args: Any, **kwargs: Any) -> None:
    """Controllers race with clients exactly as on a cluster: an object may vanish or change under them."""
    try:
        fn(*args, **kwargs)
    except ApiError as e:
        if e.code not in (404, 409):
            raise


class ControlPlane:
    """The garbage collector (owner references, orphan and foreground deletion), namespaces, CRDs.

    Like the real garbage collector it keeps a graph of owners and dependents from the changes it
    sees, and looks again only at what a change concerns: the object itself, its dependents when it
    goes, its owners when a dependent goes. A pass over every stored object per write made the
    emulator, not the operator, the cost of a 2,000-trial benchmark.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._wake = asyncio.Event()
        self._dirty: set[str] = set()
        self._dependents: dict[str, set[str]] = {}
        for rt in store.types:
            if rt.version == self._storage_version(rt):
                for obj in store.iter_objects(rt):
                    self._note(obj["metadata"]["uid"], set(), _owner_uids(obj))
                    self._dirty.add(obj["metadata"]["uid"])
        store.listeners.append(self._on_change)

    def _note(self, uid: str, before: set[str], after: set[str]) -> None:
        for owner in before - after:
            dependents = self._dependents.get(owner)
            if dependents is not None:
                dependents.discard(uid)
                if not dependents:
                    del self._dependents[owner]
        for owner in after:
            self._dependents.setdefault(owner, set()).add(uid)

    def _on_change(self, change: Change) -> None:
        meta = change.obj["metadata"]
        uid = meta["uid"]
        before = _owner_uids(change.old) if change.old is not None else set()
        after = set() if change.type == "DELETED" else _owner_uids(change.obj)
        self._note(uid, before, after)
        if change.type == "DELETED":
            self._dirty.update(self._dependents.get(uid, ()))  # they may be orphans now
            self._dirty.update(before | _owner_uids(change.obj))  # an owner may wait for this one to go
        else:
            self._dirty.add(uid)
        namespace = meta.get("namespace")
        if namespace:  # a namespace being deleted waits for its content to go
            owner_ns = self.store.peek(r.NAMESPACES, None, namespace)
            if owner_ns is not None and owner_ns["metadata"].get("deletionTimestamp"):
                self._dirty.add(owner_ns["metadata"]["uid"])
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(0)  # let a burst of writes land before one pass over them
            try:
                self.reconcile()
            except Exception:  # a controller bug must be loud, but must not stop the emulator
                logger.exception("emulated control plane failed")

    def _type_of(self, obj: Obj) -> ResourceType | None:
        return self.store.type_for(obj["apiVersion"], obj["kind"])

    def _storage_version(self, rt: ResourceType) -> str:
        # Objects are stored once per group and plural; visit them through one version only.
        return min(t.version for t in self.store.types if t.storage_key == rt.storage_key)

    def reconcile(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for uid in sorted(dirty):
            obj = self.store.by_uid(uid)
            rt = self._type_of(obj) if obj is not None else None
            if obj is None or rt is None:
                continue
            meta = obj["metadata"]
            if rt == r.CRDS and not (obj.get("status") or {}).get("conditions"):
                _ignore_gone(self.store.establish_crd, meta["name"])
            if meta.get("deletionTimestamp"):
                self._finalize(rt, obj, self._dependents_of(uid))
            elif _refs(obj):
                self._collect_if_orphaned(rt, obj)

    def _dependents_of(self, uid: str) -> list[tuple[ResourceType, Obj, dict[str, Any]]]:
        found = []
        for dependent_uid in sorted(self._dependents.get(uid, ())):
            dep = self.store.by_uid(dependent_uid)
            drt = self._type_of(dep) if dep is not None else None
            if dep is None or drt is None:
                continue
            found += [(drt, dep, ref) for ref in _refs(dep) if ref["uid"] == uid]
        return found

    def _finalize(
        self,
        rt: ResourceType,
        obj: Obj,
        deps: list[tuple[ResourceType, Obj, dict[str, Any]]],
    ) -> None:
        meta = obj["metadata"]
        finalizers = list(meta.get("finalizers") or ())
        ns, name = meta.get("namespace"), meta["name"]
        if "orphan" in finalizers:
            # Orphan: dependents lose their reference to this owner and stay; then the owner may go.
            for drt, dep, _ in deps:
                dmeta = dep["metadata"]
                keep = [ref for ref in _refs(dep) if ref["uid"] != meta["uid"]]
                _ignore_gone(
                    self.store.update,
                    drt,
                    dmeta.get("namespace"),
                    dmeta["name"],
                    lambda o, k=keep: _set_refs(o, k),
                    system=True,
                )
            _ignore_gone(self.store.update, rt, ns, name, lambda o: _drop_finalizer(o, "orphan"), system=True)
        elif "foregroundDeletion" in finalizers:
            # Foreground: dependents are deleted first; the owner waits for the blocking ones to be gone.
            for drt, dep, ref in deps:
                if not dep["metadata"].get("deletionTimestamp"):
                    policy = "Foreground" if ref.get("blockOwnerDeletion") else "Background"
                    _ignore_gone(
                        self.store.delete,
                        drt,
                        dep["metadata"].get("namespace"),
                        dep["metadata"]["name"],
                        propagation=policy,
                    )
            if not any(ref.get("blockOwnerDeletion") for _, _, ref in deps):
                _ignore_gone(
                    self.store.update, rt, ns, name, lambda o: _drop_finalizer(o, "foregroundDeletion"), system=True
                )
        if rt == r.NAMESPACES:
            content = [
                (crt, o)
                for crt in self.store.types
                if crt.namespaced and crt.version == self._storage_version(crt)
                for o in self.store.iter_objects(crt, name)
            ]
            for crt, o in content:
                if not o["metadata"].get("deletionTimestamp"):
                    _ignore_gone(self.store.delete, crt, name, o["metadata"]["name"], propagation="Background")
            if not content and (obj.get("spec") or {}).get("finalizers"):
                _ignore_gone(
                    self.store.update,
                    rt,
                    None,
                    name,
                    lambda o: o.update(spec={"finalizers": []}),
                    "finalize",
                    system=True,
                )

    def _collect_if_orphaned(self, rt: ResourceType, obj: Obj) -> None:
        meta = obj["metadata"]

        def alive(ref: dict[str, Any]) -> bool:
            owner = self.store.by_uid(ref["uid"])
            # A namespaced dependent can only be owned from its own namespace or by a cluster-scoped owner.
            return owner is not None and owner["metadata"].get("namespace") in (None, meta.get("namespace"))

        refs = _refs(obj)
        living = [ref for ref in refs if alive(ref)]
        if not living:
            _ignore_gone(self.store.delete, rt, meta.get("namespace"), meta["name"], propagation="Background")
        elif len(living) < len(refs):
            _ignore_gone(
                self.store.update, rt, meta.get("namespace"), meta["name"], lambda o: _set_refs(o, living), system=True
            )


def _set_refs(obj: Obj, refs: list[dict[str, Any]]) -> None:
    if refs:
        obj["metadata"]["ownerReferences"] = refs
    else:
        obj["metadata"].pop("ownerReferences", None)


def _drop_finalizer(obj: Obj, finalizer: str) -> None:
    obj["metadata"]["finalizers"] = [f for f in obj["metadata"].get("finalizers") or () if f != finalizer]


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

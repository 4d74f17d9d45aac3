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


def _ignore_gone(fn: Any, *args: Any, **kwargs: Any) -> None:
    """Controllers race with clients exactly as on a cluster: an object may vanish or change under them."""
    try:
        fn(*args, **kwargs)
    except ApiError as e:
        if e.code not in (404, 409):
            raise


class ControlPlane:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._wake = asyncio.Event()
        store.listeners.append(self._on_change)

    def _on_change(self, change: Change) -> None:
        # Everything may matter to the collector (a new dependent may already be orphaned); a pass is cheap.
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

    def _objects(self) -> list[tuple[ResourceType, Obj]]:
        return [
            (rt, obj)
            for rt in self.store.types
            if rt.version == self._storage_version(rt)
            for obj in self.store.iter_objects(rt)
        ]

    def _storage_version(self, rt: ResourceType) -> str:
        # Objects are stored once per group and plural; visit them through one version only.
        return min(t.version for t in self.store.types if t.storage_key == rt.storage_key)

    def reconcile(self) -> None:
        objects = self._objects()
        uids = {obj["metadata"]["uid"]: obj for _, obj in objects}
        dependents: dict[str, list[tuple[ResourceType, Obj, dict[str, Any]]]] = {}
        for rt, obj in objects:
            for ref in _refs(obj):
                dependents.setdefault(ref["uid"], []).append((rt, obj, ref))

        for rt, obj in objects:
            meta = obj["metadata"]
            if rt == r.CRDS and not (obj.get("status") or {}).get("conditions"):
                _ignore_gone(self.store.establish_crd, meta["name"])
            if meta.get("deletionTimestamp"):
                self._finalize(rt, obj, dependents.get(meta["uid"], []), objects)
            elif _refs(obj):
                self._collect_if_orphaned(rt, obj, uids)

    def _finalize(
        self,
        rt: ResourceType,
        obj: Obj,
        deps: list[tuple[ResourceType, Obj, dict[str, Any]]],
        objects: list[tuple[ResourceType, Obj]],
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
            content = [(crt, o) for crt, o in objects if crt.namespaced and o["metadata"].get("namespace") == name]
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

    def _collect_if_orphaned(self, rt: ResourceType, obj: Obj, uids: dict[str, Obj]) -> None:
        meta = obj["metadata"]

        def alive(ref: dict[str, Any]) -> bool:
            owner = uids.get(ref["uid"])
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

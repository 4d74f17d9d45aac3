"""Resource types the emulator serves: the built-in ones and those registered from CRD manifests."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

GcPolicy = Literal["Orphan", "Background", "Foreground"]

# The verbs discovery advertises; Kopf refuses to watch a resource without `list` and `watch`.
STANDARD_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclasses.dataclass(frozen=True)
class ResourceType:
    """One served resource: an API group/version/plural with its discovery facts and storage strategy."""

    group: str  # "" for the core v1 API
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    # Subresources other than the main one: "status" changes status only; "log" is served by the kubelet.
    subresources: frozenset[str] = frozenset()
    # Custom resources refuse strategic-merge patches (415), as the real API server does.
    custom: bool = False
    # Whether metadata.generation is maintained (bumped on changes to anything but metadata and status).
    tracks_generation: bool = True
    # batch/v1 Jobs keep their pods by default, for backwards compatibility; almost everything else cascades.
    default_gc_policy: GcPolicy = "Background"
    # Fields a field selector may use besides metadata.name and metadata.namespace.
    selectable_fields: tuple[str, ...] = ()
    # The openAPIV3Schema of a custom resource, used to prune unknown fields as the API server does.
    schema: Mapping[str, Any] | None = dataclasses.field(default=None, compare=False, hash=False, repr=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_key(self) -> tuple[str, str]:
        """Objects are stored once per group and plural, whichever version a client asks for."""
        return (self.group, self.plural)

    @property
    def qualified(self) -> str:
        """The name used in Status messages: "pods", "jobs.batch", "hpotasks.kubetune.io"."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def matches(self, name: str) -> bool:
        """Whether a loose name as a test would write it ("pods", "Pod", "jobs.batch", "hpo") means this type."""
        plain, _, group = name.partition(".")
        if group and group != self.group:
            return False
        return plain in {self.plural, self.kind, self.kind.lower(), self.singular, *self.short_names}


def _builtin(
    group: str,
    version: str,
    plural: str,
    kind: str,
    *,
    namespaced: bool = True,
    subresources: tuple[str, ...] = (),
    short_names: tuple[str, ...] = (),
    tracks_generation: bool = True,
    default_gc_policy: GcPolicy = "Background",
    selectable_fields: tuple[str, ...] = (),
) -> ResourceType:
    return ResourceType(
        group=group,
        version=version,
        plural=plural,
        kind=kind,
        namespaced=namespaced,
        singular=kind.lower(),
        short_names=short_names,
        subresources=frozenset(subresources),
        tracks_generation=tracks_generation,
        default_gc_policy=default_gc_policy,
        selectable_fields=selectable_fields,
    )


NAMESPACES = _builtin(
    "",
    "v1",
    "namespaces",
    "Namespace",
    namespaced=False,
    subresources=("status", "finalize"),
    short_names=("ns",),
    tracks_generation=False,
    selectable_fields=("status.phase",),
)
PODS = _builtin(
    "",
    "v1",
    "pods",
    "Pod",
    subresources=("status", "log"),
    short_names=("po",),
    selectable_fields=("spec.nodeName", "spec.restartPolicy", "status.phase", "status.podIP"),
)
CORE_EVENTS = _builtin(
    "",
    "v1",
    "events",
    "Event",
    short_names=("ev",),
    tracks_generation=False,
    selectable_fields=(
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
)
JOBS = _builtin(
    "batch",
    "v1",
    "jobs",
    "Job",
    subresources=("status",),
    default_gc_policy="Orphan",
    selectable_fields=("status.successful",),
)
EVENTS = _builtin("events.k8s.io", "v1", "events", "Event", short_names=("ev",), tracks_generation=False)
LEASES = _builtin("coordination.k8s.io", "v1", "leases", "Lease", tracks_generation=False)
CRDS = _builtin(
    "apiextensions.k8s.io",
    "v1",
    "customresourcedefinitions",
    "CustomResourceDefinition",
    namespaced=False,
    subresources=("status",),
    short_names=("crd", "crds"),
)

BUILTIN_TYPES: tuple[ResourceType, ...] = (NAMESPACES, PODS, CORE_EVENTS, JOBS, EVENTS, LEASES, CRDS)


def types_from_crd(crd: Mapping[str, Any]) -> list[ResourceType]:
    """The resource types a CustomResourceDefinition (apiextensions.k8s.io/v1) serves: one per served version."""
    spec = crd["spec"]
    names = spec["names"]
    result = []
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        subresources = frozenset(version.get("subresources") or {})
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        selectable = tuple(f["jsonPath"].lstrip(".") for f in version.get("selectableFields") or ())
        result.append(
            ResourceType(
                group=spec["group"],
                version=version["name"],
                plural=names["plural"],
                kind=names["kind"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                singular=names.get("singular") or names["kind"].lower(),
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=subresources & {"status"},  # `scale` is not emulated
                custom=True,
                selectable_fields=selectable,
                schema=schema,
            )
        )
    return result

"""Every name kubetune shares with the cluster: API group, kinds, labels, annotations."""

from typing import Final

GROUP: Final = "kubetune.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"

TASK_KIND: Final = "HPOTask"
TASK_PLURAL: Final = "hpotasks"
TASK_SINGULAR: Final = "hpotask"
TASK_SHORT_NAMES: Final = ("hpo",)

TRIAL_KIND: Final = "Trial"
TRIAL_PLURAL: Final = "trials"
TRIAL_SINGULAR: Final = "trial"

CATEGORY: Final = "kubetune"

# Labels put on Trials, Jobs and Pods so that they can be listed with selectors.
LABEL_TASK: Final = f"{GROUP}/task"
LABEL_TRIAL: Final = f"{GROUP}/trial"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGER: Final = "kubetune"

# Annotations.
ANNOTATION_PARAMETERS: Final = f"{GROUP}/parameters"
ANNOTATION_METRICS: Final = f"{GROUP}/metrics"

# Environment variables a trial sees.
ENV_PREFIX: Final = "KUBETUNE_PARAM_"
ENV_PARAMS_FILE: Final = "KUBETUNE_PARAMS_FILE"
ENV_TRIAL_NAME: Final = "KUBETUNE_TRIAL"
ENV_TASK_NAME: Final = "KUBETUNE_TASK"
ENV_RESOURCE: Final = "KUBETUNE_RESOURCE"
ENV_METRICS_FILE: Final = "KUBETUNE_METRICS_FILE"
ENV_FOLLOWER_IMAGE: Final = "KUBETUNE_FOLLOWER_IMAGE"
"""The operator's setting: the image of the sidecar that follows a metrics file (the chart's followerImage)."""
FOLLOWER_CONTAINER: Final = "kubetune-metrics"
"""The name of that sidecar in a trial's primary pod: the operator reads the metrics from its log."""

REPORT_PREFIX: Final = "@kubetune "
"""How a line written by ``kubetune.report`` starts: ``@kubetune {"metrics": {"loss": 0.4}, "step": 3}``.
Every reader of trial output takes such a line, whatever ``metricsCollector.format`` says."""
ENV_POD_NAME: Final = "KUBETUNE_POD_NAME"
"""Set from the downward API (``metadata.name``), it lets ``kubetune.report`` write its pod's metrics annotation."""
ENV_POD_NAMESPACE: Final = "KUBETUNE_POD_NAMESPACE"
"""The pod's namespace (``metadata.namespace``), for the same; default: the service account's."""
ENV_METRICS_ANNOTATION: Final = "KUBETUNE_METRICS_ANNOTATION"
"""The annotation ``kubetune.report`` writes on its pod, when not ``kubetune.io/metrics``."""

# Plugins register search algorithms under this entry-point group.
PLUGIN_ENTRY_POINTS: Final = "kubetune.algorithms"

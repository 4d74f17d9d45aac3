#!/usr/bin/env bash
# End-to-end test of kubetune on a throwaway kind cluster:
#   build both images -> create the cluster -> load the images -> install the chart (2 replicas)
#   -> run examples/demo.yaml with the real trainer, killing the leader pod mid-run so that the
#   standby replica takes over -> check the best trial, the Events, the
#   printer columns and that the operator left spec and labels alone -> delete the task and
#   check that its Trials, Jobs and Pods are gone.
#
# Needs docker, kind, kubectl, helm and jq on PATH. Environment:
#   CLUSTER_NAME     kind cluster name (default kubetune-e2e)
#   KIND_NODE_IMAGE  kindest/node image for the cluster (default: kind's own default)
#   KEEP_CLUSTER     1 keeps the cluster it created (default: delete it, also on failure)
#   REUSE_CLUSTER    1 uses (and keeps) an existing cluster of that name instead of failing
#   TASK_TIMEOUT     seconds to wait for the HPOTask to finish (default 900)
#   CLEANUP_TIMEOUT  seconds to wait for a deleted task's objects to go (default 120)
#   POLL_INTERVAL    seconds between two looks at the cluster (default 5)
#   ARTIFACTS        directory for diagnostics on failure (default e2e/artifacts)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLUSTER_NAME="${CLUSTER_NAME:-kubetune-e2e}"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-}"
KEEP_CLUSTER="${KEEP_CLUSTER:-0}"
REUSE_CLUSTER="${REUSE_CLUSTER:-0}"
TASK_TIMEOUT="${TASK_TIMEOUT:-900}"
CLEANUP_TIMEOUT="${CLEANUP_TIMEOUT:-120}"
POLL_INTERVAL="${POLL_INTERVAL:-5}"
ARTIFACTS="${ARTIFACTS:-$ROOT/e2e/artifacts}"

OPERATOR_NAMESPACE=kubetune-system
TASK_NAMESPACE=kubetune-e2e
RELEASE=kubetune
OPERATOR_IMAGE=kubetune/operator:e2e
TRAINER_IMAGE=kubetune/example-trainer:0.1.0 # the image examples/demo.yaml names
TASK=digits-demo                             # metadata.name in examples/demo.yaml
TASK_LABEL=kubetune.io/task                  # kubetune.names.LABEL_TASK
LEASE=kubetune-operator                      # the chart's leaseName

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

log() { printf '\n==> %s\n' "$*"; }
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

require_tools() {
  local tool missing=()
  for tool in docker kind kubectl helm jq; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  ((${#missing[@]} == 0)) || fail "missing on PATH: ${missing[*]}"
}

kube() { kubectl --context "kind-$CLUSTER_NAME" "$@"; }

# Polls "$@" every POLL_INTERVAL seconds until it succeeds or $1 seconds have passed.
wait_until() {
  local timeout=$1
  shift
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep "$POLL_INTERVAL"
  done
}

collect_diagnostics() {
  mkdir -p "$ARTIFACTS"
  log "Collecting diagnostics in $ARTIFACTS"
  kube get all,hpotasks,trials,leases,events -A -o wide >"$ARTIFACTS/objects.txt" 2>&1 || true
  kube get hpotasks,trials -A -o yaml >"$ARTIFACTS/kubetune-objects.yaml" 2>&1 || true
  kube -n "$OPERATOR_NAMESPACE" describe pods >"$ARTIFACTS/operator-pods.txt" 2>&1 || true
  kube -n "$OPERATOR_NAMESPACE" logs -l app.kubernetes.io/name=kubetune --all-containers \
    --prefix --tail=-1 >"$ARTIFACTS/operator.log" 2>&1 || true
  kube -n "$TASK_NAMESPACE" logs -l "$TASK_LABEL=$TASK" --prefix --tail=50 >"$ARTIFACTS/trials.log" 2>&1 || true
  kind export logs --name "$CLUSTER_NAME" "$ARTIFACTS/kind" >/dev/null 2>&1 || true
}

CREATED_CLUSTER=0

on_exit() {
  local status=$?
  if ((status != 0)); then
    collect_diagnostics
  fi
  if [[ "$CREATED_CLUSTER" == 1 && "$KEEP_CLUSTER" != 1 ]]; then
    kind delete cluster --name "$CLUSTER_NAME" >/dev/null 2>&1 || true
  fi
  exit "$status"
}

build_images() {
  log "Building $OPERATOR_IMAGE and $TRAINER_IMAGE"
  docker build --tag "$OPERATOR_IMAGE" "$ROOT"
  docker build --tag "$TRAINER_IMAGE" --file "$ROOT/examples/trainer/Dockerfile" "$ROOT"

  log "Smoke-testing the images as the cluster runs them: non-root, read-only root filesystem"
  docker run --rm --read-only --tmpfs /tmp --user 65532:65532 --cap-drop ALL \
    "$OPERATOR_IMAGE" --version
  docker run --rm --read-only --tmpfs /tmp --user 65532:65532 --cap-drop ALL \
    "$TRAINER_IMAGE" python examples/trainer/train.py --epochs=2 | grep -E '^epoch=2 loss=[0-9.]+ val_accuracy=[0-9.]+$'
}

create_cluster() {
  # grep without -q reads all its input: an early exit would kill kind with SIGPIPE under pipefail.
  if kind get clusters 2>/dev/null | grep -x "$CLUSTER_NAME" >/dev/null; then
    [[ "$REUSE_CLUSTER" == 1 ]] || fail "kind cluster $CLUSTER_NAME exists (set REUSE_CLUSTER=1 to use it)"
    log "Reusing kind cluster $CLUSTER_NAME"
  else
    log "Creating kind cluster $CLUSTER_NAME"
    local args=(--name "$CLUSTER_NAME" --wait 180s)
    [[ -z "$KIND_NODE_IMAGE" ]] || args+=(--image "$KIND_NODE_IMAGE")
    CREATED_CLUSTER=1
    kind create cluster "${args[@]}"
  fi
  kind load docker-image --name "$CLUSTER_NAME" "$OPERATOR_IMAGE" "$TRAINER_IMAGE"
}

install_chart() {
  log "Installing the chart (values: e2e/values.yaml)"
  helm --kube-context "kind-$CLUSTER_NAME" upgrade --install "$RELEASE" "$ROOT/charts/kubetune" \
    --namespace "$OPERATOR_NAMESPACE" --create-namespace \
    --values "$ROOT/e2e/values.yaml" --wait --timeout 5m
  kube -n "$OPERATOR_NAMESPACE" rollout status "deployment/$RELEASE" --timeout=3m

  log "Checking leader election: both replicas ready, the Lease held"
  wait_until 90 lease_is_held || fail "no operator pod holds Lease $LEASE"
  echo "Lease $LEASE is held by $(kube -n "$OPERATOR_NAMESPACE" get lease "$LEASE" \
    -o jsonpath='{.spec.holderIdentity}')"
}

lease_is_held() {
  [[ -n "$(kube -n "$OPERATOR_NAMESPACE" get lease "$LEASE" \
    -o jsonpath='{.spec.holderIdentity}' 2>/dev/null)" ]]
}

task_json() { kube -n "$TASK_NAMESPACE" get hpotask "$TASK" -o json; }

task_finished() {
  local phase
  phase="$(task_json | jq -r '.status.phase // "None"')"
  printf '%s phase=%s %s\n' "$(date +%T)" "$phase" \
    "$(task_json | jq -c '.status.trials // {}')"
  [[ "$phase" == Succeeded || "$phase" == Failed ]]
}

task_running_trials() {
  task_json | jq -e '(.status.trials.total // 0) > 0' >/dev/null
}

# Leader election under fire: delete the pod holding the Lease while trials run. The standby
# replica must take over, and the task must still finish with no trial created twice.
kill_the_leader() {
  local holder pod leader=""
  holder="$(kube -n "$OPERATOR_NAMESPACE" get lease "$LEASE" -o jsonpath='{.spec.holderIdentity}')"
  for pod in $(kube -n "$OPERATOR_NAMESPACE" get pods -l app.kubernetes.io/name=kubetune \
    -o jsonpath='{.items[*].metadata.name}'); do
    [[ "$holder" != *"$pod"* ]] || leader="$pod"
  done
  if [[ -z "$leader" ]]; then
    echo "note: Lease holder '$holder' names no operator pod; skipping the failover check"
    return 0
  fi
  log "Deleting the leader $leader mid-run"
  kube -n "$OPERATOR_NAMESPACE" delete pod "$leader" --wait=false
  wait_until 120 lease_moved_from "$leader" || fail "no other replica took the Lease from $leader"
  echo "Lease now held by $(kube -n "$OPERATOR_NAMESPACE" get lease "$LEASE" -o jsonpath='{.spec.holderIdentity}')"
}

lease_moved_from() {
  local holder
  holder="$(kube -n "$OPERATOR_NAMESPACE" get lease "$LEASE" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null)"
  [[ -n "$holder" && "$holder" != *"$1"* ]]
}

run_task() {
  log "Applying examples/demo.yaml in namespace $TASK_NAMESPACE"
  kube create namespace "$TASK_NAMESPACE" --dry-run=client -o yaml | kube apply -f -
  kube -n "$TASK_NAMESPACE" apply -f "$ROOT/examples/demo.yaml"

  log "Waiting for $TASK to start running trials"
  wait_until 300 task_running_trials || fail "$TASK created no trial in 300s"
  kill_the_leader

  log "Waiting up to ${TASK_TIMEOUT}s for $TASK to finish"
  wait_until "$TASK_TIMEOUT" task_finished || fail "$TASK did not finish in ${TASK_TIMEOUT}s"
}

check_best_trial() {
  log "Checking the outcome and the best trial"
  local task best best_name best_objective trial_objective max_objective trials_listed
  task="$(task_json)"
  jq -e '.status.phase == "Succeeded"' <<<"$task" >/dev/null ||
    fail "$TASK ended $(jq -r '.status.phase' <<<"$task"): $(jq -r '.status.message' <<<"$task")"

  best="$(jq -c '.status.bestTrial' <<<"$task")"
  echo "bestTrial: $best"
  best_name="$(jq -r '.name // empty' <<<"$best")"
  [[ -n "$best_name" ]] || fail "status.bestTrial has no name"
  best_objective="$(jq -r '.objective' <<<"$best")"
  # Digits with a small MLP reaches well above 0.9 validation accuracy with decent settings.
  jq -e '.objective > 0.8 and .objective <= 1' <<<"$best" >/dev/null ||
    fail "best val_accuracy $best_objective is not in (0.8, 1]"
  jq -e '.parameters | has("lr") and has("alpha") and has("hidden") and has("activation")' \
    <<<"$best" >/dev/null || fail "bestTrial.parameters lacks a parameter of the search space"

  trial_objective="$(kube -n "$TASK_NAMESPACE" get trial "$best_name" -o jsonpath='{.status.objective}')"
  jq -en --argjson a "$trial_objective" --argjson b "$best_objective" '$a == $b' >/dev/null ||
    fail "Trial $best_name has objective $trial_objective, status.bestTrial says $best_objective"
  max_objective="$(kube -n "$TASK_NAMESPACE" get trials -l "$TASK_LABEL=$TASK" -o json |
    jq '[.items[] | select(.status.phase == "Succeeded") | .status.objective] | max')"
  jq -en --argjson a "$max_objective" --argjson b "$best_objective" '$a == $b' >/dev/null ||
    fail "the best succeeded trial has $max_objective, status.bestTrial says $best_objective"

  trials_listed="$(kube -n "$TASK_NAMESPACE" get trials -l "$TASK_LABEL=$TASK" -o json | jq '.items | length')"
  jq -e --argjson listed "$trials_listed" \
    '$listed > 0 and $listed <= .status.trials.total and .status.trials.total <= .spec.budget.maxTrials' \
    <<<"$task" >/dev/null ||
    fail "$trials_listed Trials listed; status.trials.total=$(jq '.status.trials.total' <<<"$task")"
  echo "OK: $trials_listed trials, best $best_name with val_accuracy $best_objective"
}

check_events() {
  log "Checking the Events posted on the HPOTask"
  local events
  events="$(kube -n "$TASK_NAMESPACE" get events -o json \
    --field-selector "involvedObject.kind=HPOTask,involvedObject.name=$TASK")"
  jq -r '.items[] | "\(.type)\t\(.reason)\t\(.message)"' <<<"$events"
  jq -e '[.items[] | select(.type == "Normal")] | length > 0' <<<"$events" >/dev/null ||
    fail "no Normal Event on HPOTask $TASK"
}

# Every additionalPrinterColumn the CRD declares appears as a header of `kubectl get -o wide`,
# and the default columns show the finished task's values.
check_printer_columns() {
  log "Checking the printer columns"
  local kind crd header column row
  for kind in hpotasks trials; do
    crd="$(kube get crd "$kind.kubetune.io" -o json)"
    header="$(kube -n "$TASK_NAMESPACE" get "$kind" -o wide)"
    header="${header%%$'\n'*}" # the first line, without `| head` (SIGPIPE under pipefail)
    echo "$kind: $header"
    while IFS= read -r column; do
      [[ "$header" == *"${column^^}"* ]] || fail "kubectl get $kind -o wide has no column $column"
    done < <(jq -r '.spec.versions[] | select(.storage) | .additionalPrinterColumns[].name' <<<"$crd")
  done
  row="$(kube -n "$TASK_NAMESPACE" get hpotask "$TASK" --no-headers)"
  echo "$row"
  [[ "$row" == *Succeeded* ]] || fail "the Phase column does not show Succeeded: $row"
  [[ "$row" =~ [[:space:]]0\.[0-9]+ || "$row" =~ [[:space:]]1([[:space:]]|$) ]] ||
    fail "the Best column shows no objective value: $row"
}

# GitOps: what the user applied (spec, labels) is written only by the user's own field manager;
# the operator writes status. A spec the operator never changes keeps metadata.generation at 1.
check_gitops_ownership() {
  log "Checking that the operator wrote status only"
  local task foreign
  task="$(task_json)"
  jq -e '.metadata.generation == 1' <<<"$task" >/dev/null ||
    fail "metadata.generation is $(jq '.metadata.generation' <<<"$task"): something changed the spec"
  foreign="$(jq -r '.metadata.managedFields[]
      | select(.manager | test("^kubectl") | not)
      | select((.subresource // "") != "status")
      | select(.fieldsV1 | has("f:spec") or (.["f:metadata"] // {} | has("f:labels")))
      | .manager' <<<"$task")"
  [[ -z "$foreign" ]] || fail "managers other than kubectl own spec or labels: $foreign"
  jq -r '.metadata.managedFields[] | "\(.manager)\t\(.operation)\t\(.subresource // "-")"' <<<"$task"
}

no_objects_left() {
  local left
  left="$(kube -n "$TASK_NAMESPACE" get trials,jobs,pods -l "$TASK_LABEL=$TASK" -o name 2>/dev/null)"
  [[ -z "$left" ]] || {
    echo "still there: $(tr '\n' ' ' <<<"$left")"
    return 1
  }
}

check_cleanup() {
  log "Deleting $TASK: its Trials, Jobs and Pods must go with it"
  local jobs
  jobs="$(kube -n "$TASK_NAMESPACE" get jobs -l "$TASK_LABEL=$TASK" -o name | wc -l)"
  ((jobs > 0)) || fail "no Job carries the label $TASK_LABEL=$TASK"
  kube -n "$TASK_NAMESPACE" delete hpotask "$TASK" --wait --timeout=2m
  wait_until "$CLEANUP_TIMEOUT" no_objects_left || fail "objects of $TASK are left after its deletion"
  echo "OK: $jobs Jobs and every Trial and Pod were deleted"
}

main() {
  if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    usage
    return 0
  fi
  require_tools
  trap on_exit EXIT
  build_images
  create_cluster
  install_chart
  run_task
  check_best_trial
  check_events
  check_printer_columns
  check_gitops_ownership
  check_cleanup
  log "PASS: kubetune end-to-end on kind"
}

main "$@"

#!/usr/bin/env bash
# End-to-end test on a throwaway kind cluster, for machines with Docker.
#
# Builds the image, installs the chart with SeaweedFS as S3 and ingress-nginx in front, runs
# examples/cartpole.yaml, plays it with one bot participant from this machine, and downloads
# the recorded steps through the REST API. The cluster is deleted on exit, pass or fail
# (KEEP_CLUSTER=1 keeps it for a look around).
#
# Why an ingress controller and no port-forwards: the entry redirects each participant to
# {publicUrl}/play/gymkube/cartpole/<pod>/ (namespace, experiment, pod), on the same host and port
# as the entry itself. kind maps localhost:$E2E_PORT to ingress-nginx, which routes / to the
# control plane (the chart's Ingress) and /play/gymkube/cartpole/... to the game pods (the
# operator's Ingress), as on a real cluster.
#
# The chart's NetworkPolicies are on, as by default: kindnet enforces them (kind 0.24 and newer),
# so this also checks that game pods reach the control plane's Service (signed storage URLs), that
# they and the control plane reach SeaweedFS (scripts/e2e/values.yaml names it), and that
# ingress-nginx reaches both. Game pods hold no storage credentials: their data goes to SeaweedFS
# through URLs the control plane signs.
#
# Needs: docker, kind, curl, and kubectl + helm (on PATH, in $KUBECTL / $HELM, or in .tools/
# via `python tests/chart/helm.py helm`); the bot runs from .venv (`make install`).
# Settings: E2E_PORT (8080), KEEP_CLUSTER (0), INGRESS_NGINX_MANIFEST (a pinned release).
set -euo pipefail

cd "$(dirname "$0")/.."

CLUSTER=gymkube-e2e
NAMESPACE=gymkube
RELEASE=gymkube
IMAGE=gymkube:e2e
PORT=${E2E_PORT:-8080}
PUBLIC_URL="http://localhost:${PORT}"
KEEP_CLUSTER=${KEEP_CLUSTER:-0}
INGRESS_NGINX_MANIFEST=${INGRESS_NGINX_MANIFEST:-https://raw.githubusercontent.com/kubernetes/ingress-nginx/controller-v1.12.1/deploy/static/provider/kind/deploy.yaml}
PYTHON=.venv/bin/python
GYMKUBE=.venv/bin/gymkube

log() { printf '\n==> %s\n' "$*"; }
die() { printf '\ne2e FAILED: %s\n' "$*" >&2; exit 1; }

# find_tool NAME VARIABLE: $VARIABLE, else NAME on PATH, else .tools/NAME.
find_tool() {
  local name=$1 override=${!2:-}
  if [[ -n $override ]]; then echo "$override"
  elif command -v "$name" >/dev/null; then command -v "$name"
  elif [[ -x .tools/$name ]]; then echo ".tools/$name"
  else die "$name not found: install it, set \$$2, or run '$PYTHON tests/chart/helm.py $name'"
  fi
}

# wait_until SECONDS WHAT COMMAND...: run COMMAND every 2 s until it succeeds, at most SECONDS.
wait_until() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "no $what within ${limit} s"
    sleep 2
  done
}

for needed in docker kind curl; do
  command -v "$needed" >/dev/null || die "$needed is required"
done
[[ -x $GYMKUBE ]] || die "$GYMKUBE not found: run 'make install' first"
KUBECTL_BIN=$(find_tool kubectl KUBECTL)
HELM_BIN=$(find_tool helm HELM)
# Always the test cluster, whatever the current context is.
k() { "$KUBECTL_BIN" --context "kind-$CLUSTER" "$@"; }
h() { "$HELM_BIN" --kube-context "kind-$CLUSTER" "$@"; }

if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  die "a kind cluster named $CLUSTER exists already; delete it with: kind delete cluster --name $CLUSTER"
fi

WORK=$(mktemp -d)
CREATED=0
cleanup() {
  local status=$?
  set +e
  if ((status != 0 && CREATED)); then
    log "what the cluster looked like"
    k get experiments,statefulsets,pods,services,ingresses -n "$NAMESPACE" -o wide
    k describe experiment cartpole -n "$NAMESPACE" | tail -n 25
    log "operator log"
    k logs -n "$NAMESPACE" "deploy/$RELEASE-operator" --tail=80
    log "control plane log"
    k logs -n "$NAMESPACE" "deploy/$RELEASE-controlplane" --tail=80
    log "game pod logs"
    k logs -n "$NAMESPACE" -l gymkube.io/experiment=cartpole --tail=40 --prefix
  fi
  if ((CREATED)); then
    if [[ $KEEP_CLUSTER == 1 ]]; then
      log "keeping the cluster: kubectl --context kind-$CLUSTER ...; delete it with: kind delete cluster --name $CLUSTER"
    else
      log "deleting the cluster"
      kind delete cluster --name "$CLUSTER"
    fi
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT

log "building the image $IMAGE"
docker build -t "$IMAGE" .

log "creating the kind cluster $CLUSTER (localhost:$PORT -> ingress)"
cat >"$WORK/kind.yaml" <<EOF
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
    extraPortMappings:
      - containerPort: 80
        hostPort: $PORT
        listenAddress: 127.0.0.1
        protocol: TCP
EOF
CREATED=1
kind create cluster --name "$CLUSTER" --config "$WORK/kind.yaml" --wait 180s
# ingress-nginx's kind manifest runs its controller on nodes with this label, on host port 80.
k label node "$CLUSTER-control-plane" ingress-ready=true
kind load docker-image "$IMAGE" --name "$CLUSTER"

log "installing ingress-nginx"
k apply -f "$INGRESS_NGINX_MANIFEST"
k rollout status deployment/ingress-nginx-controller -n ingress-nginx --timeout=300s
# Ingresses are refused until its admission webhook answers; a server-side dry run asks it.
wait_until 120 "ingress-nginx admission webhook" \
  k create ingress webhook-probe -n default --class=nginx --rule="/probe=probe:80" --dry-run=server

log "starting SeaweedFS as the S3 server"
k create namespace "$NAMESPACE"
access_key=$("$PYTHON" -c 'import secrets; print("e2e" + secrets.token_hex(8))')
secret_key=$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(30))')
k create secret generic e2e-s3 -n "$NAMESPACE" \
  --from-literal=AWS_ACCESS_KEY_ID="$access_key" --from-literal=AWS_SECRET_ACCESS_KEY="$secret_key"
k apply -n "$NAMESPACE" -f scripts/e2e/seaweedfs.yaml
k rollout status deployment/seaweedfs -n "$NAMESPACE" --timeout=300s

log "installing the chart"
h install "$RELEASE" charts/gymkube -n "$NAMESPACE" -f scripts/e2e/values.yaml \
  --set publicUrl="$PUBLIC_URL" --timeout 5m --wait
k rollout status "deployment/$RELEASE-operator" -n "$NAMESPACE" --timeout=180s
k rollout status "deployment/$RELEASE-controlplane" -n "$NAMESPACE" --timeout=180s
h test "$RELEASE" -n "$NAMESPACE" --timeout 2m

log "checking that the control plane reaches the bucket with the Secret's key"
k exec -n "$NAMESPACE" "deploy/$RELEASE-controlplane" -- python -c '
import os, boto3
boto3.client("s3", endpoint_url=os.environ["GYMKUBE_S3_ENDPOINT"], region_name="us-east-1").head_bucket(Bucket="gymkube")
print("bucket gymkube is there")'

log "running examples/cartpole.yaml"
k apply -n "$NAMESPACE" -f examples/cartpole.yaml
phase() { k get experiment cartpole -n "$NAMESPACE" -o jsonpath='{.status.phase}'; }
is_running() { [[ $(phase) == Running ]]; }
wait_until 300 "Running phase of experiment cartpole" is_running
wait_until 120 "control plane at $PUBLIC_URL/healthz" curl -fsS "$PUBLIC_URL/healthz"
POD_URL="$PUBLIC_URL/play/$NAMESPACE/cartpole/0"
wait_until 120 "game pod at $POD_URL/healthz" curl -fsS "$POD_URL/healthz"

log "checking that the game pod holds its experiment's key only, and no storage credentials"
pod_env=$(k exec -n "$NAMESPACE" gx-cartpole-0 -- env)
if grep -E '^(AWS_|GYMKUBE_STORAGE=|GYMKUBE_S3_ENDPOINT=|GYMKUBE_TURN_SECRET_FILE=)' <<<"$pod_env"; then
  die "the game pod has storage or TURN credentials of the platform's"
fi
platform_secret=$(k get secret -n "$NAMESPACE" "$RELEASE-secrets" -o jsonpath='{.data.participant-token-secret}' | base64 -d)
grep -qF "$platform_secret" <<<"$pod_env" && die "the game pod holds the platform secret"
grep -q '^GYMKUBE_CONTROL_PLANE_URL=' <<<"$pod_env" || die "the game pod has no control plane URL"

log "creating a researcher token"
token=$(k exec -n "$NAMESPACE" "deploy/$RELEASE-controlplane" -- gymkube token create e2e --state /var/lib/gymkube)
[[ $token == gk_* ]] || die "gymkube token create printed no token"
# The control plane routes participants only to pods it has seen alive (it polls their load).
routable() {
  curl -fsS -H "Authorization: Bearer $token" "$PUBLIC_URL/api/v1/experiments/cartpole" |
    "$PYTHON" -c 'import json, sys; v = json.load(sys.stdin); sys.exit(v["phase"] != "Running" or v["readyReplicas"] < 1)'
}
wait_until 120 "game pod the control plane routes to" routable

log "playing one bot participant through $PUBLIC_URL/x/cartpole"
"$GYMKUBE" bot "$PUBLIC_URL/x/cartpole" --count 1 --timeout 300

log "downloading the steps table"
steps_csv="$WORK/cartpole-steps.csv"
has_rows() {
  curl -fsS -H "Authorization: Bearer $token" -o "$steps_csv" \
    "$PUBLIC_URL/api/v1/experiments/cartpole/data/steps?format=csv" &&
    (($(wc -l <"$steps_csv") > 1))
}
wait_until 60 "steps rows in the CSV export" has_rows
printf '%s\n' "$(head -n 3 "$steps_csv")"
log "e2e passed: $(($(wc -l <"$steps_csv") - 1)) step rows recorded and exported"

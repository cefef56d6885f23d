#!/usr/bin/env bash
# End-to-end check of the test cluster: RBAC, garbage collection,
# Deployments, service-account tokens, and the real Bitnami controller run as
# its ServiceAccount in a network namespace and reached through the API
# server's service proxy. Starts the cluster if none is running and stops it
# at the end only in that case. Prints PASS/FAIL per check and
# "N passed, M failed"; exits non-zero on any failure.
set -Eeuo pipefail
trap 'echo "smoke.sh: ERROR: command failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CL=$HERE/cluster.sh
STATE=${KSEAL_CLUSTER_DIR:-/tmp/kseal-cluster}
T0=$EPOCHREALTIME
log() { echo "smoke: [$(awk -v a="$EPOCHREALTIME" -v b="$T0" 'BEGIN{printf "%5.1fs", a-b}')] $*" >&2; }

started_cluster=0
NS=kseal-smoke-$RANDOM
NETNS=smoke-$$
CTRL=smoke-bitnami-$$
cluster_pids=()
K=(kubectl) # replaced by the pinned kubectl once the cluster is known
WORK=$(mktemp -d)

pass=0 fail=0

# Undo everything; returns non-zero if something we started is still there.
cleanup() {
  local pid ok=0
  log "cleaning up"
  [[ -f $STATE/pids/proc-$CTRL.pid ]] && { "$CL" stop "$CTRL" || ok=1; }
  [[ -f $STATE/net/ns-$NETNS ]] && { "$CL" netns del "$NETNS" || ok=1; }
  if ((started_cluster)); then
    "$CL" down || ok=1
  elif [[ -n ${KSEAL_BIN:-} ]]; then
    # A cluster we only borrowed stays up; remove what we put into it.
    "${K[@]}" delete namespace "$NS" --wait=false >/dev/null 2>&1
    "${K[@]}" -n kube-system delete service,endpoints sealed-secrets-controller >/dev/null 2>&1
    "${K[@]}" -n kube-system delete endpointslice sealed-secrets-controller-kseal >/dev/null 2>&1
    "${K[@]}" delete -f "$HERE/manifests/bitnami-controller-rbac.yaml" >/dev/null 2>&1
    "${K[@]}" -n kube-system delete secret -l sealedsecrets.bitnami.com/sealed-secrets-key >/dev/null 2>&1
  fi
  # Everything we started must be gone: the controller and, if we started
  # it, the cluster's daemons (checked by PID, never by name; an exited
  # process that init has not reaped yet shows state Z).
  for pid in $(cat "$WORK/ctrl_pid" 2>/dev/null) "${cluster_pids[@]}"; do
    if [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo gone) != @(Z|gone) ]]; then
      echo "    pid $pid is still running"
      ok=1
    fi
  done
  # (pgrep run directly, not in $(...), so it does not list that subshell)
  pgrep -P $$ >"$WORK/children"
  if [[ -s $WORK/children ]]; then
    echo "    child processes left: $(tr '\n' ' ' <"$WORK/children")"
    ok=1
  fi
  return $ok
}

finish() {
  local rc=$?
  set +e
  trap - ERR EXIT
  if ((rc != 0)); then
    echo "FAIL smoke.sh stopped early (exit $rc), see the messages above"
    fail=$((fail + 1))
  fi
  if cleanup; then
    echo "PASS cleanup: every process started is gone"
    pass=$((pass + 1))
  else
    echo "FAIL cleanup: every process started is gone"
    fail=$((fail + 1))
  fi
  rm -rf "$WORK"
  echo "$pass passed, $fail failed"
  ((fail == 0)) || exit 1
  exit 0
}

# ---------------------------------------------------------------------------
if ! "$CL" env >/dev/null 2>&1; then
  log "no cluster running; starting one"
  started_cluster=1
fi
trap finish EXIT
if ((started_cluster)); then
  "$CL" up >/dev/null
  for d in etcd kube-apiserver kube-controller-manager; do
    cluster_pids+=("$(cut -d' ' -f1 "$STATE/pids/$d.pid")")
  done
fi
# KUBECONFIG, KSEAL_BIN, KSEAL_API_IP, ... (comment lines are ignored)
eval "$("$CL" status)"
export KUBECONFIG
K=("$KSEAL_BIN/kubectl")
log "cluster: $KSEAL_API_SERVER, binaries: $KSEAL_BIN"

# Each check runs as a background job: bash ignores "set -e" inside
# anything tested by "if", so a check run that way would not stop at its
# first failing command. Checks share state through files in $WORK.
check() { # description function
  local start=$EPOCHREALTIME
  "$2" >"$WORK/out" 2>&1 &
  if wait $!; then
    printf 'PASS %s (%.1fs)\n' "$1" "$(awk -v a="$EPOCHREALTIME" -v b="$start" 'BEGIN{print a-b}')"
    pass=$((pass + 1))
  else
    echo "FAIL $1"
    sed 's/^/    /' "$WORK/out" | tail -n 25
    fail=$((fail + 1))
  fi
}

# Polls a command until it succeeds: within SECS seconds.
eventually() { # secs cmd...
  local secs=$1 i
  shift
  for ((i = 0; i < secs * 5; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "timed out after ${secs}s waiting for: $*"
  "$@" || true
  return 1
}

t_readyz() {
  local r
  r=$("${K[@]}" get --raw /readyz)
  echo "readyz: $r"
  [[ $r == ok ]]
}

t_version_skew() {
  # client and server are the same pinned build
  "${K[@]}" version -o json | jq -e '.clientVersion.gitVersion == .serverVersion.gitVersion and (.serverVersion.gitVersion | startswith("v1.34."))'
}

t_rbac() {
  "${K[@]}" create namespace "$NS"
  "${K[@]}" -n "$NS" create serviceaccount nobody
  "${K[@]}" -n "$NS" create serviceaccount reader
  "${K[@]}" -n "$NS" create role cm-reader --verb=get,list --resource=configmaps
  "${K[@]}" -n "$NS" create rolebinding reader --role=cm-reader --serviceaccount="$NS:reader"
  local no yes
  no=$("${K[@]}" -n "$NS" auth can-i list configmaps --as="system:serviceaccount:$NS:nobody" || true)
  yes=$("${K[@]}" -n "$NS" auth can-i list configmaps --as="system:serviceaccount:$NS:reader" || true)
  echo "nobody: $no, reader: $yes"
  [[ $no == no && $yes == yes ]]
}

t_sa_token() {
  # The ServiceAccount admission + serviceaccount controller + TokenRequest:
  # a minted token authenticates as the SA.
  eventually 30 "${K[@]}" -n "$NS" get serviceaccount default
  local tok who
  tok=$("${K[@]}" -n "$NS" create token reader)
  # no kubeconfig, so no admin client certificate is sent along
  who=$("${K[@]}" --kubeconfig=/dev/null --server "$KSEAL_API_SERVER" --certificate-authority "$KSEAL_CA" \
    --token "$tok" auth whoami -o jsonpath='{.status.userInfo.username}')
  echo "token user: $who"
  [[ $who == "system:serviceaccount:$NS:reader" ]]
}

t_gc() {
  local uid
  "${K[@]}" -n "$NS" create configmap owner --from-literal=a=b
  uid=$("${K[@]}" -n "$NS" get configmap owner -o jsonpath='{.metadata.uid}')
  "${K[@]}" apply -f - <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: dependent
  namespace: $NS
  ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: owner, uid: "$uid"}]
data: {c: d}
EOF
  "${K[@]}" -n "$NS" delete configmap owner --wait=false
  eventually 30 bash -c "! '${K[0]}' -n '$NS' get configmap dependent"
}

t_deployment() {
  "${K[@]}" -n "$NS" create deployment web --image=registry.invalid/none:1 --replicas=1
  eventually 30 bash -c "[[ \$('${K[0]}' -n '$NS' get rs -l app=web -o name | wc -l) -eq 1 ]]"
  "${K[@]}" -n "$NS" set env deployment/web ROLLOUT=2
  eventually 30 bash -c "[[ \$('${K[0]}' -n '$NS' get rs -l app=web -o name | wc -l) -eq 2 ]]"
  "${K[@]}" -n "$NS" get rs -l app=web
}

t_kubeseal_version() {
  "$KSEAL_BIN/kubeseal" --version
  "$KSEAL_BIN/controller" --version
  "$KSEAL_BIN/helm" version --short
}

t_helm_template() {
  # helm renders the Bitnami chart that build.sh keeps next to the binaries
  "$KSEAL_BIN/helm" template sealed-secrets "$KSEAL_BIN/sealed-secrets-chart" -n kube-system \
    --set fullnameOverride=sealed-secrets-controller | grep -q 'kind: Deployment'
}

t_controller_starts() {
  "${K[@]}" apply -f "$KSEAL_BIN/sealed-secrets-chart/crds/"
  "${K[@]}" wait --for=condition=Established --timeout=30s crd/sealedsecrets.bitnami.com
  "${K[@]}" apply -f "$HERE/manifests/bitnami-controller-rbac.yaml"
  local addr pid
  addr=$("$CL" netns add "$NETNS")
  echo "$addr" >"$WORK/ctrl_addr"
  pid=$("$CL" run-as-sa kube-system sealed-secrets-controller --netns "$NETNS" --background "$CTRL" \
    -- "$KSEAL_BIN/controller" --key-renew-period=0)
  echo "$pid" >"$WORK/ctrl_pid"
  echo "controller pid $pid at $addr"
  eventually 60 bash -c "[[ -n \$('${K[0]}' -n kube-system get secret -l sealedsecrets.bitnami.com/sealed-secrets-key=active -o name) ]]" ||
    { tail -n 20 "$STATE/logs/$CTRL.log"; return 1; }
  "${K[@]}" -n kube-system get secret -l sealedsecrets.bitnami.com/sealed-secrets-key=active
}

t_controller_identity() {
  # The key Secret was written by the ServiceAccount, not by an admin: the
  # managedFields manager is the controller binary, and the SA cannot read
  # what it has no rights for.
  "${K[@]}" auth can-i create secrets -n kube-system --as=system:serviceaccount:kube-system:sealed-secrets-controller
  ! "${K[@]}" auth can-i create configmaps -n kube-system --as=system:serviceaccount:kube-system:sealed-secrets-controller
}

t_cert_direct() {
  local CTRL_ADDR
  CTRL_ADDR=$(cat "$WORK/ctrl_addr")
  eventually 30 curl -fsS "http://$CTRL_ADDR:8080/healthz"
  curl -fsS "http://$CTRL_ADDR:8080/v1/cert.pem" >"$WORK/direct.pem"
  openssl x509 -in "$WORK/direct.pem" -noout -subject -enddate
}

t_cert_proxy() {
  "$CL" expose kube-system sealed-secrets-controller "$NETNS" 8080 http
  eventually 30 "${K[@]}" get --raw /api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:http/proxy/healthz
  "${K[@]}" get --raw /api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:http/proxy/v1/cert.pem >"$WORK/proxy.pem"
  cmp "$WORK/direct.pem" "$WORK/proxy.pem"
}

t_kubeseal_fetch_cert() {
  "$KSEAL_BIN/kubeseal" --fetch-cert >"$WORK/fetched.pem"
  cmp "$WORK/direct.pem" "$WORK/fetched.pem"
}

t_unseal_roundtrip() {
  # kubeseal (via the service proxy) seals, the controller unseals.
  "${K[@]}" -n "$NS" create secret generic roundtrip --from-literal=password=s3cr3t --dry-run=client -o yaml |
    "$KSEAL_BIN/kubeseal" -o yaml >"$WORK/sealed.yaml"
  "${K[@]}" apply -f "$WORK/sealed.yaml"
  eventually 30 "${K[@]}" -n "$NS" get secret roundtrip
  local v
  v=$("${K[@]}" -n "$NS" get secret roundtrip -o jsonpath='{.data.password}' | base64 -d)
  # Compare without printing: test output never shows a secret value, not even a test one.
  [[ $v == s3cr3t ]] || { echo "the unsealed value differs from the sealed one"; return 1; }
}

# kseal's CLI against the real Bitnami controller: the cert through the service proxy, drift
# detection, and a kseal-sealed .env unsealed by Bitnami. KSEAL_CLI is the kseal binary
# (tests/run-all.sh sets it; default: the workspace's debug build).
KSEAL_CLI=${KSEAL_CLI:-${CARGO_TARGET_DIR:-$HERE/../../target}/debug/kseal}

need_kseal_cli() {
  [[ -x $KSEAL_CLI ]] || { echo "no kseal binary at $KSEAL_CLI; build it with: cargo build -p kseal"; return 1; }
}

t_kseal_cert() {
  need_kseal_cli
  "$KSEAL_CLI" cert >"$WORK/kseal.pem"
  cmp "$WORK/direct.pem" "$WORK/kseal.pem"
  "$KSEAL_CLI" cert --check "$WORK/kseal.pem"
  # A committed cert of another key is drift: exit 5, naming both fingerprints.
  local rc=0
  "$KSEAL_CLI" cert --check "$HERE/../../cli/tests/fixtures/test.pem" 2>"$WORK/check.err" || rc=$?
  cat "$WORK/check.err"
  [[ $rc == 5 ]] && grep -q "is not the cluster's newest certificate" "$WORK/check.err"
}

t_kseal_seal_bitnami_unseals() {
  need_kseal_cli
  printf 'DATABASE_URL="postgres://app:p4ss@db/app"\nPEM="-----BEGIN X-----\nline\n-----END X-----"\n' >"$WORK/app.env"
  "$KSEAL_CLI" seal --no-config --cert "$WORK/kseal.pem" --name kseal-app -n "$NS" "$WORK/app.env" >"$WORK/kseal-sealed.yaml"
  "${K[@]}" apply -f "$WORK/kseal-sealed.yaml"
  eventually 30 "${K[@]}" -n "$NS" get secret kseal-app
  local url pem
  url=$("${K[@]}" -n "$NS" get secret kseal-app -o jsonpath='{.data.DATABASE_URL}' | base64 -d)
  pem=$("${K[@]}" -n "$NS" get secret kseal-app -o jsonpath='{.data.PEM}' | base64 -d)
  [[ $url == "postgres://app:p4ss@db/app" && $pem == $'-----BEGIN X-----\nline\n-----END X-----' ]]
}

check "readyz is ok" t_readyz
check "kubectl and kube-apiserver are the same v1.34 build" t_version_skew
check "RBAC: auth can-i denies an unbound SA, allows a Role-bound one" t_rbac
check "ServiceAccount token (TokenRequest) authenticates as the SA" t_sa_token
check "garbage collector deletes a dependent of a deleted owner within 30 s" t_gc
check "Deployment creates a ReplicaSet, a template change a second one" t_deployment
check "kubeseal, controller and helm from the cache run" t_kubeseal_version
check "helm renders the Bitnami chart" t_helm_template
check "Bitnami controller (run-as-sa in netns) creates its active key Secret" t_controller_starts
check "controller SA has exactly its RBAC" t_controller_identity
check "controller serves /v1/cert.pem at its netns address" t_cert_direct
check "API server service proxy reaches the controller (same cert)" t_cert_proxy
check "kubeseal --fetch-cert returns the same cert" t_kubeseal_fetch_cert
check "kubeseal seals, Bitnami controller unseals" t_unseal_roundtrip
check "kseal cert fetches it through the API server; --check detects drift (exit 5)" t_kseal_cert
check "kseal seals a .env, Bitnami controller unseals it byte for byte" t_kseal_seal_bitnami_unseals
# finish (the EXIT trap) cleans up, checks that, and prints the totals.

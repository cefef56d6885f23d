#!/usr/bin/env bash
# bench-rotate: re-encrypt a repository of sealed files after a key renewal, `kseal rotate`
# against a `kubeseal --re-encrypt` loop over the same files, through the same kseal-controller
# behind the real API server's service proxy, in the same run (issue #7).
#
#   cargo build --release -p kseal -p kseal-controller
#   tests/cluster/cluster.sh up
#   tests/bench/rotate.sh [--count 500] [--stale-every 10] [--items 5] [--out FILE]
#
# Set-up: two key Secrets (A older, B newest) are loaded by one kseal-controller (release build,
# scoped to two fresh namespaces, run as its ServiceAccount with the namespaced RBAC of
# controller/deploy/); COUNT files with one SealedSecret each (ITEMS random values) are sealed
# locally, every STALE_EVERY-th to A, the rest to B. Both tools then bring every file to B.
# The controller's /v1/rotate rate limit is raised for both (kubeseal does not retry a 429).
# Prints wall time, /v1/rotate requests the controller answered (its own
# http_requests_total), files rewritten and documents re-sealed, and writes the table to
# tests/bench-results/rotate.txt. Values are random bytes and are never printed.
set -Eeuo pipefail
trap 'echo "rotate.sh: ERROR: command failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CLUSTER=$ROOT/tests/cluster/cluster.sh
COUNT=500 STALE_EVERY=10 ITEMS=5 OUT=$ROOT/tests/bench-results/rotate.txt
while (($#)); do
  case $1 in
    --count) COUNT=${2:?}; shift 2 ;;
    --stale-every) STALE_EVERY=${2:?}; shift 2 ;;
    --items) ITEMS=${2:?}; shift 2 ;;
    --out) OUT=${2:?}; shift 2 ;;
    *) sed -n '2,/^set -E/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
die() { echo "rotate.sh: $*" >&2; exit 1; }

RELEASE=${CARGO_TARGET_DIR:-$HOME/.cache/kseal/cargo-target}/release
KSEAL=$RELEASE/kseal CONTROLLER=$RELEASE/kseal-controller
[[ -x $KSEAL && -x $CONTROLLER ]] ||
  die "no release build in $RELEASE: run cargo build --release -p kseal -p kseal-controller"
eval "$("$CLUSTER" env)" || die "no test cluster: run tests/cluster/cluster.sh up"
BIN=$("$CLUSTER" status | sed -n 's/^KSEAL_BIN=//p' | tr -d "'\"")
K=("$BIN/kubectl")
KUBESEAL=$BIN/kubeseal
[[ -x $KUBESEAL ]] || die "no kubeseal in $BIN: run tests/cluster/build.sh"

ID=$(printf '%06x' $((RANDOM * 32768 + RANDOM)))
CTL_NS=bench-rot-ctl-$ID APP_NS=bench-rot-app-$ID NETNS=br$ID
WORK=$(mktemp -d)
cleanup() {
  "$CLUSTER" stop "$NETNS" >/dev/null 2>&1 || true
  "$CLUSTER" netns del "$NETNS" >/dev/null 2>&1 || true
  "${K[@]}" delete namespace "$CTL_NS" "$APP_NS" --wait=false >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
log() { printf 'rotate.sh: %s\n' "$*" >&2; }

log "namespaces $CTL_NS, $APP_NS; RBAC from controller/deploy/kustomize"
"${K[@]}" create namespace "$CTL_NS" >/dev/null
"${K[@]}" create namespace "$APP_NS" >/dev/null
apply() { # FILE TARGET_NAMESPACE
  sed -e "s/kube-system/$CTL_NS/g" -e "s/APP_NAMESPACE/$2/g" "$ROOT/controller/deploy/kustomize/$1" |
    "${K[@]}" apply -f - >/dev/null
}
apply base/service-account.yaml "$CTL_NS"
apply namespaced/controller-namespace.yaml "$CTL_NS"
apply namespaced/rbac.yaml "$CTL_NS"
apply namespaced/rbac.yaml "$APP_NS"

log "two RSA-4096 keys: A (old) and B (newest)"
"$KSEAL" keygen --out "$WORK/key-a" >/dev/null 2>&1
sleep 1.1 # B's NotBefore is strictly later, so B is the newest
"$KSEAL" keygen --out "$WORK/key-b" >/dev/null 2>&1
for k in a b; do
  "${K[@]}" -n "$CTL_NS" create secret tls "sealed-secrets-key$k" \
    --cert "$WORK/key-$k/tls.crt" --key "$WORK/key-$k/tls.key" >/dev/null
  "${K[@]}" -n "$CTL_NS" label secret "sealed-secrets-key$k" \
    sealedsecrets.bitnami.com/sealed-secrets-key=active >/dev/null
done

log "kseal-controller in netns $NETNS, behind Service $CTL_NS/sealed-secrets-controller"
ADDR=$("$CLUSTER" netns add "$NETNS")
"$CLUSTER" run-as-sa "$CTL_NS" sealed-secrets-controller --netns "$NETNS" --background "$NETNS" -- \
  "$CONTROLLER" --all-namespaces=false --additional-namespaces="$APP_NS" \
  --rate-limit=100000 --rate-limit-burst=100000 >/dev/null
"$CLUSTER" expose "$CTL_NS" sealed-secrets-controller "$NETNS" 8080 http >/dev/null
CONTROLLER_FLAGS=(--controller-namespace "$CTL_NS")
for _ in $(seq 100); do
  "$KSEAL" cert "${CONTROLLER_FLAGS[@]}" >"$WORK/served.pem" 2>/dev/null && break
  sleep 0.2
done
cmp -s "$WORK/served.pem" "$WORK/key-b/tls.crt" ||
  die "the controller does not serve key B (see $("$CLUSTER" status | sed -n 's/^KSEAL_CLUSTER_DIR=//p')/logs/$NETNS.log)"
rotations() { # /v1/rotate requests the controller answered, any status
  curl -fsS "http://$ADDR:8081/metrics" |
    awk '/^sealed_secrets_controller_http_requests_total\{/ && /path="\/v1\/rotate"/ {n += $NF} END {print n + 0}'
}

log "sealing $COUNT files ($ITEMS values each), every ${STALE_EVERY}th to key A"
mkdir -p "$WORK/repo"
stale=0
for i in $(seq -w 1 "$COUNT"); do
  cert=$WORK/key-b/tls.crt
  if ((10#$i % STALE_EVERY == 0)); then cert=$WORK/key-a/tls.crt stale=$((stale + 1)); fi
  : >"$WORK/app.env"
  for j in $(seq "$ITEMS"); do
    printf 'VALUE_%s=%s\n' "$j" "$(head -c 24 /dev/urandom | base64 | tr -d '/+=')" >>"$WORK/app.env"
  done
  "$KSEAL" seal "$WORK/app.env" --no-config --cert "$cert" --name "app-$i" -n "$APP_NS" \
    >"$WORK/repo/app-$i.yaml"
done
rm -f "$WORK/app.env"
cp -r "$WORK/repo" "$WORK/kseal"
cp -r "$WORK/repo" "$WORK/kubeseal"
changed() { # files in DIR that differ from the original repo
  local n=0 f
  for f in "$WORK/repo"/*.yaml; do cmp -s "$f" "$1/$(basename "$f")" || n=$((n + 1)); done
  echo "$n"
}

log "kseal rotate"
r0=$(rotations) t0=$(now)
"$KSEAL" rotate "$WORK/kseal" --no-config "${CONTROLLER_FLAGS[@]}" >"$WORK/kseal.out" 2>"$WORK/kseal.err" ||
  die "kseal rotate failed: $(cat "$WORK/kseal.err")"
t1=$(now) r1=$(rotations)
kseal_s=$(echo "$t1 - $t0" | bc) kseal_req=$((r1 - r0)) kseal_files=$(changed "$WORK/kseal")
kseal_docs=$(grep -c '^re-sealed' "$WORK/kseal.out" || true)

log "kseal rotate again (must be a no-op)"
cp -r "$WORK/kseal" "$WORK/kseal-first"
r0=$(rotations) t0=$(now)
"$KSEAL" rotate "$WORK/kseal" --no-config "${CONTROLLER_FLAGS[@]}" >"$WORK/kseal2.out" 2>"$WORK/kseal2.err" ||
  die "second kseal rotate failed: $(cat "$WORK/kseal2.err")"
t1=$(now) r1=$(rotations)
again_s=$(echo "$t1 - $t0" | bc) again_req=$((r1 - r0))
again_files=0
for f in "$WORK/kseal-first"/*.yaml; do cmp -s "$f" "$WORK/kseal/$(basename "$f")" || again_files=$((again_files + 1)); done
again_docs=$(grep -c '^re-sealed' "$WORK/kseal2.out" || true)

log "kubeseal --re-encrypt loop"
r0=$(rotations) t0=$(now)
for f in "$WORK/kubeseal"/*.yaml; do
  "$KUBESEAL" --re-encrypt "${CONTROLLER_FLAGS[@]}" -o yaml <"$f" >"$f.new" 2>"$WORK/kubeseal.err" ||
    die "kubeseal --re-encrypt $(basename "$f") failed: $(cat "$WORK/kubeseal.err")"
  mv "$f.new" "$f"
done
t1=$(now) r1=$(rotations)
kube_s=$(echo "$t1 - $t0" | bc) kube_req=$((r1 - r0)) kube_files=$(changed "$WORK/kubeseal")

# The outcome must be right before its speed means anything.
[[ $kseal_files == "$stale" && $kseal_docs == "$stale" ]] ||
  die "kseal rewrote $kseal_files files / re-sealed $kseal_docs documents, expected $stale"
[[ $again_files == 0 && $again_docs == 0 && $again_req == 0 ]] ||
  die "the second kseal rotate was not a no-op ($again_files files, $again_req requests)"
"$KSEAL" rotate "$WORK/kseal" --no-config --check --cert "$WORK/key-b/tls.crt" >/dev/null 2>&1 ||
  die "kseal rotate left documents that are not sealed to key B"

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
{
  echo "# kseal rotate vs kubeseal --re-encrypt loop (issue #7)"
  echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "machine: $(nproc) cores, $cpu, load average $(cut -d' ' -f1-3 /proc/loadavg) at end"
  echo "command: tests/bench/rotate.sh --count $COUNT --stale-every $STALE_EVERY --items $ITEMS"
  echo "setup:   $COUNT files x 1 SealedSecret x $ITEMS values, $stale sealed to the older of 2 RSA-4096 keys;"
  echo "         one kseal-controller (release) behind the real kube-apiserver's service proxy,"
  echo "         /v1/rotate rate limit raised to 100000/s for both tools; requests = the controller's"
  echo "         http_requests_total{path=\"/v1/rotate\"} difference"
  echo
  printf '%-32s %8s %10s %8s %10s\n' tool "wall s" "requests" "files" "documents"
  printf '%-32s %8.2f %10d %8d %10d\n' "kseal rotate" "$kseal_s" "$kseal_req" "$kseal_files" "$kseal_docs"
  printf '%-32s %8.2f %10d %8d %10d\n' "kseal rotate (second run)" "$again_s" "$again_req" "$again_files" "$again_docs"
  printf '%-32s %8.2f %10d %8d %10d\n' "kubeseal --re-encrypt (loop)" "$kube_s" "$kube_req" "$kube_files" "$COUNT"
  echo
  printf 'kseal is %.1fx faster, with %.1fx fewer controller requests and %.1fx fewer files rewritten\n' \
    "$(echo "$kube_s / $kseal_s" | bc -l)" "$(echo "$kube_req / ($kseal_req + (0 == $kseal_req))" | bc -l)" \
    "$(echo "$kube_files / ($kseal_files + (0 == $kseal_files))" | bc -l)"
} | tee "$OUT"

#!/usr/bin/env bash
# Builds the pinned test-cluster binaries (etcd, kube-apiserver,
# kube-controller-manager, kubectl, kubeseal, the Bitnami
# sealed-secrets controller, helm, argocd-health (Argo CD's health checks),
# tiltcheck) from Go
# modules into a cache directory outside the repository.
#
#   build.sh                 build what is missing; last stdout line = bin dir
#   build.sh --print-bindir  print the bin dir; exit 1 if it is not complete
#
# The bin dir is ${KSEAL_CACHE:-$HOME/.cache/kseal}/bin/<key>, where <key> is a
# hash of every go.mod/go.sum here, the Go version and the link flags. A pin
# change therefore gets a fresh directory and never mixes versions; old
# directories can be deleted at any time. Go's own caches (GOCACHE,
# GOMODCACHE) stay at their defaults so recompiles after a pin change are
# incremental. Progress goes to stderr.
set -Eeuo pipefail
trap 'echo "build.sh: ERROR: command failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE_ROOT=${KSEAL_CACHE:-$HOME/.cache/kseal}

die() { echo "build.sh: ERROR: $*" >&2; exit 1; }
log() { echo "build.sh: $*" >&2; }

# Prefer the go on PATH, fall back to the usual install location.
GO=${GO:-$(command -v go || true)}
[[ -n $GO ]] || GO=/usr/local/go/bin/go
[[ -x $GO ]] || die "no Go toolchain found (set GO=/path/to/go or put go on PATH)"

# Never let go.mod's "go" line trigger a toolchain download: fail instead.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=readonly"

# Versions, used for link-time version stamps. They must agree with the
# go.mod files (checked below so a half-done pin bump fails loudly).
K8S_VERSION=v1.34.10
SEALED_SECRETS_VERSION=v0.36.0
HELM_VERSION=v3.22.0
HELM_K8S_MAJOR=1 HELM_K8S_MINOR=37   # from helm's k8s.io/client-go v0.37.x, as helm's Makefile does
ARGOCD_VERSION=v3.2.11

K8S_LDFLAGS="-s -w"
for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
  K8S_LDFLAGS+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=34"
  K8S_LDFLAGS+=" -X $p.gitTreeState=archive -X $p.buildDate=1970-01-01T00:00:00Z"
done
SS_LDFLAGS="-s -w -X main.VERSION=$SEALED_SECRETS_VERSION"
HELM_LDFLAGS="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.metadata="
for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  HELM_LDFLAGS+=" -X $p.k8sVersionMajor=$HELM_K8S_MAJOR -X $p.k8sVersionMinor=$HELM_K8S_MINOR"
done
ETCD_LDFLAGS="-s -w"
PLAIN_LDFLAGS="-s -w"

MODFILES=(go.mod go.sum stubs/sample-apiserver/go.mod
          tools/etcd/go.mod tools/etcd/go.sum
          tools/sealed-secrets/go.mod tools/sealed-secrets/go.sum
          tools/helm/go.mod tools/helm/go.sum
          tools/argocd-health/go.mod tools/argocd-health/go.sum tools/argocd-health/main.go
          tools/tiltcheck/go.mod tools/tiltcheck/go.sum tools/tiltcheck/main.go)
# Bump when the way binaries are produced changes without a go.mod change.
RECIPE=1

go_version=$("$GO" env GOVERSION)
key=$( { echo "recipe=$RECIPE $go_version"; echo "$K8S_LDFLAGS|$SS_LDFLAGS|$HELM_LDFLAGS|$ETCD_LDFLAGS|$PLAIN_LDFLAGS";
         (cd "$HERE" && sha256sum "${MODFILES[@]}"); } | sha256sum | cut -c1-16)
BINDIR=$CACHE_ROOT/bin/$key

# name:module-dir:ldflags-var:output=package ...  (one "go build" per step so
# packages shared by the binaries of one module are compiled once)
STEPS=(
  "kubernetes|.|K8S_LDFLAGS|kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager kubectl=k8s.io/kubernetes/cmd/kubectl kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler kubelet=k8s.io/kubernetes/cmd/kubelet"
  "etcd|tools/etcd|ETCD_LDFLAGS|etcd=go.etcd.io/etcd/server/v3"
  "sealed-secrets|tools/sealed-secrets|SS_LDFLAGS|kubeseal=github.com/bitnami-labs/sealed-secrets/cmd/kubeseal controller=github.com/bitnami-labs/sealed-secrets/cmd/controller"
  "helm|tools/helm|HELM_LDFLAGS|helm=helm.sh/helm/v3/cmd/helm"
  # Argo CD's health assessment alone (its util/lua and gitops-engine's health), not the
  # whole argocd binary: ~3 instead of ~13 cold minutes (docs/testing.md "Argo CD health").
  "argocd-health|tools/argocd-health|PLAIN_LDFLAGS|argocd-health=kseal.local/tests/cluster/tools/argocd-health"
  "tiltcheck|tools/tiltcheck|PLAIN_LDFLAGS|tiltcheck=kseal.local/tests/cluster/tools/tiltcheck"
)
# Non-binary assets copied next to the binaries (source module, path in it, target).
SS_MODULE=github.com/bitnami-labs/sealed-secrets

all_outputs() {
  local s outs o
  for s in "${STEPS[@]}"; do
    IFS='|' read -r _ _ _ outs <<<"$s"
    for o in $outs; do echo "${o%%=*}"; done
  done
  echo sealed-secrets-chart/Chart.yaml
  echo argocd-crds/application-crd.yaml
}

complete() {
  local f
  [[ -f $BINDIR/.complete ]] || return 1
  while read -r f; do [[ -e $BINDIR/$f ]] || return 1; done < <(all_outputs)
}

if [[ ${1:-} == --print-bindir ]]; then
  echo "$BINDIR"
  complete || { log "bin dir $BINDIR is not built yet (run $HERE/build.sh)"; exit 1; }
  exit 0
elif [[ $# -gt 0 ]]; then
  die "unknown argument '$1' (usage: build.sh [--print-bindir])"
fi

if complete; then
  log "all binaries cached in $BINDIR"
  echo "$BINDIR"
  exit 0
fi

# Cross-check the stamped versions against the pins.
grep -Eq "k8s.io/kubernetes $K8S_VERSION( |\$)" "$HERE/go.mod" || die "K8S_VERSION=$K8S_VERSION does not match $HERE/go.mod"
grep -Eq "$SS_MODULE $SEALED_SECRETS_VERSION( |\$)" "$HERE/tools/sealed-secrets/go.mod" || die "SEALED_SECRETS_VERSION does not match tools/sealed-secrets/go.mod"
grep -Eq "helm.sh/helm/v3 $HELM_VERSION( |\$)" "$HERE/tools/helm/go.mod" || die "HELM_VERSION does not match tools/helm/go.mod"
grep -Eq "github.com/argoproj/argo-cd/v3 $ARGOCD_VERSION( |\$)" "$HERE/tools/argocd-health/go.mod" || die "ARGOCD_VERSION does not match tools/argocd-health/go.mod"

mkdir -p "$BINDIR"
# Two concurrent build.sh runs (e.g. parallel test jobs) must not race.
exec 9>"$BINDIR/.lock"
if ! flock -n 9; then
  log "another build.sh is building into $BINDIR; waiting for it"
  flock 9
fi

log "Go: $go_version ($GO); bin dir: $BINDIR"
total_start=$(date +%s)
for s in "${STEPS[@]}"; do
  IFS='|' read -r name moddir ldvar outs <<<"$s"
  missing=() pkgs=()
  for o in $outs; do
    [[ -x $BINDIR/${o%%=*} ]] || missing+=("${o%%=*}")
    pkgs+=("${o#*=}")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "[$name] cached"
    continue
  fi
  log "[$name] building ${missing[*]} ..."
  start=$(date +%s)
  tmp=$(mktemp -d "$BINDIR/.tmp-$name.XXXXXX")
  if ! (cd "$HERE/$moddir" && "$GO" build -trimpath -ldflags="${!ldvar}" -o "$tmp/" "${pkgs[@]}") >"$tmp.log" 2>&1; then
    cat "$tmp.log" >&2
    rm -rf "$tmp" "$tmp.log"
    die "[$name] 'go build' failed in $HERE/$moddir (output above)"
  fi
  for o in $outs; do
    out=${o%%=*} pkg=${o#*=}
    # go names a binary after the last path element, skipping a major
    # version suffix (go.etcd.io/etcd/server/v3 -> "server").
    base=$(basename "$pkg")
    [[ $base =~ ^v[0-9]+$ ]] && base=$(basename "$(dirname "$pkg")")
    src=$tmp/$base
    [[ -x $src ]] || die "[$name] expected $src after go build"
    mv -f "$src" "$BINDIR/$out"
  done
  rm -rf "$tmp" "$tmp.log"
  log "[$name] done in $(( $(date +%s) - start )) s"
done

# The Bitnami Helm chart (with the SealedSecret CRD in crds/) from the same
# module version as the binaries, so tests need not look into GOMODCACHE.
if [[ ! -e $BINDIR/sealed-secrets-chart/Chart.yaml ]]; then
  ssdir=$(cd "$HERE/tools/sealed-secrets" && "$GO" list -m -f '{{.Dir}}' "$SS_MODULE") ||
    die "could not locate $SS_MODULE in the module cache"
  [[ -n $ssdir && -d $ssdir/helm/sealed-secrets ]] || die "no helm/sealed-secrets in $ssdir"
  rm -rf "$BINDIR/sealed-secrets-chart"
  cp -r "$ssdir/helm/sealed-secrets" "$BINDIR/sealed-secrets-chart"
  chmod -R u+w "$BINDIR/sealed-secrets-chart"   # module cache files are read-only
fi

# Argo CD's Application CRD from the same module version as argocd-health,
# so tests can validate Application manifests server-side.
if [[ ! -e $BINDIR/argocd-crds/application-crd.yaml ]]; then
  argodir=$(cd "$HERE/tools/argocd-health" && "$GO" list -m -f '{{.Dir}}' github.com/argoproj/argo-cd/v3) ||
    die "could not locate github.com/argoproj/argo-cd/v3 in the module cache"
  [[ -n $argodir && -f $argodir/manifests/crds/application-crd.yaml ]] || die "no manifests/crds in $argodir"
  mkdir -p "$BINDIR/argocd-crds"
  cp "$argodir/manifests/crds/application-crd.yaml" "$BINDIR/argocd-crds/"
  chmod u+w "$BINDIR/argocd-crds/application-crd.yaml"
fi

touch "$BINDIR/.complete"
log "all binaries ready in $BINDIR (this run: $(( $(date +%s) - total_start )) s)"
echo "$BINDIR"

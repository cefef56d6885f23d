#!/usr/bin/env bash
# Builds the node's two tiny images from Debian's busybox-static, without a
# registry or a Docker daemon (umoci + skopeo), as docker-archive tarballs for
# `ctr -n k8s.io images import`:
#
#   kseal.test/pause:1    the Pod sandbox ("pause") image: busybox sleeping as
#                         PID 1; containerd stops sandboxes with SIGKILL, so it
#                         needs no signal handling.
#   kseal.test/env-app:1  a stand-in for the example apps' images (examples/k8s,
#                         examples/helm): first prints one line
#                         "env-digest <sha256> keys=<n>": the sha256 of the
#                         sorted KEY=VALUE lines (each ending in a newline) of
#                         the variables named in $KSEAL_DIGEST_KEYS (comma
#                         separated; an unset one counts as empty). Values are
#                         never printed. Then, by its arguments (the
#                         entrypoint is /app/run.sh, so a Pod's `args` reach it):
#                           (none)          serve /ready and /healthz on $PORT
#                                           (3000), as the web and api containers
#                           worker ...      the same on 8081, the health port of
#                                           the worker in examples/helm/shop
#                           migrate ...     exit 0: a one-off job, as the
#                                           migration init container of
#                                           examples/helm/api
#                         (busybox httpd; read-only root filesystem, any uid).
#
#   images.sh    build what is missing; last stdout line = the directory with
#                pause.tar and env-app.tar
#
# Cached in ${KSEAL_CACHE:-$HOME/.cache/kseal}/images/<key>, <key> = hash of
# this script and the busybox package version. Needs node-deps.sh first.
set -Eeuo pipefail
trap 'echo "images.sh: ERROR: command failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

log() { echo "images.sh: $*" >&2; }
CACHE_ROOT=${KSEAL_CACHE:-$HOME/.cache/kseal}
bb_version=$(dpkg-query -W -f '${Version}' busybox-static)
key=$({ cat "${BASH_SOURCE[0]}"; echo "$bb_version"; } | sha256sum | cut -c1-16)
OUT=$CACHE_ROOT/images/$key
if [[ -f $OUT/.complete ]]; then
  echo "$OUT"
  exit 0
fi
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9
if [[ -f $OUT/.complete ]]; then echo "$OUT"; exit 0; fi

# build NAME TAG ROOTFS-SETUP-FUNCTION umoci-config-args...
build() {
  local name=$1 tag=$2 setup=$3 work
  shift 3
  work=$(mktemp -d "$OUT/.work-$name.XXXXXX")
  umoci init --layout "$work/oci"
  umoci new --image "$work/oci:1"
  umoci unpack --image "$work/oci:1" "$work/bundle" >/dev/null
  "$setup" "$work/bundle/rootfs"
  umoci repack --image "$work/oci:1" "$work/bundle"
  umoci config --image "$work/oci:1" --architecture "$(dpkg --print-architecture)" --os linux "$@"
  umoci gc --layout "$work/oci"
  rm -f "$OUT/$name.tar"
  skopeo copy --quiet "oci:$work/oci:1" "docker-archive:$OUT/$name.tar:$tag"
  rm -rf "$work"
  log "built $tag -> $OUT/$name.tar"
}

busybox_root() { # rootfs: /bin/busybox and a link per applet
  local a
  install -D -m 0755 /bin/busybox "$1/bin/busybox"
  for a in $(/bin/busybox --list); do
    [[ $a == busybox ]] || ln -sf busybox "$1/bin/$a"
  done
  mkdir -p "$1/tmp" "$1/etc"
  chmod 1777 "$1/tmp"
  printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$1/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$1/etc/group"
}

pause_root() { busybox_root "$1"; }

app_root() {
  busybox_root "$1"
  mkdir -p "$1/app/www"
  echo ok >"$1/app/www/ready"
  echo ok >"$1/app/www/healthz"
  cat >"$1/app/run.sh" <<'EOF'
#!/bin/sh
# kseal test app (tests/cluster/images.sh): digest of the named env vars, then by the
# arguments: HTTP on $PORT, HTTP on 8081 (worker), or exit (migrate).
keys=$(echo "${KSEAL_DIGEST_KEYS:-}" | tr ',' ' ')
n=0
for k in $keys; do n=$((n + 1)); done
d=$(for k in $keys; do
  case $k in '' | [0-9]* | *[!A-Za-z0-9_]*) echo "bad variable name in KSEAL_DIGEST_KEYS" >&2; exit 1 ;; esac
  eval "v=\${$k-}"
  printf '%s=%s\n' "$k" "$v"
done | LC_ALL=C sort | sha256sum | cut -d' ' -f1)
echo "env-digest $d keys=$n"
port=${PORT:-3000}
case ${1:-} in
  migrate) echo "migrate: nothing to do"; exit 0 ;;
  worker) port=8081 ;;
esac
# PID 1 ignores signals it has no handler for: stop on SIGTERM like a real app would.
httpd -f -p "$port" -h /app/www &
trap 'kill $!; exit 0' TERM INT
wait
EOF
  chmod 0755 "$1/app/run.sh"
}

build pause kseal.test/pause:1 pause_root \
  --config.entrypoint /bin/busybox --config.cmd sleep --config.cmd 2147483647
build env-app kseal.test/env-app:1 app_root \
  --config.entrypoint /app/run.sh --config.exposedports 3000/tcp
touch "$OUT/.complete"
echo "$OUT"

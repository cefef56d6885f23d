#!/usr/bin/env bash
# Installs the Debian packages the test node needs (containerd, runc, the CNI
# plugins, busybox-static for the pause and app images, umoci and skopeo to
# build OCI images, iptables for the kubernetes Service address). Idempotent:
# when everything is installed it only checks (~0.1 s). The .deb files are kept
# in ${KSEAL_CACHE:-$HOME/.cache/kseal}/debs, so a reinstall on the same machine
# needs no download. Needs root. Progress on stderr.
set -Eeuo pipefail
trap 'echo "node-deps.sh: ERROR: command failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

PKGS=(containerd runc containernetworking-plugins busybox-static umoci skopeo iptables)
# Files the node scripts use, checked after the install (a package renamed
# upstream fails here, not later in cluster.sh).
FILES=(/usr/bin/containerd /usr/bin/ctr /usr/sbin/runc /usr/lib/cni/bridge /usr/lib/cni/host-local
       /usr/lib/cni/loopback /bin/busybox /usr/bin/umoci /usr/bin/skopeo /usr/sbin/iptables)
DEBS=${KSEAL_CACHE:-$HOME/.cache/kseal}/debs

log() { echo "node-deps.sh: $*" >&2; }
[[ $(id -u) -eq 0 ]] || { log "ERROR: must run as root (apt-get install)"; exit 1; }

missing=()
for p in "${PKGS[@]}"; do
  [[ $(dpkg-query -W -f '${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]} (debs cached in $DEBS)"
  mkdir -p "$DEBS/partial"
  apt_opts=(-o "Dir::Cache::archives=$DEBS" -o APT::Sandbox::User=root -y -q --no-install-recommends)
  # No daemon may start at install time: cluster.sh starts a private containerd per cluster.
  export DEBIAN_FRONTEND=noninteractive RUNLEVEL=1
  if ! apt-get install "${apt_opts[@]}" "${missing[@]}" >"$DEBS/apt.log" 2>&1; then
    log "apt-get install failed; updating the package lists and retrying"
    apt-get update -q >>"$DEBS/apt.log" 2>&1
    apt-get install "${apt_opts[@]}" "${missing[@]}" >>"$DEBS/apt.log" 2>&1 ||
      { tail -n 20 "$DEBS/apt.log" >&2; log "ERROR: apt-get install failed (log: $DEBS/apt.log)"; exit 1; }
  fi
fi
for f in "${FILES[@]}"; do
  [[ -x $f ]] || { log "ERROR: $f missing after installing ${PKGS[*]}"; exit 1; }
done
# A containerd started by the package (systemd is not running here, but a
# machine with systemd would start one) is not ours and is left alone: ours
# uses its own socket and root under the cluster dir.
log "node packages ready: ${PKGS[*]}"

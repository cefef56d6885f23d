# shellcheck shell=bash
# The test cluster's node: containerd + runc + CNI bridge + kubelet, and
# kube-scheduler. Sourced by cluster.sh (uses its STATE, BIN, NET, BRIDGE, log,
# die, start_daemon, stop_pidfile, pid_alive, sign, wait_for, KUBECTL); see
# README.md "The node".
#
# Layout: the node lives in its own network namespace "kn-<bridge>" with the
# address $NET.254 on the cluster bridge, so parallel clusters never share
# iptables rules, ports (kubelet 10250) or bridges. containerd and the kubelet
# join only its network namespace (nsenter --net: the mount namespace and
# /sys/fs/cgroup stay the host's). Pods get addresses from KSEAL_POD_CIDR on a
# bridge inside the node namespace; their only routes lead to the cluster /24
# and the Service range, so nothing they send leaves the machine.
#
# There is no kube-proxy: the one Service Pods need, "kubernetes" (first
# address of the Service range, port 443), is a DNAT rule in the node
# namespace to the API server's bridge address. Other Service addresses lead
# nowhere; tests reach Pods through the API server's service proxy.

NODE_NAME=kseal-node
NODE_IP=$NET.254
NODE_NS=kn-${BRIDGE:0:12}
NODE_DIR=$STATE/node
POD_BRIDGE=${BRIDGE:0:11}pod
CGROUP_ROOT=/kseal-${BRIDGE}
SANDBOX_IMAGE=kseal.test/pause:1
CONTAINERD_SOCK=$NODE_DIR/containerd/containerd.sock
# Pod addresses: a /24 derived from the cluster's /24 (198.18.N -> 198.18.(100+N)),
# so parallel clusters never collide; KSEAL_POD_CIDR overrides.
pod_cidr_default() {
  local n=${NET##*.}
  ((n < 100)) || die "KSEAL_NET=$NET: the third octet must be < 100 to derive the Pod range; set KSEAL_POD_CIDR"
  echo "${NET%.*}.$((n + 100)).0/24"
}
POD_CIDR=${KSEAL_POD_CIDR:-${SAVED_POD_CIDR:-$(pod_cidr_default)}}
# The Pods' gateway: the range's first address (not ".1": KSEAL_POD_CIDR may be a block
# that does not start a /24, such as the private cluster of controller/tests/node/base.rs).
IFS=. read -r _a _b _c _d <<<"${POD_CIDR%/*}"
POD_GW=$_a.$_b.$_c.$((_d + 1))
NODE_DAEMONS=(kubelet kube-scheduler containerd)
# The kubelet's kernel settings (pkg/kubelet/cm: setupKernelTunables). With
# protectKernelDefaults the kubelet only checks them; cluster.sh presets them
# instead, records the old values and restores them when the last node on the
# machine stops (see README.md "The node").
KERNEL_TUNABLES=(vm.overcommit_memory=1 vm.panic_on_oom=0 kernel.panic=10 kernel.panic_on_oops=1
                 kernel.keys.root_maxkeys=1000000 kernel.keys.root_maxbytes=25000000)
NODES_REG=/run/kseal-nodes

node_running() { pid_alive "$STATE/pids/kubelet.pid"; }

node_certs() {
  (
    cd "$STATE/pki"
    umask 077
    sign kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth
    sign kubelet-serving "/CN=$NODE_NAME" serverAuth "IP:$NODE_IP,DNS:$NODE_NAME"
    sign kube-scheduler "/CN=system:kube-scheduler" clientAuth
  )
}

node_net_up() {
  [[ -e /run/netns/$NODE_NS ]] && die "netns $NODE_NS exists but this cluster has no node; another cluster with bridge $BRIDGE?"
  local veth=${BRIDGE:0:10}vn
  netns_on_bridge "$NODE_NS" "$veth" "$NODE_IP" "$STATE/net/node" "$NODE_NS $veth $POD_CIDR"
  # Route Service addresses into the node namespace too (only the kubernetes
  # one leads anywhere), forward between the Pod bridge and eth0 there, and
  # let the host reach the Pods (service proxy, probes are the kubelet's).
  ip netns exec "$NODE_NS" sysctl -qw net.ipv4.ip_forward=1
  ip route add "$POD_CIDR" via "$NODE_IP" dev "$BRIDGE"
  local a b c d svc_ip
  IFS=. read -r a b c d <<<"${SERVICE_CIDR%/*}"
  svc_ip=$a.$b.$c.$((d + 1))
  local rule=(-d "$svc_ip" -p tcp --dport 443 -j DNAT --to-destination "$API_IP:$API_PORT")
  ip netns exec "$NODE_NS" iptables -t nat -A PREROUTING "${rule[@]}"
  ip netns exec "$NODE_NS" iptables -t nat -A OUTPUT "${rule[@]}"
  log "node netns $NODE_NS: $NODE_IP, Pods $POD_CIDR, kubernetes Service $svc_ip:443 -> $API_IP:$API_PORT"
}

node_config() {
  local d=$NODE_DIR
  mkdir -p "$d"/{containerd/root,containerd/state,runc,cni/net.d,cni/ipam,cni/cache,kubelet,pod-logs,plugins}
  cat >"$d/containerd/config.toml" <<EOF
version = 2
root = "$d/containerd/root"
state = "$d/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$SANDBOX_IMAGE"
  # This machine lacks CAP_SYS_RESOURCE: runc fails to raise oom_score_adj otherwise.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
        Root = "$d/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/cni/net.d"
    max_conf_num = 1
EOF
  cat >"$d/cni/net.d/10-kseal.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "kseal-$BRIDGE",
  "plugins": [{
    "type": "bridge", "bridge": "$POD_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
    "ipam": {
      "type": "host-local", "dataDir": "$d/cni/ipam",
      "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GW"}]],
      "routes": [{"dst": "$NET.0/24"}, {"dst": "$SERVICE_CIDR"}]
    }
  }]
}
EOF
  cat >"$d/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $STATE/pki/kubelet-serving.crt
tlsPrivateKeyFile: $STATE/pki/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $STATE/pki/ca.crt}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
cgroupRoot: $CGROUP_ROOT
failCgroupV1: false
protectKernelDefaults: true
failSwapOn: false
podLogsDir: $d/pod-logs
volumePluginDir: $d/plugins
maxPods: 30
registerNode: true
serializeImagePulls: false
# Images are imported, never pulled: image GC must not remove them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 50Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
nodeStatusUpdateFrequency: 2s
syncFrequency: 10s
EOF
}

# cgroup v1 (this machine): the kubelet wants its cgroupRoot to exist in every
# hierarchy; cpuset needs cpus/mems before anything can join.
node_cgroups_up() {
  local h
  for h in /sys/fs/cgroup/*/; do
    mountpoint -q "$h" || continue
    mkdir -p "$h${CGROUP_ROOT#/}"
    if [[ -f $h/cpuset.cpus ]]; then
      cat "$h/cpuset.cpus" >"$h${CGROUP_ROOT#/}/cpuset.cpus"
      cat "$h/cpuset.mems" >"$h${CGROUP_ROOT#/}/cpuset.mems"
    fi
  done
  echo "$CGROUP_ROOT" >"$STATE/net/cgroup"
}

# Kernel settings the kubelet insists on (see KERNEL_TUNABLES).
node_sysctls_up() {
  local kv k v
  mkdir -p "$NODES_REG"
  exec 7>"$NODES_REG/.lock"
  flock 7
  if [[ ! -f $NODES_REG/sysctl.orig ]]; then
    for kv in "${KERNEL_TUNABLES[@]}"; do
      k=${kv%%=*}
      echo "$k=$(sysctl -n "$k")"
    done >"$NODES_REG/sysctl.orig"
  fi
  for kv in "${KERNEL_TUNABLES[@]}"; do
    k=${kv%%=*} v=${kv#*=}
    [[ $(sysctl -n "$k") == "$v" ]] || sysctl -qw "$k=$v"
  done
  echo "$STATE" >"$NODES_REG/node-$BRIDGE"
  exec 7>&-
}

node_sysctls_down() {
  [[ -f $NODES_REG/node-$BRIDGE ]] || return 0
  exec 7>"$NODES_REG/.lock"
  flock 7
  rm -f "$NODES_REG/node-$BRIDGE"
  if ! compgen -G "$NODES_REG/node-*" >/dev/null && [[ -f $NODES_REG/sysctl.orig ]]; then
    sysctl -qw $(cat "$NODES_REG/sysctl.orig") >/dev/null || true
    rm -f "$NODES_REG/sysctl.orig"
    log "restored kernel settings changed for the kubelet"
  fi
  exec 7>&-
}

# Removes cgroup dir $1 and its children (deepest first); fails while a process is left in one.
cgroup_removed() {
  find "$1" -depth -type d -exec rmdir {} + 2>/dev/null || true
  [[ ! -d $1 ]]
}

CTR() { ctr --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }

node_up() {
  local images
  "$HERE/node-deps.sh"
  images=$("$HERE/images.sh" | tail -n1)
  echo "SAVED_POD_CIDR=$POD_CIDR" >>"$STATE/settings"
  node_certs
  write_kubeconfig "$STATE/kubelet.kubeconfig" kubelet
  write_kubeconfig "$STATE/kube-scheduler.kubeconfig" kube-scheduler
  node_net_up
  node_cgroups_up
  node_sysctls_up
  node_config
  start_daemon containerd nsenter --net="/run/netns/$NODE_NS" /usr/bin/containerd --config "$NODE_DIR/containerd/config.toml"
  wait_for 30 containerd "containerd did not start" CTR version
  CTR images import --all-platforms "$images/pause.tar" >/dev/null
  log "containerd ready; imported $SANDBOX_IMAGE"
  start_daemon kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig "$STATE/kube-scheduler.kubeconfig" --authentication-kubeconfig "$STATE/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig "$STATE/kube-scheduler.kubeconfig" \
    --leader-elect=false --secure-port 0 --v=1
  start_daemon kubelet nsenter --net="/run/netns/$NODE_NS" "$BIN/kubelet" \
    --config "$NODE_DIR/kubelet.yaml" --kubeconfig "$STATE/kubelet.kubeconfig" \
    --root-dir "$NODE_DIR/kubelet" --cert-dir "$NODE_DIR/kubelet/pki" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v=1
  wait_for 90 kubelet "node $NODE_NAME did not become Ready" node_ready
  log "node $NODE_NAME Ready (Pods $POD_CIDR)"
}

node_ready() {
  [[ $(KUBECTL get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

# Imports an image archive into the node's containerd (cluster.sh import-image).
node_import() {
  node_running || die "no node running (start the cluster with: $0 up --node)"
  CTR images import --all-platforms "$1" >&2
}

# Stops everything the node started and removes every trace: Pod processes,
# containerd shims, mounts under the state dir, Pod network namespaces, the
# node namespace and route, cgroups, kernel settings.
node_down() {
  local f ns veth cidr id p netns_paths=() h
  [[ -f $STATE/net/node || -f $STATE/pids/containerd.pid || -f $STATE/net/cgroup ]] || return 0
  stop_pidfile "$STATE/pids/kubelet.pid" kubelet
  stop_pidfile "$STATE/pids/kube-scheduler.pid" kube-scheduler
  if pid_alive "$STATE/pids/containerd.pid"; then
    # Pod network namespaces are named in the sandbox containers' specs.
    for id in $(CTR containers ls -q 2>/dev/null); do
      p=$(CTR containers info "$id" 2>/dev/null | grep -o '/var/run/netns/cni-[0-9a-f-]*' | head -n1) || true
      [[ -n $p ]] && netns_paths+=("$p")
    done
    for id in $(CTR tasks ls -q 2>/dev/null); do
      CTR tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
    done
    for id in $(CTR tasks ls -q 2>/dev/null); do
      CTR tasks rm -f "$id" >/dev/null 2>&1 || true
    done
  fi
  stop_pidfile "$STATE/pids/containerd.pid" containerd
  # Shims of this containerd (their command line names its socket) and
  # processes left in the node's cgroups, by PID.
  for p in /proc/[0-9]*; do
    if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "-address $CONTAINERD_SOCK "; then
      kill -KILL "${p#/proc/}" 2>/dev/null || true
    fi
  done
  if [[ -f $STATE/net/cgroup ]]; then
    for h in /sys/fs/cgroup/*/; do
      [[ -d $h${CGROUP_ROOT#/} ]] || continue
      find "$h${CGROUP_ROOT#/}" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r p; do kill -KILL "$p" 2>/dev/null || true; done
    done
  fi
  # Mounts made by containerd and the kubelet (rootfs overlays, shm, volumes,
  # the kubelet's rshared root dir), deepest first.
  local m i
  for ((i = 0; i < 5; i++)); do
    m=$(awk -v s="$STATE/" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r)
    [[ -z $m ]] && break
    while read -r p; do umount "$p" 2>/dev/null || umount -l "$p" 2>/dev/null || true; done <<<"$m"
  done
  for p in "${netns_paths[@]}"; do
    umount "$p" 2>/dev/null || true
    rm -f "$p"
  done
  if [[ -f $STATE/net/cgroup ]]; then
    for h in /sys/fs/cgroup/*/; do
      [[ -d $h${CGROUP_ROOT#/} ]] || continue
      wait_until 2 cgroup_removed "$h${CGROUP_ROOT#/}" ||
        log "WARNING: cgroup $h${CGROUP_ROOT#/} could not be removed"
    done
    rm -f "$STATE/net/cgroup"
  fi
  if [[ -f $STATE/net/node ]]; then
    read -r ns veth cidr <"$STATE/net/node"
    ip route del "$cidr" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    wait_link_gone "$veth"
    rm -f "$STATE/net/node"
    log "removed node netns $ns"
  fi
  # The kubelet links container logs from /var/log/containers (fixed path).
  for f in /var/log/containers/*.log; do
    [[ -L $f && $(readlink "$f") == "$STATE/"* ]] && rm -f "$f"
  done
  node_sysctls_down
}

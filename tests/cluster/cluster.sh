#!/usr/bin/env bash
# A throwaway Kubernetes control plane (etcd, kube-apiserver,
# kube-controller-manager) for kseal's integration tests, plus helpers to run
# unmodified in-cluster controllers (Bitnami's) as ServiceAccounts inside
# network namespaces. Needs root (bridges, netns, mounts). See README.md.
#
#   cluster.sh up [--node]        start (or reuse) the cluster; stdout: export KUBECONFIG=...
#                                 --node (or KSEAL_NODE=1): also a node (containerd, kubelet,
#                                 kube-scheduler; node.sh) and wait until it is Ready
#   cluster.sh import-image TAR   import an image archive into the node's containerd
#   cluster.sh down               stop everything started here, remove netns/bridge/state dir
#   cluster.sh env                print the export line of the running cluster
#   cluster.sh status             show processes; machine-readable KEY=VALUE lines
#   cluster.sh netns add NAME     netns with a veth on the bridge; stdout: its address
#   cluster.sh netns del NAME
#   cluster.sh netns addr NAME    print the address of a netns made by "netns add"
#   cluster.sh run-as-sa NS SA [--netns NAME] [--background NAME] -- CMD ARGS...
#                                 run CMD as that ServiceAccount, in-cluster style; with
#                                 --background: detached, stdout = PID, log in the state dir
#   cluster.sh stop NAME          stop a --background process (SIGTERM, then SIGKILL after 10 s)
#   cluster.sh restart DAEMON [--kill] [--down SECONDS]
#                                 fault injection: stop etcd, kube-apiserver or
#                                 kube-controller-manager (SIGTERM, or SIGKILL with --kill), keep it
#                                 down SECONDS (0), start it again on the same state; waits until
#                                 the API server is ready; stdout: "down=SECONDS ready=SECONDS"
#   cluster.sh pid NAME           PID of a daemon or --background process
#   cluster.sh expose NS SERVICE NETNS PORT [PORTNAME]
#                                 selector-less Service + Endpoints + EndpointSlice
#                                 pointing at the netns address (for the API server's service
#                                 proxy), plus the placeholder Pod the proxy requires
#
# Environment (defaults):
#   KSEAL_CLUSTER_DIR=/tmp/kseal-cluster   state: certs, etcd data, logs, PID files, kubeconfig
#   KSEAL_CACHE=$HOME/.cache/kseal          where build.sh puts binaries
#   KSEAL_BRIDGE=kseal0  KSEAL_NET=198.18.0 (a /24; bridge/API server = .1, netns = .2-.254)
#   KSEAL_SERVICE_CIDR=198.19.0.0/24        Service cluster IPs (virtual, nothing routes there)
#   KSEAL_API_PORT=6443  KSEAL_ETCD_PORT=12379 (etcd peer port = +1, loopback only)
#   KSEAL_POD_CIDR=198.18.(100+N).0/24 for KSEAL_NET=198.18.N (Pods on the node)
#
# Over 600 lines: one command-line tool whose subcommands share the state-dir, PID-file and
# network-namespace handling above; the node's own part is in node.sh.
set -Eeuo pipefail
# Say which command failed; set -e alone exits silently.
trap 'echo "cluster.sh: ERROR: command failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${KSEAL_CLUSTER_DIR:-/tmp/kseal-cluster}
# "up" records the network settings in the state dir, so every later command
# (restart, down, run-as-sa, ...) needs only KSEAL_CLUSTER_DIR; the
# environment still wins over the record.
SAVED_BRIDGE="" SAVED_NET="" SAVED_SERVICE_CIDR="" SAVED_API_PORT="" SAVED_ETCD_PORT="" SAVED_POD_CIDR=""
if [[ -f $STATE/settings ]]; then
  # shellcheck source=/dev/null
  . "$STATE/settings"
fi
BRIDGE=${KSEAL_BRIDGE:-${SAVED_BRIDGE:-kseal0}}
NET=${KSEAL_NET:-${SAVED_NET:-198.18.0}}
API_IP=$NET.1
SERVICE_CIDR=${KSEAL_SERVICE_CIDR:-${SAVED_SERVICE_CIDR:-198.19.0.0/24}}
API_PORT=${KSEAL_API_PORT:-${SAVED_API_PORT:-6443}}
ETCD_PORT=${KSEAL_ETCD_PORT:-${SAVED_ETCD_PORT:-12379}}
ETCD_PEER_PORT=$((ETCD_PORT + 1))
KUBECONFIG_PATH=$STATE/admin.kubeconfig
SA_ISSUER=https://kubernetes.default.svc.cluster.local
# Daemons in stop order (reverse of start order).
DAEMONS=(kube-controller-manager kube-apiserver etcd)

T0=$EPOCHREALTIME
die() { echo "cluster.sh: ERROR: $*" >&2; exit 1; }
log() { echo "cluster.sh: [$(awk -v a="$EPOCHREALTIME" -v b="$T0" 'BEGIN{printf "%5.1fs", a-b}')] $*" >&2; }

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (creates bridges, network and mount namespaces)"; }

# --- process bookkeeping ----------------------------------------------------
# A PID file holds "PID STARTTIME" (field 22 of /proc/PID/stat, in clock
# ticks since boot): a PID alone could have been reused by an unrelated
# process since, the pair cannot. It is read at fork time, so it stays valid
# across the exec()s that run-as-sa does.
proc_stat() { # pid -> "STATE STARTTIME"
  local st rest f
  { read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1
  rest=${st##*) } # the command name (field 2) may contain spaces
  read -r -a f <<<"$rest"
  echo "${f[0]} ${f[19]}"
}

# proc_stat runs in a command substitution, not in `< <(…)`: a process
# substitution is outside the caller's `||`, so a vanished process would fire
# the ERR trap there.
record_pid() { # pidfile pid
  local stat start
  stat=$(proc_stat "$2") || die "process $2 vanished right after start"
  read -r _ start <<<"$stat"
  echo "$2 $start" >"$1"
}

# A process that has exited but is not reaped yet (state Z) counts as gone.
pid_alive() { # pidfile
  local pid start stat state now
  [[ -f $1 ]] || return 1
  read -r pid start <"$1" || return 1
  [[ -n $pid ]] || return 1
  stat=$(proc_stat "$pid") || return 1
  read -r state now <<<"$stat"
  [[ $state != Z && $now == "$start" ]]
}

# Polls COMMAND every 0.1 s until it succeeds (return 0) or SECONDS (whole) pass (return 1).
# The one "wait until" loop of cluster.sh and node.sh; wait_for adds a daemon's liveness and
# log to it.
wait_until() { # seconds command...
  local i n=$(($1 * 10))
  shift
  for ((i = 0; i < n; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  "$@"
}

pid_gone() { ! pid_alive "$1"; } # pidfile

stop_pidfile() { # pidfile label
  local pid
  pid_alive "$1" || { rm -f "$1"; return 0; }
  read -r pid _ <"$1"
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_until 10 pid_gone "$1"; then # 10 s grace, then SIGKILL
    log "$2 (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_until 5 pid_gone "$1" || die "$2 (pid $pid) survived SIGKILL"
  fi
  rm -f "$1"
  log "stopped $2 (pid $pid)"
}

# Start a daemon detached from our session (so a Ctrl-C aimed at a test run
# does not kill the shared cluster), with no inherited fds (so callers that
# capture our stdout see EOF when we exit).
start_daemon() { # name binary args...
  local name=$1 bin=$2
  shift 2
  setsid "$bin" "$@" </dev/null >>"$STATE/logs/$name.log" 2>&1 9>&- &
  local pid=$! # before record_pid: its process substitution changes $!
  record_pid "$STATE/pids/$name.pid" "$pid"
  log "started $name (pid $pid), log: $STATE/logs/$name.log"
}

# --- bin dir ----------------------------------------------------------------
bindir() {
  local d
  if d=$("$HERE/build.sh" --print-bindir 2>/dev/null); then echo "$d"; return; fi
  log "binaries missing; running build.sh (a cold build takes a while)"
  "$HERE/build.sh" | tail -n1
}

KUBECTL() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@"; }

# --- certificates -----------------------------------------------------------
# ECDSA P-256 everywhere: key generation is instant, unlike RSA.
gen_certs() {
  local p=$STATE/pki
  mkdir -p "$p"
  (
    cd "$p"
    umask 077
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
    openssl req -x509 -new -key ca.key -subj "/CN=kseal-test-ca" -days 30 -out ca.crt \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
    # first IP of the service range: the "kubernetes" Service's cluster IP
    # (KSEAL_SERVICE_CIDR must be given by its network address)
    local a b c d svc_ip
    IFS=. read -r a b c d <<<"${SERVICE_CIDR%/*}"
    svc_ip=$a.$b.$c.$((d + 1))
    sign apiserver "/CN=kube-apiserver" serverAuth \
      "IP:$API_IP,IP:127.0.0.1,IP:$svc_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    sign admin "/O=system:masters/CN=kseal-admin" clientAuth
    sign kube-controller-manager "/CN=system:kube-controller-manager" clientAuth
    # the API server's client certificate towards kubelets (logs, exec)
    sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
    # ServiceAccount token signing key pair
    openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out sa.key
    openssl pkey -in sa.key -pubout -out sa.pub
  ) # (no "|| die" here: it would switch off set -e inside the subshell)
}

sign() { # name subject eku [san]   (cwd = pki dir)
  local ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$3"
  [[ -n ${4:-} ]] && ext+=$'\n'"subjectAltName=$4"
  openssl ecparam -name prime256v1 -genkey -noout -out "$1.key" 2>/dev/null
  openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
    -out "$1.crt" -extfile <(echo "$ext") 2>/dev/null
  rm -f "$1.csr"
}

write_kubeconfig() { # file user-cert-name
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kseal
  cluster:
    server: https://$API_IP:$API_PORT
    certificate-authority: $STATE/pki/ca.crt
users:
- name: $2
  user:
    client-certificate: $STATE/pki/$2.crt
    client-key: $STATE/pki/$2.key
contexts:
- name: kseal
  context: {cluster: kseal, user: $2}
current-context: kseal
EOF
}

# --- network ----------------------------------------------------------------
# The API server must listen on a non-loopback address (Endpoints may not be
# loopback, and processes in netns reach it there), and nothing may leave the
# machine. So: a bridge of our own with an address from 198.18.0.0/15 (RFC 2544
# benchmarking range), no forwarding and no NAT. Service cluster IPs get an
# "unreachable" route so a stray connection fails at once instead of going to
# the default route.
net_up() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge || die "could not create bridge $BRIDGE (needs CAP_NET_ADMIN)"
  fi
  # Recorded even when it already existed: a bridge by this name is a
  # leftover of an earlier run whose state dir was lost.
  echo "$BRIDGE" >"$STATE/net/bridge"
  ip addr show dev "$BRIDGE" | grep -q "inet $API_IP/24" || ip addr add "$API_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  if ! ip route show type unreachable | grep -q "^unreachable $SERVICE_CIDR"; then
    ip route add unreachable "$SERVICE_CIDR" || die "could not add route 'unreachable $SERVICE_CIDR'"
  fi
  echo "$SERVICE_CIDR" >"$STATE/net/route"
}

net_down() {
  local f name
  for f in "$STATE"/net/ns-*; do
    [[ -e $f ]] || continue
    name=${f##*/ns-}
    netns_del "$name"
  done
  if [[ -f $STATE/net/route ]]; then
    ip route del unreachable "$(cat "$STATE/net/route")" 2>/dev/null || true
    rm -f "$STATE/net/route"
  fi
  if [[ -f $STATE/net/bridge ]]; then
    ip link del "$(cat "$STATE/net/bridge")" 2>/dev/null || true
    log "removed bridge $(cat "$STATE/net/bridge")"
    rm -f "$STATE/net/bridge"
  fi
}

# A network namespace NAME whose eth0 (ADDR/24) is the peer of VETH on the bridge, with lo up.
# RECORD_FILE gets RECORD_LINE right after the namespace exists, so 'down' cleans up even if a
# later step fails. The host end of a namespace deleted a moment ago can outlive it briefly (the
# kernel tears the pair down asynchronously) and its name is reused here: wait for it, then
# remove what is left (the name carries this cluster's bridge, so it is ours).
netns_on_bridge() { # name veth addr record-file record-line
  local name=$1 veth=$2 addr=$3
  wait_link_gone "$veth"
  ip link del "$veth" 2>/dev/null || true
  ip netns add "$name"
  echo "$5" >"$4"
  ip link add "$veth" type veth peer name eth0 netns "$name"
  ip link set "$veth" master "$BRIDGE" up
  ip -n "$name" addr add "$addr/24" dev eth0
  ip -n "$name" link set eth0 up
  ip -n "$name" link set lo up
}

netns_add() { # name -> prints address
  local name=$1 i addr veth
  [[ $name =~ ^[A-Za-z0-9_.-]{1,40}$ ]] || die "bad netns name '$name'"
  running || die "no cluster running (run: $0 up)"
  exec 8>"$STATE/net/.lock"
  flock 8
  if [[ -f $STATE/net/ns-$name ]]; then
    read -r addr _ <"$STATE/net/ns-$name"
    echo "$addr"
    return
  fi
  [[ -e /run/netns/$name ]] && die "netns $name exists but was not made by this cluster; pick another name"
  for ((i = 2; i < 255; i++)); do
    grep -qs "^$NET.$i " "$STATE"/net/ns-* || break
  done
  ((i < 255)) || die "no free address left in $NET.0/24"
  addr=$NET.$i veth=${BRIDGE:0:10}v$i # unique per bridge, <= 15 chars
  netns_on_bridge "$name" "$veth" "$addr" "$STATE/net/ns-$name" "$addr $veth"
  # Deliberately no default route: only the bridge's /24 is reachable from
  # inside, so nothing started there can send a packet off the machine
  # (even where the host forwards IP); anything else fails with ENETUNREACH.
  echo "$addr"
}

link_gone() { ! ip link show "$1" >/dev/null 2>&1; }

# Waits (up to 5 s) until network link $1 no longer exists.
wait_link_gone() { wait_until 5 link_gone "$1" || true; }

netns_del() { # name
  local name=$1 f=$STATE/net/ns-$1 pid veth
  [[ -f $f ]] || die "netns $name was not created by this cluster ($STATE)"
  read -r _ veth <"$f"
  # Processes still inside (started there by tests) would keep it alive.
  for pid in $(ip netns pids "$name" 2>/dev/null); do
    log "killing pid $pid still running in netns $name"
    kill -TERM "$pid" 2>/dev/null || true
  done
  sleep 0.2
  for pid in $(ip netns pids "$name" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  ip netns del "$name" 2>/dev/null || true # takes the veth pair with it, asynchronously
  [[ -n $veth ]] && wait_link_gone "$veth"
  rm -f "$f"
  # placeholder Pods made by 'expose' for this netns
  if [[ -f $STATE/bindir ]] && running; then
    BIN=$(cat "$STATE/bindir")
    KUBECTL delete pods -A -l "kseal.test/netns=$name" --wait=false >/dev/null 2>&1 || true
  fi
  log "removed netns $name"
}

netns_addr() { # name
  [[ -f $STATE/net/ns-$1 ]] || die "unknown netns '$1' (create it with: $0 netns add $1)"
  awk '{print $1}' "$STATE/net/ns-$1"
}

# --- cluster lifecycle ------------------------------------------------------
running() {
  local d
  for d in "${DAEMONS[@]}"; do pid_alive "$STATE/pids/$d.pid" || return 1; done
  [[ -f $KUBECONFIG_PATH ]]
}

api_ready() { api_get "https://$API_IP:$API_PORT/readyz"; }

kcm_working() {
  local u=https://$API_IP:$API_PORT/api/v1/namespaces/default
  api_get "$u/serviceaccounts/default" && api_get "$u/configmaps/kube-root-ca.crt"
}

api_get() {
  curl -fsS --max-time 3 --cacert "$STATE/pki/ca.crt" --cert "$STATE/pki/admin.crt" --key "$STATE/pki/admin.key" \
    "$1" >/dev/null 2>&1
}

wait_for() { # seconds daemon description command...
  local secs=$1 d=$2 what=$3 logf=$STATE/logs/$2.log i
  shift 3
  for ((i = 0; i < secs * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    if ! pid_alive "$STATE/pids/$d.pid"; then
      tail -n 20 "$logf" >&2 || true
      die "$d exited during start-up; see $logf"
    fi
    sleep 0.1
  done
  echo "---- last lines of $logf ----" >&2
  tail -n 20 "$logf" >&2 || true
  die "$what within $secs s; see $logf"
}

# A daemon killed a moment ago can still hold its listening ports: the
# thread-group leader turns zombie (which is all pid_alive sees) before the
# other threads have exited and the sockets are released. Starting its
# successor then fails with "bind: address already in use", so every start
# waits until nothing listens on the daemon's ports (and says who does if
# that never happens, e.g. another cluster on the same ports).
wait_ports_free() { # seconds label port...
  local secs=$1 label=$2 i p busy=""
  shift 2
  for ((i = 0; i < secs * 10; i++)); do
    busy=""
    for p in "$@"; do
      [[ -n $(ss -Htln "sport = :$p" 2>/dev/null) ]] && busy+=" $p"
    done
    [[ -z $busy ]] && return 0
    sleep 0.1
  done
  ss -Htlnp >&2 || true
  die "$label: port(s)$busy still in use after $secs s (listeners above)"
}

# Each daemon's start, shared by "up" and "restart" (same data dir, certs and
# flags, so a restarted daemon continues where it stopped).
start_etcd() {
  # --unsafe-no-fsync: the data is thrown away anyway, and fsync dominates
  # etcd latency on a busy 2-core machine. (A SIGKILLed etcd loses nothing:
  # the writes are in the page cache; only a power loss would need fsync.)
  wait_ports_free 20 etcd "$ETCD_PORT" "$ETCD_PEER_PORT"
  start_daemon etcd "$BIN/etcd" \
    --name kseal --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "kseal=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync --log-level warn
  wait_for 20 etcd "etcd did not become healthy" \
    curl -fsS "http://127.0.0.1:$ETCD_PORT/health"
  log "etcd healthy"
}

start_apiserver() {
  local p=$STATE/pki
  wait_ports_free 20 kube-apiserver "$API_PORT"
  start_daemon kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address "$API_IP" --advertise-address "$API_IP" --secure-port "$API_PORT" \
    --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" \
    --client-ca-file "$p/ca.crt" --cert-dir "$STATE/apiserver-certs" \
    --authorization-mode Node,RBAC \
    --service-account-issuer "$SA_ISSUER" --api-audiences "$SA_ISSUER" \
    --service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --kubelet-client-certificate "$p/apiserver-kubelet-client.crt" --kubelet-client-key "$p/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP \
    --profiling=false --v=1
  wait_for 60 kube-apiserver "kube-apiserver did not become ready" api_ready
  log "kube-apiserver ready at https://$API_IP:$API_PORT"
}

start_kcm() {
  local p=$STATE/pki
  start_daemon kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$STATE/kube-controller-manager.kubeconfig" \
    --service-account-private-key-file "$p/sa.key" --root-ca-file "$p/ca.crt" \
    --use-service-account-credentials --leader-elect=false \
    --controllers "$KCM_CONTROLLERS" \
    --secure-port 0 --v=1
  # Tests may rely on controllers right away (a new namespace's "default"
  # ServiceAccount, garbage collection), so wait until they visibly work:
  # the serviceaccount and root-ca-certificate-publisher controllers have
  # filled the "default" namespace.
  wait_for 30 kube-controller-manager "kube-controller-manager controllers did not start" kcm_working
  log "kube-controller-manager controllers running"
}

# Fault injection for tests: stop one daemon (SIGTERM with the usual 10 s
# grace, or SIGKILL at once with --kill), keep it down --down SECONDS (0),
# start it again with the same state, then wait until the API server is
# ready again. Prints
# "down=SECONDS ready=SECONDS" (stop finished / ready again, from the start
# of the command) on stdout.
cmd_restart() { # daemon [--kill] [--down SECONDS]
  local d=${1:?usage: restart etcd|kube-apiserver|kube-controller-manager [--kill] [--down SECONDS]} mode="" pause=0 pid t0 down
  shift
  while [[ $# -gt 0 ]]; do
    case $1 in
      --kill) mode=--kill; shift ;;
      --down) pause=${2:?--down needs seconds}; shift 2 ;;
      *) die "restart: unknown option '$1' (--kill, --down SECONDS)" ;;
    esac
  done
  [[ $pause =~ ^[0-9]+$ ]] || die "restart: --down takes whole seconds, not '$pause'"
  need_root
  case $d in
    etcd | kube-apiserver | kube-controller-manager) ;;
    *) die "restart: unknown daemon '$d' (etcd, kube-apiserver, kube-controller-manager)" ;;
  esac
  exec 9>"$STATE/.lock"
  flock 9
  running || die "no cluster running in $STATE (start one with: $0 up)"
  BIN=$(cat "$STATE/bindir")
  t0=$EPOCHREALTIME
  if [[ $mode == --kill ]]; then
    read -r pid _ <"$STATE/pids/$d.pid"
    kill -KILL "$pid" 2>/dev/null || true
    wait_until 5 pid_gone "$STATE/pids/$d.pid" || die "$d (pid $pid) survived SIGKILL"
    rm -f "$STATE/pids/$d.pid"
    log "killed $d (pid $pid, SIGKILL)"
  else
    stop_pidfile "$STATE/pids/$d.pid" "$d"
  fi
  down=$(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN{printf "%.2f", a-b}')
  if ((pause > 0)); then
    log "keeping $d down for $pause s"
    sleep "$pause"
  fi
  case $d in
    etcd) start_etcd; wait_for 60 kube-apiserver "kube-apiserver did not become ready after the etcd restart" api_ready ;;
    kube-apiserver) start_apiserver ;;
    kube-controller-manager) start_kcm ;;
  esac
  echo "down=$down ready=$(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN{printf "%.2f", a-b}')"
}

cmd_pid() { # name
  local n=${1:?usage: pid NAME} f
  case $n in
    etcd | kube-apiserver | kube-controller-manager) f=$STATE/pids/$n.pid ;;
    *) f=$STATE/pids/proc-$n.pid ;;
  esac
  pid_alive "$f" || die "$n is not running (no live PID file $f)"
  cut -d' ' -f1 "$f"
}

cmd_up() {
  local want_node=${KSEAL_NODE:-0}
  [[ ${1:-} == --node ]] && want_node=1
  [[ $want_node == 0 || $want_node == 1 ]] || die "KSEAL_NODE must be 0 or 1, not '$want_node'"
  need_root
  mkdir -p "$STATE"
  exec 9>"$STATE/.lock"
  flock 9
  # Alive is not enough: an API server that got SIGTERM serves nothing but
  # can take a minute to exit.
  if running && api_ready; then
    log "cluster already running (state: $STATE)"
    if [[ $want_node == 1 ]] && ! node_running; then
      BIN=$(cat "$STATE/bindir")
      node_down
      node_up
      write_env
    fi
    echo "export KUBECONFIG=$KUBECONFIG_PATH"
    return
  fi
  if compgen -G "$STATE/pids/*.pid" >/dev/null; then
    log "found a partly running or unready cluster in $STATE; stopping it first"
    teardown
  fi
  BIN=$(bindir)
  [[ -x $BIN/kube-apiserver ]] || die "no kube-apiserver in '$BIN' (build.sh failed?)"
  rm -rf "${STATE:?}"/{pki,etcd,logs,pids,net,sa,settings}
  mkdir -p "$STATE"/{logs,pids,net,sa}
  touch "$STATE/.kseal-cluster" # marks the dir as ours for 'down'
  printf 'SAVED_BRIDGE=%q SAVED_NET=%q SAVED_SERVICE_CIDR=%q SAVED_API_PORT=%q SAVED_ETCD_PORT=%q\n' \
    "$BRIDGE" "$NET" "$SERVICE_CIDR" "$API_PORT" "$ETCD_PORT" >"$STATE/settings"
  echo "$BIN" >"$STATE/bindir"
  log "bin dir: $BIN"

  gen_certs
  write_kubeconfig "$KUBECONFIG_PATH" admin
  write_kubeconfig "$STATE/kube-controller-manager.kubeconfig" kube-controller-manager
  log "certificates and kubeconfigs written to $STATE"
  net_up
  log "bridge $BRIDGE has $API_IP/24"

  start_etcd
  start_apiserver
  start_kcm
  [[ $want_node == 1 ]] && node_up

  write_env
  log "cluster up"
  echo "export KUBECONFIG=$KUBECONFIG_PATH"
}

# Controllers the tests rely on: GC, namespace deletion, Deployments,
# default ServiceAccounts, TokenRequest-based controller credentials and the
# kube-root-ca.crt ConfigMap; for the node: its not-ready taint removed
# (node-lifecycle), Service endpoints (the service proxy reads Endpoints) and
# PodDisruptionBudget status (evictions). They do nothing without a node.
KCM_CONTROLLERS=garbage-collector-controller,namespace-controller,deployment-controller,replicaset-controller,serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller,node-lifecycle-controller,endpoints-controller,endpointslice-controller,disruption-controller

write_env() {
  cat >"$STATE/cluster.env" <<EOF
KUBECONFIG=$KUBECONFIG_PATH
KSEAL_BIN=$BIN
KSEAL_API_SERVER=https://$API_IP:$API_PORT
KSEAL_API_IP=$API_IP
KSEAL_API_PORT=$API_PORT
KSEAL_CA=$STATE/pki/ca.crt
KSEAL_CLUSTER_DIR=$STATE
EOF
  if node_running; then
    printf 'KSEAL_NODE=1\nKSEAL_NODE_NAME=%s\nKSEAL_POD_CIDR=%s\n' "$NODE_NAME" "$POD_CIDR" >>"$STATE/cluster.env"
  fi
}

teardown() {
  local f
  node_down
  for f in "$STATE"/pids/proc-*.pid; do
    [[ -e $f ]] && stop_pidfile "$f" "$(basename "$f" .pid)"
  done
  for d in "${DAEMONS[@]}"; do stop_pidfile "$STATE/pids/$d.pid" "$d"; done
  net_down
}

cmd_down() {
  need_root
  [[ -d $STATE ]] || { log "nothing to stop ($STATE does not exist)"; return 0; }
  [[ -f $STATE/.kseal-cluster ]] || die "$STATE is not a kseal cluster dir (no .kseal-cluster marker); not touching it"
  teardown
  rm -rf "$STATE"
  log "removed $STATE"
}

cmd_env() {
  running || die "no cluster running in $STATE (start one with: $0 up)"
  echo "export KUBECONFIG=$KUBECONFIG_PATH"
}

cmd_status() {
  local f d rc=0
  for d in "${DAEMONS[@]}"; do
    f=$STATE/pids/$d.pid
    if pid_alive "$f"; then echo "# $d: running (pid $(cut -d' ' -f1 "$f"))"; else echo "# $d: not running"; rc=1; fi
  done
  for d in "${NODE_DAEMONS[@]}"; do
    f=$STATE/pids/$d.pid
    [[ -e $f ]] || continue
    if pid_alive "$f"; then echo "# $d: running (pid $(cut -d' ' -f1 "$f"))"; else echo "# $d: exited"; fi
  done
  for f in "$STATE"/pids/proc-*.pid; do
    [[ -e $f ]] || continue
    d=$(basename "$f" .pid)
    if pid_alive "$f"; then echo "# ${d#proc-}: running (pid $(cut -d' ' -f1 "$f"))"; else echo "# ${d#proc-}: exited"; fi
  done
  for f in "$STATE"/net/ns-*; do
    [[ -e $f ]] && echo "# netns ${f##*/ns-}: $(cut -d' ' -f1 "$f")"
  done
  [[ $rc -eq 0 && -f $STATE/cluster.env ]] && cat "$STATE/cluster.env"
  return $rc
}

# --- running in-cluster controllers outside a pod ---------------------------
# The unmodified Bitnami controller only knows rest.InClusterConfig(): it reads
# KUBERNETES_SERVICE_HOST/PORT and /var/run/secrets/kubernetes.io/serviceaccount/
# {token,ca.crt,namespace}. We provide those files in a private mount
# namespace, so the host filesystem outside $STATE never changes.
cmd_run_as_sa() {
  local ns=${1:?usage: run-as-sa NAMESPACE SERVICEACCOUNT [--netns NAME] [--background NAME] -- CMD ARGS...}
  local sa=${2:?usage: run-as-sa NAMESPACE SERVICEACCOUNT [--netns NAME] [--background NAME] -- CMD ARGS...}
  shift 2
  local netns="" bg="" dir
  while [[ $# -gt 0 ]]; do
    case $1 in
      --netns) netns=${2:?--netns needs a name}; shift 2 ;;
      --background) bg=${2:?--background needs a name}; shift 2 ;;
      --) shift; break ;;
      *) die "run-as-sa: unexpected '$1' (missing -- before the command?)" ;;
    esac
  done
  [[ $# -gt 0 ]] || die "run-as-sa: no command given after --"
  need_root
  running || die "no cluster running (run: $0 up)"
  BIN=$(cat "$STATE/bindir")
  [[ -z $netns ]] || netns_addr "$netns" >/dev/null

  dir=$(mktemp -d "$STATE/sa/$ns.$sa.XXXXXX")
  # The TokenRequest API (what kubelet uses for projected tokens).
  KUBECTL create token "$sa" -n "$ns" --duration 24h >"$dir/token" ||
    die "could not mint a token for ServiceAccount $ns/$sa (does it exist?)"
  cp "$STATE/pki/ca.crt" "$dir/ca.crt"
  printf '%s' "$ns" >"$dir/namespace"

  local -a pre=()
  [[ -n $netns ]] && pre=(ip netns exec "$netns")
  # Every step exec()s the next, so the PID we start is the command's PID.
  local -a cmd=("${pre[@]}" unshare -m --propagation private
    "$HERE/cluster.sh" __sa-mount "$dir" "$@")
  export KUBERNETES_SERVICE_HOST=$API_IP KUBERNETES_SERVICE_PORT=$API_PORT KUBERNETES_SERVICE_PORT_HTTPS=$API_PORT
  if [[ -n $bg ]]; then
    [[ $bg =~ ^[A-Za-z0-9_.-]+$ ]] || die "bad --background name '$bg'"
    pid_alive "$STATE/pids/proc-$bg.pid" && die "a process named '$bg' is already running"
    setsid "${cmd[@]}" </dev/null >"$STATE/logs/$bg.log" 2>&1 9>&- 8>&- &
    local pid=$! # before record_pid: its process substitution changes $!
    record_pid "$STATE/pids/proc-$bg.pid" "$pid"
    log "started $bg (pid $pid) as $ns/$sa${netns:+ in netns $netns}; log: $STATE/logs/$bg.log"
    echo "$pid"
  else
    exec "${cmd[@]}"
  fi
}

# Runs inside the private mount namespace (internal).
sa_mount() { # dir cmd...
  local dir=$1 target anc
  shift
  target=$(realpath -m /var/run/secrets/kubernetes.io/serviceaccount)
  if [[ ! -d $target ]]; then
    # Usually missing outside a pod. Overlay the deepest existing ancestor
    # (normally /run) so the directory can be created in an upper layer
    # inside $STATE while everything else there stays visible.
    anc=$target
    while [[ ! -d $anc ]]; do anc=$(dirname "$anc"); done
    [[ $anc != / ]] || die "refusing to overlay / for $target"
    mkdir -p "$dir.upper" "$dir.work"
    mount -t overlay overlay -o "lowerdir=$anc,upperdir=$dir.upper,workdir=$dir.work" "$anc" ||
      die "overlay mount on $anc failed"
    mkdir -p "$target"
  fi
  mount --bind "$dir" "$target" || die "bind mount of $dir on $target failed"
  mount -o remount,bind,ro "$target" || true
  exec "$@"
}

cmd_expose() { # ns service netns port [portname]
  local ns=${1:?usage: expose NS SERVICE NETNS PORT [PORTNAME]} svc=${2:?} netns=${3:?} port=${4:?} pname=${5:-http}
  local addr pod i
  running || die "no cluster running (run: $0 up)"
  BIN=$(cat "$STATE/bindir")
  addr=$(netns_addr "$netns")
  pod=netns-$netns
  # The API server's service proxy only dials Endpoints addresses whose
  # targetRef is a Pod in the Service's namespace with that IP in
  # status.podIPs. There is no kubelet, so a placeholder Pod (never
  # scheduled, image never pulled) gets the netns address written into its
  # status directly. It names a scheduler that does not exist, so when the
  # cluster has a node the scheduler never binds it and the kubelet never
  # overwrites that status. Retried: right after a namespace is created its
  # "default" ServiceAccount may not exist yet.
  for ((i = 0; ; i++)); do
    KUBECTL apply -f - >/dev/null 2>"$STATE/logs/expose.err" <<EOF && break
apiVersion: v1
kind: Pod
metadata:
  name: $pod
  namespace: $ns
  labels: {kseal.test/netns: $netns}
  annotations: {kseal.test/purpose: "stands for a process in netns $netns at $addr (cluster.sh expose)"}
spec:
  automountServiceAccountToken: false
  schedulerName: kseal-test-not-scheduled
  containers: [{name: placeholder, image: registry.invalid/kseal/netns-placeholder:none}]
EOF
    ((i < 50)) || { cat "$STATE/logs/expose.err" >&2; die "could not create placeholder Pod $ns/$pod"; }
    sleep 0.2
  done
  KUBECTL -n "$ns" patch pod "$pod" --subresource=status --type=merge \
    -p "{\"status\":{\"phase\":\"Running\",\"podIP\":\"$addr\",\"podIPs\":[{\"ip\":\"$addr\"}]}}" >/dev/null ||
    die "could not set status.podIP of Pod $ns/$pod"
  # The 1.34 service proxy reads Endpoints; newer clients read
  # EndpointSlices. Write both (Endpoints marked skip-mirror so no controller
  # duplicates the slice).
  KUBECTL apply -f - >/dev/null 2>"$STATE/logs/expose.err" <<EOF ||
apiVersion: v1
kind: Service
metadata: {name: $svc, namespace: $ns}
spec:
  ports: [{name: $pname, port: $port, targetPort: $port, protocol: TCP}]
---
apiVersion: v1
kind: Endpoints
metadata:
  name: $svc
  namespace: $ns
  labels: {endpointslice.kubernetes.io/skip-mirror: "true"}
subsets:
- addresses: [{ip: $addr, targetRef: {kind: Pod, namespace: $ns, name: $pod}}]
  ports: [{name: $pname, port: $port, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $svc-kseal
  namespace: $ns
  labels: {kubernetes.io/service-name: $svc, endpointslice.kubernetes.io/managed-by: kseal-tests}
addressType: IPv4
endpoints: [{addresses: [$addr], conditions: {ready: true}, targetRef: {kind: Pod, namespace: $ns, name: $pod}}]
ports: [{name: $pname, port: $port, protocol: TCP}]
EOF
    { cat "$STATE/logs/expose.err" >&2; die "could not create Service/Endpoints/EndpointSlice $ns/$svc"; }
  grep -v 'v1 Endpoints is deprecated' "$STATE/logs/expose.err" >&2 || true
  log "service $ns/$svc port $pname -> $addr:$port (pod $ns/$pod)"
}

# shellcheck source=tests/cluster/node.sh
. "$HERE/node.sh"

case ${1:-} in
  up) shift; cmd_up "$@" ;;
  import-image)
    need_root
    running || die "no cluster running (run: $0 up --node)"
    node_import "${2:?usage: import-image TAR}"
    ;;
  down) cmd_down ;;
  env) cmd_env ;;
  status) cmd_status || exit 1 ;; # exit 1 = not up (without the ERR trap message)
  netns)
    need_root
    case ${2:-} in
      add) netns_add "${3:?usage: netns add NAME}" ;;
      del) exec 8>"$STATE/net/.lock"; flock 8; netns_del "${3:?usage: netns del NAME}" ;;
      addr) netns_addr "${3:?usage: netns addr NAME}" ;;
      *) die "usage: $0 netns add|del|addr NAME" ;;
    esac
    ;;
  run-as-sa) shift; cmd_run_as_sa "$@" ;;
  restart) shift; cmd_restart "$@" ;;
  pid) shift; cmd_pid "$@" ;;
  stop)
    need_root
    f=$STATE/pids/proc-${2:?usage: stop NAME}.pid
    [[ -f $f ]] || die "no background process named '$2' (see: $0 status)"
    stop_pidfile "$f" "$2"
    ;;
  __sa-mount) shift; sa_mount "$@" ;;
  expose) shift; cmd_expose "$@" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac

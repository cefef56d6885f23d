#!/usr/bin/env bash
# The one command that runs every kseal test: formatting and lints, the Rust unit, vector, CLI
# and cross-crate tests, then the tests that need the real control plane (built from Go modules
# by tests/cluster/build.sh and started by tests/cluster/cluster.sh). The control plane is always
# stopped at the end, also when a test fails. Nothing is skipped: a step that cannot run fails
# the whole command and says why.
#
# Caches live outside the repo so a fresh clone (CI) reuses them:
#   cargo:  ${CARGO_TARGET_DIR:-$HOME/.cache/kseal/cargo-target}
#   Go:     the default GOCACHE/GOMODCACHE, and built binaries in ${KSEAL_CACHE:-$HOME/.cache/kseal}
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kseal/cargo-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step_start=0
step() {
  step_start=$(date +%s)
  printf '\n== %s\n' "$*" >&2
}
done_step() {
  printf '== done in %ss\n' "$(( $(date +%s) - step_start ))" >&2
}

started_cluster=0
tools_pid=
cleanup() {
  local rc=$?
  # A failure before the background build finished (clippy, say) stops it too.
  if [ -n "$tools_pid" ] && kill -0 "$tools_pid" 2>/dev/null; then
    kill -- "-$tools_pid" 2>/dev/null || true
    wait "$tools_pid" 2>/dev/null || true
  fi
  if [ "$started_cluster" = 1 ]; then
    printf '\n== stopping the control plane\n' >&2
    tests/cluster/cluster.sh down >&2 || rc=1
  fi
  # The fault tests' private control plane (controller/tests/faults.rs stops it on drop; this
  # covers a killed run). A no-op when it is not running.
  KSEAL_CLUSTER_DIR=/tmp/kseal-cluster-faults tests/cluster/cluster.sh down >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT

all_start=$(date +%s)

step "cargo fmt --check"
cargo fmt --all --check
done_step

# The Go tools (build.sh), the node's packages and images do not depend on the Rust build: they
# build in the background while clippy and the test binaries compile. On a cold machine both
# are long and each leaves the cores idle part of the time (linking, a crate or package waiting
# for its dependencies); docs/testing.md "Build cost" has the figures.
tools_log="${TMPDIR:-/tmp}/kseal-tools-build.log"
step "build the test control plane and its node in the background (kube-apiserver, etcd, kube-controller-manager, kube-scheduler, kubelet, kubeseal, Bitnami controller, helm, argocd-health, tiltcheck; containerd, runc, CNI; images): log $tools_log"
# setsid: its own process group, so the cleanup below can stop all of it (go build included).
setsid bash -c 'start=$(date +%s)
  tests/cluster/build.sh >/dev/null && tests/cluster/node-deps.sh && tests/cluster/images.sh
  rc=$?; echo "control plane and node build: exit $rc, finished in $(( $(date +%s) - start ))s"; exit $rc' \
  >"$tools_log" 2>&1 &
tools_pid=$!
done_step

step "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings
done_step

step "cargo test --workspace --no-run (build the test binaries)"
cargo test --workspace --no-run --quiet
done_step

step "wait for the control plane and node build"
tools_rc=0
wait "$tools_pid" || tools_rc=$?
tools_pid=
cat "$tools_log" >&2
[ "$tools_rc" = 0 ] || { echo "run-all: building the control plane or the node failed (log above)" >&2; exit 1; }
done_step

step "start the control plane and its node"
if tests/cluster/cluster.sh status >/dev/null 2>&1; then
  echo "a control plane is already running; using it and leaving it running" >&2
else
  started_cluster=1
fi
# --node: containerd, kubelet and kube-scheduler too (controller/tests/node/ runs the chart's
# Pods, the example apps and the seeds there); waits until the Node is Ready.
eval "$(tests/cluster/cluster.sh up --node)"
export KUBECONFIG
export KSEAL_CLUSTER=1  # tells cluster tests the control plane is required, not optional
done_step

step "cargo test --workspace (unit, vectors, CLI snapshots, cluster and interop tests)"
# Keep going after a test failure so the smoke checks still run and the summary is printed.
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee "${TMPDIR:-/tmp}/kseal-cargo-test.log"
test_rc=${PIPESTATUS[0]}
set -e
done_step

step "control-plane smoke checks (RBAC, GC, Deployments, Bitnami controller, kubeseal)"
smoke_rc=0
set +e
KSEAL_CLI="$CARGO_TARGET_DIR/debug/kseal" tests/cluster/smoke.sh 2>&1 | tee "${TMPDIR:-/tmp}/kseal-smoke.log"
smoke_rc=${PIPESTATUS[0]}
set -e
done_step

passed=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' "${TMPDIR:-/tmp}/kseal-cargo-test.log" | awk '{s+=$4} END {print s+0}')
# A test that could not run prints one `skipped: <test>: <why>` line (kseal-test-support's
# policy); libtest still counts it as passed, so it is moved from "passed" to "skipped" here.
# With KSEAL_CLUSTER=1 (set above) a missing control plane or tool fails instead, so this is 0.
# (grep finds nothing in a run without skips: `|| true` keeps pipefail from ending the script.)
skipped=$({ grep -Eo 'skipped: [^ ]+: ' "${TMPDIR:-/tmp}/kseal-cargo-test.log" || true; } | wc -l)
passed=$((passed - skipped))
failed=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' "${TMPDIR:-/tmp}/kseal-cargo-test.log" | awk '{s+=$6} END {print s+0}')
smoke_passed=$(grep -Eo '^[0-9]+ passed, [0-9]+ failed$' "${TMPDIR:-/tmp}/kseal-smoke.log" | awk '{print $1}' | tail -1)
smoke_failed=$(grep -Eo '^[0-9]+ passed, [0-9]+ failed$' "${TMPDIR:-/tmp}/kseal-smoke.log" | awk '{print $3}' | tail -1)
log="${TMPDIR:-/tmp}/kseal-cargo-test.log"
# Figures the issues ask to see in every run: the interop matrix count and each fault's recovery.
matrix=$(grep -Eo 'interop matrix: [0-9]+/[0-9]+ cells passed' "$log" | tail -1)
printf '\n%s\n' "${matrix:-interop matrix: did not run (no count in the cargo test log)}"
grep -E '^fault [a-z0-9 -]+: recovered in' "$log" || echo "fault tests: no recovery figures in the cargo test log"
# Long tests run in phases (kseal-test-support's Phases): a failed phase names itself here.
grep -Eo 'phase [a-z_]+/[a-z0-9-]+: (FAILED|not run).*' "$log" || true
# The other interop checks (migrations, kubeseal against kseal, the kseal CLI against Bitnami,
# templates): one line each; their tests fail the run if they do not pass.
grep -Eo 'interop (migration|kubeseal|kseal CLI|template).*' "$log" || true
# The hostile-input suite (controller/tests/hostile*.rs): one line per attack, what it tried and
# what held. Its tests fail the run if an attack succeeds; no line at all means it did not run.
# (-o: with tests running in parallel, a line can land after libtest's "test x ... " prefix.)
# The node tests (controller/tests/node/): the apps' env digests against the sealed .env files,
# and the timings measured on real Pods (the example app, the umbrella chart, the seeds, the
# kustomize overlays, the private cluster of the cluster-wide base).
node=$(grep -Eo 'node (app env digest|restart-on-change|failover|pdb|chart install|images built|umbrella chart|seed services|seed api|kustomize|test total).*' "$log" || true)
printf '%s\n' "${node:-node test: did not run (no node lines in the cargo test log)}"
if [ -z "$node" ]; then test_rc=1; fi
# The pq-hybrid format on the real control plane (controller/tests/pq.rs).
pq=$(grep -Eo 'pq e2e: .*' "$log" || true)
printf '%s\n' "${pq:-pq-hybrid test: did not run (no pq e2e lines in the cargo test log)}"
if [ -z "$pq" ]; then test_rc=1; fi
hostile=$(grep -Eo 'hostile [a-z0-9 -]+: .*' "$log" || true)
printf '%s\n' "${hostile:-hostile-input suite: did not run (no hostile lines in the cargo test log)}"
if [ -z "$hostile" ]; then test_rc=1; fi
if [ -z "$matrix" ]; then test_rc=1; fi
printf '\nkseal: all steps finished in %ss (cargo test exit %s, smoke exit %s)\n' \
  "$(( $(date +%s) - all_start ))" "$test_rc" "$smoke_rc" >&2
echo "cargo tests $passed passed / $failed failed / $skipped skipped; smoke checks ${smoke_passed:-0} passed / ${smoke_failed:-?} failed"
echo "total: $((passed + ${smoke_passed:-0})) passed, $((failed + ${smoke_failed:-1})) failed"
[ "$test_rc" = 0 ] && [ "$smoke_rc" = 0 ]

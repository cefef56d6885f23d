#!/usr/bin/env bash
# Records the kubeseal test vectors in this directory with the real kubeseal (built from Go
# modules by tests/cluster/build.sh). Run ONCE; the files it writes are committed as data and
# README.md next to this script says when, with what and how they were made.
#
#   tests/vectors/kubeseal/record.sh             # refuses when recordings exist
#   tests/vectors/kubeseal/record.sh --rerecord  # replaces them (every body changes: kubeseal's
#                                                # output is randomized); update README.md's date
#
# Offline: kubeseal gets --cert (a test-only certificate from tests/fixtures/keys/) and a
# KUBECONFIG that does not exist, so nothing talks to a cluster. The vectors are checked by
# decryption in `cargo test -p kseal-tests --test vectors` (kubeseal::* and vector::kubeseal/*).
#
# Writes:
#   secrets/<case>.yaml          the Secret given to kubeseal on stdin (the expected plaintext)
#   sealed/<case>-<key>.yaml     kubeseal -o yaml's stdout, byte for byte
#   raw/<case>                   kubeseal --raw's stdout as the body of a vector file
#                                (tests/vectors/README.md format, with a source: header)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
keys="$repo/tests/fixtures/keys"
want_version=v0.36.0

if [ "${1:-}" != --rerecord ] && [ -e "$here/raw" ]; then
  echo "record.sh: recordings exist; pass --rerecord to replace them" >&2
  exit 1
fi
if [ -n "${KSEAL_KUBESEAL:-}" ]; then
  kubeseal=$KSEAL_KUBESEAL
else
  kubeseal="$("$repo/tests/cluster/build.sh" --print-bindir)/kubeseal"
fi
version=$("$kubeseal" --version)
version=${version#kubeseal version: }
if [ "$version" != "$want_version" ]; then
  echo "record.sh: kubeseal is $version, these vectors are for $want_version" >&2
  exit 1
fi
source_line="kubeseal $version (tests/vectors/kubeseal/record.sh, $(date -u +%Y-%m-%d))"
export KUBECONFIG=/nonexistent/kubeconfig

rm -rf "$here/secrets" "$here/sealed" "$here/raw"
mkdir -p "$here/secrets" "$here/sealed" "$here/raw"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- Plaintexts -------------------------------------------------------------------------------

printf 'postgres://app:example@db:5432/app' >"$tmp/value"
: >"$tmp/empty"
for i in $(seq 0 255); do printf "\\$(printf %03o "$i")"; done >"$tmp/all-bytes"
printf 'ünïcode ✓ 日本語 🔑\n' >"$tmp/utf8"
b64() { base64 -w0 <"$1"; }

# The longest data key Kubernetes accepts: 253 characters of [-._a-zA-Z0-9].
long_key=$(printf 'k%.0s' $(seq 1 243))-0123.4_5Z
# Exactly 1 MiB (1,048,576 bytes), the most a Secret's values may hold in total: bytes 0..250
# repeating (a period of 251, so no two lines of the base64 look alike nearby).
for i in $(seq 0 250); do printf "\\$(printf %03o "$i")"; done >"$tmp/period"
{
  for _ in $(seq 1 4177); do cat "$tmp/period"; done
  head -c 149 "$tmp/period"
} >"$tmp/large" # 4177 · 251 + 149 = 1,048,576

# --- The Secrets kubeseal reads (the expected plaintext of the SealedSecret vectors) -----------

# Strict (no scope annotation): several items, binary values, an empty value, UTF-8 values,
# every character Kubernetes allows in a key (keys are [-._a-zA-Z0-9]+, at most 253; no other
# UTF-8 is allowed in a key), data and stringData together.
cat >"$here/secrets/strict.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: app
  namespace: shop
  labels:
    app.kubernetes.io/name: shop
type: Opaque
data:
  all-bytes: $(b64 "$tmp/all-bytes")
  empty: ""
  .dotfile: $(printf 'hidden=1\n' | base64 -w0)
  tls.key: $(printf -- '-----BEGIN TEST DATA-----\nnot a key, two lines\n-----END TEST DATA-----\n' | base64 -w0)
  $long_key: $(printf 'the longest key Kubernetes allows' | base64 -w0)
stringData:
  utf8: "ünïcode ✓ 日本語 🔑"
  Mixed_Case-key.0: "quotes \" and ' and \\\\ backslash"
  "0": digit-only key
YAML

cat >"$here/secrets/namespace-wide.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: shop
  annotations:
    sealedsecrets.bitnami.com/namespace-wide: "true"
type: kubernetes.io/basic-auth
stringData:
  username: admin
  password: "p@ss w0rd!\$&*"
YAML

cat >"$here/secrets/cluster-wide.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: shared
  namespace: shop
  annotations:
    sealedsecrets.bitnami.com/cluster-wide: "true"
type: Opaque
data:
  token: $(printf '\x00\xffbinary token\x7f\x80' | base64 -w0)
  empty: ""
stringData:
  config.json: |
    {"endpoint": "https://db.example.invalid", "retries": 3}
YAML

{
  printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: large\n  namespace: shop\ntype: Opaque\ndata:\n'
  printf '  blob: %s\n' "$(b64 "$tmp/large")"
} >"$here/secrets/large.yaml"

# --- kubeseal -o yaml < secret.yaml -----------------------------------------------------------

documents=0
seal_doc() { # case key-stem
  local case=$1 stem=$2
  "$kubeseal" --cert "$keys/$stem.crt" -o yaml <"$here/secrets/$case.yaml" \
    >"$here/sealed/$case-${stem%-a}.yaml"
  echo "sealed/$case-${stem%-a}.yaml: kubeseal --cert tests/fixtures/keys/$stem.crt -o yaml < secrets/$case.yaml"
  documents=$((documents + 1))
}
for stem in rsa2048-a rsa4096-a; do
  for case in strict namespace-wide cluster-wide; do seal_doc "$case" "$stem"; done
done
seal_doc large rsa4096-a

# --- kubeseal --raw ---------------------------------------------------------------------------

raw=0
raw_vector() { # case key-stem scope namespace name plaintext-file what
  local case=$1 stem=$2 scope=$3 ns=$4 name=$5 file=$6 what=$7
  local args=(--cert "$keys/$stem.crt" --raw --scope "$scope")
  [ -n "$ns" ] && args+=(--namespace "$ns")
  [ -n "$name" ] && args+=(--name "$name")
  "$kubeseal" "${args[@]}" --from-file="$tmp/$file" >"$tmp/body"
  local shown="kubeseal --cert tests/fixtures/keys/$stem.crt --raw --scope $scope${ns:+ --namespace $ns}${name:+ --name $name} --from-file=$file"
  {
    echo "expect: success"
    echo "source: $source_line"
    echo "scope: $scope"
    [ -n "$ns" ] && echo "namespace: $ns"
    [ -n "$name" ] && echo "name: $name"
    echo "key: $stem.key"
    echo "plaintext-sha256: $(sha256sum "$tmp/$file" | cut -d' ' -f1)"
    echo "comment: $what; recorded with: $shown"
    echo
    cat "$tmp/body"
  } >"$here/raw/$case"
  echo "raw/$case: $shown"
  raw=$((raw + 1))
}
for stem in rsa2048-a rsa4096-a; do
  bits=${stem%-a}
  raw_vector "strict-$bits" "$stem" strict shop app value "R1 strict, label shop/app, $bits"
  raw_vector "namespace-wide-$bits" "$stem" namespace-wide shop '' value "R2 namespace-wide, label shop, $bits"
  raw_vector "cluster-wide-$bits" "$stem" cluster-wide '' '' value "R3 cluster-wide, empty label, $bits"
done
raw_vector empty-rsa4096 rsa4096-a strict shop app empty "R4 empty value"
raw_vector all-bytes-rsa2048 rsa2048-a namespace-wide shop '' all-bytes "R5 the bytes 0x00 to 0xff"
raw_vector utf8-rsa4096 rsa4096-a cluster-wide '' '' utf8 "UTF-8 value with a trailing newline"

echo "record.sh: $source_line: $documents SealedSecret documents, $raw raw values"

#!/bin/sh
# Fills corpus/<target>/ with starting inputs: the bodies of tests/vectors/ for sealed_value
# (so mutations reach the RSA and AES-GCM paths), and seeds/<target>/ for the others.
# seeds/pq_keys/ holds the test-only key and certificate of cli/tests/fixtures/pq/ (xwing.key as
# PEM and DER, the certificate's 2.5.29.72 extension value, the certificate), each behind its
# mode byte.
set -eu
cd "$(dirname "$0")"
mkdir -p corpus/sealed_value corpus/dotenv corpus/manifest corpus/pq_value corpus/pq_keys
for f in ../../tests/vectors/*; do
    [ -f "$f" ] || continue # subfolders (tests/vectors/kubeseal/) are not vectors of this format
    name=$(basename "$f")
    case "$name" in *.*) continue ;; esac
    # The body is everything after the first blank line (GNU sed keeps a missing final newline).
    sed '1,/^$/d' "$f" > "corpus/sealed_value/$name"
done
cp seeds/dotenv/* corpus/dotenv/
cp seeds/manifest/* corpus/manifest/
cp seeds/pq_value/* corpus/pq_value/
cp seeds/pq_keys/* corpus/pq_keys/
echo "seeded: $(ls corpus/sealed_value | wc -l) sealed_value, $(ls corpus/dotenv | wc -l) dotenv, $(ls corpus/manifest | wc -l) manifest, $(ls corpus/pq_value | wc -l) pq_value, $(ls corpus/pq_keys | wc -l) pq_keys"

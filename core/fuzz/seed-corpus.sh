#!/bin/sh
# Fills corpus/<target>/ with starting inputs: the bodies of tests/vectors/ for sealed_value
# (so mutations reach the RSA and AES-GCM paths), and seeds/<target>/ for the others.
set -eu
cd "$(dirname "$0")"
mkdir -p corpus/sealed_value corpus/dotenv corpus/manifest corpus/pq_value
for f in ../../tests/vectors/*; do
    name=$(basename "$f")
    case "$name" in *.*) continue ;; esac
    # The body is everything after the first blank line (GNU sed keeps a missing final newline).
    sed '1,/^$/d' "$f" > "corpus/sealed_value/$name"
done
cp seeds/dotenv/* corpus/dotenv/
cp seeds/manifest/* corpus/manifest/
cp seeds/pq_value/* corpus/pq_value/
echo "seeded: $(ls corpus/sealed_value | wc -l) sealed_value, $(ls corpus/dotenv | wc -l) dotenv, $(ls corpus/manifest | wc -l) manifest, $(ls corpus/pq_value | wc -l) pq_value"

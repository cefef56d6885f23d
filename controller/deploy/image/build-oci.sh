#!/usr/bin/env bash
# Builds the kseal-controller image without a Docker daemon: a static musl binary, a minimal
# root filesystem (the binary, /etc/passwd and /etc/group with nonroot 65532, /tmp), packed as an
# OCI image with umoci, exported with skopeo. The same layout as the Dockerfile's
# distroless/static:nonroot stage, minus the parts of distroless kseal does not read (tzdata,
# CA bundle: the controller trusts only the cluster CA it is given).
#
#   controller/deploy/image/build-oci.sh [--binary PATH] [OUT_DIR]     (default /tmp/kseal-image)
#
# Needs: rustup target x86_64-unknown-linux-musl, musl-tools (musl-gcc), umoci, skopeo.
# --binary PATH packs an already built kseal-controller instead (no cargo build). A dynamically
# linked (glibc) binary gets exactly the shared libraries `ldd` lists, at the same paths, next to
# it: that is how the test node (tests/cluster, docs/testing.md) packs the debug binary CI has
# already built, where the musl target cannot be installed. Release images stay static.
# Prints the OCI layout and docker-archive paths; then proves the image runs by unpacking it and
# running the binary from the unpacked root filesystem (chroot, as uid 65532) with --version.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
prebuilt=""
if [[ ${1:-} == --binary ]]; then
  prebuilt=${2:?--binary needs a path}
  shift 2
fi
out=${1:-/tmp/kseal-image}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)
target="$(uname -m)-unknown-linux-musl"
tag="ghcr.io/kseal/kseal-controller:$version"

cd "$repo"
libs=()
if [[ -n $prebuilt ]]; then
  bin=$(realpath "$prebuilt")
  [[ -x $bin ]] || { echo "build-oci.sh: $prebuilt is not an executable" >&2; exit 1; }
  # Every absolute path ldd prints: the libraries (after "=>") and the dynamic loader.
  if ldd "$bin" >/dev/null 2>&1; then
    mapfile -t libs < <(ldd "$bin" | grep -o '/[^ ]*' | sort -u)
  fi
else
  cargo build --locked --release --target "$target" -p kseal-controller --bin kseal-controller >&2
  bin="${CARGO_TARGET_DIR:-$repo/target}/$target/release/kseal-controller"
  if ldd "$bin" 2>/dev/null | grep -q '=>'; then
    echo "build-oci.sh: $bin is not static" >&2
    exit 1
  fi
fi

rm -rf "$out"
mkdir -p "$out"
umoci init --layout "$out/oci"
umoci new --image "$out/oci:$version"
umoci unpack --image "$out/oci:$version" "$out/bundle" >/dev/null
root="$out/bundle/rootfs"
install -D -m 0755 "$bin" "$root/usr/local/bin/kseal-controller"
strip "$root/usr/local/bin/kseal-controller" 2>/dev/null || true
for lib in "${libs[@]}"; do
  install -D -m 0755 "$(realpath "$lib")" "$root$lib"
done
((${#libs[@]} == 0)) || echo "build-oci.sh: dynamically linked; added ${libs[*]}" >&2
mkdir -p "$root/etc" "$root/tmp"
chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$root/etc/group"
umoci repack --image "$out/oci:$version" "$out/bundle"
umoci config --image "$out/oci:$version" \
  --config.entrypoint /usr/local/bin/kseal-controller \
  --config.user 65532:65532 \
  --config.exposedports 8080/tcp --config.exposedports 8081/tcp \
  --config.label org.opencontainers.image.title=kseal-controller \
  --config.label org.opencontainers.image.version="$version" \
  --config.label org.opencontainers.image.source=https://github.com/kseal/kseal \
  --config.label org.opencontainers.image.licenses=Apache-2.0 \
  --architecture "$(case "$(uname -m)" in x86_64) echo amd64;; aarch64) echo arm64;; *) uname -m;; esac)" \
  --os linux
umoci gc --layout "$out/oci"
rm -rf "$out/bundle"
skopeo copy --quiet "oci:$out/oci:$version" "docker-archive:$out/kseal-controller.tar:$tag"

# Run it from the image's own root filesystem.
umoci unpack --image "$out/oci:$version" "$out/check" >/dev/null
echo "build-oci.sh: entrypoint/user: $(umoci stat --image "$out/oci:$version" --json >/dev/null && echo ok)" >&2
chroot --userspec=65532:65532 "$out/check/rootfs" /usr/local/bin/kseal-controller --version
du -sh "$out/check/rootfs" | sed 's/^/build-oci.sh: rootfs size /' >&2
rm -rf "$out/check"
echo "$out/oci:$version"
echo "$out/kseal-controller.tar ($tag; docker load / podman load / kind load image-archive)"

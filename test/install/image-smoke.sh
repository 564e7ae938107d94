#!/usr/bin/env bash
# Builds ./Dockerfile and images/init/Dockerfile with buildah, without any
# container registry, and checks what comes out. Run by test/install/images.test.ts
# (as root, with buildah and crun installed, see .ci/run).
#
# The registry's base images are replaced by local stand-ins:
#   debian:bookworm-slim        ← debootstrap --variant=minbase bookworm (Debian's mirror)
#   node:20-bookworm-slim       ← that Debian plus this machine's Node.js 20 and npm
#   distroless nodejs20 nonroot ← an empty image with only /nodejs/bin/node, its libraries and /etc/passwd
# RUN steps use chroot isolation (OCI runtimes need namespaces a CI container may not grant).
# Prints measurements as `metric <name> <value>` lines.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
prefix=localhost/sluice-smoke
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
work="$(mktemp -d)"
containers=()
cleanup() {
  for c in "${containers[@]}"; do buildah rm "$c" >/dev/null 2>&1 || true; done
  # The built images go; the Debian base stays, so the next run skips debootstrap.
  for image in sluice:test sluice-init:test node-build:20 node-runtime:20; do buildah rmi "$prefix/$image" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
export BUILDAH_ISOLATION=chroot
now() { date +%s; }
# Sets $c (not in a subshell, so cleanup sees every container made).
new_container() { c="$(buildah from "$@")"; containers+=("$c"); }
# Copy a binary and every shared library it loads into a root filesystem.
copy_with_libs() {
  local bin="$1" root="$2" dest="$3" lib
  mkdir -p "$root$(dirname "$dest")"
  cp -L "$bin" "$root$dest"
  for lib in $(ldd "$bin" | grep -o '/[^ ]*\.so[^ ]*'); do
    # Already there (a Debian root): leave it; its symlinks may be absolute and point out of $root.
    if [ -e "$root$lib" ] || [ -L "$root$lib" ]; then continue; fi
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}

node_bin="$(command -v node)"
[ "$("$node_bin" -p 'process.versions.node.split(".")[0]')" -ge 20 ] || { echo "Node.js 20 or later needed on this machine" >&2; exit 1; }

# 1. Debian base (kept between runs: the mirror is the slow part).
if ! buildah inspect --type image "$prefix/debian:bookworm" >/dev/null 2>&1; then
  start=$(now)
  # Exit 77 (skip): debootstrap cannot work here (mirror out of reach, no privileges for it),
  # which says nothing about the Dockerfiles.
  debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; exit 77; }
  rm -rf "$work/rootfs/var/cache/apt/archives"/*.deb "$work/rootfs/var/lib/apt/lists"/*
  new_container scratch
  buildah copy "$c" "$work/rootfs" / >/dev/null
  buildah commit --quiet "$c" "$prefix/debian:bookworm" >/dev/null
  rm -rf "$work/rootfs"
  echo "metric debootstrap_seconds $(( $(now) - start ))"
fi

# 2. Node build base: Debian + this machine's node and npm.
new_container "$prefix/debian:bookworm"
root="$(buildah mount "$c")"
copy_with_libs "$node_bin" "$root" /usr/local/bin/node
npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
mkdir -p "$root/usr/local/lib/node_modules" && cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
buildah umount "$c" >/dev/null
buildah commit --quiet "$c" "$prefix/node-build:20" >/dev/null

# 3. Distroless-like runtime base: node, its libraries, the nonroot user; no shell.
new_container scratch
root="$(buildah mount "$c")"
copy_with_libs "$node_bin" "$root" /nodejs/bin/node
mkdir -p "$root/etc" "$root/tmp" && chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
buildah umount "$c" >/dev/null
buildah commit --quiet "$c" "$prefix/node-runtime:20" >/dev/null

# 4. The control-plane image, from ./Dockerfile. npm's cache is lent to the build so packages come from it first.
start=$(now)
# This machine's npm settings reach the build through npm's global config: its
# registry, the CA it trusts (a proxy's, say) and its cache, preferred over the network.
npm_cache="$(npm config get cache)"
cafile="$(npm config get cafile)"; [ -f "$cafile" ] || cafile=/etc/ssl/certs/ca-certificates.crt
printf 'registry=%s\ncafile=/etc/npm-build-ca.crt\nprefer-offline=true\n' "$(npm config get registry)" >"$work/npmrc"
buildah bud --layers=false -f "$repo/Dockerfile" \
  --build-arg BUILD_IMAGE="$prefix/node-build:20" --build-arg RUNTIME_IMAGE="$prefix/node-runtime:20" \
  -v "$npm_cache:/root/.npm" -v "$work/npmrc:/usr/local/etc/npmrc:ro" -v "$cafile:/etc/npm-build-ca.crt:ro" \
  -t "$prefix/sluice:test" "$repo" >"$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; exit 1; }
echo "metric sluice_build_seconds $(( $(now) - start ))"

# 5. The init image, from images/init/Dockerfile.
start=$(now)
buildah bud --layers=false -f "$repo/images/init/Dockerfile" \
  --build-arg BASE_IMAGE="$prefix/debian:bookworm" -t "$prefix/sluice-init:test" "$repo/images/init" >"$work/init.log" 2>&1 || { tail -40 "$work/init.log" >&2; exit 1; }
echo "metric init_build_seconds $(( $(now) - start ))"

# 6. What came out.
for image in sluice sluice-init; do
  echo "metric ${image//-/_}_image_bytes $(buildah inspect --type image --format '{{.ImageSize}}' "$prefix/$image:test" 2>/dev/null || buildah images --noheading --format '{{.Size}}' "$prefix/$image:test")"
done
echo "sluice user: $(buildah inspect --type image --format '{{.OCIv1.Config.User}}' "$prefix/sluice:test")"
echo "sluice entrypoint: $(buildah inspect --type image --format '{{.OCIv1.Config.Entrypoint}}' "$prefix/sluice:test")"

new_container "$prefix/sluice:test"
# As the manifests run it: uid 65532. `validate` exercises the whole CLI path with the bundled examples.
buildah run --user 65532:65532 -v "$repo/examples:/examples:ro" "$c" -- /nodejs/bin/node /app/dist/control-plane/cli/main.js validate /examples
buildah run --user 65532:65532 "$c" -- /usr/local/bin/sluice webhook --help | head -n 1
root="$(buildah mount "$c")"
[ ! -e "$root/bin/sh" ] && echo "sluice: no shell"
buildah umount "$c" >/dev/null

new_container "$prefix/sluice-init:test"
root="$(buildah mount "$c")"
echo "init files: $(find "$root" -type f | wc -l)"
buildah umount "$c" >/dev/null
# The injected init script's tools resolve and run (no NET_ADMIN here, so only versions).
buildah run "$c" -- /bin/sh -c 'printf "%s\n" printf-ok; iptables-restore --version; iptables-save --version; iptables-legacy-restore --version'
echo "smoke ok"

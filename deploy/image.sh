#!/usr/bin/env bash
# Builds the synod image (deploy/Dockerfile) from this repository without
# pulling anything: a release build of synod, the shared libraries it links
# (glibc's, copied from this machine), a passwd file for the synod user.
#
#   deploy/image.sh [TAG]            default synod:dev
#   SYNOD_BIN=path/to/synod deploy/image.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-synod:dev}"
bin="${SYNOD_BIN:-}"
if [ -z "$bin" ]; then
    cargo build --release -p synod >&2
    target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    bin="$target_dir/release/synod"
fi
context=$(mktemp -d -t synod-image.XXXXXX)
trap 'rm -rf "$context"' EXIT
root="$context/rootfs"
mkdir -p "$root/usr/local/bin" "$root/etc/synod" "$root/tmp" "$context/data"
chmod 1777 "$root/tmp"
# The binary without its debug sections: the image stays small.
objcopy --strip-debug "$bin" "$root/usr/local/bin/synod"
# Every library the loader resolves for it, and the loader itself.
ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
printf 'root:x:0:0:root:/:/sbin/nologin\nsynod:x:10001:10001:synod:/data:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nsynod:x:10001:\n' > "$root/etc/group"
cp deploy/Dockerfile "$context/Dockerfile"
if ! docker build --quiet -t "$tag" "$context" >/dev/null 2>"$context/build.log"; then
    cat "$context/build.log" >&2
    exit 1
fi
echo "built $tag ($(docker image inspect "$tag" --format '{{.Size}}' | awk '{printf "%.1f MB", $1/1e6}'))"

#!/usr/bin/env bash
# Builds the static `regio` binary and the container image (default tag regio:dev) from
# deploy/Dockerfile (FROM scratch: nothing is pulled). Idempotent: a second run rebuilds
# nothing that did not change. Usage: deploy/build-image.sh [TAG]
#   env: REGIO_IMAGE (tag, default regio:dev), CARGO_TARGET_DIR (cargo's, default target/)
set -euo pipefail
here="${0%/*}"; [ "$here" = "$0" ] && here=.
cd "$here/.."

tag="${1:-${REGIO_IMAGE:-regio:dev}}"
fail() { echo "build-image.sh: $*" >&2; exit 1; }

command -v docker >/dev/null 2>&1 || fail "docker not found: install Docker Engine to build $tag (or use deploy/Dockerfile.multistage elsewhere)"
docker info >/dev/null 2>&1 || fail "the Docker engine does not answer (is dockerd running, and may $(id -un) use it?)"
command -v cargo >/dev/null 2>&1 || fail "cargo not found: a Rust toolchain is needed to build the binary"

# The host's own triple: `--target` keeps the static build apart from the ordinary one
# (RUSTFLAGS then apply to the target only, not to build scripts and proc-macros).
triple="$(rustc -vV | sed -n 's/^host: //p')"
case "$triple" in
  *-linux-gnu) ;;
  *) fail "host $triple: the static image is built for *-linux-gnu hosts only" ;;
esac
echo "== static binary ($triple, crt-static)"
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --locked --target "$triple" -p regio-cli
bin="${CARGO_TARGET_DIR:-target}/$triple/release/regio"
[ -x "$bin" ] || fail "$bin was not built"
if command -v ldd >/dev/null 2>&1; then
  # ldd exits 1 on a static binary; its message is what counts.
  if ! ldd "$bin" 2>&1 | grep -Eq 'not a dynamic executable|statically linked'; then
    fail "$bin is dynamically linked; a FROM scratch image needs a static binary"
  fi
fi

echo "== image $tag"
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp "$bin" "$ctx/regio"
# The release profile keeps line tables (for backtraces): 150 MB. The image takes the
# stripped binary (about 35 MB); the unstripped one stays in target/ for debugging.
if command -v strip >/dev/null 2>&1; then
  strip "$ctx/regio"
else
  echo "build-image.sh: strip not found (binutils): the image gets the unstripped binary" >&2
fi
mkdir "$ctx/data"
cp deploy/Dockerfile "$ctx/Dockerfile"
# The classic builder: BuildKit could try to pull a frontend; this needs nothing.
DOCKER_BUILDKIT=0 docker build --quiet --tag "$tag" "$ctx" >/dev/null
size="$(docker image inspect --format '{{.Size}}' "$tag")"
echo "built $tag ($((size / 1024 / 1024)) MiB): $(docker run --rm "$tag" --version)"

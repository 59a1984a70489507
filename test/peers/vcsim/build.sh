#!/usr/bin/env bash
# Builds the vCenter simulator used by the vSphere integration tests, once, into
# test/peers/vcsim/.build/vcsim (reused while the Go sources are unchanged).
# From Debian packages only (golang-go, golang-github-vmware-govmomi-dev), GOPATH mode, no
# module proxy. Adapted from the shared recipe ../shared/tools/vcsim/build-vcsim.sh; src/*.go are
# copies of its Go sources (QueryChangedDiskAreas, ExportVm and AcquireTicket added to vcsim).
# Env: SKIP_APT=1 to never run apt-get (it runs only when the packages are missing).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT_DIR="$HERE/.build"
OUT="$OUT_DIR/vcsim"
GOCODE=/usr/share/gocode
mkdir -p "$OUT_DIR"
[ -f "$OUT_DIR/.gitignore" ] || printf '*\n!.gitignore\n' > "$OUT_DIR/.gitignore"

stamp=$(cat "$HERE"/src/*.go | sha256sum | cut -c1-16)
if [ -x "$OUT" ] && [ "$(cat "$OUT_DIR/stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "$OUT"
  exit 0
fi

if ! command -v go >/dev/null || [ ! -d "$GOCODE/src/github.com/vmware/govmomi/simulator" ]; then
  if [ "${SKIP_APT:-}" = 1 ]; then
    echo "go or govmomi sources missing: apt-get install golang-go golang-github-vmware-govmomi-dev" >&2
    exit 1
  fi
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    golang-go golang-github-vmware-govmomi-dev >&2
fi

export GOPATH="$GOCODE" GO111MODULE=off GOPROXY=off GOFLAGS= CGO_ENABLED=0
export GOCACHE="${GOCACHE:-$OUT_DIR/gocache}"
(cd "$HERE/src" && go build -trimpath -ldflags="-s -w" -o "$OUT.tmp" .) >&2
mv "$OUT.tmp" "$OUT"
echo "$stamp" > "$OUT_DIR/stamp"
echo "$OUT"

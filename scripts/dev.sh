#!/usr/bin/env bash
# Sets up, builds and runs Herald on a Debian 12 machine.
#
#   scripts/dev.sh run [serve flags...]   install, build, run `herald serve`
#   scripts/dev.sh test [ctest args...]   install, build, run every test
#   scripts/dev.sh build                  install and build only
#
# Installing needs root (or sudo) the first time; later runs skip apt when
# every package is present. BUILD_DIR (default ./build) and JOBS can be set.
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}

PACKAGES=(
  g++ cmake make ccache pkg-config clang-format
  libboost-dev libsimdjson-dev libssl-dev libsqlite3-dev
  libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-pytest python3-websockets python3-jwt python3-aiohttp
  python3-cryptography curl
)

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  echo "Installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build() {
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD_DIR" -j "$JOBS"
}

command=${1:-}
shift || true
case "$command" in
  run)
    install_packages
    build
    exec "$BUILD_DIR/src/cli/herald" serve "$@"
    ;;
  test)
    install_packages
    build
    ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" "$@"
    ;;
  build)
    install_packages
    build
    ;;
  *)
    sed -n '2,9p' "$0"
    exit 2
    ;;
esac

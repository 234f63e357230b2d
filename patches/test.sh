#!/usr/bin/env bash
# Runs the patched crates' own tests, as upstream runs them, on the features
# Herald uses (HTTP/2, rustls 0.23) and the TLS tests' openssl:
#
#   patches/test.sh [actix-http | actix-server | actix-web]…   (default: all three)
#
# Each crate is tested from a scratch copy outside the repository: the copy
# must stay byte for byte the released crate plus its diff (rebuild.sh
# --check), and cargo may have to change a crate's Cargo.lock. The crates'
# own lock files are used where the registry still has every version they
# name; otherwise cargo resolves them afresh. Their dev-dependencies build
# openssl (libssl-dev, pkg-config). Set CARGO_TARGET_DIR to reuse builds.
set -euo pipefail
cd "$(dirname "$0")"

crates=("$@")
[ ${#crates[@]} -gt 0 ] || crates=(actix-server actix-http actix-web)

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/../target/patched-crates}"

for name in "${crates[@]}"; do
  case $name in
    actix-server) args=() ;;
    actix-http) args=(--features http2,ws,rustls-0_23,openssl --lib --tests) ;;
    actix-web) args=(--features rustls-0_23,openssl --lib --test test_httpserver --test test_server) ;;
    *) echo "unknown crate: $name" >&2; exit 2 ;;
  esac
  echo "--- $name: cargo test ${args[*]}"
  cp -R "$name" "$scratch/$name"
  (
    cd "$scratch/$name"
    cargo fetch --locked >/dev/null 2>&1 || rm -f Cargo.lock
    cargo test "${args[@]}"
  )
done

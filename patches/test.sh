#!/usr/bin/env bash
# Runs the patched crates' own tests, as upstream runs them, on the features
# Herald uses (HTTP/2, rustls 0.23) and the TLS tests' openssl:
#
#   patches/test.sh [actix-http | actix-server | actix-web]…   (default: all three)
#
# The crates are tested in a scratch copy outside the repository, where each
# one's manifest gets the [patch.crates-io] section upstream's workspace has:
# its dev-dependencies (awc, actix-http-test, actix-web…) then use the
# patched crates, not a second, released actix-http. The crates' own lock
# files are kept where the registry still has every version they name;
# otherwise cargo resolves afresh. The dev-dependencies build openssl
# (libssl-dev, pkg-config). CARGO_TARGET_DIR (default target/patched-crates)
# keeps builds between runs.
set -euo pipefail
cd "$(dirname "$0")"

all=(actix-server actix-http actix-web)
crates=("$@")
[ ${#crates[@]} -gt 0 ] || crates=("${all[@]}")

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/../target/patched-crates}"
for name in "${all[@]}"; do
  cp -R "$name" "$scratch/$name"
done

for name in "${crates[@]}"; do
  case $name in
    actix-server) args=() ;;
    actix-http) args=(--features http2,ws,rustls-0_23,openssl --lib --tests) ;;
    actix-web) args=(--features rustls-0_23,openssl --lib --test test_httpserver --test test_server) ;;
    *) echo "unknown crate: $name" >&2; exit 2 ;;
  esac
  echo "--- $name: cargo test ${args[*]}"
  (
    cd "$scratch/$name"
    {
      echo
      echo "[patch.crates-io]"
      for patched in "${all[@]}"; do
        echo "$patched = { path = \"../$patched\" }"
      done
    } >>Cargo.toml
    cargo fetch >/dev/null 2>&1 || { rm -f Cargo.lock; cargo fetch >/dev/null; }
    cargo test "${args[@]}"
  )
done

#!/usr/bin/env bash
# Herald's patched copies of released crates (see docs/operations.md,
# "Patched dependencies"). Each copy patches/<name>/ is the crate exactly as
# crates.io released it plus patches/<name>.diff; this script is the only way
# they are made:
#
#   patches/rebuild.sh           rebuild every copy from the released crate and its diff
#   patches/rebuild.sh --check   fail if a copy differs from released crate + diff (CI)
#   patches/rebuild.sh --diff    after editing a copy: write its diff again
#
# The released crates come from cargo's download cache when it has them,
# otherwise from static.crates.io; either way their SHA-256 must be the one
# below (the checksum crates.io publishes, as Cargo.lock had it before the
# patch). Needs curl (only when downloading), tar, sha256sum, diff and git.
set -euo pipefail
cd "$(dirname "$0")"

# name, version, SHA-256 of the .crate file.
crates=(
  "actix-http 3.20.0 d20a22850ea7fecad12c5f8cd97d246c3af1f04ef400033977c2f13425c45816"
  "actix-server 2.10.0 5e296908c4d6f3a191e6b9873dbdfec8023350a89129d2b470f61d17233931ee"
  "actix-web 4.18.1 81f8da0d2ae4200dde8773d72ba47a65c220b251ba7b9248db5bd263c247e959"
)

mode=rebuild
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  --diff) mode=diff ;;
  *) echo "usage: $0 [--check | --diff]" >&2; exit 2 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# fetch NAME VERSION SHA256: the released crate, unpacked in $work/a.
fetch() {
  local name=$1 version=$2 sha=$3 file
  file=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"$name-$version.crate" 2>/dev/null | head -n 1 || true)
  if [ -z "$file" ]; then
    file="$work/$name-$version.crate"
    curl -fsSL --retry 3 -o "$file" "https://static.crates.io/crates/$name/$name-$version.crate"
  fi
  if ! echo "$sha  $file" | sha256sum --check --quiet --strict >/dev/null 2>&1; then
    echo "$name $version: $file is not the released crate (SHA-256 differs)" >&2
    exit 1
  fi
  rm -rf "$work/a" "$work/$name-$version"
  tar -xzf "$file" -C "$work"
  mv "$work/$name-$version" "$work/a"
}

# The diff of a copy against its released crate: no timestamps, so the same
# change always gives the same file. A build's target/ is never part of it.
diff_of() {
  local name=$1
  rm -rf "$work/b"
  cp -R "$name" "$work/b"
  (cd "$work" && diff -ruN -x target a b || [ $? -eq 1 ]) |
    sed -E 's/^((---|\+\+\+) [^\t]+)\t.*$/\1/'
}

# The released crate with its diff applied, in $work/b.
apply() {
  local name=$1
  rm -rf "$work/b"
  cp -R "$work/a" "$work/b"
  if [ -s "$name.diff" ]; then
    (cd "$work/b" && git apply --whitespace=nowarn -p1 "$OLDPWD/$name.diff")
  fi
}

status=0
for entry in "${crates[@]}"; do
  read -r name version sha <<<"$entry"
  fetch "$name" "$version" "$sha"
  case $mode in
    rebuild)
      apply "$name"
      rm -rf "$name"
      mv "$work/b" "$name"
      echo "$name $version: rebuilt from the released crate and $name.diff"
      ;;
    diff)
      [ -d "$name" ] || { echo "$name: no copy to diff" >&2; exit 1; }
      diff_of "$name" >"$name.diff"
      echo "$name $version: $name.diff written ($(grep -c '^diff ' "$name.diff" || true) files)"
      ;;
    check)
      apply "$name"
      if [ ! -d "$name" ]; then
        echo "$name $version: the copy is missing: run patches/rebuild.sh" >&2
        status=1
      elif ! diff -r -x target -q "$work/b" "$name" >"$work/differences"; then
        echo "$name $version: the copy is not the released crate plus $name.diff:" >&2
        sed 's/^/  /' "$work/differences" >&2
        echo "  (edited the copy? run patches/rebuild.sh --diff; edited the diff? patches/rebuild.sh)" >&2
        status=1
      else
        echo "$name $version: the copy is the released crate plus $name.diff"
      fi
      ;;
  esac
done
exit $status

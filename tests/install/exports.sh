#!/bin/sh
# What libcrest.so exports (STYLE.md, crest_export.h): checked both ways.
#  1. `nm -D --defined-only` shows only crest_-prefixed symbols.
#  2. Every function declared in an installed header is marked CREST_API (a
#     declaration starts at column 0 with its return type) and is exported.
# Usage: exports.sh LIBCREST_SO HEADER_DIR...
set -eu
lib=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
nm -D --defined-only "$lib" | awk '{ print $3 }' | sort -u > "$tmp/exported"
[ -s "$tmp/exported" ] || { echo "$lib exports nothing"; exit 1; }
if grep -v '^crest_' "$tmp/exported" > "$tmp/stray"; then
  echo "exported without the crest_ prefix (hide them or prefix them):"; cat "$tmp/stray"; fail=1
fi
headers=$(for d in "$@"; do ls "$d"/crest/*.h; done)
# shellcheck disable=SC2086
grep -HnE '^[a-z][a-z_0-9 ]*[ *]crest_[a-z0-9_]+\(' $headers | grep -vE ':[0-9]+:(static|typedef|return)[ (]' \
  > "$tmp/unmarked" || true
if [ -s "$tmp/unmarked" ]; then
  echo "public declarations without CREST_API (they would be hidden in libcrest.so):"; cat "$tmp/unmarked"; fail=1
fi
# shellcheck disable=SC2086
grep -hoE '^CREST_API [^(]*[ *]crest_[a-z0-9_]+\(' $headers | sed -E 's/.*(crest_[a-z0-9_]+)\($/\1/' | sort -u > "$tmp/declared"
if comm -23 "$tmp/declared" "$tmp/exported" > "$tmp/missing" && [ -s "$tmp/missing" ]; then
  echo "declared with CREST_API but not in $lib:"; cat "$tmp/missing"; fail=1
fi
[ "$fail" = 0 ] && echo "$(wc -l < "$tmp/exported") symbols exported, all crest_, all declared with CREST_API"
exit "$fail"

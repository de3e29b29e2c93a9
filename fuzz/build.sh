#!/bin/sh
# Build the libFuzzer targets with clang 14, apart from the main (gcc) build:
#   fuzz/build.sh [OUT_DIR]        default OUT_DIR: build-fuzz/ at the top of the tree
# Compiles engine/base, engine/src and models/src with -fsanitize=fuzzer-no-link,address,undefined
# into an archive, and links each fuzz/fuzz_*.c target against it with
# -fsanitize=fuzzer. Needs the Debian
# packages clang-14 and libclang-rt-14-dev (plus the main build's -dev packages).
# CC overrides the compiler (default clang-14, else clang). CREST_SRC=DIR builds
# the library from another checkout (e.g. a `git archive` snapshot while the
# working tree is mid-edit); fixtures are then read from DIR too.
set -eu
FUZZ_DIR=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "${CREST_SRC:-$FUZZ_DIR/..}" && pwd)
OUT=${1:-$SRC/build-fuzz}
if [ -z "${CC:-}" ]; then
  if command -v clang-14 >/dev/null 2>&1; then CC=clang-14; else CC=clang; fi
fi
mkdir -p "$OUT/obj" "$OUT/include/crest"

# What CMake generates in the main build: crest_version.h from the project()
# line, and the commit text for crest_version_commit().
ver=$(sed -n 's/^project(crest VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
major=${ver%%.*}; rest=${ver#*.}; minor=${rest%%.*}; patch=${rest#*.}
sed -e "s/@PROJECT_VERSION_MAJOR@/$major/" -e "s/@PROJECT_VERSION_MINOR@/$minor/" \
  -e "s/@PROJECT_VERSION_PATCH@/$patch/" -e "s/@PROJECT_VERSION@/$ver/" \
  "$SRC/engine/include/crest/crest_version.h.in" > "$OUT/include/crest/crest_version.h"
printf 'const char crest_commit_text[] = "fuzz";\n' > "$OUT/obj/version_commit.c"

SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-std=c11 -g -O1 -Wall -Wextra -Wno-unused-parameter $SAN \
  -I$OUT/include -I$SRC/engine/base/include -I$SRC/engine/include -I$SRC/models/include -I$SRC/engine/base -I$SRC/engine/src $(pkg-config --cflags json-c libpcre2-8 gsl nettle)"
LIBS="$(pkg-config --libs json-c libpcre2-8 gsl nettle) -lxgboost -lcsv -lm"

objs=""
for f in "$SRC"/engine/base/*.c "$SRC"/engine/src/*.c "$SRC"/models/src/*.c "$OUT/obj/version_commit.c"; do
  o="$OUT/obj/$(basename "$(dirname "$(dirname "$f")")")_$(basename "$f" .c).o"
  # shellcheck disable=SC2086
  $CC $CFLAGS -fsanitize=fuzzer-no-link -c "$f" -o "$o"
  objs="$objs $o"
done
# An archive, so that each target links only the members it needs.
rm -f "$OUT/libcrest_fuzz.a"
# shellcheck disable=SC2086
ar rcs "$OUT/libcrest_fuzz.a" $objs

for t in "$FUZZ_DIR"/fuzz_*.c; do
  name=$(basename "$t" .c)
  # shellcheck disable=SC2086
  $CC $CFLAGS -fsanitize=fuzzer -DCREST_SOURCE_DIR="\"$SRC\"" "$t" "$OUT/libcrest_fuzz.a" $LIBS -o "$OUT/$name"
  echo "built $OUT/$name"
done

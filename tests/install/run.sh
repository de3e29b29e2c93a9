#!/bin/sh
# Install crest from a build tree into a temporary prefix, then build and run
# tests/install/consumer.c against the installed shared libcrest twice: with
# `pkg-config --cflags --libs crest` and with CMake's find_package(crest).
# Usage: run.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
pc=$(find "$tmp/prefix" -name crest.pc)
[ -n "$pc" ] || { echo "no crest.pc installed"; exit 1; }
export PKG_CONFIG_PATH="$(dirname "$pc")"

# 1. pkg-config: a dynamic link with exactly what --cflags --libs give.
libdir=$(cd "$(pkg-config --variable=libdir crest)" && pwd -P)
# loaded PROGRAM: the real path of the libcrest.so.N that PROGRAM loads.
loaded() { realpath "$(ldd "$1" | awk '/libcrest\.so/ { print $3 }')"; }
want=$(realpath "$libdir/libcrest.so")
# shellcheck disable=SC2046
${CC:-cc} -o "$tmp/consumer_pc" "$src/tests/install/consumer.c" $(pkg-config --cflags --libs crest) \
  -Wl,-rpath,"$libdir"
"$tmp/consumer_pc"
# The program must use the installed shared library, not some other copy.
[ "$(loaded "$tmp/consumer_pc")" = "$want" ] || {
  echo "consumer_pc does not load the installed libcrest.so:"; ldd "$tmp/consumer_pc"; exit 1; }

# 2. find_package(crest) from a separate CMake project.
cmake -S "$src/tests/install" -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cmake" >/dev/null
"$tmp/cmake/consumer"
[ "$(loaded "$tmp/cmake/consumer")" = "$want" ] || {
  echo "the find_package consumer does not load the installed libcrest.so:"; ldd "$tmp/cmake/consumer"; exit 1; }
echo "installed libcrest: pkg-config and find_package consumers built and ran"

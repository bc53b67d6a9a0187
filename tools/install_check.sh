#!/usr/bin/env bash
# Installs convkit into temporary prefixes and builds examples/consumer the ways users do: the
# CMake package with the static library and with the shared library, pkg-config on a plain
# compiler command line, add_subdirectory of this source tree, and (as root) the Debian
# package of the shared build, installed with apt and removed again. Checks that the shared library exports no
# internal or kernel symbol. Usage: tools/install_check.sh <static build dir> <shared build dir>
set -euo pipefail
cd "$(dirname "$0")/.."
static_build=$1
shared_build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$static_build" --prefix "$tmp/static" >/dev/null
cmake --install "$shared_build" --prefix "$tmp/shared" >/dev/null

lib=$(ls "$tmp"/shared/lib*/libconvkit.so)
internal=$(nm -D --defined-only -C "$lib" | grep -E 'convkit::(internal|kernels)::' || true)
if [ -n "$internal" ]; then
  echo "install-check: $lib exports internal symbols:"; echo "$internal" | head -20; exit 1
fi
echo "install-check: $(nm -D --defined-only "$lib" | grep -c ' [TWVBDR] ') symbols exported by $(basename "$(readlink -f "$lib")")"

for kind in static shared; do
  cmake -S examples/consumer -B "$tmp/consumer-$kind" -G Ninja -DCMAKE_CXX_COMPILER=g++ \
    -DCMAKE_PREFIX_PATH="$tmp/$kind" >/dev/null
  cmake --build "$tmp/consumer-$kind" >/dev/null
  echo -n "install-check: CMake package, $kind library: "
  "$tmp/consumer-$kind/consumer" | head -1
done
if [ "$(ldd "$tmp/consumer-shared/consumer" | grep -c libconvkit)" != 1 ]; then
  echo "install-check: the shared consumer does not load libconvkit.so"; exit 1
fi

pc_dir=$(dirname "$(ls "$tmp"/static/lib*/pkgconfig/convkit.pc)")
# shellcheck disable=SC2046
g++ -std=c++20 examples/consumer/main.cc -o "$tmp/consumer-pc" $(PKG_CONFIG_PATH=$pc_dir pkg-config --cflags --libs convkit)
echo -n "install-check: pkg-config, static library: "
"$tmp/consumer-pc" | head -1

launcher=$(command -v ccache || true)  # (the consumer's choice; convkit sets none when it is not top-level)
cmake -S examples/consumer -B "$tmp/consumer-subdir" -G Ninja -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_COMPILER_LAUNCHER="$launcher" -DCONVKIT_SOURCE_DIR="$PWD" >/dev/null
cmake --build "$tmp/consumer-subdir" -j 2 >/dev/null
if [ -e "$tmp/consumer-subdir/convkit/convkit" ] || [ -d "$tmp/consumer-subdir/convkit/tests" ]; then
  echo "install-check: add_subdirectory built convkit's tool or tests"; exit 1
fi
echo -n "install-check: add_subdirectory: "
"$tmp/consumer-subdir/consumer" | head -1

if [ "$(id -u)" != 0 ]; then
  echo "install-check: .deb skipped (apt needs root)"; exit 0
fi
if dpkg -s convkit >/dev/null 2>&1; then
  echo "install-check: a convkit package is already installed; not replacing it"; exit 1
fi
(cd "$shared_build" && cpack -G DEB -B "$tmp/deb" >/dev/null)
deb=$(ls "$tmp"/deb/convkit_*.deb)
trap 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq convkit >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >/dev/null
cmake -S examples/consumer -B "$tmp/consumer-deb" -G Ninja -DCMAKE_CXX_COMPILER=g++ >/dev/null
cmake --build "$tmp/consumer-deb" >/dev/null
echo -n "install-check: $(basename "$deb") (apt install): "
"$tmp/consumer-deb/consumer" | head -1
convkit --help >/dev/null

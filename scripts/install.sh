#!/usr/bin/env bash
# Build Saraphis in release and install it under PREFIX:
#   PREFIX/include/{saraphis.h, saraphis_config.h, saraphis.hpp}
#   PREFIX/lib/libsaraphis.so.X.Y.Z with SONAME libsaraphis.so.SOVERSION (SOVERSION = X, or 0.Y
#     while X is 0: a 0.x minor release may break the ABI), libsaraphis.so.SOVERSION,
#     libsaraphis.so, libsaraphis.a
#   PREFIX/lib/cmake/Saraphis/{SaraphisConfig.cmake, SaraphisConfigVersion.cmake}
#   PREFIX/lib/pkgconfig/saraphis.pc (shared), saraphis-static.pc (libsaraphis.a)
#   PREFIX/share/saraphis/go/ (the Go binding's module sources, for a `replace` directive)
# Usage: scripts/install.sh PREFIX      (needs cargo and python3)
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: scripts/install.sh PREFIX" >&2; exit 2; }
cd "$(dirname "$0")/.."
prefix=$(python3 -c 'import os,sys; print(os.path.abspath(sys.argv[1]))' "$1")
cargo build --release --lib --quiet
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
major=${version%%.*}
minor=${version#*.}; minor=${minor%%.*}
if [ "$major" = 0 ]; then soversion=0.$minor; else soversion=$major; fi
has_cuda=$(python3 -c 'import ctypes,sys; print(ctypes.CDLL(sys.argv[1]).saraphis_build_has_cuda())' target/release/libsaraphis.so)

subst() { # template output
    sed -e "s|@SARAPHIS_VERSION@|$version|g" -e "s|@SARAPHIS_MAJOR@|$major|g" \
        -e "s|@SARAPHIS_MINOR@|$minor|g" -e "s|@SARAPHIS_SOVERSION@|$soversion|g" \
        -e "s|@SARAPHIS_HAS_CUDA@|$has_cuda|g" -e "s|@PREFIX@|$prefix|g" "$1" > "$2.tmp"
    mv "$2.tmp" "$2"
}

install -d "$prefix/include" "$prefix/lib/cmake/Saraphis" "$prefix/lib/pkgconfig" "$prefix/share/saraphis/go"
install -m 644 include/saraphis.h bindings/cpp/saraphis.hpp "$prefix/include/"
subst cmake/saraphis_config.h.in "$prefix/include/saraphis_config.h"
install -m 755 target/release/libsaraphis.so "$prefix/lib/libsaraphis.so.$version"
objdump -p target/release/libsaraphis.so 2>/dev/null | grep -q "SONAME *libsaraphis.so.$soversion\$" ||
    { echo "install.sh: target/release/libsaraphis.so lacks SONAME libsaraphis.so.$soversion" >&2; exit 1; }
ln -sfn "libsaraphis.so.$version" "$prefix/lib/libsaraphis.so.$soversion"
ln -sfn "libsaraphis.so.$soversion" "$prefix/lib/libsaraphis.so"
install -m 644 target/release/libsaraphis.a "$prefix/lib/libsaraphis.a"
subst cmake/SaraphisConfig.cmake.in "$prefix/lib/cmake/Saraphis/SaraphisConfig.cmake"
subst cmake/SaraphisConfigVersion.cmake.in "$prefix/lib/cmake/Saraphis/SaraphisConfigVersion.cmake"
subst cmake/saraphis.pc.in "$prefix/lib/pkgconfig/saraphis.pc"
subst cmake/saraphis-static.pc.in "$prefix/lib/pkgconfig/saraphis-static.pc"
install -m 644 bindings/go/go.mod bindings/go/saraphis.go bindings/go/README.md "$prefix/share/saraphis/go/"
echo "installed Saraphis $version (CUDA kernels: $has_cuda) into $prefix"

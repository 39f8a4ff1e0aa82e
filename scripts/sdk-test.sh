#!/usr/bin/env bash
# SDK tests: install into a temporary prefix, then use it the way each kind of user does:
# CMake find_package (ctest), pkg-config, standalone header compiles, valgrind on the C API,
# the Go binding (go test, also GOGC=1), the C# binding (mcs + mono), and cross-language
# round trips (C# writes, Go reads, and back). Needs: cargo, cc, c++, cmake, pkg-config,
# valgrind, go, mono (mcs, mono). Prints one "N passed, N failed" line at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d "${TMPDIR:-/tmp}/saraphis-sdk.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
fixture=$root/tests/data/minilm-subset-f32.safetensors
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
major=${version%%.*}
minor=${version#*.}; minor=${minor%%.*}
# The SONAME's version: MAJOR, or 0.MINOR while MAJOR is 0 (a 0.x minor release may break the ABI).
if [ "$major" = 0 ]; then soversion=0.$minor; else soversion=$major; fi
passed=0
failed=0
step() { # name command...
    local name=$1; shift
    echo "=== $name"
    if "$@"; then passed=$((passed + 1)); echo "--- ok: $name"; else failed=$((failed + 1)); echo "--- FAILED: $name"; fi
}
skipped=0
# have TOOL...: true when every tool is on PATH. Without one, the steps that need it are
# SKIPPED with a line saying why (scripts/test.sh installs them when run as root), unless
# SARAPHIS_REQUIRE_ALL=1 (CI), where they run and fail.
have() {
    local t
    for t; do
        if ! command -v "$t" >/dev/null; then
            [ "${SARAPHIS_REQUIRE_ALL:-0}" = 1 ] && return 0
            echo "--- SKIPPED: the steps that need '$t' ($t not found: install it, or run scripts/test.sh as root to have it installed)"
            skipped=$((skipped + 1))
            return 1
        fi
    done
}

step "install into a prefix" scripts/install.sh "$prefix"
step "installed files" bash -c "
    test -f '$prefix/include/saraphis.h' && test -f '$prefix/include/saraphis_config.h' && test -f '$prefix/include/saraphis.hpp' &&
    test -f '$prefix/lib/libsaraphis.a' && test -L '$prefix/lib/libsaraphis.so' &&
    test -f '$prefix/lib/cmake/Saraphis/SaraphisConfig.cmake' && test -f '$prefix/lib/cmake/Saraphis/SaraphisConfigVersion.cmake' &&
    test -f '$prefix/lib/pkgconfig/saraphis.pc' &&
    test -f '$prefix/lib/pkgconfig/saraphis-static.pc' && test -f '$prefix/share/saraphis/go/saraphis.go' &&
    objdump -p '$prefix/lib/libsaraphis.so' | grep -q "SONAME *libsaraphis.so.$soversion\$" &&
    test -L '$prefix/lib/libsaraphis.so.$soversion'"

# Every public header on its own (first and only include of a unit), as C99 and as C++17,
# with warnings as errors.
for h in saraphis.h saraphis_config.h saraphis.hpp; do
    printf '#include <%s>\nint saraphis_header_check(void);\n' "$h" > "$work/alone-$h.c"
    if [ "$h" != saraphis.hpp ]; then
        step "$h alone as C99" cc -std=c99 -Wall -Wextra -Werror -pedantic -fsyntax-only -I"$prefix/include" -x c "$work/alone-$h.c"
    fi
    step "$h alone as C++17" c++ -std=c++17 -Wall -Wextra -Werror -pedantic -fsyntax-only -I"$prefix/include" -x c++ "$work/alone-$h.c"
done
printf '#include <saraphis.hpp>\n#include <saraphis.hpp>\n#include <saraphis.h>\nint main() { return saraphis::version().empty(); }\n' > "$work/twice.cpp"
step "saraphis.hpp included twice" c++ -std=c++17 -Wall -Wextra -Werror -pedantic -I"$prefix/include" "$work/twice.cpp" -o "$work/twice" -L"$prefix/lib" -lsaraphis

# A lossless archive of the fixture (the CLI of this checkout writes it) for the archive tests
# of C (tests/c/archive.c, below) and C++ (ctest's cpp_archive).
step "archive of the fixture" bash -c "cargo build --quiet --bin saraphis && target/debug/saraphis compress '$fixture' -o '$work/m.sph' --lossless-v2 >/dev/null"
# The Go and C# archive tests read it too (without it they build one with cargo themselves).
export SARAPHIS_TEST_ARCHIVE=$work/m.sph

# CMake consumer through find_package, built and run by ctest.
if have cmake; then
step "cmake configure (find_package)" cmake -S tests/cmake-consumer -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release -DSARAPHIS_TEST_ARCHIVE="$work/m.sph"
step "cmake build" cmake --build "$work/cmake" -j 2
step "ctest" ctest --test-dir "$work/cmake" --output-on-failure
find_version() { # VERSION: configure a project that asks for Saraphis VERSION
    local d=$work/find-$1
    mkdir -p "$d" && printf 'cmake_minimum_required(VERSION 3.16)\nproject(m C)\nfind_package(Saraphis %s CONFIG REQUIRED)\n' "$1" > "$d/CMakeLists.txt" &&
    cmake -S "$d" -B "$d/b" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null 2>&1
}
step "find_package rejects another major" bash -c "$(declare -f find_version); work='$work' prefix='$prefix'; ! find_version $((major + 1)).0"
step "find_package accepts $major.$minor" bash -c "$(declare -f find_version); work='$work' prefix='$prefix'; find_version $major.$minor"
if [ "$major" = 0 ]; then
    step "find_package rejects 0.$((minor + 1)) and 0.$((minor - 1)) (0.x minors break the ABI)" bash -c "
        $(declare -f find_version); work='$work' prefix='$prefix'
        ! find_version 0.$((minor + 1)) && { [ $minor = 0 ] || ! find_version 0.$((minor - 1)); }"
fi

fi
# pkg-config consumer.
if have pkg-config; then
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
step "pkg-config build" bash -c "cc -std=c99 -Wall -Wextra -Werror tests/cmake-consumer/consumer.c -Itests/cmake-consumer \$(pkg-config --cflags --libs saraphis) -lm -o '$work/pc-consumer'"
step "pkg-config run" env LD_LIBRARY_PATH="$prefix/lib" "$work/pc-consumer" "$fixture"
# pkg-config --static: the archive itself is linked (no libsaraphis.so needed at run time).
step "pkg-config --static build" bash -c "cc -std=c99 -Wall -Wextra -Werror tests/cmake-consumer/consumer.c -Itests/cmake-consumer \$(pkg-config --static --cflags --libs saraphis-static) -lm -o '$work/pc-static'"
step "pkg-config --static links libsaraphis.a" bash -c "! objdump -p '$work/pc-static' | grep -q 'NEEDED *libsaraphis' && nm '$work/pc-static' | grep -q ' T saraphis_compress$'"
step "pkg-config --static run (no library path)" env -u LD_LIBRARY_PATH "$work/pc-static" "$fixture"

fi
# The C API test program under valgrind: no leaks, no invalid access, every error path.
python3 - "$fixture" "$work/tensor.f32" <<'PY'
import json, struct, sys
buf = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", buf[:8])[0]
h = json.loads(buf[8:8 + n])
s, e = h["encoder.layer.0.attention.self.query.weight"]["data_offsets"]
open(sys.argv[2], "wb").write(buf[8 + n + s:8 + n + e])
PY
step "C test build" cc -std=c99 -Wall -Wextra -Werror -pedantic -g tests/c/roundtrip.c -I"$prefix/include" -L"$prefix/lib" -lsaraphis -lm -o "$work/roundtrip"
have valgrind &&
step "C test under valgrind" env LD_LIBRARY_PATH="$prefix/lib" valgrind -q --error-exitcode=9 --leak-check=full \
    --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect "$work/roundtrip" "$work/tensor.f32" 384 384
step "C archive test build" cc -std=c99 -Wall -Wextra -Werror -pedantic -g tests/c/archive.c -I"$prefix/include" -L"$prefix/lib" -lsaraphis -o "$work/archive"
have valgrind &&
step "C archive test under valgrind" env LD_LIBRARY_PATH="$prefix/lib" valgrind -q --error-exitcode=9 --leak-check=full \
    --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect "$work/archive" "$work/m.sph" "$fixture"

# Go binding: cgo through pkg-config, real weights, also with GOGC=1.
export LD_LIBRARY_PATH=$prefix/lib
export SARAPHIS_CROSS_DIR=$work/cross
# A fresh Go build cache: Go's cache does not notice that pkg-config now points at another
# prefix and would link a package built against an earlier (deleted) install.
export GOCACHE=$work/gocache
mkdir -p "$SARAPHIS_CROSS_DIR"
csharp=0
if [ -d bindings/csharp ] && have mcs mono; then csharp=1; fi
[ "$csharp" = 1 ] || unset SARAPHIS_CROSS_DIR
if [ -d bindings/go ] && have go; then
    # C# first writes its containers; Go reads them and writes its own; C# then reads Go's.
    if [ "$csharp" = 1 ]; then
        step "C# build (mcs)" mcs -nologo -unsafe -warnaserror -out:"$work/SaraphisTests.exe" bindings/csharp/Saraphis.cs bindings/csharp/tests/SaraphisTests.cs
        step "C# tests (mono)" mono "$work/SaraphisTests.exe" "$fixture"
    fi
    step "go vet" bash -c "cd bindings/go && go vet ./..."
    step "go test" bash -c "cd bindings/go && go test -count=1 ./..."
    step "go test GOGC=1" bash -c "cd bindings/go && GOGC=1 go test -count=1 ./..."
    # A module outside the repository, as bindings/go/README.md tells a user to write it: the
    # installed sources under PREFIX/share/saraphis/go and a replace directive.
    mkdir -p "$work/gouser"
    printf 'module example.com/gouser\n\ngo 1.21\n\nrequire saraphis/bindings/go v0.0.0\n\nreplace saraphis/bindings/go => %s/share/saraphis/go\n' "$prefix" > "$work/gouser/go.mod"
    cp bindings/go/testdata/outside/main.go "$work/gouser/main.go"
    step "go: a module outside the repository (replace => PREFIX/share/saraphis/go)" bash -c "cd '$work/gouser' && go run . | grep -q 'outside module: ok'"
    if [ "$csharp" = 1 ]; then
        step "C# reads Go's containers" mono "$work/SaraphisTests.exe" "$fixture" --read-go
    fi
fi

echo "sdk: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]

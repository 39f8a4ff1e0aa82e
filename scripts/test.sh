#!/usr/bin/env bash
# The test command of the README (and of CI):
#  1. cargo test: unit, integration (real MiniLM weights in tests/data/), C API
#     (tests/c/roundtrip.c compiled with cc), CLI, header and doc tests;
#  2. scripts/sdk-test.sh: install to a prefix, CMake and pkg-config consumers, headers alone,
#     valgrind, Go and C# bindings, cross-language round trips;
#  3. scripts/python-test.sh: the Python package's wheel, installed in a virtual environment,
#     and its tests.
# On a fresh machine it installs what the tests need: run as root with apt-get, it installs the
# missing Debian packages (saying which first); otherwise it names what is missing, and the SDK
# steps that need a missing tool are SKIPPED with a line saying why and how to enable them.
# SARAPHIS_REQUIRE_ALL=1 (set by .ci/run) turns every skip into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || {
    echo "scripts/test.sh: cargo not found: install Rust (https://rustup.rs or 'apt-get install cargo')" >&2
    exit 1
}
missing=()
for tool in cc:gcc c++:g++ cmake:cmake pkg-config:pkg-config valgrind:valgrind objdump:binutils \
    go:golang-go mcs:mono-mcs mono:mono-runtime; do
    command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
[ -e /usr/lib/mono/4.5/System.Core.dll ] || missing+=(libmono-system-core4.0-cil)
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "scripts/test.sh: installing the test tools this machine lacks, with apt-get (running as root): ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "scripts/test.sh: missing Debian packages: ${missing[*]}. Tests that need them are SKIPPED;"
        echo "  install them (apt-get install ${missing[*]}) or run this script as root to have them installed."
    fi
fi
if ! command -v cc >/dev/null; then
    echo "scripts/test.sh: no C compiler (cc): the C API tests cannot be built; install gcc" >&2
    exit 1
fi

cargo test
scripts/sdk-test.sh
scripts/python-test.sh

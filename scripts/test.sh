#!/usr/bin/env bash
# The test command of the README (and of CI):
#  1. cargo test: unit, integration (real MiniLM weights in tests/data/), C API
#     (tests/c/roundtrip.c compiled with cc), CLI, header and doc tests;
#  2. scripts/sdk-test.sh: install to a prefix, CMake and pkg-config consumers, headers alone,
#     valgrind, Go and C# bindings, cross-language round trips.
# Needs cargo, cc/c++, cmake, pkg-config, valgrind, go, mono (.ci/run installs what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test
scripts/sdk-test.sh

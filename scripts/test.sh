#!/usr/bin/env bash
# The test command of the README: unit, integration (real MiniLM weights in tests/data/),
# C API (tests/c/roundtrip.c compiled with cc), CLI and doc tests. CPU only.
# Needs cargo and a C compiler (cc).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test

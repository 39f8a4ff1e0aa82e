#!/usr/bin/env bash
# Sanitizers (docs/FUZZING.md), each step on real MiniLM weights:
#   asan  the C tests (tests/c/*.c) under AddressSanitizer + UndefinedBehaviorSanitizer (gcc,
#         with LeakSanitizer), against the library as cargo builds it;
#   tsan  tests/stress.rs (one system shared by 16 threads through the C ABI, results checked
#         bit for bit) under ThreadSanitizer: Rust nightly -Zsanitizer=thread with -Zbuild-std,
#         so that std, rayon and the library are all instrumented;
#   miri  the C-ABI unit tests (src/ffi/tests.rs) and the varint, container-header and prime
#         unit tests under Miri.
#
#   scripts/sanitize.sh [asan|tsan|miri]...   (no argument: all three)
#
# Installs what it needs when absent: the nightly toolchain with rust-src and miri (rustup).
# Builds go to target/sanitize-* (niced; SANITIZE_NICE=0 for normal priority).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
nice_cmd=(nice -n "${SANITIZE_NICE:-10}")
export CARGO_TERM_COLOR=never
host=$(rustc -vV | sed -n 's/^host: //p')
work=$(mktemp -d "${TMPDIR:-/tmp}/saraphis-sanitize.XXXXXX")
trap 'rm -rf "$work"' EXIT

nightly() { # COMPONENT...
    if ! command -v rustup >/dev/null; then
        # cargo from a distribution package has no rustup (needed for nightly): install it.
        echo "$(basename "$0"): installing rustup (https://sh.rustup.rs) for the nightly toolchain"
        curl -sSf https://sh.rustup.rs | sh -s -- -y -q --profile minimal --default-toolchain stable --no-modify-path
        export PATH=$HOME/.cargo/bin:$PATH
    fi
    if ! rustup toolchain list | grep -q '^nightly'; then
        echo "sanitize.sh: installing the nightly toolchain (rustup)"
        rustup toolchain install nightly --profile minimal
    fi
    local c
    for c; do
        rustup component list --toolchain nightly --installed | grep -q "^$c" ||
            rustup component add --toolchain nightly "$c"
    done
}

asan() {
    echo "=== C tests under AddressSanitizer + UndefinedBehaviorSanitizer"
    CARGO_TARGET_DIR=$root/target/sanitize-c "${nice_cmd[@]}" cargo build -q --lib --bin saraphis
    local lib=$work/lib so=$root/target/sanitize-c/debug/libsaraphis.so
    local version major minor
    version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
    major=${version%%.*}; minor=${version#*.}; minor=${minor%%.*}
    mkdir -p "$lib"
    ln -s "$so" "$lib/libsaraphis.so"
    # The SONAME (libsaraphis.so.0.MINOR while 0.x, else .MAJOR), as tests/c_api.rs links it.
    if [ "$major" = 0 ]; then ln -s "$so" "$lib/libsaraphis.so.0.$minor"; else ln -s "$so" "$lib/libsaraphis.so.$major"; fi
    # A real weight tensor as raw f32: encoder.layer.0.attention.self.query.weight, 384 x 384.
    python3 - tests/data/minilm-subset-f32.safetensors "$work/tensor.f32" <<'PY'
import json, struct, sys
buf = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", buf[:8])[0]
h = json.loads(buf[8:8 + n])
s, e = h["encoder.layer.0.attention.self.query.weight"]["data_offsets"]
open(sys.argv[2], "wb").write(buf[8 + n + s:8 + n + e])
PY
    # A lossless archive of the fixture for tests/c/archive.c.
    "$root/target/sanitize-c/debug/saraphis" compress tests/data/minilm-subset-f32.safetensors \
        -o "$work/m.sph" --lossless-v2 >/dev/null
    local c exe args
    for c in tests/c/*.c; do
        exe=$work/$(basename "$c" .c)
        case $(basename "$c") in
            archive.c) args=("$work/m.sph" tests/data/minilm-subset-f32.safetensors) ;;
            *) args=("$work/tensor.f32" 384 384) ;;
        esac
        "${nice_cmd[@]}" cc -std=c99 -Wall -Wextra -Werror -pedantic -g -O1 -fno-omit-frame-pointer \
            -fsanitize=address,undefined -fno-sanitize-recover=all \
            "$c" -Iinclude -L"$lib" -Wl,-rpath,"$lib" -lsaraphis -lm -pthread -o "$exe"
        ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            "$exe" "${args[@]}" | tail -n 1
        echo "--- ok: $c (ASan, UBSan, LSan: no report)"
    done
}

tsan() {
    echo "=== tests/stress.rs under ThreadSanitizer (16 threads, one system)"
    nightly rust-src
    # -Zbuild-std: std instrumented too, else TSan reports races inside uninstrumented std.
    CARGO_TARGET_DIR=$root/target/sanitize-tsan RUSTFLAGS="-Zsanitizer=thread" RUSTDOCFLAGS="-Zsanitizer=thread" \
        TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" SARAPHIS_STRESS_SECONDS=5 \
        "${nice_cmd[@]}" cargo +nightly test -q -Zbuild-std --target "$host" --test stress
    echo "--- ok: ThreadSanitizer reported nothing"
}

miri() {
    echo "=== Miri: C-ABI, varint, container-header and prime unit tests"
    nightly miri rust-src
    local m=(env CARGO_TARGET_DIR="$root/target/sanitize-miri" "${nice_cmd[@]}" cargo +nightly miri)
    "${m[@]}" setup -q
    # Stacked Borrows (Miri's default) where no thread pool runs: the C-string handling of the
    # config calls, varints, the container header (every flipped byte), primes and precision.
    # Left out: the rANS, stream, dtype-rounding and p-adic batch tests (safe code only, and
    # loops over 10^5..10^6 values that take Miri more than 10 minutes each).
    "${m[@]}" test -q --lib -- ffi::tests::config entropy::varint format::container \
        padic::tests::primes padic::tests::max_precision
    # Tests that create a System run rayon, whose crossbeam-epoch breaks Stacked Borrows
    # (upstream) and keeps its worker threads and garbage past the test's end: Tree Borrows,
    # leaks not reported (valgrind and LeakSanitizer check the library's own leaks).
    MIRIFLAGS="-Zmiri-tree-borrows -Zmiri-permissive-provenance -Zmiri-ignore-leaks" \
        "${m[@]}" test -q --lib -- ffi::
    echo "--- ok: Miri found no undefined behaviour"
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(asan tsan miri)
for s in "${steps[@]}"; do
    case $s in
        asan | tsan | miri) "$s" ;;
        *) echo "usage: scripts/sanitize.sh [asan|tsan|miri]..." >&2; exit 2 ;;
    esac
done
echo "sanitize: ${steps[*]}: ok"

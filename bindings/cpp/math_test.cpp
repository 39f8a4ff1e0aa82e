// Test of the C++ binding of the math library (issue 14): saraphis::tropical_* over float, double and int32_t
// against naive references (odd shapes, -inf / +inf / NaN entries, argbest), the closure against Floyd–Warshall
// and its refusal of a diverging cycle, errors as saraphis::Error, and saraphis::PadicRing (Z/251^7 batch
// arithmetic against 128-bit references, digits both ways, the Hensel root of x^2 - 2 in Z/7^20).
// Usage: math_test (no arguments). Prints "N passed, 0 failed" and exits 0 on success.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <type_traits>
#include <utility>
#include <vector>

#include "saraphis.hpp"

__extension__ typedef unsigned __int128 u128;

namespace {

int passed = 0, failed = 0;

void check(bool ok, const char* what) {
  if (ok) {
    passed++;
  } else {
    failed++;
    std::fprintf(stderr, "FAILED: %s\n", what);
  }
}

std::mt19937_64 rng(14);

template <class T>
T zero(saraphis::Semiring s) {
  if (std::is_floating_point<T>::value)
    return s == saraphis::Semiring::MaxPlus ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
  return s == saraphis::Semiring::MaxPlus ? std::numeric_limits<T>::min() : std::numeric_limits<T>::max();
}

bool is_nan(float v) { return std::isnan(v); }
bool is_nan(double v) { return std::isnan(v); }
bool is_nan(int32_t) { return false; }

// The scalar rules of the C API: floats add with NaN as the zero; int32_t: the zero absorbs.
template <class T>
T otimes(saraphis::Semiring s, T a, T b) {
  if (std::is_floating_point<T>::value) {
    T r = a + b;
    return is_nan(r) ? zero<T>(s) : r;
  }
  return (a == zero<T>(s) || b == zero<T>(s)) ? zero<T>(s) : static_cast<T>(a + b);
}
template <class T>
bool better(saraphis::Semiring s, T v, T acc) {
  return s == saraphis::Semiring::MaxPlus ? v > acc : v < acc;
}
template <class T>
T oplus(saraphis::Semiring s, T a, T b) {
  if (is_nan(a)) a = zero<T>(s);
  if (is_nan(b)) b = zero<T>(s);
  return better(s, b, a) ? b : a;
}

// Random entries: small integers (ties) with the zero, the other infinity and NaN (int32_t: the zero and +-2^28).
template <class T>
T gen(saraphis::Semiring s) {
  int r = static_cast<int>(rng() % 100);
  if (r < 5) return zero<T>(s);
  if (std::is_floating_point<T>::value) {
    if (r < 9) return -zero<T>(s);
    if (r < 13) return std::numeric_limits<T>::quiet_NaN();
  } else if (r < 9) {
    return static_cast<T>(r < 7 ? (1 << 28) : -(1 << 28));
  }
  return static_cast<T>(static_cast<int>(rng() % 21) - 10);
}

template <class T>
void matmul_case(const saraphis::System& sys, saraphis::Semiring s, size_t m, size_t k, size_t n) {
  std::vector<T> a(m * k), b(k * n), c(m * n), want(m * n);
  std::vector<uint32_t> arg(m * n), want_arg(m * n);
  for (auto& v : a) v = gen<T>(s);
  for (auto& v : b) v = gen<T>(s);
  for (size_t i = 0; i < m; i++)
    for (size_t j = 0; j < n; j++) {
      T acc = zero<T>(s);
      uint32_t best = UINT32_MAX;
      for (size_t l = 0; l < k; l++) {
        T t = otimes(s, a[i * k + l], b[l * n + j]);
        if (better(s, t, acc)) acc = t, best = static_cast<uint32_t>(l);
      }
      want[i * n + j] = acc;
      want_arg[i * n + j] = acc == zero<T>(s) ? UINT32_MAX : best;
    }
  saraphis::tropical_matmul(sys, s, a.data(), b.data(), c.data(), m, k, n, arg.data());
  check(c == want, "tropical_matmul values");
  check(arg == want_arg, "tropical_matmul argbest");
  std::fill(c.begin(), c.end(), T(7));
  saraphis::tropical_matmul(sys, s, a.data(), b.data(), c.data(), m, k, n);
  check(c == want, "tropical_matmul without argbest");
}

template <class T>
void other_calls(const saraphis::System& sys, saraphis::Semiring s) {
  // Elementwise.
  std::vector<T> a(301), b(301), o(301);
  for (size_t i = 0; i < a.size(); i++) a[i] = gen<T>(s), b[i] = gen<T>(s);
  saraphis::tropical_elementwise(sys, s, saraphis::TropicalOp::Add, a.data(), b.data(), o.data(), a.size());
  bool ok = true;
  for (size_t i = 0; i < a.size(); i++) ok = ok && o[i] == oplus(s, a[i], b[i]);
  check(ok, "tropical_elementwise add");
  saraphis::tropical_elementwise(sys, s, saraphis::TropicalOp::Mul, a.data(), b.data(), o.data(), a.size());
  ok = true;
  for (size_t i = 0; i < a.size(); i++) ok = ok && o[i] == otimes(s, a[i], b[i]);
  check(ok, "tropical_elementwise mul");
  // 1-D and 2-D convolution (x: 9 × 13, kernel 3 × 4).
  const size_t h = 9, w = 13, kh = 3, kw = 4;
  std::vector<T> x(h * w), kern(kh * kw), o2((h - kh + 1) * (w - kw + 1)), o1(w - kw + 1);
  for (auto& v : x) v = gen<T>(s);
  for (auto& v : kern) v = gen<T>(s);
  saraphis::tropical_conv2d(sys, s, x.data(), h, w, kern.data(), kh, kw, o2.data());
  saraphis::tropical_conv1d(sys, s, x.data(), w, kern.data(), kw, o1.data());
  bool ok1 = true, ok2 = true;
  for (size_t i = 0; i + kh <= h; i++)
    for (size_t j = 0; j + kw <= w; j++) {
      T acc = zero<T>(s);
      for (size_t u = 0; u < kh; u++)
        for (size_t v = 0; v < kw; v++) acc = oplus(s, acc, otimes(s, x[(i + u) * w + j + v], kern[u * kw + v]));
      ok2 = ok2 && o2[i * (w - kw + 1) + j] == acc;
    }
  for (size_t i = 0; i + kw <= w; i++) {
    T acc = zero<T>(s);
    for (size_t j = 0; j < kw; j++) acc = oplus(s, acc, otimes(s, x[i + j], kern[j]));
    ok1 = ok1 && o1[i] == acc;
  }
  check(ok2, "tropical_conv2d");
  check(ok1, "tropical_conv1d");
  // Polynomials: max / min of c_i + i·x.
  const T coeffs[3] = {T(1), T(-2), T(3)}, xs[4] = {T(-4), T(0), T(2), T(5)};
  T po[4];
  saraphis::tropical_poly_eval(sys, s, coeffs, 1, 3, xs, 4, po);
  ok = true;
  for (size_t p = 0; p < 4; p++) {
    T acc = zero<T>(s);
    for (int i = 0; i < 3; i++) acc = oplus(s, acc, static_cast<T>(coeffs[i] + T(i) * xs[p]));
    ok = ok && po[p] == acc;
  }
  check(ok, "tropical_poly_eval");
  // Closure against Floyd–Warshall: min-plus on a digraph with weights 1..9, max-plus on a DAG with -9..9.
  const size_t n = 23;
  std::vector<T> g(n * n, zero<T>(s)), d, out(n * n);
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++)
      if (rng() % 100 < 20 && (s == saraphis::Semiring::MinPlus ? i != j : i < j))
        g[i * n + j] = static_cast<T>(s == saraphis::Semiring::MinPlus ? 1 + static_cast<int>(rng() % 9)
                                                                        : static_cast<int>(rng() % 19) - 9);
  d = g;
  for (size_t i = 0; i < n; i++) d[i * n + i] = oplus(s, d[i * n + i], T(0));
  for (size_t l = 0; l < n; l++)
    for (size_t i = 0; i < n; i++)
      for (size_t j = 0; j < n; j++) d[i * n + j] = oplus(s, d[i * n + j], otimes(s, d[i * n + l], d[l * n + j]));
  saraphis::tropical_closure(sys, s, g.data(), n, out.data());
  check(out == d, "tropical_closure equals Floyd-Warshall");
  // A cycle that gains weight: the closure diverges.
  T cyc[4] = {zero<T>(s), T(1), s == saraphis::Semiring::MaxPlus ? T(1) : T(-2), zero<T>(s)};
  try {
    saraphis::tropical_closure(sys, s, cyc, 2, out.data());
    check(false, "a diverging closure throws");
  } catch (const saraphis::Error& e) {
    check(e.code() == SARAPHIS_ERR_INVALID_ARGUMENT, "diverging closure: invalid argument");
  }
}

template <class T>
void tropical(const saraphis::System& sys) {
  for (auto s : {saraphis::Semiring::MaxPlus, saraphis::Semiring::MinPlus}) {
    matmul_case<T>(sys, s, 1, 1, 1);
    matmul_case<T>(sys, s, 1, 40, 33);
    matmul_case<T>(sys, s, 33, 40, 1);
    matmul_case<T>(sys, s, 37, 53, 29);
    matmul_case<T>(sys, s, 4, 0, 3);
    other_calls<T>(sys, s);
  }
}

template <class F>
int code_of(F f) {
  try {
    f();
  } catch (const saraphis::Error& e) {
    return static_cast<int>(e.code());
  }
  return 0;
}

void errors(const saraphis::System& sys) {
  int32_t a[4] = {1, 2, 1 << 29, 4}, b[4] = {0, 0, 0, 0}, c[4] = {9, 9, 9, 9};
  check(code_of([&] { saraphis::tropical_matmul(sys, saraphis::Semiring::MaxPlus, a, b, c, 2, 2, 2); }) ==
            SARAPHIS_ERR_INVALID_ARGUMENT,
        "an int32_t entry 2^29 throws invalid argument");
  check(c[0] == 9 && c[3] == 9, "c untouched on failure");
  a[2] = 3;
  check(code_of([&] { saraphis::tropical_matmul(sys, saraphis::Semiring::MaxPlus, a, b, a, 2, 2, 2); }) ==
            SARAPHIS_ERR_DESTINATION,
        "c overlapping a throws destination");
  check(code_of([&] { saraphis::tropical_matmul(sys, static_cast<saraphis::Semiring>(9), a, b, c, 2, 2, 2); }) ==
            SARAPHIS_ERR_INVALID_ARGUMENT,
        "a bad semiring throws invalid argument");
  check(code_of([&] {
          saraphis::tropical_elementwise(sys, saraphis::Semiring::MinPlus, static_cast<saraphis::TropicalOp>(3), a, b,
                                         c, 4);
        }) == SARAPHIS_ERR_INVALID_ARGUMENT,
        "a bad op throws invalid argument");
  check(code_of([&] { saraphis::tropical_conv1d(sys, saraphis::Semiring::MaxPlus, a, 4, b, 5, c); }) ==
            SARAPHIS_ERR_INVALID_ARGUMENT,
        "conv1d: kernel longer than the input");
  const int32_t* null_input = nullptr;
  check(code_of([&] { saraphis::tropical_matmul(sys, saraphis::Semiring::MaxPlus, null_input, b, c, 2, 2, 2); }) ==
            SARAPHIS_ERR_NULL_PARAMETER,
        "a null input throws null parameter");
  // The device call on a CPU system (no device memory is touched).
  float fa[4] = {0, 0, 0, 0}, fc[4] = {0, 0, 0, 0};
  check(code_of([&] { saraphis::tropical_matmul_device(sys, saraphis::Semiring::MaxPlus, fa, fa, fc, 2, 2, 2); }) ==
            SARAPHIS_ERR_DEVICE,
        "tropical_matmul_device on a CPU system");
}

uint64_t ipow(uint64_t p, unsigned n) {
  uint64_t r = 1;
  while (n--) r *= p;
  return r;
}

void padic(const saraphis::System& sys) {
  static_assert(!std::is_copy_constructible<saraphis::PadicRing>::value, "PadicRing is move-only");
  static_assert(std::is_nothrow_move_constructible<saraphis::PadicRing>::value, "PadicRing moves");
  const uint64_t M = ipow(251, 7);
  saraphis::PadicRing ring(251, 7);
  check(ring.modulus() == M && ring.prime() == 251 && ring.precision() == 7, "ring 251^7");
  std::vector<uint64_t> a(4000), b(4000);
  for (size_t i = 0; i < a.size(); i++) {
    a[i] = rng() % M;
    b[i] = rng() % M;
    if (i % 10 == 0) a[i] = ipow(251, static_cast<unsigned>(i % 7)) * (1 + rng() % 250);
    if (i % 13 == 0) b[i] = 0;
  }
  a[1] = 0, a[2] = M - 1, b[3] = M - 1;
  auto add = ring.batch(sys, saraphis::PadicOp::Add, a, b);
  auto sub = ring.batch(sys, saraphis::PadicOp::Sub, a, b);
  auto mul = ring.batch(sys, saraphis::PadicOp::Mul, a, b);
  auto neg = ring.batch(sys, saraphis::PadicOp::Neg, a);
  auto val = ring.batch(sys, saraphis::PadicOp::Valuation, a);
  bool ok_add = true, ok_sub = true, ok_mul = true, ok_neg = true, ok_val = true;
  for (size_t i = 0; i < a.size(); i++) {
    ok_add = ok_add && add[i] == static_cast<uint64_t>((static_cast<u128>(a[i]) + b[i]) % M);
    ok_sub = ok_sub && sub[i] == static_cast<uint64_t>((static_cast<u128>(a[i]) + M - b[i]) % M);
    ok_mul = ok_mul && mul[i] == static_cast<uint64_t>(static_cast<u128>(a[i]) * b[i] % M);
    ok_neg = ok_neg && neg[i] == (M - a[i]) % M;
    uint64_t v = 0, x = a[i];
    if (x == 0) v = 7;
    while (x != 0 && x % 251 == 0) x /= 251, v++;
    ok_val = ok_val && val[i] == v;
  }
  check(ok_add, "padic add");
  check(ok_sub, "padic sub");
  check(ok_mul, "padic mul");
  check(ok_neg, "padic neg");
  check(ok_val, "padic valuation");
  for (auto& v : b)
    if (v % 251 == 0) v += 1;
  auto inv = ring.batch(sys, saraphis::PadicOp::Inverse, b);
  bool ok_inv = true;
  for (size_t i = 0; i < b.size(); i++) ok_inv = ok_inv && static_cast<u128>(inv[i]) * b[i] % M == 1;
  check(ok_inv, "padic inverse");
  check(code_of([&] { ring.batch(sys, saraphis::PadicOp::Inverse, std::vector<uint64_t>{251}); }) ==
            SARAPHIS_ERR_INVALID_ARGUMENT,
        "inverse of a non-unit throws");
  check(code_of([&] { ring.batch(sys, saraphis::PadicOp::Add, std::vector<uint64_t>{M}, {1}); }) ==
            SARAPHIS_ERR_INVALID_ARGUMENT,
        "an input >= p^N throws");
  check(code_of([&] { ring.batch_device(sys, saraphis::PadicOp::Mul, a.data(), b.data(), mul.data(), 4); }) ==
            SARAPHIS_ERR_DEVICE,
        "batch_device on a CPU system");
  // Digits both ways.
  auto digits = ring.to_digits(a);
  bool ok_d = digits.size() == a.size() * 7;
  for (size_t i = 0; ok_d && i < a.size(); i++) {
    uint64_t x = a[i];
    for (size_t j = 0; j < 7; j++, x /= 251) ok_d = ok_d && digits[i * 7 + j] == x % 251;
  }
  check(ok_d, "to_digits");
  check(ring.from_digits(digits) == a, "digits round trip");
  // Hensel: sqrt(2) in Z/7^20 from 3 and from 4.
  saraphis::PadicRing r7(7, 20);
  const uint64_t M7 = ipow(7, 20);
  uint64_t root = r7.hensel_root({M7 - 2, 0, 1}, 3);
  check(root % 7 == 3 && static_cast<u128>(root) * root % M7 == 2, "hensel root of x^2 - 2 (substitution)");
  check(r7.hensel_root({M7 - 2, 0, 1}, 4) == M7 - root, "the other root");
  check(code_of([&] { r7.hensel_root({M7 - 2, 0, 1}, 1); }) == SARAPHIS_ERR_INVALID_ARGUMENT, "not a root mod 7");
  check(code_of([&] { saraphis::PadicRing bad(251, 8); }) == SARAPHIS_ERR_INVALID_ARGUMENT, "251^8 > 2^62");
  // Move-only handle.
  saraphis::PadicRing moved = std::move(r7);
  check(moved.modulus() == M7 && r7.modulus() == 0, "moved ring");
}

}  // namespace

int main() {
  saraphis::System sys(saraphis::Config().threads(2).device("cpu"));
  tropical<float>(sys);
  tropical<double>(sys);
  tropical<int32_t>(sys);
  errors(sys);
  padic(sys);
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

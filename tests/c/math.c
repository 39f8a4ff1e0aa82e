/* The math library through the Saraphis C API (issue 14): the tropical calls
 * (saraphis_tropical_*) and the p-adic calls (saraphis_padic_*) against naive references
 * written here in C, and their error paths.
 *
 * Tropical: max-plus and min-plus matrix products over f32, f64 and int32 with and without
 * argbest, on odd shapes (1 x N, N x 1, 37 x 53 x 29, blocks that cross the library's cache
 * blocks) with -inf / +inf / NaN entries (int32: the semiring's zero) and ties; elementwise
 * ⊕ / ⊗, polynomial evaluation, 1-D / 2-D convolution, the Kleene closure against
 * Floyd–Warshall, and diverging closures refused. p-adic: Z/251^7 batch add / sub / mul / neg /
 * valuation / inverse against 128-bit references, digits both ways, the Hensel root of
 * x^2 - 2 in Z/7^20 checked by substitution. Device calls on a CPU system fail with
 * SARAPHIS_ERR_DEVICE (no GPU memory is touched).
 *
 * Usage: math [ANY...] (arguments are ignored, so that scripts/sanitize.sh may pass its usual
 * ones). Built and run by tests/c_api.rs (cargo test); also run under ASan/UBSan by
 * scripts/sanitize.sh. Prints "N passed, 0 failed" on success and exits 0; any failed check
 * exits 1. */
#include "saraphis.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed = 0, failed = 0;

#define CHECK(cond, what)                                                           \
    do {                                                                            \
        if (cond) {                                                                 \
            passed++;                                                               \
        } else {                                                                    \
            failed++;                                                               \
            fprintf(stderr, "FAILED %s:%d: %s (last error: %s)\n", __FILE__, __LINE__, \
                    what, saraphis_last_error_message());                           \
        }                                                                           \
    } while (0)

#define OK(call) CHECK((call) == SARAPHIS_OK, #call)

/* 128-bit integers for the p-adic references (a GCC/Clang extension; __extension__ keeps
 * -pedantic quiet). */
__extension__ typedef unsigned __int128 u128;
__extension__ typedef __int128 i128;

enum { MAXP = SARAPHIS_SEMIRING_MAX_PLUS, MINP = SARAPHIS_SEMIRING_MIN_PLUS };
#define FINITE_MAX (1 << 28)

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}
static uint32_t rnd_below(uint32_t n) { return (uint32_t)(rnd() % n); }
static double rnd_unit(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

/* ------------------------------------------------------------------ scalar rules per type
 * Exactly the module documentation of src/math/tropical.rs, written independently:
 * floats: a ⊗ b = a + b, NaN (an input, or -inf + inf) is the zero; ⊕ skips NaN, ties keep a.
 * int32: the zero (INT32_MIN / INT32_MAX) absorbs ⊗; finite values are added. */
static float zero_f(int s) { return s == MAXP ? -INFINITY : INFINITY; }
static double zero_d(int s) { return s == MAXP ? -(double)INFINITY : (double)INFINITY; }
static int32_t zero_i(int s) { return s == MAXP ? INT32_MIN : INT32_MAX; }

static float otimes_f(int s, float a, float b) {
    float r = a + b;
    return isnan(r) ? zero_f(s) : r;
}
static double otimes_d(int s, double a, double b) {
    double r = a + b;
    return isnan(r) ? zero_d(s) : r;
}
static int32_t otimes_i(int s, int32_t a, int32_t b) {
    int32_t z = zero_i(s);
    return (a == z || b == z) ? z : a + b;
}
static float oplus_f(int s, float a, float b) {
    if (isnan(a)) a = zero_f(s);
    if (isnan(b)) b = zero_f(s);
    return (s == MAXP ? b > a : b < a) ? b : a;
}
static double oplus_d(int s, double a, double b) {
    if (isnan(a)) a = zero_d(s);
    if (isnan(b)) b = zero_d(s);
    return (s == MAXP ? b > a : b < a) ? b : a;
}
static int32_t oplus_i(int s, int32_t a, int32_t b) { return (s == MAXP ? b > a : b < a) ? b : a; }
/* x^{⊗i} = i·x (the one, 0, for i = 0); floats: i·x rounded once, NaN the zero. */
static float tpow_f(int s, float x, size_t i) {
    float r;
    if (i == 0) return 0.0f;
    r = (float)i * x;
    return isnan(r) ? zero_f(s) : r;
}
static double tpow_d(int s, double x, size_t i) {
    double r;
    if (i == 0) return 0.0;
    r = (double)i * x;
    return isnan(r) ? zero_d(s) : r;
}
static int32_t tpow_i(int s, int32_t x, size_t i) { /* inputs here never overflow */
    if (i == 0) return 0;
    if (x == zero_i(s)) return x;
    return (int32_t)((int64_t)x * (int64_t)i);
}
/* Equal values (NaN equals NaN; +0 equals -0). */
static int eq_f(float a, float b) { return a == b || (isnan(a) && isnan(b)); }
static int eq_d(double a, double b) { return a == b || (isnan(a) && isnan(b)); }
static int eq_i(int32_t a, int32_t b) { return a == b; }
static int better_f(int s, float v, float acc) { return s == MAXP ? v > acc : v < acc; }
static int better_d(int s, double v, double acc) { return s == MAXP ? v > acc : v < acc; }
static int better_i(int s, int32_t v, int32_t acc) { return s == MAXP ? v > acc : v < acc; }

/* Random entries. mode 0: small integers (many ties), 1: reals in [-100, 100) (int32: the whole
 * range [-2^28, 2^28]); both with about 4% each of the zero, the other infinity and NaN (int32:
 * the zero only, and the extremes +-2^28). mode 2: as 0, with +-1000 for int32's extremes (so
 * that polynomial terms stay in range). */
static float gen_f(int s, int mode) {
    uint32_t r = rnd_below(100);
    if (r < 4) return zero_f(s);
    if (r < 8) return -zero_f(s);
    if (r < 12) return NAN;
    return mode != 1 ? (float)((int)rnd_below(17) - 8) : (float)(rnd_unit() * 200.0 - 100.0);
}
static double gen_d(int s, int mode) {
    uint32_t r = rnd_below(100);
    if (r < 4) return zero_d(s);
    if (r < 8) return -zero_d(s);
    if (r < 12) return (double)NAN;
    return mode != 1 ? (double)((int)rnd_below(17) - 8) : rnd_unit() * 200.0 - 100.0;
}
static int32_t gen_i(int s, int mode) {
    uint32_t r = rnd_below(100);
    if (r < 6) return zero_i(s);
    if (r < 8) return mode == 2 ? -1000 : FINITE_MAX;
    if (r < 10) return mode == 2 ? 1000 : -FINITE_MAX;
    return mode != 1 ? (int32_t)rnd_below(17) - 8 : (int32_t)(rnd() % (2u * FINITE_MAX + 1)) - FINITE_MAX;
}

/* ------------------------------------------------------------------ reference algorithms
 * One definition per element type (T, suffix SUF, dtype DT). */
#define DEFINE_REFERENCES(T, SUF, DT)                                                                \
    static void ref_matmul_##SUF(int s, const T *a, const T *b, T *c, uint32_t *g, size_t m, size_t k, \
                                 size_t n) {                                                         \
        size_t i, j, l;                                                                              \
        for (i = 0; i < m; i++)                                                                      \
            for (j = 0; j < n; j++) {                                                                \
                T acc = zero_##SUF(s);                                                               \
                uint32_t best = UINT32_MAX;                                                          \
                for (l = 0; l < k; l++) {                                                            \
                    T t = otimes_##SUF(s, a[i * k + l], b[l * n + j]);                               \
                    if (better_##SUF(s, t, acc)) {                                                   \
                        acc = t;                                                                     \
                        best = (uint32_t)l;                                                          \
                    }                                                                                \
                }                                                                                    \
                c[i * n + j] = acc;                                                                  \
                g[i * n + j] = eq_##SUF(acc, zero_##SUF(s)) ? UINT32_MAX : best;                     \
            }                                                                                        \
    }                                                                                                \
    /* One product of shape m x k x n against the reference, with and without argbest. */          \
    static void check_matmul_##SUF(const saraphis_system *sys, int s, size_t m, size_t k, size_t n,  \
                                   int mode) {                                                       \
        size_t mk = m * k, kn = k * n, mn = m * n, i;                                                \
        T *a = malloc((mk ? mk : 1) * sizeof(T)), *b = malloc((kn ? kn : 1) * sizeof(T));            \
        T *c = malloc((mn ? mn : 1) * sizeof(T)), *want = malloc((mn ? mn : 1) * sizeof(T));         \
        uint32_t *g = malloc((mn ? mn : 1) * sizeof(uint32_t));                                      \
        uint32_t *wg = malloc((mn ? mn : 1) * sizeof(uint32_t));                                     \
        int values_ok = 1, args_ok = 1, plain_ok = 1;                                                \
        char what[160];                                                                              \
        for (i = 0; i < mk; i++) a[i] = gen_##SUF(s, mode);                                          \
        for (i = 0; i < kn; i++) b[i] = gen_##SUF(s, mode);                                          \
        ref_matmul_##SUF(s, a, b, want, wg, m, k, n);                                                \
        snprintf(what, sizeof what, #SUF " %s matmul %zux%zux%zu mode %d", s == MAXP ? "max-plus" : "min-plus", \
                 m, k, n, mode);                                                                     \
        for (i = 0; i < mn; i++) g[i] = 12345;                                                       \
        CHECK(saraphis_tropical_matmul(sys, (uint32_t)s, DT, a, b, c, m, k, n, g) == SARAPHIS_OK, what);      \
        for (i = 0; i < mn; i++) {                                                                   \
            if (!eq_##SUF(c[i], want[i])) values_ok = 0;                                             \
            if (g[i] != wg[i]) args_ok = 0;                                                          \
        }                                                                                            \
        CHECK(values_ok, what);                                                                      \
        CHECK(args_ok, what);                                                                        \
        CHECK(saraphis_tropical_matmul(sys, (uint32_t)s, DT, a, b, c, m, k, n, NULL) == SARAPHIS_OK, what);   \
        for (i = 0; i < mn; i++)                                                                     \
            if (!eq_##SUF(c[i], want[i])) plain_ok = 0;                                              \
        CHECK(plain_ok, what);                                                                       \
        if (!values_ok || !args_ok || !plain_ok) {                                                   \
            for (i = 0; i < mn; i++)                                                                 \
                if (!eq_##SUF(c[i], want[i]) || g[i] != wg[i]) {                                     \
                    fprintf(stderr, "  first difference at %zu: got %g arg %u, want %g arg %u\n", i, \
                            (double)c[i], g[i], (double)want[i], wg[i]);                             \
                    break;                                                                           \
                }                                                                                    \
        }                                                                                            \
        free(a), free(b), free(c), free(want), free(g), free(wg);                                    \
    }                                                                                                \
    static void check_elementwise_##SUF(const saraphis_system *sys, int s, size_t len, int mode) {   \
        T *a = malloc(len * sizeof(T)), *b = malloc(len * sizeof(T)), *o = malloc(len * sizeof(T));  \
        size_t i;                                                                                    \
        int add_ok = 1, mul_ok = 1;                                                                  \
        for (i = 0; i < len; i++) a[i] = gen_##SUF(s, mode), b[i] = gen_##SUF(s, mode);              \
        CHECK(saraphis_tropical_elementwise(sys, (uint32_t)s, SARAPHIS_TROPICAL_ADD, DT, a, b, o, len) == \
                  SARAPHIS_OK, #SUF " elementwise add");                                             \
        for (i = 0; i < len; i++) {                                                                  \
            T w = oplus_##SUF(s, a[i], b[i]);                                                        \
            if (memcmp(&o[i], &w, sizeof(T)) != 0) add_ok = 0; /* bit for bit: ties keep a */       \
        }                                                                                            \
        CHECK(add_ok, #SUF " elementwise add values");                                              \
        CHECK(saraphis_tropical_elementwise(sys, (uint32_t)s, SARAPHIS_TROPICAL_MUL, DT, a, b, o, len) == \
                  SARAPHIS_OK, #SUF " elementwise mul");                                             \
        for (i = 0; i < len; i++) {                                                                  \
            T w = otimes_##SUF(s, a[i], b[i]);                                                       \
            if (!eq_##SUF(o[i], w)) mul_ok = 0;                                                      \
        }                                                                                            \
        CHECK(mul_ok, #SUF " elementwise mul values");                                              \
        free(a), free(b), free(o);                                                                   \
    }                                                                                                \
    static void check_conv_##SUF(const saraphis_system *sys, int s, size_t h, size_t w, size_t kh,   \
                                 size_t kw, int mode) {                                              \
        size_t oh = h - kh + 1, ow = w - kw + 1, i, j, u, v;                                         \
        T *x = malloc(h * w * sizeof(T)), *kern = malloc(kh * kw * sizeof(T));                       \
        T *o = malloc(oh * ow * sizeof(T)), *o1 = malloc((w - kw + 1) * sizeof(T));                  \
        int ok2 = 1, ok1 = 1;                                                                        \
        for (i = 0; i < h * w; i++) x[i] = gen_##SUF(s, mode);                                       \
        for (i = 0; i < kh * kw; i++) kern[i] = gen_##SUF(s, mode);                                  \
        CHECK(saraphis_tropical_conv2d(sys, (uint32_t)s, DT, x, h, w, kern, kh, kw, o) == SARAPHIS_OK, \
              #SUF " conv2d");                                                                       \
        for (i = 0; i < oh; i++)                                                                     \
            for (j = 0; j < ow; j++) {                                                               \
                T acc = zero_##SUF(s);                                                               \
                for (u = 0; u < kh; u++)                                                             \
                    for (v = 0; v < kw; v++)                                                         \
                        acc = oplus_##SUF(s, acc, otimes_##SUF(s, x[(i + u) * w + j + v], kern[u * kw + v])); \
                if (!eq_##SUF(o[i * ow + j], acc)) ok2 = 0;                                          \
            }                                                                                        \
        CHECK(ok2, #SUF " conv2d values");                                                           \
        /* 1-D on the first row of x with the first row of the kernel. */                           \
        CHECK(saraphis_tropical_conv1d(sys, (uint32_t)s, DT, x, w, kern, kw, o1) == SARAPHIS_OK, #SUF " conv1d"); \
        for (i = 0; i + kw <= w; i++) {                                                              \
            T acc = zero_##SUF(s);                                                                   \
            for (j = 0; j < kw; j++) acc = oplus_##SUF(s, acc, otimes_##SUF(s, x[i + j], kern[j]));  \
            if (!eq_##SUF(o1[i], acc)) ok1 = 0;                                                      \
        }                                                                                            \
        CHECK(ok1, #SUF " conv1d values");                                                           \
        free(x), free(kern), free(o), free(o1);                                                      \
    }                                                                                                \
    /* coeffs and xs from gen (mode 2: small, so int32 terms stay in range). */                    \
    static void check_poly_##SUF(const saraphis_system *sys, int s, size_t polys, size_t terms,      \
                                 size_t points) {                                                    \
        T *c = malloc(polys * terms * sizeof(T)), *x = malloc(points * sizeof(T));                   \
        T *o = malloc((polys * points + 1) * sizeof(T));                                              \
        size_t q, i, p;                                                                              \
        int ok = 1;                                                                                  \
        for (i = 0; i < polys * terms; i++) c[i] = gen_##SUF(s, 2);                                  \
        for (i = 0; i < points; i++) x[i] = gen_##SUF(s, 2);                                         \
        CHECK(saraphis_tropical_poly_eval(sys, (uint32_t)s, DT, c, polys, terms, x, points, o) ==    \
                  SARAPHIS_OK, #SUF " poly_eval");                                                   \
        for (q = 0; q < polys; q++)                                                                  \
            for (p = 0; p < points; p++) {                                                           \
                T acc = zero_##SUF(s);                                                               \
                for (i = 0; i < terms; i++)                                                          \
                    acc = oplus_##SUF(s, acc, otimes_##SUF(s, c[q * terms + i], tpow_##SUF(s, x[p], i))); \
                if (!eq_##SUF(o[q * points + p], acc)) ok = 0;                                       \
            }                                                                                        \
        CHECK(ok, #SUF " poly_eval values");                                                         \
        free(c), free(x), free(o);                                                                   \
    }                                                                                                \
    /* All-pairs paths against Floyd–Warshall: min-plus on a random digraph with weights in         \
     * [1, 20], max-plus on a random DAG (edges i < j) with weights in [-20, 20]. */               \
    static void check_closure_##SUF(const saraphis_system *sys, int s, size_t n) {                   \
        size_t nn = n * n, i, j, l;                                                                  \
        T *a = malloc(nn * sizeof(T)), *d = malloc(nn * sizeof(T)), *o = malloc(nn * sizeof(T));     \
        int ok = 1;                                                                                  \
        for (i = 0; i < n; i++)                                                                      \
            for (j = 0; j < n; j++) {                                                                \
                int edge = rnd_below(100) < 15 && (s == MINP ? i != j : i < j);                      \
                a[i * n + j] = !edge ? zero_##SUF(s)                                                 \
                               : s == MINP ? (T)(1 + (int)rnd_below(20)) : (T)((int)rnd_below(41) - 20); \
            }                                                                                        \
        for (i = 0; i < nn; i++) d[i] = a[i];                                                        \
        for (i = 0; i < n; i++) d[i * n + i] = oplus_##SUF(s, d[i * n + i], (T)0);                   \
        for (l = 0; l < n; l++)                                                                      \
            for (i = 0; i < n; i++)                                                                  \
                for (j = 0; j < n; j++)                                                              \
                    d[i * n + j] = oplus_##SUF(s, d[i * n + j], otimes_##SUF(s, d[i * n + l], d[l * n + j])); \
        CHECK(saraphis_tropical_closure(sys, (uint32_t)s, DT, a, n, o) == SARAPHIS_OK, #SUF " closure"); \
        for (i = 0; i < nn; i++)                                                                     \
            if (!eq_##SUF(o[i], d[i])) ok = 0;                                                       \
        CHECK(ok, #SUF " closure equals Floyd-Warshall");                                            \
        free(a), free(d), free(o);                                                                   \
    }

DEFINE_REFERENCES(float, f, SARAPHIS_F32)
DEFINE_REFERENCES(double, d, SARAPHIS_F64)
DEFINE_REFERENCES(int32_t, i, SARAPHIS_I32)

/* ------------------------------------------------------------------ tropical */

static void tropical_values(const saraphis_system *sys) {
    /* Odd shapes: 1 x N and N x 1 outputs, inner dimension 1, k = 1 with wide n, the 37 x 53 x 29
     * of the brief, and one crossing the library's blocks (96 rows, 256 of k, 16-wide panels). */
    static const size_t shapes[][3] = {{1, 1, 1},  {1, 37, 29}, {37, 53, 1}, {1, 1, 50}, {50, 1, 1},
                                       {5, 1, 33}, {37, 53, 29}, {100, 300, 70}};
    size_t sh;
    int s, mode;
    for (s = MAXP; s <= MINP; s++)
        for (mode = 0; mode < 2; mode++)
            for (sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
                check_matmul_f(sys, s, shapes[sh][0], shapes[sh][1], shapes[sh][2], mode);
                check_matmul_d(sys, s, shapes[sh][0], shapes[sh][1], shapes[sh][2], mode);
                check_matmul_i(sys, s, shapes[sh][0], shapes[sh][1], shapes[sh][2], mode);
            }
    for (s = MAXP; s <= MINP; s++)
        for (mode = 0; mode < 2; mode++) {
            check_elementwise_f(sys, s, 1001, mode);
            check_elementwise_d(sys, s, 1001, mode);
            check_elementwise_i(sys, s, 1001, mode);
            check_conv_f(sys, s, 23, 31, 4, 5, mode);
            check_conv_d(sys, s, 23, 31, 1, 31, mode);
            check_conv_i(sys, s, 23, 31, 23, 2, mode);
            check_conv_f(sys, s, 1, 9, 1, 9, mode);
        }
    for (s = MAXP; s <= MINP; s++) {
        check_poly_f(sys, s, 7, 5, 41);
        check_poly_d(sys, s, 3, 1, 10);
        check_poly_i(sys, s, 7, 6, 41);
        check_closure_f(sys, s, 37);
        check_closure_d(sys, s, 1);
        check_closure_d(sys, s, 40);
        check_closure_i(sys, s, 33);
    }

    /* Hand-checked cases of the identities and the NaN policy. */
    {
        float a[4] = {-INFINITY, INFINITY, NAN, 2.0f}, b[4] = {INFINITY, 3.0f, 1.0f, -INFINITY}, o[4];
        OK(saraphis_tropical_elementwise(sys, MAXP, SARAPHIS_TROPICAL_MUL, SARAPHIS_F32, a, b, o, 4));
        CHECK(o[0] == -INFINITY && o[1] == INFINITY && o[2] == -INFINITY && o[3] == -INFINITY,
              "max-plus: -inf absorbs, -inf + inf and NaN are the zero");
        OK(saraphis_tropical_elementwise(sys, MINP, SARAPHIS_TROPICAL_MUL, SARAPHIS_F32, a, b, o, 4));
        CHECK(o[0] == INFINITY && o[1] == INFINITY && o[2] == INFINITY && o[3] == -INFINITY,
              "min-plus: +inf absorbs, NaN is the zero");
        OK(saraphis_tropical_elementwise(sys, MAXP, SARAPHIS_TROPICAL_ADD, SARAPHIS_F32, a, b, o, 4));
        CHECK(o[0] == INFINITY && o[1] == INFINITY && o[2] == 1.0f && o[3] == 2.0f, "max-plus add skips NaN");
    }
    {
        /* [[0, -inf], [NaN, 3]] ⊗ [[1, 2], [5, -inf]] in max-plus. */
        double a[4] = {0, -(double)INFINITY, (double)NAN, 3}, b[4] = {1, 2, 5, -(double)INFINITY}, c[4];
        uint32_t g[4];
        OK(saraphis_tropical_matmul(sys, MAXP, SARAPHIS_F64, a, b, c, 2, 2, 2, g));
        CHECK(c[0] == 1 && c[1] == 2 && c[2] == 8 && c[3] == -(double)INFINITY, "2x2 max-plus product");
        CHECK(g[0] == 0 && g[1] == 0 && g[2] == 1 && g[3] == UINT32_MAX, "2x2 argbest (none for the zero)");
        /* Ties: the smallest k. */
        {
            float ta[3] = {1, 2, 3}, tb[3] = {2, 1, 0}, tc[1];
            uint32_t tg[1];
            OK(saraphis_tropical_matmul(sys, MAXP, SARAPHIS_F32, ta, tb, tc, 1, 3, 1, tg));
            CHECK(tc[0] == 3 && tg[0] == 0, "a tie gives the smallest k");
            OK(saraphis_tropical_matmul(sys, MINP, SARAPHIS_F32, ta, tb, tc, 1, 3, 1, tg));
            CHECK(tc[0] == 3 && tg[0] == 0, "a tie gives the smallest k (min-plus)");
        }
    }
    {
        /* k = 0: the zero everywhere, no path; NULL inputs are fine when empty. */
        int32_t c[6];
        uint32_t g[6];
        size_t i;
        int ok = 1;
        OK(saraphis_tropical_matmul(sys, MINP, SARAPHIS_I32, NULL, NULL, c, 2, 0, 3, g));
        for (i = 0; i < 6; i++) ok &= c[i] == INT32_MAX && g[i] == UINT32_MAX;
        CHECK(ok, "k = 0 gives the zero and no argbest");
        /* Empty outputs (non-NULL pointers: see empty_with_null below). */
        OK(saraphis_tropical_matmul(sys, MAXP, SARAPHIS_I32, NULL, NULL, c, 0, 4, 0, NULL));
        OK(saraphis_tropical_elementwise(sys, MAXP, SARAPHIS_TROPICAL_ADD, SARAPHIS_I32, NULL, NULL, c, 0));
        OK(saraphis_tropical_closure(sys, MAXP, SARAPHIS_I32, NULL, 0, c));
        CHECK(c[0] == INT32_MAX, "empty outputs not written");
    }
    {
        /* int32 poly_eval: max(c0, c1 + x, c2 + 2x). */
        int32_t c[3] = {0, 10, -5}, x[3] = {-20, 3, 100}, o[3];
        OK(saraphis_tropical_poly_eval(sys, MAXP, SARAPHIS_I32, c, 1, 3, x, 3, o));
        CHECK(o[0] == 0 && o[1] == 13 && o[2] == 195, "int32 poly_eval by hand");
        /* A term beyond 2^28: 3 * 2^27 (x^3 term) and 2^28 + 1 (c + x). */
        {
            int32_t c4[4] = {0, 0, 0, 0}, big[1] = {1 << 27}, c2[2] = {FINITE_MAX, 0}, one[1] = {1};
            CHECK(saraphis_tropical_poly_eval(sys, MAXP, SARAPHIS_I32, c4, 1, 3, big, 1, o) == SARAPHIS_OK,
                  "2 * 2^27 = 2^28 still fits");
            CHECK(saraphis_tropical_poly_eval(sys, MAXP, SARAPHIS_I32, c4, 1, 4, big, 1, o) ==
                      SARAPHIS_ERR_INVALID_ARGUMENT,
                  "poly_eval: 3 * 2^27 passes 2^28");
            c2[1] = FINITE_MAX;
            CHECK(saraphis_tropical_poly_eval(sys, MAXP, SARAPHIS_I32, c2, 1, 2, one, 1, o) ==
                      SARAPHIS_ERR_INVALID_ARGUMENT,
                  "poly_eval: 2^28 + 1 passes 2^28");
        }
        /* Float: x^0 is the one even for x = -inf or NaN. */
        {
            float fc[2] = {4, 1}, fx[3] = {-INFINITY, NAN, 2}, fo[3];
            OK(saraphis_tropical_poly_eval(sys, MAXP, SARAPHIS_F32, fc, 1, 2, fx, 3, fo));
            CHECK(fo[0] == 4 && fo[1] == 4 && fo[2] == 4, "float poly_eval with -inf and NaN points");
            fx[2] = 5;
            OK(saraphis_tropical_poly_eval(sys, MINP, SARAPHIS_F32, fc, 1, 2, fx, 3, fo));
            CHECK(fo[0] == -INFINITY && fo[1] == 4 && fo[2] == 4, "min-plus poly_eval");
        }
    }
}

static void tropical_closures(const saraphis_system *sys) {
    /* A positive cycle 0 -> 1 -> 2 -> 0 of weight 1 makes the max-plus closure diverge; a
     * negative one the min-plus closure. Outputs are left alone. */
    double a[9], o[9];
    int32_t ia[25], io[25];
    size_t i;
    int untouched = 1;
    for (i = 0; i < 9; i++) a[i] = -(double)INFINITY, o[i] = 777;
    a[0 * 3 + 1] = 2, a[1 * 3 + 2] = -4, a[2 * 3 + 0] = 3;
    CHECK(saraphis_tropical_closure(sys, MAXP, SARAPHIS_F64, a, 3, o) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "max-plus closure with a positive cycle");
    for (i = 0; i < 9; i++) untouched &= o[i] == 777;
    CHECK(untouched, "closure: out untouched on failure");
    a[2 * 3 + 0] = 1; /* cycle weight -1: converges for max-plus */
    OK(saraphis_tropical_closure(sys, MAXP, SARAPHIS_F64, a, 3, o));
    CHECK(o[0] == 0 && o[1] == 2 && o[2] == -2 && o[3] == -3 && o[5] == -4 && o[6] == 1 && o[7] == 3,
          "max-plus closure of a negative cycle");
    for (i = 0; i < 9; i++) a[i] = INFINITY;
    a[0 * 3 + 1] = 2, a[1 * 3 + 2] = -4, a[2 * 3 + 0] = 1;
    CHECK(saraphis_tropical_closure(sys, MINP, SARAPHIS_F64, a, 3, o) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "min-plus closure with a negative cycle");
    a[2 * 3 + 0] = 3;
    OK(saraphis_tropical_closure(sys, MINP, SARAPHIS_F64, a, 3, o));
    CHECK(o[0] == 0 && o[1] == 2 && o[2] == -2 && o[6] == 3 && o[7] == 5, "min-plus closure, positive cycle");
    a[0] = -1; /* a negative self-loop */
    CHECK(saraphis_tropical_closure(sys, MINP, SARAPHIS_F64, a, 3, o) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "min-plus closure with a negative self-loop");
    /* int32 path weights beyond 2^28: a chain of four edges of 2^27 (2^29 in total); with edges
     * of 2^26 (and a last one of 1) the closure fits. */
    for (i = 0; i < 25; i++) ia[i] = INT32_MAX;
    for (i = 0; i < 4; i++) ia[i * 5 + i + 1] = 1 << 27;
    CHECK(saraphis_tropical_closure(sys, MINP, SARAPHIS_I32, ia, 5, io) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "int32 closure: path weights beyond 2^28");
    for (i = 0; i < 4; i++) ia[i * 5 + i + 1] = 1 << 26;
    ia[3 * 5 + 4] = 1;
    OK(saraphis_tropical_closure(sys, MINP, SARAPHIS_I32, ia, 5, io));
    CHECK(io[0 * 5 + 4] == 3 * (1 << 26) + 1 && io[4 * 5 + 0] == INT32_MAX && io[2 * 5 + 2] == 0,
          "int32 closure of a chain");
}

/* Bad arguments: each refused with its code, outputs left alone. */
static void tropical_errors(const saraphis_system *sys) {
    float fa[8] = {1, 2, 3, 4, 5, 6, 7, 8}, fb[8] = {0}, fo[8];
    double buf[9];
    float *mis = (float *)((char *)buf + 1);
    int32_t ia[4] = {1, 2, 3, 4}, ib[4] = {0, 0, 0, 0}, io[4] = {99, 99, 99, 99};
    uint32_t g[4];
    size_t i;
    int untouched = 1;
    /* NULLs. */
    CHECK(saraphis_tropical_matmul(NULL, MAXP, SARAPHIS_F32, fa, fb, fo, 2, 2, 2, NULL) == SARAPHIS_ERR_NULL_PARAMETER,
          "matmul: NULL system");
    CHECK(saraphis_tropical_matmul(sys, MAXP, SARAPHIS_F32, NULL, fb, fo, 2, 2, 2, NULL) == SARAPHIS_ERR_NULL_PARAMETER,
          "matmul: NULL a");
    CHECK(saraphis_tropical_matmul(sys, MAXP, SARAPHIS_F32, fa, NULL, fo, 2, 2, 2, NULL) == SARAPHIS_ERR_NULL_PARAMETER,
          "matmul: NULL b");
    CHECK(saraphis_tropical_matmul(sys, MAXP, SARAPHIS_F32, fa, fb, NULL, 2, 2, 2, NULL) == SARAPHIS_ERR_NULL_PARAMETER,
          "matmul: NULL c");
    CHECK(saraphis_tropical_elementwise(sys, MAXP, SARAPHIS_TROPICAL_ADD, SARAPHIS_F32, fa, NULL, fo, 8) ==
              SARAPHIS_ERR_NULL_PARAMETER,
          "elementwise: NULL b");
    CHECK(saraphis_tropical_elementwise(NULL, MAXP, SARAPHIS_TROPICAL_ADD, SARAPHIS_F32, fa, fb, fo, 8) ==
              SARAPHIS_ERR_NULL_PARAMETER,
          "elementwise: NULL system");
    CHECK(saraphis_tropical_poly_eval(sys, MAXP, SARAPHIS_F32, fa, 2, 4, NULL, 3, fo) == SARAPHIS_ERR_NULL_PARAMETER,
          "poly_eval: NULL xs");
    CHECK(saraphis_tropical_conv1d(sys, MAXP, SARAPHIS_F32, fa, 8, NULL, 3, fo) == SARAPHIS_ERR_NULL_PARAMETER,
          "conv1d: NULL kernel");
    CHECK(saraphis_tropical_conv2d(sys, MAXP, SARAPHIS_F32, fa, 2, 4, fb, 2, 2, NULL) == SARAPHIS_ERR_NULL_PARAMETER,
          "conv2d: NULL out");
    CHECK(saraphis_tropical_closure(sys, MAXP, SARAPHIS_F32, NULL, 2, fo) == SARAPHIS_ERR_NULL_PARAMETER,
          "closure: NULL a");
    /* Bad semiring, op, dtype. */
    CHECK(saraphis_tropical_matmul(sys, 2, SARAPHIS_F32, fa, fb, fo, 2, 2, 2, NULL) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "matmul: semiring 2");
    CHECK(saraphis_tropical_elementwise(sys, MAXP, 2, SARAPHIS_F32, fa, fb, fo, 8) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "elementwise: op 2");
    CHECK(saraphis_tropical_elementwise(sys, 7, SARAPHIS_TROPICAL_ADD, SARAPHIS_F32, fa, fb, fo, 8) ==
              SARAPHIS_ERR_INVALID_ARGUMENT,
          "elementwise: semiring 7");
    CHECK(saraphis_tropical_matmul(sys, MAXP, SARAPHIS_F16, fa, fb, fo, 2, 2, 2, NULL) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "matmul: dtype F16");
    CHECK(saraphis_tropical_matmul(sys, MAXP, SARAPHIS_I64, fa, fb, fo, 2, 2, 2, NULL) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "matmul: dtype I64");
    CHECK(saraphis_tropical_conv1d(sys, MAXP, 99, fa, 8, fb, 3, fo) == SARAPHIS_ERR_INVALID_ARGUMENT, "conv1d: dtype 99");
    CHECK(saraphis_tropical_closure(sys, MAXP, SARAPHIS_U32, fa, 2, fo) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "closure: dtype U32");
    /* Shapes. */
    CHECK(saraphis_tropical_conv1d(sys, MAXP, SARAPHIS_F32, fa, 8, fb, 0, fo) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "conv1d: empty kernel");
    CHECK(saraphis_tropical_conv1d(sys, MAXP, SARAPHIS_F32, fa, 3, fb, 4, fo) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "conv1d: kernel longer than the input");
    CHECK(saraphis_tropical_conv2d(sys, MAXP, SARAPHIS_F32, fa, 2, 4, fb, 3, 1, fo) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "conv2d: kernel taller than the input");
    CHECK(saraphis_tropical_conv2d(sys, MAXP, SARAPHIS_F32, fa, 2, 4, fb, 1, 0, fo) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "conv2d: empty kernel");
    CHECK(saraphis_tropical_poly_eval(sys, MAXP, SARAPHIS_F32, fa, 2, 0, fb, 3, fo) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "poly_eval: no terms");
    CHECK(saraphis_tropical_matmul(sys, MAXP, SARAPHIS_F32, fa, fb, fo, SIZE_MAX, 2, 1, NULL) ==
              SARAPHIS_ERR_INVALID_ARGUMENT,
          "matmul: m * k overflows");
    CHECK(saraphis_tropical_matmul(sys, MAXP, SARAPHIS_F32, fa, fb, fo, SIZE_MAX / 2, 1, 1, NULL) ==
              SARAPHIS_ERR_INVALID_ARGUMENT,
          "matmul: bytes overflow");
    /* Misaligned pointers. */
    memset(buf, 0, sizeof buf);
    CHECK(saraphis_tropical_elementwise(sys, MAXP, SARAPHIS_TROPICAL_ADD, SARAPHIS_F32, mis, fb, fo, 4) ==
              SARAPHIS_ERR_INVALID_ARGUMENT,
          "elementwise: misaligned a");
    CHECK(saraphis_tropical_matmul(sys, MAXP, SARAPHIS_F32, fa, fb, mis, 2, 2, 2, NULL) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "matmul: misaligned c");
    CHECK(saraphis_tropical_matmul(sys, MAXP, SARAPHIS_F64, (char *)buf + 4, buf + 4, buf + 6, 1, 1, 1, NULL) ==
              SARAPHIS_ERR_INVALID_ARGUMENT,
          "matmul: f64 a aligned to 4 only");
    CHECK(saraphis_tropical_matmul(sys, MAXP, SARAPHIS_F32, fa, fb, fo, 2, 2, 2, (uint32_t *)((char *)buf + 2)) ==
              SARAPHIS_ERR_INVALID_ARGUMENT,
          "matmul: misaligned argbest");
    CHECK(saraphis_tropical_closure(sys, MINP, SARAPHIS_I32, (char *)ia + 1, 1, io) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "closure: misaligned a");
    /* Overlapping outputs. */
    for (i = 0; i < 8; i++) fo[i] = fa[i];
    CHECK(saraphis_tropical_elementwise(sys, MAXP, SARAPHIS_TROPICAL_ADD, SARAPHIS_F32, fo, fb, fo, 8) ==
              SARAPHIS_ERR_DESTINATION,
          "elementwise: out is a");
    CHECK(saraphis_tropical_elementwise(sys, MAXP, SARAPHIS_TROPICAL_ADD, SARAPHIS_F32, fa, fo, fo + 2, 4) ==
              SARAPHIS_ERR_DESTINATION,
          "elementwise: out overlaps the end of b");
    CHECK(saraphis_tropical_matmul(sys, MAXP, SARAPHIS_F32, fa, fo, fo + 3, 2, 2, 2, NULL) == SARAPHIS_ERR_DESTINATION,
          "matmul: c overlaps b");
    CHECK(saraphis_tropical_matmul(sys, MAXP, SARAPHIS_F32, fa, fb, fo, 2, 2, 2, (uint32_t *)(fo + 2)) ==
              SARAPHIS_ERR_DESTINATION,
          "matmul: argbest overlaps c");
    CHECK(saraphis_tropical_matmul(sys, MAXP, SARAPHIS_F32, fa, fb, fo, 2, 2, 2, (uint32_t *)fa) ==
              SARAPHIS_ERR_DESTINATION,
          "matmul: argbest overlaps a");
    CHECK(saraphis_tropical_conv1d(sys, MAXP, SARAPHIS_F32, fo, 8, fb, 3, fo + 2) == SARAPHIS_ERR_DESTINATION,
          "conv1d: out overlaps x");
    CHECK(saraphis_tropical_conv2d(sys, MAXP, SARAPHIS_F32, fa, 2, 4, fo, 1, 1, fo) == SARAPHIS_ERR_DESTINATION,
          "conv2d: out overlaps the kernel");
    CHECK(saraphis_tropical_poly_eval(sys, MAXP, SARAPHIS_F32, fo, 1, 2, fb, 2, fo + 1) == SARAPHIS_ERR_DESTINATION,
          "poly_eval: out overlaps coeffs");
    CHECK(saraphis_tropical_closure(sys, MAXP, SARAPHIS_F32, fo, 2, fo) == SARAPHIS_ERR_DESTINATION, "closure: in place");
    for (i = 0; i < 8; i++) untouched &= fo[i] == fa[i];
    CHECK(untouched, "inputs never written by a refused call");
    /* int32 range: finite entries in [-2^28, 2^28] or the semiring's zero. */
    ia[2] = 1 << 29;
    CHECK(saraphis_tropical_matmul(sys, MAXP, SARAPHIS_I32, ia, ib, io, 2, 2, 2, g) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "matmul: int32 entry 2^29");
    CHECK(io[0] == 99 && io[3] == 99, "matmul: c untouched on failure");
    CHECK(saraphis_tropical_elementwise(sys, MINP, SARAPHIS_TROPICAL_MUL, SARAPHIS_I32, ib, ia, io, 4) ==
              SARAPHIS_ERR_INVALID_ARGUMENT,
          "elementwise: int32 entry 2^29");
    CHECK(saraphis_tropical_conv1d(sys, MAXP, SARAPHIS_I32, ia, 4, ib, 2, io) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "conv1d: int32 entry 2^29");
    ia[2] = FINITE_MAX + 1;
    CHECK(saraphis_tropical_closure(sys, MINP, SARAPHIS_I32, ia, 2, io) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "closure: int32 entry 2^28 + 1");
    ia[2] = INT32_MAX; /* the min-plus zero, but not a max-plus value */
    CHECK(saraphis_tropical_matmul(sys, MAXP, SARAPHIS_I32, ia, ib, io, 2, 2, 2, NULL) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "matmul: INT32_MAX in max-plus");
    OK(saraphis_tropical_matmul(sys, MINP, SARAPHIS_I32, ia, ib, io, 2, 2, 2, NULL));
    ia[2] = INT32_MIN;
    CHECK(saraphis_tropical_conv2d(sys, MINP, SARAPHIS_I32, ia, 2, 2, ib, 1, 1, io) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "conv2d: INT32_MIN in min-plus");
    ia[2] = -FINITE_MAX;
    OK(saraphis_tropical_conv2d(sys, MINP, SARAPHIS_I32, ia, 2, 2, ib, 1, 1, io));
    CHECK(io[2] == -FINITE_MAX, "conv2d: -2^28 is a value");
    CHECK(strlen(saraphis_last_error_message()) < 1000, "last error message readable");
}

static void tropical_device(const saraphis_system *cpu) {
    /* The device call on a CPU system: SARAPHIS_ERR_DEVICE, no memory touched (host addresses are
     * passed as "device" pointers, which a correct refusal never reads). */
    float a[4] = {0}, b[4] = {0}, c[4] = {5, 5, 5, 5};
    int32_t st = 0;
    CHECK(saraphis_tropical_matmul_device(cpu, MAXP, SARAPHIS_F32, a, b, c, 2, 2, 2, NULL, &st, NULL) ==
              SARAPHIS_ERR_DEVICE,
          "matmul_device on a CPU system");
    CHECK(c[0] == 5 && st == 0, "matmul_device refused: nothing written");
    CHECK(saraphis_tropical_matmul_device(NULL, MAXP, SARAPHIS_F32, a, b, c, 2, 2, 2, NULL, NULL, NULL) ==
              SARAPHIS_ERR_NULL_PARAMETER,
          "matmul_device: NULL system");
    CHECK(saraphis_tropical_matmul_device(cpu, 5, SARAPHIS_F32, a, b, c, 2, 2, 2, NULL, NULL, NULL) ==
              SARAPHIS_ERR_INVALID_ARGUMENT,
          "matmul_device: semiring 5");
    CHECK(saraphis_tropical_matmul_device(cpu, MAXP, SARAPHIS_F32, NULL, b, c, 2, 2, 2, NULL, NULL, NULL) ==
              SARAPHIS_ERR_NULL_PARAMETER,
          "matmul_device: NULL a");
    CHECK(saraphis_tropical_matmul_device(cpu, MAXP, SARAPHIS_F32, a, b, NULL, 2, 2, 2, NULL, NULL, NULL) ==
              SARAPHIS_ERR_NULL_PARAMETER,
          "matmul_device: NULL c");
    if (!saraphis_build_has_cuda()) {
        /* Without CUDA kernels an automatic system is a CPU one: the same refusal. */
        saraphis_system *autos = NULL;
        OK(saraphis_system_new(NULL, &autos));
        CHECK(saraphis_tropical_matmul_device(autos, MINP, SARAPHIS_I32, a, b, c, 2, 2, 2, NULL, NULL, NULL) ==
                  SARAPHIS_ERR_DEVICE,
              "matmul_device on a build without CUDA");
        saraphis_system_free(autos);
    }
}

/* ------------------------------------------------------------------ p-adic */

static uint64_t ipow(uint64_t p, unsigned n) {
    uint64_t r = 1;
    while (n--) r *= p;
    return r;
}

/* a^-1 mod m by the extended Euclidean algorithm in 128 bits (0 when not invertible). */
static uint64_t ref_inverse(uint64_t a, uint64_t m) {
    i128 t = 0, nt = 1, r = m, nr = a;
    while (nr != 0) {
        i128 q = r / nr, x;
        x = t - q * nt, t = nt, nt = x;
        x = r - q * nr, r = nr, nr = x;
    }
    if (r != 1) return 0;
    if (t < 0) t += m;
    return (uint64_t)t;
}

static unsigned ref_valuation(uint64_t a, uint64_t p, unsigned n) {
    unsigned k = 0;
    if (a == 0) return n;
    while (a % p == 0) a /= p, k++;
    return k;
}

static void padic_ring_calls(void) {
    saraphis_padic_ring *r = (saraphis_padic_ring *)&passed; /* sentinel: untouched on failure */
    CHECK(saraphis_padic_ring_new(250, 3, &r) == SARAPHIS_ERR_INVALID_ARGUMENT, "ring: 250 is not a prime");
    CHECK(saraphis_padic_ring_new(65537, 1, &r) == SARAPHIS_ERR_INVALID_ARGUMENT, "ring: prime above 65521");
    CHECK(saraphis_padic_ring_new(251, 8, &r) == SARAPHIS_ERR_INVALID_ARGUMENT, "ring: 251^8 > 2^62");
    CHECK(saraphis_padic_ring_new(251, 0, &r) == SARAPHIS_ERR_INVALID_ARGUMENT, "ring: precision 0");
    CHECK(saraphis_padic_ring_new(1, 5, &r) == SARAPHIS_ERR_INVALID_ARGUMENT, "ring: 1 is not a prime");
    CHECK(saraphis_padic_ring_new(251, 7, NULL) == SARAPHIS_ERR_NULL_PARAMETER, "ring: NULL out");
    CHECK(r == (saraphis_padic_ring *)&passed, "ring: out untouched by failures");
    r = NULL;
    OK(saraphis_padic_ring_new(2, 62, &r));
    CHECK(saraphis_padic_ring_modulus(r) == (uint64_t)1 << 62, "2^62 is the largest modulus");
    saraphis_padic_ring_free(r);
    r = NULL;
    OK(saraphis_padic_ring_new(65521, 3, &r));
    CHECK(saraphis_padic_ring_modulus(r) == ipow(65521, 3), "65521^3");
    saraphis_padic_ring_free(r);
    CHECK(saraphis_padic_ring_modulus(NULL) == 0, "modulus(NULL) = 0");
    saraphis_padic_ring_free(NULL);
}

static void padic_batch(const saraphis_system *sys) {
    enum { LEN = 5000, P = 251, N = 7 };
    const uint64_t M = ipow(P, N);
    saraphis_padic_ring *r = NULL;
    uint64_t *a = malloc(LEN * sizeof(uint64_t)), *b = malloc(LEN * sizeof(uint64_t));
    uint64_t *o = malloc(LEN * sizeof(uint64_t)), *back = malloc(LEN * sizeof(uint64_t));
    uint32_t *dg = malloc((size_t)LEN * N * sizeof(uint32_t));
    size_t i;
    int j, ok;
    OK(saraphis_padic_ring_new(P, N, &r));
    CHECK(saraphis_padic_ring_modulus(r) == M, "modulus 251^7");
    /* Random residues, with edge values: 0, 1, M - 1, p^k multiples, units near M. */
    for (i = 0; i < LEN; i++) {
        a[i] = rnd() % M;
        b[i] = rnd() % M;
        switch (i % 16) {
        case 0: a[i] = 0; break;
        case 1: b[i] = M - 1; break;
        case 2: a[i] = M - 1; break;
        case 3: a[i] = ipow(P, (unsigned)(rnd() % N)) * (1 + rnd() % (P - 1)); break;
        case 4: b[i] = ipow(P, (unsigned)(rnd() % N)) * (1 + rnd() % 1000) % M; break;
        case 5: a[i] = 1; break;
        default: break;
        }
    }
    OK(saraphis_padic_batch(sys, r, SARAPHIS_PADIC_ADD, a, b, o, LEN));
    for (ok = 1, i = 0; i < LEN; i++) ok &= o[i] == (uint64_t)(((u128)a[i] + b[i]) % M);
    CHECK(ok, "padic add");
    OK(saraphis_padic_batch(sys, r, SARAPHIS_PADIC_SUB, a, b, o, LEN));
    for (ok = 1, i = 0; i < LEN; i++) ok &= o[i] == (uint64_t)(((u128)a[i] + M - b[i]) % M);
    CHECK(ok, "padic sub");
    OK(saraphis_padic_batch(sys, r, SARAPHIS_PADIC_MUL, a, b, o, LEN));
    for (ok = 1, i = 0; i < LEN; i++) ok &= o[i] == (uint64_t)((u128)a[i] * b[i] % M);
    CHECK(ok, "padic mul (128-bit reference)");
    OK(saraphis_padic_batch(sys, r, SARAPHIS_PADIC_NEG, a, NULL, o, LEN));
    for (ok = 1, i = 0; i < LEN; i++) ok &= o[i] == (M - a[i]) % M;
    CHECK(ok, "padic neg");
    OK(saraphis_padic_batch(sys, r, SARAPHIS_PADIC_VALUATION, a, NULL, o, LEN));
    for (ok = 1, i = 0; i < LEN; i++) ok &= o[i] == ref_valuation(a[i], P, N);
    CHECK(ok, "padic valuation (N for 0)");
    /* Inverse of units (a non-unit anywhere refuses the whole call). */
    for (i = 0; i < LEN; i++)
        if (b[i] % P == 0) b[i] += 1;
    OK(saraphis_padic_batch(sys, r, SARAPHIS_PADIC_INVERSE, b, NULL, o, LEN));
    for (ok = 1, i = 0; i < LEN; i++) ok &= o[i] == ref_inverse(b[i], M) && (u128)o[i] * b[i] % M == 1;
    CHECK(ok, "padic inverse (extended Euclid reference, a * a^-1 = 1)");
    for (i = 0; i < LEN; i++) o[i] = 4242;
    b[LEN / 2] = P * 7;
    CHECK(saraphis_padic_batch(sys, r, SARAPHIS_PADIC_INVERSE, b, NULL, o, LEN) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "padic inverse of a non-unit");
    CHECK(o[0] == 4242 && o[LEN - 1] == 4242, "padic: out untouched on failure");
    /* Digits both ways. */
    OK(saraphis_padic_to_digits(r, a, LEN, dg));
    for (ok = 1, i = 0; i < LEN; i++) {
        uint64_t v = a[i];
        for (j = 0; j < N; j++) ok &= dg[i * N + (size_t)j] == v % P, v /= P;
    }
    CHECK(ok, "to_digits: least significant first");
    OK(saraphis_padic_from_digits(r, dg, LEN, back));
    CHECK(memcmp(back, a, LEN * sizeof(uint64_t)) == 0, "digits round trip");
    {
        uint64_t m1 = M - 1;
        uint32_t d[N];
        OK(saraphis_padic_to_digits(r, &m1, 1, d));
        for (ok = 1, j = 0; j < N; j++) ok &= d[j] == P - 1;
        CHECK(ok, "-1 has every digit p - 1");
        d[3] = P;
        CHECK(saraphis_padic_from_digits(r, d, 1, &m1) == SARAPHIS_ERR_INVALID_ARGUMENT, "from_digits: a digit >= p");
        m1 = M;
        CHECK(saraphis_padic_to_digits(r, &m1, 1, d) == SARAPHIS_ERR_INVALID_ARGUMENT, "to_digits: an input >= p^N");
        CHECK(saraphis_padic_to_digits(r, NULL, 1, d) == SARAPHIS_ERR_NULL_PARAMETER, "to_digits: NULL a");
        CHECK(saraphis_padic_to_digits(NULL, &m1, 1, d) == SARAPHIS_ERR_NULL_PARAMETER, "to_digits: NULL ring");
        CHECK(saraphis_padic_from_digits(r, d, 1, NULL) == SARAPHIS_ERR_NULL_PARAMETER, "from_digits: NULL out");
        CHECK(saraphis_padic_from_digits(r, dg, 2, (uint64_t *)dg) == SARAPHIS_ERR_DESTINATION,
              "from_digits: out overlaps digits");
    }
    /* Bad arguments of batch. */
    a[7] = M;
    CHECK(saraphis_padic_batch(sys, r, SARAPHIS_PADIC_ADD, a, b, o, LEN) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "batch: an input >= p^N");
    CHECK(strstr(saraphis_last_error_message(), "element 7 ") != NULL, "the message names the index");
    a[7] = 0;
    CHECK(saraphis_padic_batch(sys, r, 6, a, b, o, LEN) == SARAPHIS_ERR_INVALID_ARGUMENT, "batch: op 6");
    CHECK(saraphis_padic_batch(sys, r, SARAPHIS_PADIC_NEG, a, b, o, LEN) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "batch: b given for a unary op");
    CHECK(saraphis_padic_batch(sys, r, SARAPHIS_PADIC_MUL, a, NULL, o, LEN) == SARAPHIS_ERR_NULL_PARAMETER,
          "batch: no b for a binary op");
    CHECK(saraphis_padic_batch(NULL, r, SARAPHIS_PADIC_MUL, a, b, o, LEN) == SARAPHIS_ERR_NULL_PARAMETER,
          "batch: NULL system");
    CHECK(saraphis_padic_batch(sys, NULL, SARAPHIS_PADIC_MUL, a, b, o, LEN) == SARAPHIS_ERR_NULL_PARAMETER,
          "batch: NULL ring");
    CHECK(saraphis_padic_batch(sys, r, SARAPHIS_PADIC_MUL, a, b, a + 10, LEN - 10) == SARAPHIS_ERR_DESTINATION,
          "batch: out overlaps a");
    CHECK(saraphis_padic_batch(sys, r, SARAPHIS_PADIC_MUL, a, b, (uint64_t *)((char *)o + 4), LEN - 1) ==
              SARAPHIS_ERR_INVALID_ARGUMENT,
          "batch: misaligned out");
    OK(saraphis_padic_batch(sys, r, SARAPHIS_PADIC_MUL, NULL, NULL, o, 0));
    /* Device batch on a CPU system. */
    CHECK(saraphis_padic_batch_device(sys, r, SARAPHIS_PADIC_MUL, a, b, o, LEN, NULL, NULL) == SARAPHIS_ERR_DEVICE,
          "padic_batch_device on a CPU system");
    CHECK(saraphis_padic_batch_device(sys, r, SARAPHIS_PADIC_INVERSE, a, NULL, o, LEN, NULL, NULL) ==
              SARAPHIS_ERR_UNSUPPORTED,
          "padic_batch_device: inverse is host only");
    CHECK(saraphis_padic_batch_device(sys, r, SARAPHIS_PADIC_NEG, a, b, o, LEN, NULL, NULL) ==
              SARAPHIS_ERR_INVALID_ARGUMENT,
          "padic_batch_device: b given for a unary op");
    CHECK(saraphis_padic_batch_device(sys, r, SARAPHIS_PADIC_ADD, a, NULL, o, LEN, NULL, NULL) ==
              SARAPHIS_ERR_NULL_PARAMETER,
          "padic_batch_device: no b for a binary op");
    CHECK(saraphis_padic_batch_device(sys, NULL, SARAPHIS_PADIC_ADD, a, b, o, LEN, NULL, NULL) ==
              SARAPHIS_ERR_NULL_PARAMETER,
          "padic_batch_device: NULL ring");
    CHECK(saraphis_padic_batch_device(sys, r, 9, a, b, o, LEN, NULL, NULL) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "padic_batch_device: op 9");
    saraphis_padic_ring_free(r);
    free(a), free(b), free(o), free(back), free(dg);
}

static void padic_hensel(void) {
    /* sqrt(2) in Z_7 to 20 digits: a root of x^2 - 2 lifted from 3 (and from 4, the other one). */
    const uint64_t M = ipow(7, 20);
    saraphis_padic_ring *r = NULL;
    uint64_t c[3] = {M - 2, 0, 1}, root = 0, root2 = 0, kept = 31337;
    OK(saraphis_padic_ring_new(7, 20, &r));
    CHECK(saraphis_padic_ring_modulus(r) == M, "modulus 7^20");
    OK(saraphis_padic_hensel_root(r, c, 3, 3, &root));
    CHECK(root < M && root % 7 == 3, "root lifts 3");
    CHECK((u128)root * root % M == 2, "root^2 = 2 mod 7^20 (substitution)");
    OK(saraphis_padic_hensel_root(r, c, 3, 4, &root2));
    CHECK((u128)root2 * root2 % M == 2 && root2 % 7 == 4, "the other root");
    CHECK(root + root2 == M, "the roots are negatives of each other");
    /* A cubic, x^3 + x + 3 (one simple root mod 7: 5): every start that is not a root mod 7 is
     * refused, every simple root lifts to a root mod 7^20 (checked by substitution). */
    {
        uint64_t cc[4] = {3, 1, 0, 1}, x, rt;
        int found = 0;
        for (x = 0; x < 7; x++) {
            uint64_t f = (x * x * x + x + 3) % 7, d = (3 * x * x + 1) % 7;
            if (f != 0) {
                CHECK(saraphis_padic_hensel_root(r, cc, 4, x, &rt) == SARAPHIS_ERR_INVALID_ARGUMENT,
                      "hensel: not a root mod p");
                continue;
            }
            if (d == 0) continue;
            found++;
            OK(saraphis_padic_hensel_root(r, cc, 4, x, &rt));
            CHECK(rt % 7 == x && ((u128)rt * rt % M * rt % M + rt + 3) % M == 0, "cubic root by substitution");
        }
        CHECK(found > 0, "the cubic has a simple root mod 7");
    }
    /* Refusals, *root untouched. */
    CHECK(saraphis_padic_hensel_root(r, c, 3, 1, &kept) == SARAPHIS_ERR_INVALID_ARGUMENT, "hensel: 1 is not a root");
    {
        uint64_t sq[3] = {0, 0, 1}; /* x^2: 0 is a double root */
        CHECK(saraphis_padic_hensel_root(r, sq, 3, 0, &kept) == SARAPHIS_ERR_INVALID_ARGUMENT,
              "hensel: singular root");
    }
    CHECK(saraphis_padic_hensel_root(r, c, 0, 3, &kept) == SARAPHIS_ERR_INVALID_ARGUMENT, "hensel: no coefficients");
    c[0] = M;
    CHECK(saraphis_padic_hensel_root(r, c, 3, 3, &kept) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "hensel: coefficient out of range");
    c[0] = M - 2;
    CHECK(saraphis_padic_hensel_root(r, c, 3, M, &kept) == SARAPHIS_ERR_INVALID_ARGUMENT, "hensel: r0 >= p^N");
    CHECK(kept == 31337, "hensel: root untouched on failure");
    CHECK(saraphis_padic_hensel_root(r, c, 3, 3, NULL) == SARAPHIS_ERR_NULL_PARAMETER, "hensel: NULL root");
    CHECK(saraphis_padic_hensel_root(r, NULL, 3, 3, &kept) == SARAPHIS_ERR_NULL_PARAMETER, "hensel: NULL coeffs");
    CHECK(saraphis_padic_hensel_root(NULL, c, 3, 3, &kept) == SARAPHIS_ERR_NULL_PARAMETER, "hensel: NULL ring");
    saraphis_padic_ring_free(r);
}

/* Regressions: cases that failed when this test was written (issue 14), fixed since:
 * - an empty output given as NULL (or misaligned) aborts the process in a debug build
 *   (src/ffi/math.rs elems_mut calls slice::from_raw_parts_mut on it: undefined behaviour), although
 *   empty inputs may be NULL;
 * - the min-plus closure of a graph with non-negative, non-integer weights is refused as
 *   "a cycle of negative weight" (the extra squaring differs from the previous power by one
 *   rounding: the divergence test compared floats exactly; it now reads the diagonal only). */
static void regressions(const saraphis_system *sys) {
    saraphis_padic_ring *r = NULL;
    uint32_t refused = 0, trial;
    int32_t i4[4];
    OK(saraphis_tropical_elementwise(sys, MAXP, SARAPHIS_TROPICAL_ADD, SARAPHIS_F32, NULL, NULL, NULL, 0));
    OK(saraphis_tropical_matmul(sys, MAXP, SARAPHIS_I32, NULL, NULL, NULL, 0, 4, 0, NULL));
    OK(saraphis_tropical_matmul(sys, MAXP, SARAPHIS_I32, i4, i4, (char *)i4 + 1, 0, 1, 1, NULL));
    OK(saraphis_tropical_closure(sys, MAXP, SARAPHIS_F64, NULL, 0, NULL));
    OK(saraphis_tropical_poly_eval(sys, MAXP, SARAPHIS_F32, NULL, 0, 1, NULL, 0, NULL));
    OK(saraphis_padic_ring_new(251, 7, &r));
    OK(saraphis_padic_batch(sys, r, SARAPHIS_PADIC_MUL, NULL, NULL, NULL, 0));
    OK(saraphis_padic_to_digits(r, NULL, 0, NULL));
    OK(saraphis_padic_from_digits(r, NULL, 0, NULL));
    saraphis_padic_ring_free(r);
    for (trial = 0; trial < 100; trial++) {
        size_t n = 5 + rnd_below(40), i;
        double *a = malloc(n * n * sizeof(double)), *o = malloc(n * n * sizeof(double));
        for (i = 0; i < n * n; i++) a[i] = i % (n + 1) != 0 && rnd_below(100) < 30 ? 0.1 + rnd_unit() : (double)INFINITY;
        refused += saraphis_tropical_closure(sys, MINP, SARAPHIS_F64, a, n, o) != SARAPHIS_OK;
        free(a), free(o);
    }
    CHECK(refused == 0, "min-plus closure of non-negative real weights is never refused");
}

int main(int argc, char **argv) {
    saraphis_config *cfg = NULL;
    saraphis_system *sys = NULL;
    (void)argc, (void)argv;
    OK(saraphis_config_new(&cfg));
    OK(saraphis_config_set(cfg, SARAPHIS_CONFIG_THREADS, 2));
    OK(saraphis_config_set_device(cfg, "cpu"));
    OK(saraphis_system_new(cfg, &sys));
    saraphis_config_free(cfg);
    if (!sys) {
        fprintf(stderr, "no system\n");
        return 1;
    }

    tropical_values(sys);
    tropical_closures(sys);
    tropical_errors(sys);
    tropical_device(sys);
    padic_ring_calls();
    padic_batch(sys);
    padic_hensel();
    regressions(sys);

    saraphis_system_free(sys);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}

package saraphis

import (
	"errors"
	"math"
	"math/bits"
	"math/rand"
	"slices"
	"testing"
)

// The math library (issue 14) through the Go binding: tropical calls against naive references
// on float32, float64 and int32 (odd shapes, -Inf / +Inf / NaN entries, argbest), the closure
// against Floyd–Warshall, errors, and PadicRing (Z/251^7 against 128-bit references, digits,
// the Hensel root of x^2 - 2 in Z/7^20).

func cpuSystem(t *testing.T) *System {
	t.Helper()
	cfg, err := NewConfig()
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	if err := cfg.SetThreads(2); err != nil {
		t.Fatal(err)
	}
	if err := cfg.SetDevice("cpu"); err != nil {
		t.Fatal(err)
	}
	s, err := NewSystem(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func errCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

func isNaN[T TropicalElement](v T) bool { return v != v }

func tzero[T TropicalElement](sr Semiring) T {
	var z T
	switch p := any(&z).(type) {
	case *float32:
		*p = float32(math.Inf(1))
	case *float64:
		*p = math.Inf(1)
	case *int32:
		*p = math.MaxInt32
		if sr == MaxPlus {
			*p = math.MinInt32
		}
		return z
	}
	if sr == MaxPlus {
		return -z
	}
	return z
}

func isFloat[T TropicalElement]() bool {
	var z T
	_, ok := any(z).(int32)
	return !ok
}

// The scalar rules of the C API: floats add with NaN as the zero, int32's zero absorbs.
func otimes[T TropicalElement](sr Semiring, a, b T) T {
	z := tzero[T](sr)
	if isFloat[T]() {
		r := a + b
		if isNaN(r) {
			return z
		}
		return r
	}
	if a == z || b == z {
		return z
	}
	return a + b
}

func better[T TropicalElement](sr Semiring, v, acc T) bool {
	if sr == MaxPlus {
		return v > acc
	}
	return v < acc
}

func oplus[T TropicalElement](sr Semiring, a, b T) T {
	if isNaN(a) {
		a = tzero[T](sr)
	}
	if isNaN(b) {
		b = tzero[T](sr)
	}
	if better(sr, b, a) {
		return b
	}
	return a
}

// gen gives small integers (ties) with about 4% each of the zero, the other infinity and NaN
// (int32: the zero and +-2^28).
func gen[T TropicalElement](rng *rand.Rand, sr Semiring) T {
	r := rng.Intn(100)
	z := tzero[T](sr)
	switch {
	case r < 4:
		return z
	case r < 8 && isFloat[T]():
		return -z
	case r < 12 && isFloat[T]():
		var nan T
		switch p := any(&nan).(type) {
		case *float32:
			*p = float32(math.NaN())
		case *float64:
			*p = math.NaN()
		}
		return nan
	case r < 6:
		return 1 << 28
	case r < 8:
		return -(1 << 28)
	}
	return T(rng.Intn(21) - 10)
}

func same[T TropicalElement](a, b []T) bool {
	return slices.EqualFunc(a, b, func(x, y T) bool { return x == y || (isNaN(x) && isNaN(y)) })
}

func checkMatmul[T TropicalElement](t *testing.T, s *System, rng *rand.Rand, sr Semiring, m, k, n int) {
	t.Helper()
	a, b := make([]T, m*k), make([]T, k*n)
	for i := range a {
		a[i] = gen[T](rng, sr)
	}
	for i := range b {
		b[i] = gen[T](rng, sr)
	}
	want, wantArg := make([]T, m*n), make([]uint32, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			acc, best := tzero[T](sr), uint32(math.MaxUint32)
			for l := 0; l < k; l++ {
				if v := otimes(sr, a[i*k+l], b[l*n+j]); better(sr, v, acc) {
					acc, best = v, uint32(l)
				}
			}
			if acc == tzero[T](sr) {
				best = math.MaxUint32
			}
			want[i*n+j], wantArg[i*n+j] = acc, best
		}
	}
	c, arg := make([]T, m*n), make([]uint32, m*n)
	if err := TropicalMatmul(s, sr, a, b, c, m, k, n, arg); err != nil {
		t.Fatalf("%T %dx%dx%d: %v", a, m, k, n, err)
	}
	if !same(c, want) || !slices.Equal(arg, wantArg) {
		t.Errorf("%T semiring %d %dx%dx%d: product or argbest differs from the reference", a, sr, m, k, n)
	}
	c2 := make([]T, m*n)
	if err := TropicalMatmul(s, sr, a, b, c2, m, k, n, nil); err != nil || !same(c2, want) {
		t.Errorf("%T %dx%dx%d without argbest: %v", a, m, k, n, err)
	}
}

func checkOthers[T TropicalElement](t *testing.T, s *System, rng *rand.Rand, sr Semiring) {
	t.Helper()
	// Elementwise.
	a, b, o := make([]T, 257), make([]T, 257), make([]T, 257)
	for i := range a {
		a[i], b[i] = gen[T](rng, sr), gen[T](rng, sr)
	}
	for _, op := range []TropicalOp{TropicalAdd, TropicalMul} {
		if err := TropicalElementwise(s, sr, op, a, b, o); err != nil {
			t.Fatal(err)
		}
		for i := range a {
			w := oplus(sr, a[i], b[i])
			if op == TropicalMul {
				w = otimes(sr, a[i], b[i])
			}
			if o[i] != w {
				t.Fatalf("%T elementwise op %d at %d: %v, want %v", a, op, i, o[i], w)
			}
		}
	}
	// Convolutions: x 7 × 11, kernel 3 × 2.
	const h, w, kh, kw = 7, 11, 3, 2
	x, kern := make([]T, h*w), make([]T, kh*kw)
	for i := range x {
		x[i] = gen[T](rng, sr)
	}
	for i := range kern {
		kern[i] = gen[T](rng, sr)
	}
	o2, o1 := make([]T, (h-kh+1)*(w-kw+1)), make([]T, w-kw+1)
	if err := TropicalConv2D(s, sr, x, h, w, kern, kh, kw, o2); err != nil {
		t.Fatal(err)
	}
	if err := TropicalConv1D(s, sr, x[:w], kern[:kw], o1); err != nil {
		t.Fatal(err)
	}
	for i := 0; i+kh <= h; i++ {
		for j := 0; j+kw <= w; j++ {
			acc := tzero[T](sr)
			for u := 0; u < kh; u++ {
				for v := 0; v < kw; v++ {
					acc = oplus(sr, acc, otimes(sr, x[(i+u)*w+j+v], kern[u*kw+v]))
				}
			}
			if o2[i*(w-kw+1)+j] != acc {
				t.Fatalf("%T conv2d at %d,%d", x, i, j)
			}
		}
	}
	for i := 0; i+kw <= w; i++ {
		acc := tzero[T](sr)
		for j := 0; j < kw; j++ {
			acc = oplus(sr, acc, otimes(sr, x[i+j], kern[j]))
		}
		if o1[i] != acc {
			t.Fatalf("%T conv1d at %d", x, i)
		}
	}
	// Polynomials: max / min of c_i + i·x.
	coeffs, xs := []T{1, -2, 3, 0}, []T{-4, 0, 2, 5, 9}
	po := make([]T, 2*len(xs))
	if err := TropicalPolyEval(s, sr, coeffs, 2, xs, po); err != nil {
		t.Fatal(err)
	}
	for q := 0; q < 2; q++ {
		for p, xv := range xs {
			want := oplus(sr, coeffs[2*q], coeffs[2*q+1]+xv)
			if po[q*len(xs)+p] != want {
				t.Fatalf("%T poly_eval %d at %v: %v, want %v", xs, q, xv, po[q*len(xs)+p], want)
			}
		}
	}
	// Closure against Floyd–Warshall: min-plus on a digraph (weights 1..9), max-plus on a DAG (-9..9).
	const n = 19
	g := make([]T, n*n)
	for i := range g {
		g[i] = tzero[T](sr)
	}
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if rng.Intn(100) < 20 && ((sr == MinPlus && i != j) || (sr == MaxPlus && i < j)) {
				if sr == MinPlus {
					g[i*n+j] = T(1 + rng.Intn(9))
				} else {
					g[i*n+j] = T(rng.Intn(19) - 9)
				}
			}
		}
	}
	d := slices.Clone(g)
	for i := 0; i < n; i++ {
		d[i*n+i] = oplus(sr, d[i*n+i], 0)
	}
	for l := 0; l < n; l++ {
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				d[i*n+j] = oplus(sr, d[i*n+j], otimes(sr, d[i*n+l], d[l*n+j]))
			}
		}
	}
	out := make([]T, n*n)
	if err := TropicalClosure(s, sr, g, n, out); err != nil {
		t.Fatal(err)
	}
	if !same(out, d) {
		t.Errorf("%T closure differs from Floyd-Warshall", g)
	}
	// A cycle that gains weight: the closure diverges.
	back := T(1)
	if sr == MinPlus {
		back = -2
	}
	cyc := []T{tzero[T](sr), 1, back, tzero[T](sr)}
	if err := TropicalClosure(s, sr, cyc, 2, make([]T, 4)); errCode(err) != ErrInvalidArgument {
		t.Errorf("%T diverging closure: %v", g, err)
	}
}

func testTropical[T TropicalElement](t *testing.T, s *System) {
	rng := rand.New(rand.NewSource(14))
	for _, sr := range []Semiring{MaxPlus, MinPlus} {
		for _, sh := range [][3]int{{1, 1, 1}, {1, 40, 33}, {33, 40, 1}, {37, 53, 29}, {3, 0, 4}, {0, 5, 0}} {
			checkMatmul[T](t, s, rng, sr, sh[0], sh[1], sh[2])
		}
		checkOthers[T](t, s, rng, sr)
	}
}

func TestTropicalFloat32(t *testing.T) {
	s := cpuSystem(t)
	defer s.Close()
	testTropical[float32](t, s)
}

func TestTropicalFloat64(t *testing.T) {
	s := cpuSystem(t)
	defer s.Close()
	testTropical[float64](t, s)
}

func TestTropicalInt32(t *testing.T) {
	s := cpuSystem(t)
	defer s.Close()
	testTropical[int32](t, s)
}

func TestTropicalIdentities(t *testing.T) {
	s := cpuSystem(t)
	defer s.Close()
	inf := math.Inf(1)
	a := []float64{0, -inf, math.NaN(), 3}
	b := []float64{1, 2, 5, -inf}
	c, arg := make([]float64, 4), make([]uint32, 4)
	if err := TropicalMatmul(s, MaxPlus, a, b, c, 2, 2, 2, arg); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c, []float64{1, 2, 8, -inf}) || !slices.Equal(arg, []uint32{0, 0, 1, math.MaxUint32}) {
		t.Errorf("2x2 max-plus product %v argbest %v", c, arg)
	}
}

func TestTropicalErrors(t *testing.T) {
	s := cpuSystem(t)
	defer s.Close()
	a, b, c := []int32{1, 2, 1 << 29, 4}, []int32{0, 0, 0, 0}, []int32{9, 9, 9, 9}
	if err := TropicalMatmul(s, MaxPlus, a, b, c, 2, 2, 2, nil); errCode(err) != ErrInvalidArgument {
		t.Errorf("int32 entry 2^29: %v", err)
	}
	if c[0] != 9 {
		t.Error("c written by a failed call")
	}
	a[2] = 3
	if err := TropicalMatmul(s, MaxPlus, a, b, a, 2, 2, 2, nil); errCode(err) != ErrDestination {
		t.Errorf("c aliasing a: %v", err)
	}
	if err := TropicalMatmul(s, MaxPlus, a, b, c[:3], 2, 2, 2, nil); errCode(err) != ErrDestination {
		t.Errorf("short c: %v", err)
	}
	if err := TropicalMatmul(s, MaxPlus, a[:3], b, c, 2, 2, 2, nil); errCode(err) != ErrInvalidArgument {
		t.Errorf("short a: %v", err)
	}
	if err := TropicalMatmul(s, MaxPlus, a, b, c, 2, 2, 2, make([]uint32, 3)); errCode(err) != ErrDestination {
		t.Errorf("short argbest: %v", err)
	}
	if err := TropicalMatmul(s, MaxPlus, a, b, c, -2, -2, 2, nil); errCode(err) != ErrInvalidArgument {
		t.Errorf("negative sizes: %v", err)
	}
	if err := TropicalMatmul(s, Semiring(7), a, b, c, 2, 2, 2, nil); errCode(err) != ErrInvalidArgument {
		t.Errorf("semiring 7: %v", err)
	}
	if err := TropicalElementwise(s, MinPlus, TropicalOp(2), a, b, c); errCode(err) != ErrInvalidArgument {
		t.Errorf("op 2: %v", err)
	}
	if err := TropicalConv1D(s, MaxPlus, a, make([]int32, 5), c); errCode(err) != ErrInvalidArgument {
		t.Errorf("conv1d kernel longer than x: %v", err)
	}
	if err := TropicalPolyEval(s, MaxPlus, a, 0, b, c); errCode(err) != ErrInvalidArgument {
		t.Errorf("poly_eval without terms: %v", err)
	}
	if err := TropicalClosure(s, MaxPlus, a, 2, a); errCode(err) != ErrDestination {
		t.Errorf("closure in place: %v", err)
	}
	// Empty outputs are fine.
	if err := TropicalMatmul(s, MaxPlus, []float32{}, []float32{}, []float32{}, 0, 0, 3, []uint32{}); err != nil {
		t.Errorf("empty product: %v", err)
	}
	if err := TropicalElementwise(s, MaxPlus, TropicalAdd, nil, nil, []int32(nil)); err != nil {
		t.Errorf("empty elementwise: %v", err)
	}
	if err := TropicalClosure(s, MinPlus, nil, 0, []float64(nil)); err != nil {
		t.Errorf("empty closure: %v", err)
	}
	// The device call on a CPU system (no device memory is touched).
	if err := TropicalMatmulDevice(s, MaxPlus, F32, 1, 2, 3, 2, 2, 2, 0, 0, 0); errCode(err) != ErrDevice {
		t.Errorf("TropicalMatmulDevice on a CPU system: %v", err)
	}
}

func TestPadicRing(t *testing.T) {
	s := cpuSystem(t)
	defer s.Close()
	r, err := NewPadicRing(251, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	M := uint64(1)
	for i := 0; i < 7; i++ {
		M *= 251
	}
	if r.Modulus() != M || r.Prime() != 251 || r.Precision() != 7 {
		t.Fatalf("modulus %d, want %d", r.Modulus(), M)
	}
	rng := rand.New(rand.NewSource(251))
	a, b := make([]uint64, 3000), make([]uint64, 3000)
	for i := range a {
		a[i], b[i] = rng.Uint64()%M, rng.Uint64()%M
		if i%10 == 0 { // p^v times a unit: valuation v
			a[i] = uint64(1 + rng.Intn(250))
			for v := 0; v < i%7; v++ {
				a[i] *= 251
			}
		}
	}
	a[1], a[2], b[3], b[4] = 0, M-1, M-1, 0
	mulmod := func(x, y uint64) uint64 { hi, lo := bits.Mul64(x, y); return bits.Rem64(hi, lo, M) }
	ref := map[PadicOp]func(x, y uint64) uint64{
		PadicAdd: func(x, y uint64) uint64 { return (x + y) % M },
		PadicSub: func(x, y uint64) uint64 { return (x + M - y) % M },
		PadicMul: mulmod,
		PadicNeg: func(x, _ uint64) uint64 { return (M - x) % M },
		PadicValuation: func(x, _ uint64) uint64 {
			if x == 0 {
				return 7
			}
			v := uint64(0)
			for ; x%251 == 0; x /= 251 {
				v++
			}
			return v
		},
	}
	out := make([]uint64, len(a))
	for op, f := range ref {
		bb := b
		if op == PadicNeg || op == PadicValuation {
			bb = nil
		}
		if err := r.Batch(s, op, a, bb, out); err != nil {
			t.Fatalf("op %d: %v", op, err)
		}
		for i := range a {
			if out[i] != f(a[i], b[i]) {
				t.Fatalf("op %d at %d: %d, want %d", op, i, out[i], f(a[i], b[i]))
			}
		}
	}
	for i := range b {
		if b[i]%251 == 0 {
			b[i]++
		}
	}
	if err := r.Batch(s, PadicInverse, b, nil, out); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		if mulmod(out[i], b[i]) != 1 {
			t.Fatalf("inverse of %d: %d", b[i], out[i])
		}
	}
	if err := r.Batch(s, PadicInverse, []uint64{251 * 3}, nil, out[:1]); errCode(err) != ErrInvalidArgument {
		t.Errorf("inverse of a non-unit: %v", err)
	}
	if err := r.Batch(s, PadicAdd, []uint64{M}, []uint64{1}, out[:1]); errCode(err) != ErrInvalidArgument {
		t.Errorf("an input >= p^N: %v", err)
	}
	if err := r.Batch(s, PadicNeg, a, b, out); errCode(err) != ErrInvalidArgument {
		t.Errorf("b for a unary op: %v", err)
	}
	if err := r.Batch(s, PadicMul, a, nil, out); errCode(err) != ErrNullParameter {
		t.Errorf("no b for a binary op: %v", err)
	}
	if err := r.Batch(s, PadicMul, a, b, out[:5]); errCode(err) != ErrDestination {
		t.Errorf("short out: %v", err)
	}
	if err := r.Batch(s, PadicMul, nil, nil, nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}
	if err := r.BatchDevice(s, PadicMul, 1, 2, 3, 4, 0, 0); errCode(err) != ErrDevice {
		t.Errorf("BatchDevice on a CPU system: %v", err)
	}
	if err := r.BatchDevice(s, PadicInverse, 1, 0, 3, 4, 0, 0); errCode(err) != ErrUnsupported {
		t.Errorf("BatchDevice inverse: %v", err)
	}
	// Digits both ways.
	d, err := r.ToDigits(a)
	if err != nil || len(d) != 7*len(a) {
		t.Fatal(err)
	}
	for i, x := range a {
		for j := 0; j < 7; j, x = j+1, x/251 {
			if uint64(d[i*7+j]) != x%251 {
				t.Fatalf("digit %d of %d", j, a[i])
			}
		}
	}
	back, err := r.FromDigits(d)
	if err != nil || !slices.Equal(back, a) {
		t.Fatalf("digits round trip: %v", err)
	}
	d[3] = 251
	if _, err := r.FromDigits(d[:7]); errCode(err) != ErrInvalidArgument {
		t.Errorf("a digit >= p: %v", err)
	}
	// Hensel: sqrt(2) in Z/7^20.
	r7, err := NewPadicRing(7, 20)
	if err != nil {
		t.Fatal(err)
	}
	M7 := r7.Modulus()
	root, err := r7.HenselRoot([]uint64{M7 - 2, 0, 1}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if hi, lo := bits.Mul64(root, root); root%7 != 3 || bits.Rem64(hi, lo, M7) != 2 {
		t.Errorf("root %d: root^2 != 2 mod 7^20", root)
	}
	if _, err := r7.HenselRoot([]uint64{M7 - 2, 0, 1}, 1); errCode(err) != ErrInvalidArgument {
		t.Errorf("1 is not a root mod 7: %v", err)
	}
	r7.Close()
	r7.Close() // idempotent
	if _, err := r7.HenselRoot([]uint64{M7 - 2, 0, 1}, 3); errCode(err) != ErrNullParameter || r7.Modulus() != 0 {
		t.Errorf("closed ring: %v", err)
	}
	if _, err := NewPadicRing(251, 8); errCode(err) != ErrInvalidArgument {
		t.Errorf("251^8 > 2^62: %v", err)
	}
}

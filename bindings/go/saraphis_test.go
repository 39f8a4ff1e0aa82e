package saraphis

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"
)

type tensor struct {
	name  string
	dtype string
	shape []uint64
	data  []byte
}

// loadFixture reads a safetensors fixture from tests/data (real MiniLM weights).
func loadFixture(t *testing.T, name string) []tensor {
	t.Helper()
	buf, err := os.ReadFile(filepath.Join("..", "..", "tests", "data", name))
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(buf[:8])
	var h map[string]json.RawMessage
	if err := json.Unmarshal(buf[8:8+n], &h); err != nil {
		t.Fatal(err)
	}
	var out []tensor
	for k, v := range h {
		if k == "__metadata__" {
			continue
		}
		var e struct {
			Dtype   string   `json:"dtype"`
			Shape   []uint64 `json:"shape"`
			Offsets []uint64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(v, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, tensor{k, e.Dtype, e.Shape, buf[8+n+e.Offsets[0] : 8+n+e.Offsets[1]]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

var dtypes = map[string]DType{"F32": F32, "BF16": BF16, "I64": I64}

func newSystem(t *testing.T) *System {
	cfg, err := NewConfig()
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	if err := cfg.SetThreads(2); err != nil {
		t.Fatal(err)
	}
	s, err := NewSystem(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLosslessRealWeights(t *testing.T) {
	s := newSystem(t)
	defer s.Close()
	p, _ := NewParams(Lossless)
	defer p.Close()
	for _, fx := range []string{"minilm-subset-f32.safetensors", "minilm-subset-bf16.safetensors"} {
		for _, ts := range loadFixture(t, fx) {
			c, err := s.CompressBytes(ts.data, dtypes[ts.dtype], ts.shape, p)
			if err != nil {
				t.Fatal(ts.name, err)
			}
			out := make([]byte, len(ts.data))
			if err := s.DecompressBytes(c, dtypes[ts.dtype], out); err != nil {
				t.Fatal(ts.name, err)
			}
			if !bytes.Equal(out, ts.data) {
				t.Fatalf("%s: not bit-exact", ts.name)
			}
			info, err := Inspect(c)
			if err != nil || info.OriginalBytes != uint64(len(ts.data)) || len(info.Shape) != len(ts.shape) {
				t.Fatalf("%s: inspect %+v %v", ts.name, info, err)
			}
		}
	}
}

func TestTypedSlicesAndBound(t *testing.T) {
	s := newSystem(t)
	defer s.Close()
	p, _ := NewParams(Padic)
	defer p.Close()
	if err := p.SetAbsBound(1e-3); err != nil {
		t.Fatal(err)
	}
	for _, ts := range loadFixture(t, "minilm-subset-f32.safetensors") {
		if ts.dtype != "F32" || len(ts.data) < 100000 {
			continue
		}
		v := make([]float32, len(ts.data)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(ts.data[4*i:]))
		}
		c, err := s.CompressFloat32(v, ts.shape, p)
		if err != nil {
			t.Fatal(err)
		}
		back := make([]float32, len(v))
		if err := s.DecompressFloat32(c, back); err != nil {
			t.Fatal(err)
		}
		for i := range v {
			if math.Abs(float64(v[i])-float64(back[i])) > 1e-3 {
				t.Fatalf("%s[%d]: %v vs %v", ts.name, i, v[i], back[i])
			}
		}
		if float64(len(ts.data))/float64(len(c)) < 3 {
			t.Fatalf("%s: ratio too low", ts.name)
		}
	}
	for _, ts := range loadFixture(t, "minilm-subset-bf16.safetensors") {
		if ts.dtype != "BF16" {
			continue
		}
		v := make([]uint16, len(ts.data)/2)
		for i := range v {
			v[i] = binary.LittleEndian.Uint16(ts.data[2*i:])
		}
		lp, _ := NewParams(Lossless)
		c, err := s.CompressUint16(v, BF16, ts.shape, lp)
		lp.Close()
		if err != nil {
			t.Fatal(err)
		}
		back := make([]uint16, len(v))
		if err := s.DecompressUint16(c, BF16, back); err != nil {
			t.Fatal(err)
		}
		for i := range v {
			if v[i] != back[i] {
				t.Fatalf("%s[%d] differs", ts.name, i)
			}
		}
	}
}

func TestQuant(t *testing.T) {
	s := newSystem(t)
	defer s.Close()
	p, _ := NewParams(Quant)
	defer p.Close()
	if err := p.SetBits(9); err == nil {
		t.Fatal("bits 9 accepted")
	}
	for _, set := range []func() error{
		func() error { return p.SetBits(4) },
		func() error { return p.SetBlock(64) },
		func() error { return p.SetZeroPoint(true) },
		func() error { return p.SetScaleDType(F32) },
	} {
		if err := set(); err != nil {
			t.Fatal(err)
		}
	}
	for _, ts := range loadFixture(t, "minilm-subset-f32.safetensors") {
		if ts.dtype != "F32" || len(ts.data) < 100000 {
			continue
		}
		c, err := s.CompressBytes(ts.data, F32, ts.shape, p)
		if err != nil {
			t.Fatal(err)
		}
		info, err := Inspect(c)
		if err != nil || info.Codec != Quant || info.QuantBits != 4 || info.QuantGroupArg != 64 ||
			!info.QuantZeroPoint || info.QuantScaleDType != F32 || info.MaxAbsError <= 0 {
			t.Fatalf("%s: inspect %+v %v", ts.name, info, err)
		}
		out := make([]byte, len(ts.data))
		if err := s.DecompressBytes(c, F32, out); err != nil {
			t.Fatal(err)
		}
		maxErr := 0.0
		for i := 0; i < len(out); i += 4 {
			a := math.Float32frombits(binary.LittleEndian.Uint32(ts.data[i:]))
			b := math.Float32frombits(binary.LittleEndian.Uint32(out[i:]))
			maxErr = math.Max(maxErr, math.Abs(float64(a)-float64(b)))
		}
		if maxErr != info.MaxAbsError {
			t.Fatalf("%s: max error %v, recorded %v", ts.name, maxErr, info.MaxAbsError)
		}
		if r := float64(len(ts.data)) / float64(len(c)); r < 6.0 {
			t.Fatalf("%s: 4-bit ratio %v", ts.name, r)
		}
	}
}

// TestSparse: real weights with two of every four values zeroed (smallest magnitudes) come
// back bit for bit from a sparse container that inspect describes.
func TestSparse(t *testing.T) {
	s := newSystem(t)
	defer s.Close()
	p, _ := NewParams(Sparse)
	defer p.Close()
	for _, ts := range loadFixture(t, "minilm-subset-f32.safetensors") {
		if ts.dtype != "F32" || len(ts.data) < 100000 {
			continue
		}
		pruned := append([]byte(nil), ts.data...)
		for g := 0; g+16 <= len(pruned); g += 16 {
			for k := 0; k < 2; k++ {
				m := -1
				for j := 0; j < 4; j++ {
					v := math.Abs(float64(math.Float32frombits(binary.LittleEndian.Uint32(pruned[g+4*j:]))))
					if binary.LittleEndian.Uint32(pruned[g+4*j:]) != 0 && (m < 0 ||
						v < math.Abs(float64(math.Float32frombits(binary.LittleEndian.Uint32(pruned[g+4*m:]))))) {
						m = j
					}
				}
				if m >= 0 {
					binary.LittleEndian.PutUint32(pruned[g+4*m:], 0)
				}
			}
		}
		c, err := s.CompressBytes(pruned, F32, ts.shape, p)
		if err != nil {
			t.Fatal(err)
		}
		nz := uint64(0)
		for i := 0; i < len(pruned); i += 4 {
			if binary.LittleEndian.Uint32(pruned[i:]) != 0 {
				nz++
			}
		}
		info, err := Inspect(c)
		if err != nil || info.Codec != Sparse || info.SparseNonzeros != nz || info.SparseValues != LosslessV2 {
			t.Fatalf("%s: inspect %+v %v", ts.name, info, err)
		}
		out := make([]byte, len(pruned))
		if err := s.DecompressBytes(c, F32, out); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, pruned) {
			t.Fatalf("%s: sparse round trip differs", ts.name)
		}
	}
}

// TestAuto: within abs 1e-3 codec Auto is no larger than p-adic alone and keeps the bound on
// real weights; a target ratio of 2 takes the fastest decoder reaching it (quant).
func TestAuto(t *testing.T) {
	s := newSystem(t)
	defer s.Close()
	ap, _ := NewParams(Auto)
	defer ap.Close()
	pp, _ := NewParams(Padic)
	defer pp.Close()
	for _, p := range []*Params{ap, pp} {
		if err := p.SetAbsBound(1e-3); err != nil {
			t.Fatal(err)
		}
	}
	for _, ts := range loadFixture(t, "minilm-subset-f32.safetensors") {
		if ts.dtype != "F32" || len(ts.data) < 100000 {
			continue
		}
		c, err := s.CompressBytes(ts.data, F32, ts.shape, ap)
		if err != nil {
			t.Fatal(err)
		}
		pc, err := s.CompressBytes(ts.data, F32, ts.shape, pp)
		if err != nil || len(c) > len(pc) {
			t.Fatalf("%s: auto %d bytes, p-adic %d (%v)", ts.name, len(c), len(pc), err)
		}
		out := make([]byte, len(ts.data))
		if err := s.DecompressBytes(c, F32, out); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(out); i += 4 {
			x := float64(math.Float32frombits(binary.LittleEndian.Uint32(ts.data[i:])))
			y := float64(math.Float32frombits(binary.LittleEndian.Uint32(out[i:])))
			if math.Abs(x-y) > 1e-3 {
				t.Fatalf("%s: element %d: %v -> %v", ts.name, i/4, x, y)
			}
		}
	}
	if err := ap.SetTargetRatio(2); err != nil {
		t.Fatal(err)
	}
	ts := loadFixture(t, "minilm-subset-f32.safetensors")
	for _, x := range ts {
		if x.dtype == "F32" && len(x.data) > 100000 {
			c, err := s.CompressBytes(x.data, F32, x.shape, ap)
			if err != nil {
				t.Fatal(err)
			}
			if info, _ := Inspect(c); info.Codec != Quant {
				t.Fatalf("%s: target ratio 2 gave %v", x.name, info.Codec)
			}
			break
		}
	}
	if err := ap.SetPriority(2); err == nil {
		t.Fatal("priority 2 accepted")
	}
}

func TestErrors(t *testing.T) {
	s := newSystem(t)
	defer s.Close()
	p, _ := NewParams(Lossless)
	defer p.Close()
	ts := loadFixture(t, "minilm-subset-f32.safetensors")[0]
	c, err := s.CompressBytes(ts.data, dtypes[ts.dtype], ts.shape, p)
	if err != nil {
		t.Fatal(err)
	}
	var e *Error
	err = s.DecompressBytes(c, dtypes[ts.dtype], make([]byte, len(ts.data)-1))
	if !errors.As(err, &e) || e.Code != ErrDestination {
		t.Fatalf("short destination: %v", err)
	}
	bad := append([]byte(nil), c...)
	bad[len(bad)-3] ^= 0x40
	err = s.DecompressBytes(bad, dtypes[ts.dtype], make([]byte, len(ts.data)))
	if !errors.As(err, &e) || e.Code != ErrChecksum {
		t.Fatalf("corrupted: %v", err)
	}
	err = s.DecompressBytes(c[:len(c)/2], dtypes[ts.dtype], make([]byte, len(ts.data)))
	if !errors.As(err, &e) || e.Code != ErrTruncated {
		t.Fatalf("truncated: %v", err)
	}
	pp, _ := NewParams(Padic)
	defer pp.Close()
	if err := pp.SetPrime(250); !errors.As(err, &e) || e.Code != ErrInvalidArgument {
		t.Fatalf("non-prime: %v", err)
	}
	if _, err := ConfigFromJSON(`{"device":"tpu"}`); !errors.As(err, &e) || e.Code != ErrInvalidArgument {
		t.Fatalf("bad device: %v", err)
	}
	// Close is idempotent.
	s2 := newSystem(t)
	s2.Close()
	s2.Close()
}

func TestWholeAPI(t *testing.T) {
	t.Setenv("SARAPHIS_THREADS", "1")
	cfg, err := ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	if cfg.SetChunkElems(4096) != nil || cfg.SetVerifyChecksums(true) != nil || cfg.SetDevice("cpu") != nil {
		t.Fatal("config setters")
	}
	s, err := NewSystem(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if d, err := s.Device(); err != nil || d[:3] != "cpu" {
		t.Fatalf("device %q %v", d, err)
	}
	// The build may or may not embed kernels (CI builds them); the device choice must agree:
	// this config asked for the CPU, so the system reports cpu either way.
	_ = BuildHasCUDA()
	if Version() == "" || VersionNumber() == 0 || ResultText(ErrChecksum) != "checksum mismatch" {
		t.Fatal("version / build / result text")
	}
	var big tensor
	for _, x := range loadFixture(t, "minilm-subset-f32.safetensors") {
		if x.dtype == "F32" && len(x.data) > len(big.data) {
			big = x
		}
	}
	p, _ := NewParams(Padic)
	defer p.Close()
	if p.SetPrime(3) != nil || p.SetPrecision(0) != nil || p.SetAbsBound(1e-3) != nil || p.SetChunkElems(65536) != nil || p.SetLanes(128) != nil {
		t.Fatal("params setters")
	}
	bound, err := CompressBound(F32, big.shape, p)
	if err != nil || bound < len(big.data) {
		t.Fatalf("bound %d %v", bound, err)
	}
	dst := make([]byte, bound)
	n, err := s.CompressInto(big.data, F32, big.shape, p, dst)
	if err != nil || n == 0 || n > bound {
		t.Fatalf("compress into: %d %v", n, err)
	}
	info, _ := Inspect(dst[:n])
	out := make([]byte, len(big.data))
	for k := uint32(1); k <= info.Precision; k++ {
		stated, err := s.DecompressProgressive(dst[:n], F32, k, out)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(out); i += 4 {
			a := math.Float32frombits(binary.LittleEndian.Uint32(big.data[i:]))
			b := math.Float32frombits(binary.LittleEndian.Uint32(out[i:]))
			if math.Abs(float64(a)-float64(b)) > stated {
				t.Fatalf("planes %d: element %d beyond the stated bound %g", k, i/4, stated)
			}
		}
	}
	var e *Error
	if err := s.DecompressDevice(1, 4, F32, 2, 4, 0, 0, 0); !errors.As(err, &e) || e.Code != ErrDevice {
		t.Fatalf("device decode on a CPU system: %v", err)
	}
	if err := s.DeviceSynchronize(); !errors.As(err, &e) || e.Code != ErrDevice {
		t.Fatalf("device synchronize on a CPU system: %v", err)
	}
	if ptb, pmb, err := CompressDeviceSizes(F32, big.shape, p); err != nil || ptb <= 0 || pmb < len(big.data) {
		t.Fatalf("p-adic device compression sizes: temp %d, max %d: %v", ptb, pmb, err)
	}
	lp, _ := NewParams(Lossless)
	defer lp.Close()
	tb, mb, err := CompressDeviceSizes(F32, big.shape, lp)
	if err != nil {
		t.Fatal(err)
	}
	// The GPU encoder writes layout v1, whose bound is within the host bound (layout v2's).
	if hb, _ := CompressBound(F32, big.shape, lp); mb <= 0 || mb > hb || tb <= 0 || tb*50 > len(big.data) {
		t.Fatalf("device sizes: temp %d, max %d (host bound %d, input %d)", tb, mb, hb, len(big.data))
	}
	if _, err := s.CompressOnGPU(big.data, F32, big.shape, lp); !errors.As(err, &e) || e.Code != ErrDevice {
		t.Fatalf("GPU compression on a CPU system: %v", err)
	}
	if err := s.CompressDevice(1, 4, F32, []uint64{1}, lp, 2, 64, 0, 0, 8, 0); !errors.As(err, &e) || e.Code != ErrDevice {
		t.Fatalf("device compression on a CPU system: %v", err)
	}
	if _, err := s.CompressInto(big.data, F32, big.shape, p, dst[:10]); !errors.As(err, &e) || e.Code != ErrDestination {
		t.Fatalf("small dst: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := newSystem(t)
	defer s.Close()
	ts := loadFixture(t, "minilm-subset-f32.safetensors")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, _ := NewParams(Lossless)
			defer p.Close()
			for _, x := range ts {
				c, err := s.CompressBytes(x.data, dtypes[x.dtype], x.shape, p)
				if err != nil {
					errs <- err
					return
				}
				out := make([]byte, len(x.data))
				if err := s.DecompressBytes(c, dtypes[x.dtype], out); err != nil || !bytes.Equal(out, x.data) {
					errs <- errors.New("concurrent round trip failed")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestCrossLanguage reads containers written by the C# binding and writes its own for C# to
// read (scripts/sdk-test.sh sets SARAPHIS_CROSS_DIR and runs C#, Go, then C# again).
func TestCrossLanguage(t *testing.T) {
	dir := os.Getenv("SARAPHIS_CROSS_DIR")
	if dir == "" {
		t.Skip("SARAPHIS_CROSS_DIR not set: cross-language round trip runs from scripts/sdk-test.sh")
	}
	s := newSystem(t)
	defer s.Close()
	p, _ := NewParams(Lossless)
	defer p.Close()
	read := 0
	for _, ts := range loadFixture(t, "minilm-subset-f32.safetensors") {
		if ts.dtype != "F32" {
			continue
		}
		if c, err := os.ReadFile(filepath.Join(dir, "cs-"+ts.name+".spht")); err == nil {
			out := make([]byte, len(ts.data))
			if err := s.DecompressBytes(c, F32, out); err != nil || !bytes.Equal(out, ts.data) {
				t.Fatalf("%s written by C#: not bit-exact (%v)", ts.name, err)
			}
			read++
		}
		c, err := s.CompressBytes(ts.data, F32, ts.shape, p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "go-"+ts.name+".spht"), c, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if read == 0 {
		t.Fatal("no containers from C# found")
	}
	t.Logf("read %d containers written by C#", read)
}

// testArchive gives the path of a .sph archive of tests/data/minilm-subset-f32.safetensors:
// $SARAPHIS_TEST_ARCHIVE if set, otherwise one written into dir by the CLI of this checkout
// (cargo build --bin saraphis, then saraphis compress --lossless-v2). Skips without cargo.
func testArchive(t *testing.T, dir string) string {
	t.Helper()
	if p := os.Getenv("SARAPHIS_TEST_ARCHIVE"); p != "" {
		return p
	}
	if _, err := exec.LookPath("cargo"); err != nil {
		t.Skip("archive tests need a .sph archive of the fixture: set SARAPHIS_TEST_ARCHIVE, or put cargo on PATH to build one with the CLI")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command("cargo", "build", "--quiet", "--bin", "saraphis")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("cargo build --bin saraphis: %v\n%s", err, out)
	}
	target := os.Getenv("CARGO_TARGET_DIR")
	if target == "" {
		target = filepath.Join(root, "target")
	} else if !filepath.IsAbs(target) {
		target = filepath.Join(root, target)
	}
	path := filepath.Join(dir, "m.sph")
	cli := exec.Command(filepath.Join(target, "debug", "saraphis"), "compress",
		filepath.Join(root, "tests", "data", "minilm-subset-f32.safetensors"), "-o", path, "--lossless-v2")
	if out, err := cli.CombinedOutput(); err != nil {
		t.Fatalf("saraphis compress: %v\n%s", err, out)
	}
	return path
}

func wantCode(t *testing.T, err error, code int, what string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("%s: want code %d (%s), got %v", what, code, ResultText(code), err)
	}
}

// checkArchive asserts that a holds exactly the fixture's tensors, bit for bit.
func checkArchive(t *testing.T, a *Archive, fixture map[string][]byte) {
	t.Helper()
	n := a.Len()
	if n <= 1 || n != len(fixture) {
		t.Fatalf("archive has %d tensors, the fixture %d", n, len(fixture))
	}
	for i := 0; i < n; i++ {
		name, err := a.Name(i)
		if err != nil {
			t.Fatal(err)
		}
		if j, err := a.Find(name); err != nil || j != i {
			t.Fatalf("Find(%q) = %d, %v; want %d", name, j, err, i)
		}
		want, ok := fixture[name]
		if !ok {
			t.Fatalf("tensor %q is not in the fixture", name)
		}
		info, err := a.Info(i)
		if err != nil || info.OriginalBytes != uint64(len(want)) {
			t.Fatalf("%s: info %+v, %v", name, info, err)
		}
		got, err := a.Decompress(i)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: decoded bytes differ from the fixture's", name)
		}
	}
}

func TestArchive(t *testing.T) {
	dir := t.TempDir()
	path := testArchive(t, dir)
	fixture := map[string][]byte{}
	for _, x := range loadFixture(t, "minilm-subset-f32.safetensors") {
		fixture[x.name] = x.data
	}
	cfg, err := ConfigFromJSON(`{"device":"cpu","threads":2}`)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSystem(cfg)
	cfg.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, err := OpenArchive(s, path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	t.Run("tensors", func(t *testing.T) {
		checkArchive(t, a, fixture)
		// DecompressInto, and its destination check.
		info, _ := a.Info(0)
		dst := make([]byte, info.OriginalBytes)
		name, _ := a.Name(0)
		if err := a.DecompressInto(0, dst); err != nil || !bytes.Equal(dst, fixture[name]) {
			t.Fatalf("DecompressInto: %v", err)
		}
		wantCode(t, a.DecompressInto(0, dst[:len(dst)-1]), ErrDestination, "short destination")
	})

	t.Run("errors", func(t *testing.T) {
		n := a.Len()
		_, err := a.Find("no.such.tensor")
		wantCode(t, err, ErrNotFound, "Find of an unknown name")
		name, _ := a.Name(0)
		_, err = a.Find(name + "\x00x")
		wantCode(t, err, ErrNotFound, "Find of a name with a NUL byte")
		_, err = a.Decompress(n)
		wantCode(t, err, ErrInvalidArgument, "Decompress out of range")
		wantCode(t, a.DecompressInto(n, make([]byte, 4)), ErrInvalidArgument, "DecompressInto out of range")
		_, err = a.Decompress(-1)
		wantCode(t, err, ErrInvalidArgument, "Decompress(-1)")
		_, err = a.Name(n)
		wantCode(t, err, ErrInvalidArgument, "Name out of range")
		_, err = a.Info(n)
		wantCode(t, err, ErrInvalidArgument, "Info out of range")
		_, err = OpenArchive(s, filepath.Join(dir, "missing.sph"))
		wantCode(t, err, ErrIO, "OpenArchive of a missing file")
		_, err = OpenArchiveMemory(s, []byte("not an archive at all, but long enough to have a header......................"))
		wantCode(t, err, ErrBadMagic, "OpenArchiveMemory of other bytes")
		// A CPU system has no device to decode into.
		info, _ := a.Info(0)
		wantCode(t, a.DecompressDevice(0, 256, int(info.OriginalBytes), 0), ErrDevice, "DecompressDevice on a CPU system")
		wantCode(t, a.DecompressDeviceBatch([]ArchiveOutput{{0, 256, int(info.OriginalBytes)}}, 0), ErrDevice,
			"DecompressDeviceBatch on a CPU system")
	})

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("memory", func(t *testing.T) {
		data := append([]byte(nil), raw...)
		m, err := OpenArchiveMemory(s, data)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		// The archive owns a copy: the caller's slice may change at once.
		for i := range data {
			data[i] = 0
		}
		runtime.GC()
		checkArchive(t, m, fixture)
		for i := 0; i < a.Len(); i++ {
			x, _ := a.Name(i)
			y, _ := m.Name(i)
			ia, _ := a.Info(i)
			im, _ := m.Info(i)
			if x != y || ia.CompressedBytes != im.CompressedBytes {
				t.Fatalf("tensor %d: file %q (%d bytes), memory %q (%d bytes)", i, x, ia.CompressedBytes, y, im.CompressedBytes)
			}
		}
	})

	t.Run("corrupt container", func(t *testing.T) {
		// Containers follow the 64-byte file header in archive order, each at a multiple of 64.
		n := a.Len()
		offsets := make([]uint64, n)
		sizes := make([]uint64, n)
		largest := 0
		off := uint64(64)
		for i := 0; i < n; i++ {
			info, err := a.Info(i)
			if err != nil {
				t.Fatal(err)
			}
			offsets[i], sizes[i] = off, info.CompressedBytes
			if string(raw[off:off+4]) != "SPHT" {
				t.Fatalf("tensor %d: no container magic at byte %d", i, off)
			}
			if sizes[i] > sizes[largest] {
				largest = i
			}
			off = (off + sizes[i] + 63) / 64 * 64
		}
		bad := append([]byte(nil), raw...)
		bad[offsets[largest]+sizes[largest]-1] ^= 0x01
		m, err := OpenArchiveMemory(s, bad)
		if err != nil {
			t.Fatalf("open (headers are intact): %v", err)
		}
		defer m.Close()
		name, _ := m.Name(largest)
		_, err = m.Decompress(largest)
		wantCode(t, err, ErrChecksum, "Decompress of "+name+" with its last byte flipped")
		neighbour := largest + 1
		if neighbour == n {
			neighbour = largest - 1
		}
		nn, _ := m.Name(neighbour)
		if got, err := m.Decompress(neighbour); err != nil || !bytes.Equal(got, fixture[nn]) {
			t.Fatalf("neighbour %s: %v", nn, err)
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 4*a.Len())
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < a.Len(); i++ {
					name, _ := a.Name(i)
					got, err := a.Decompress(i)
					if err != nil || !bytes.Equal(got, fixture[name]) {
						errs <- fmt.Errorf("%s: %v", name, err)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})

	t.Run("close", func(t *testing.T) {
		// The C archive holds the system: closing the system first is allowed.
		s2 := newSystem(t)
		b, err := OpenArchive(s2, path)
		if err != nil {
			t.Fatal(err)
		}
		s2.Close()
		checkArchive(t, b, fixture)
		b.Close()
		b.Close()
		if b.Len() != 0 {
			t.Fatal("Len after Close")
		}
		_, err = b.Decompress(0)
		wantCode(t, err, ErrNullParameter, "Decompress after Close")
		_, err = b.Find("x")
		wantCode(t, err, ErrNullParameter, "Find after Close")
		_, err = b.Name(0)
		wantCode(t, err, ErrNullParameter, "Name after Close")
	})
}

func TestHeaderBytes(t *testing.T) {
	s := newSystem(t)
	defer s.Close()
	p, _ := NewParams(Lossless)
	defer p.Close()
	var big tensor
	for _, x := range loadFixture(t, "minilm-subset-f32.safetensors") {
		if len(x.data) > len(big.data) {
			big = x
		}
	}
	c, err := s.CompressBytes(big.data, dtypes[big.dtype], big.shape, p)
	if err != nil {
		t.Fatal(err)
	}
	prefix := c[:min(len(c), HeaderMaxBytes)]
	n, err := HeaderBytes(prefix)
	if err != nil || n <= 0 || n >= len(c) || n > len(prefix) {
		t.Fatalf("HeaderBytes = %d, %v (container %d bytes, prefix %d)", n, err, len(c), len(prefix))
	}
	info, err := Inspect(c[:n])
	if err != nil || info.OriginalBytes != uint64(len(big.data)) || info.CompressedBytes != uint64(len(c)) {
		t.Fatalf("Inspect of the header: %+v, %v", info, err)
	}
	_, err = Inspect(c[:n-1])
	wantCode(t, err, ErrTruncated, "Inspect of one byte less than the header")
	// From nothing, a few rounds reach the exact length.
	k := 0
	for r := 0; r < 4; r++ {
		m, err := HeaderBytes(c[:k])
		if err != nil {
			t.Fatal(err)
		}
		if m <= k {
			break
		}
		k = m
	}
	if k != n {
		t.Fatalf("rounds from 0 bytes end at %d, want %d", k, n)
	}
	_, err = HeaderBytes([]byte("NOPE, not a container"))
	wantCode(t, err, ErrBadMagic, "HeaderBytes of other bytes")
}

// The integer configuration keys of issue 12 through Config.Set: accepted in range, refused out of it.
func TestConfigKeys(t *testing.T) {
	c, err := NewConfig()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, kv := range []struct {
		k    ConfigKey
		good int64
		bad  int64
	}{
		{ConfigLanes, 128, 129}, {ConfigGPUMemoryLimitMB, 4096, -1}, {ConfigCPUWorkers, 2, -2},
		{ConfigEnableProfiling, 0, 2}, {ConfigMonitoringIntervalMS, 250, -1}, {ConfigSwapPolicy, 2, 3},
		{ConfigOptimizationStrategy, 4, 5}, {ConfigMemoryPressureMode, 1, 2},
	} {
		if err := c.Set(kv.k, kv.good); err != nil {
			t.Errorf("key %d = %d: %v", kv.k, kv.good, err)
		}
		if err := c.Set(kv.k, kv.bad); err == nil {
			t.Errorf("key %d = %d accepted", kv.k, kv.bad)
		}
	}
}

func TestArchiveDelta(t *testing.T) {
	// A real fine-tune (tests/data/minilm-subset-finetuned-f32.safetensors) against its base:
	// written with CompressFileDelta, read back bit for bit once the base is attached, refused
	// before.
	dir := t.TempDir()
	basePath := testArchive(t, dir)
	root := filepath.Join("..", "..", "tests", "data")
	cfg, err := ConfigFromJSON(`{"device":"cpu","threads":2}`)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSystem(cfg)
	cfg.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := NewParams(Lossless)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	deltaPath := filepath.Join(dir, "tuned.sph")
	if err := s.CompressFileDelta(p, filepath.Join(root, "minilm-subset-finetuned-f32.safetensors"),
		filepath.Join(root, "minilm-subset-f32.safetensors"), deltaPath); err != nil {
		t.Fatal(err)
	}
	a, err := OpenArchive(s, deltaPath)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenArchive(s, basePath)
	if err != nil {
		t.Fatal(err)
	}
	want := loadFixture(t, "minilm-subset-finetuned-f32.safetensors")
	i, err := a.Find(want[1].name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := a.Info(i)
	if err != nil || info.Codec != Delta {
		t.Fatalf("codec %v, %v", info.Codec, err)
	}
	_, err = a.Decompress(i)
	wantCode(t, err, ErrInvalidArgument, "a delta tensor before its base is attached")
	n, err := a.SetBase(b)
	b.Close() // the archive keeps its own reference
	if err != nil || n < len(want)-1 {
		t.Fatalf("SetBase: %d delta tensors, %v", n, err)
	}
	for _, x := range want {
		j, err := a.Find(x.name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := a.Decompress(j)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, x.data) {
			t.Fatalf("%s: differs from the fine-tune", x.name)
		}
	}
}

package saraphis

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
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
	if hb, _ := CompressBound(F32, big.shape, lp); mb != hb || tb <= 0 || tb*100 > len(big.data) {
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

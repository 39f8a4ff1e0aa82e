// Package saraphis is the Go binding of the Saraphis C API (libsaraphis, include/saraphis.h).
//
// It builds with cgo through pkg-config: install the library with `scripts/install.sh PREFIX`
// and set PKG_CONFIG_PATH=PREFIX/lib/pkgconfig (and LD_LIBRARY_PATH=PREFIX/lib to run).
//
// Handles are Go structs holding the C pointer; each has an idempotent Close and a finalizer
// as a safety net. No Go pointer is kept by C: buffers are passed for the duration of a call
// only (OpenArchiveMemory copies its bytes into C memory that the Archive owns), and
// runtime.KeepAlive follows every call. A *System and an *Archive (an opened .sph file: a whole
// model) may be used from many goroutines at once; Config and Params must not be modified
// concurrently.
package saraphis

/*
#cgo pkg-config: saraphis
#include <stdlib.h>
#include <stdint.h>
#include <saraphis.h>

// Device addresses are integers owned by the caller's CUDA allocator, never Go memory: turn
// them into pointers on the C side.
static inline void *saraphis_go_device_ptr(uintptr_t p) { return (void *)p; }
*/
import "C"

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// DType is an element type (saraphis_dtype).
type DType uint32

// Element types.
const (
	F32  DType = C.SARAPHIS_F32
	F16  DType = C.SARAPHIS_F16
	BF16 DType = C.SARAPHIS_BF16
	F64  DType = C.SARAPHIS_F64
	I8   DType = C.SARAPHIS_I8
	I16  DType = C.SARAPHIS_I16
	I32  DType = C.SARAPHIS_I32
	I64  DType = C.SARAPHIS_I64
	U8   DType = C.SARAPHIS_U8
	U16  DType = C.SARAPHIS_U16
	U32  DType = C.SARAPHIS_U32
	U64  DType = C.SARAPHIS_U64
	Bool DType = C.SARAPHIS_BOOL
)

// Codec selects a codec (saraphis_codec).
type Codec uint32

// Codecs.
const (
	Raw      Codec = C.SARAPHIS_CODEC_RAW
	Lossless Codec = C.SARAPHIS_CODEC_LOSSLESS
	Padic    Codec = C.SARAPHIS_CODEC_PADIC
	Bytes    Codec = C.SARAPHIS_CODEC_BYTES
	// LosslessV2: bit-exact, stream layout v2 (F32/F16/BF16), decoded by the batched GPU call.
	LosslessV2 Codec = C.SARAPHIS_CODEC_LOSSLESS_V2
	// Quant: block, per-channel or global quantization, fixed rate or within SetAbsBound
	// (docs/FORMAT.md section 7).
	Quant Codec = C.SARAPHIS_CODEC_QUANT
	// Sparse: a bitmap of the nonzero elements plus the nonzeros, lossless or within
	// SetAbsBound/SetRelBound (docs/FORMAT.md section 8); written where it is smaller.
	Sparse Codec = C.SARAPHIS_CODEC_SPARSE
	// Auto: chosen per tensor by trial compression under the constraints set (SetAbsBound,
	// SetRelBound, SetBits, SetTargetRatio, SetPriority; docs/FORMAT.md section 9); the
	// container is the chosen codec's. CPU compression only.
	Auto Codec = C.SARAPHIS_CODEC_AUTO
	// Delta: a container coded against a base model's tensor (docs/FORMAT.md section 10),
	// written by the CLI's --base; Inspect reports it. Not a compression codec here;
	// archives decode such tensors once their base is attached (Archive.SetBase).
	Delta Codec = C.SARAPHIS_CODEC_DELTA
)

// Error is a failed call: Code is the C saraphis_result, Message the detailed text.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("saraphis error %d: %s", e.Code, e.Message) }

// Result codes that callers commonly test for.
const (
	ErrNullParameter   = int(C.SARAPHIS_ERR_NULL_PARAMETER)
	ErrInvalidArgument = int(C.SARAPHIS_ERR_INVALID_ARGUMENT)
	ErrDestination     = int(C.SARAPHIS_ERR_DESTINATION)
	ErrBadMagic        = int(C.SARAPHIS_ERR_BAD_MAGIC)
	ErrTruncated       = int(C.SARAPHIS_ERR_TRUNCATED)
	ErrChecksum        = int(C.SARAPHIS_ERR_CHECKSUM)
	ErrCorrupt         = int(C.SARAPHIS_ERR_CORRUPT)
	ErrUnsupported     = int(C.SARAPHIS_ERR_UNSUPPORTED)
	// ErrNotFound: no tensor of that name in an archive (Archive.Find).
	ErrNotFound = int(C.SARAPHIS_ERR_NOT_FOUND)
	// ErrIO: an operating-system I/O error, e.g. OpenArchive of a missing file (the message
	// names the path).
	ErrIO = int(C.SARAPHIS_ERR_IO)
)

// check turns a result into an error. The detailed message is per OS thread in C, so the
// caller must hold the thread (runtime.LockOSThread) from the call until here.
func check(r uint32) error {
	if r == uint32(C.SARAPHIS_OK) {
		return nil
	}
	text := C.GoString(C.saraphis_result_text(C.uint32_t(r)))
	return &Error{Code: int(r), Message: text + ": " + C.GoString(C.saraphis_last_error_message())}
}

// call runs f on a locked OS thread so the error message read after it is f's.
func call(f func() uint32) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return check(f())
}

// Version is the run-time library version, e.g. "0.2.0".
func Version() string { return C.GoString(C.saraphis_version()) }

// VersionNumber is MAJOR*10000 + MINOR*100 + PATCH.
func VersionNumber() uint32 { return uint32(C.saraphis_version_number()) }

// BuildHasCUDA reports whether the library embeds CUDA kernels.
func BuildHasCUDA() bool { return C.saraphis_build_has_cuda() == 1 }

// ResultText is the static text of a result code.
func ResultText(code int) string { return C.GoString(C.saraphis_result_text(C.uint32_t(code))) }

// ---------------------------------------------------------------- Config

// Config is a system configuration.
type Config struct {
	once sync.Once
	p    *C.saraphis_config
}

func newConfig(p *C.saraphis_config) *Config {
	c := &Config{p: p}
	runtime.SetFinalizer(c, (*Config).Close)
	return c
}

// NewConfig returns the defaults: device auto, one thread per core, 2^18-element chunks.
func NewConfig() (*Config, error) {
	var p *C.saraphis_config
	if err := call(func() uint32 { return C.saraphis_config_new(&p) }); err != nil {
		return nil, err
	}
	return newConfig(p), nil
}

// ConfigFromJSON parses JSON such as {"device":"cpu","threads":4}.
func ConfigFromJSON(json string) (*Config, error) {
	cs := C.CString(json)
	defer C.free(unsafe.Pointer(cs))
	var p *C.saraphis_config
	if err := call(func() uint32 { return C.saraphis_config_from_json(cs, &p) }); err != nil {
		return nil, err
	}
	return newConfig(p), nil
}

// ConfigFromEnv reads SARAPHIS_DEVICE, SARAPHIS_THREADS, SARAPHIS_CHUNK_ELEMS and
// SARAPHIS_VERIFY_CHECKSUMS over the defaults.
func ConfigFromEnv() (*Config, error) {
	var p *C.saraphis_config
	if err := call(func() uint32 { return C.saraphis_config_from_env(&p) }); err != nil {
		return nil, err
	}
	return newConfig(p), nil
}

func (c *Config) set(key C.saraphis_config_key, v int64) error {
	err := call(func() uint32 { return C.saraphis_config_set(c.p, C.uint32_t(key), C.int64_t(v)) })
	runtime.KeepAlive(c)
	return err
}

// ConfigKey is an integer configuration key (saraphis_config_key).
type ConfigKey uint32

// The configuration keys of Config.Set (see saraphis.h for each key's values).
const (
	ConfigThreads              ConfigKey = C.SARAPHIS_CONFIG_THREADS
	ConfigChunkElems           ConfigKey = C.SARAPHIS_CONFIG_CHUNK_ELEMS
	ConfigVerifyChecksums      ConfigKey = C.SARAPHIS_CONFIG_VERIFY_CHECKSUMS
	ConfigLanes                ConfigKey = C.SARAPHIS_CONFIG_LANES
	ConfigGPUMemoryLimitMB     ConfigKey = C.SARAPHIS_CONFIG_GPU_MEMORY_LIMIT_MB
	ConfigPinnedHostLimitMB    ConfigKey = C.SARAPHIS_CONFIG_PINNED_HOST_LIMIT_MB
	ConfigCPUWorkers           ConfigKey = C.SARAPHIS_CONFIG_CPU_WORKERS
	ConfigEnableProfiling      ConfigKey = C.SARAPHIS_CONFIG_ENABLE_PROFILING
	ConfigMonitoringIntervalMS ConfigKey = C.SARAPHIS_CONFIG_MONITORING_INTERVAL_MS
	ConfigSwapPolicy           ConfigKey = C.SARAPHIS_CONFIG_SWAP_POLICY
	ConfigOptimizationStrategy ConfigKey = C.SARAPHIS_CONFIG_OPTIMIZATION_STRATEGY
	ConfigMemoryPressureMode   ConfigKey = C.SARAPHIS_CONFIG_MEMORY_PRESSURE_MODE
)

// Set sets any integer configuration key; a bad value is an error and leaves the config as it was.
func (c *Config) Set(key ConfigKey, v int64) error { return c.set(C.saraphis_config_key(key), v) }

// SetChunkElems sets the default chunk size in elements.
func (c *Config) SetChunkElems(n int64) error { return c.set(C.SARAPHIS_CONFIG_CHUNK_ELEMS, n) }

// SetVerifyChecksums turns chunk checksum verification on decode on or off.
func (c *Config) SetVerifyChecksums(on bool) error {
	v := int64(0)
	if on {
		v = 1
	}
	return c.set(C.SARAPHIS_CONFIG_VERIFY_CHECKSUMS, v)
}

// SetThreads sets the worker threads (0 = one per core).
func (c *Config) SetThreads(n int64) error {
	err := call(func() uint32 { return C.saraphis_config_set(c.p, C.SARAPHIS_CONFIG_THREADS, C.int64_t(n)) })
	runtime.KeepAlive(c)
	return err
}

// SetDevice sets "auto", "cpu" or "cuda:N".
func (c *Config) SetDevice(d string) error {
	cs := C.CString(d)
	defer C.free(unsafe.Pointer(cs))
	err := call(func() uint32 { return C.saraphis_config_set_device(c.p, cs) })
	runtime.KeepAlive(c)
	return err
}

// Close frees the config; later calls are no-ops.
func (c *Config) Close() {
	c.once.Do(func() {
		C.saraphis_config_free(c.p)
		c.p = nil
		runtime.SetFinalizer(c, nil)
	})
}

// ---------------------------------------------------------------- Params

// Params holds a codec and its parameters.
type Params struct {
	once sync.Once
	p    *C.saraphis_params
}

// NewParams creates parameters for codec (Raw, Lossless or Padic).
func NewParams(codec Codec) (*Params, error) {
	var p *C.saraphis_params
	if err := call(func() uint32 { return C.saraphis_params_new(C.uint32_t(codec), &p) }); err != nil {
		return nil, err
	}
	pp := &Params{p: p}
	runtime.SetFinalizer(pp, (*Params).Close)
	return pp, nil
}

func (p *Params) set(key C.saraphis_param, v float64) error {
	err := call(func() uint32 { return C.saraphis_params_set(p.p, C.uint32_t(key), C.double(v)) })
	runtime.KeepAlive(p)
	return err
}

// SetPrime sets the p-adic prime base (a prime <= 65521).
func (p *Params) SetPrime(prime uint32) error { return p.set(C.SARAPHIS_PARAM_PRIME, float64(prime)) }

// SetPrecision sets the digit planes N (0 = automatic).
func (p *Params) SetPrecision(n uint32) error { return p.set(C.SARAPHIS_PARAM_PRECISION, float64(n)) }

// SetAbsBound sets |x - x'| <= eps for every element.
func (p *Params) SetAbsBound(eps float64) error { return p.set(C.SARAPHIS_PARAM_ABS_BOUND, eps) }

// SetRelBound sets |x - x'| <= eps |x| for every element.
func (p *Params) SetRelBound(eps float64) error { return p.set(C.SARAPHIS_PARAM_REL_BOUND, eps) }

// SetLanes sets the most rANS lanes per stream (0 = 32, up to 128; more decode faster on GPUs).
func (p *Params) SetLanes(n uint32) error { return p.set(C.SARAPHIS_PARAM_LANES, float64(n)) }

// SetBits sets the quant codec's bits per element (2..8).
func (p *Params) SetBits(n uint32) error { return p.set(C.SARAPHIS_PARAM_BITS, float64(n)) }

// SetBlock sets the quant codec's block length along the last axis (a power of two, 16..4096).
func (p *Params) SetBlock(n uint32) error { return p.set(C.SARAPHIS_PARAM_BLOCK, float64(n)) }

// SetAxis selects per-channel quantization along this axis.
func (p *Params) SetAxis(axis uint32) error { return p.set(C.SARAPHIS_PARAM_AXIS, float64(axis)) }

// SetGrouping sets the quant grouping: 0 blocks, 1 channels, 2 one global scale.
func (p *Params) SetGrouping(g uint32) error { return p.set(C.SARAPHIS_PARAM_GROUPING, float64(g)) }

// SetScaleDType sets the dtype of the quant scales (F32, F16 or BF16).
func (p *Params) SetScaleDType(d DType) error {
	return p.set(C.SARAPHIS_PARAM_SCALE_DTYPE, float64(d))
}

// SetZeroPoint stores a minimum per quant group (asymmetric) when on.
func (p *Params) SetZeroPoint(on bool) error {
	v := 0.0
	if on {
		v = 1
	}
	return p.set(C.SARAPHIS_PARAM_ZERO_POINT, v)
}

// SetTargetRatio makes codec Auto keep the fastest-decoding codec whose ratio reaches r
// (0 = none; the highest ratio when none reaches it).
func (p *Params) SetTargetRatio(r float64) error { return p.set(C.SARAPHIS_PARAM_TARGET_RATIO, r) }

// SetPriority sets codec Auto's rule without a target: 0 the highest ratio, 1 the fastest
// decoder within 5% of it.
func (p *Params) SetPriority(v uint32) error { return p.set(C.SARAPHIS_PARAM_PRIORITY, float64(v)) }

// SetChunkElems sets the elements per chunk.
func (p *Params) SetChunkElems(n uint32) error {
	return p.set(C.SARAPHIS_PARAM_CHUNK_ELEMS, float64(n))
}

// Close frees the parameters; later calls are no-ops.
func (p *Params) Close() {
	p.once.Do(func() {
		C.saraphis_params_free(p.p)
		p.p = nil
		runtime.SetFinalizer(p, nil)
	})
}

// ---------------------------------------------------------------- System

// System is the coordinator; safe for concurrent use.
type System struct {
	once sync.Once
	p    *C.saraphis_system
}

// NewSystem creates a system from cfg (nil = defaults).
func NewSystem(cfg *Config) (*System, error) {
	var cp *C.saraphis_config
	if cfg != nil {
		cp = cfg.p
	}
	var p *C.saraphis_system
	err := call(func() uint32 { return C.saraphis_system_new(cp, &p) })
	runtime.KeepAlive(cfg)
	if err != nil {
		return nil, err
	}
	s := &System{p: p}
	runtime.SetFinalizer(s, (*System).Close)
	return s, nil
}

// Close frees the system; later calls are no-ops.
func (s *System) Close() {
	s.once.Do(func() {
		C.saraphis_system_free(s.p)
		s.p = nil
		runtime.SetFinalizer(s, nil)
	})
}

func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// shapePtr is the C view of shape (nil when empty); the caller keeps shape alive for the call.
func shapePtr(shape []uint64) *C.uint64_t {
	if len(shape) == 0 {
		return nil
	}
	return (*C.uint64_t)(unsafe.Pointer(&shape[0]))
}

// takeBuffer copies a library buffer into Go memory and frees it.
func takeBuffer(buf *C.saraphis_buffer) []byte {
	defer C.saraphis_buffer_free(buf)
	return C.GoBytes(unsafe.Pointer(C.saraphis_buffer_data(buf)), C.int(C.saraphis_buffer_len(buf)))
}

// CompressBytes compresses raw little-endian element bytes of dtype and shape.
func (s *System) CompressBytes(data []byte, dtype DType, shape []uint64, p *Params) ([]byte, error) {
	var buf *C.saraphis_buffer
	shp := shapePtr(shape)
	err := call(func() uint32 {
		return C.saraphis_compress(s.p, p.p, ptr(data), C.size_t(len(data)), C.uint32_t(dtype), shp, C.size_t(len(shape)), &buf)
	})
	runtime.KeepAlive(s)
	runtime.KeepAlive(p)
	runtime.KeepAlive(data)
	runtime.KeepAlive(shape)
	if err != nil {
		return nil, err
	}
	return takeBuffer(buf), nil
}

// CompressBound is the worst-case container size for a tensor of dtype and shape under p.
func CompressBound(dtype DType, shape []uint64, p *Params) (int, error) {
	var n C.size_t
	shp := shapePtr(shape)
	err := call(func() uint32 {
		return C.saraphis_compress_bound(C.uint32_t(dtype), shp, C.size_t(len(shape)), p.p, &n)
	})
	runtime.KeepAlive(shape)
	runtime.KeepAlive(p)
	return int(n), err
}

// CompressInto compresses into dst (sized by CompressBound) and returns the container length.
func (s *System) CompressInto(data []byte, dtype DType, shape []uint64, p *Params, dst []byte) (int, error) {
	var written C.size_t
	shp := shapePtr(shape)
	err := call(func() uint32 {
		return C.saraphis_compress_into(s.p, p.p, ptr(data), C.size_t(len(data)), C.uint32_t(dtype), shp,
			C.size_t(len(shape)), ptr(dst), C.size_t(len(dst)), &written)
	})
	runtime.KeepAlive(s)
	runtime.KeepAlive(p)
	runtime.KeepAlive(data)
	runtime.KeepAlive(shape)
	runtime.KeepAlive(dst)
	return int(written), err
}

// DecompressProgressive decodes only the top planes p-adic digit planes into dst and returns
// the error bound that then holds for every element.
func (s *System) DecompressProgressive(c []byte, dtype DType, planes uint32, dst []byte) (float64, error) {
	var bound C.double
	err := call(func() uint32 {
		return C.saraphis_decompress_progressive(s.p, ptr(c), C.size_t(len(c)), C.uint32_t(dtype), C.uint32_t(planes),
			ptr(dst), C.size_t(len(dst)), &bound)
	})
	runtime.KeepAlive(s)
	runtime.KeepAlive(c)
	runtime.KeepAlive(dst)
	return float64(bound), err
}

// DecompressDevice enqueues a bit-exact decode of the container at device address src (srcBytes
// long) into device address dst (dstBytes, exactly the tensor) on the CUstream stream (0 = the
// library's own stream: wait with DeviceSynchronize). Per-chunk codes go to the int32 device array status (0 to skip).
// Returns once enqueued; nothing synchronizes. The addresses are device pointers from the
// caller's CUDA allocator, never Go memory.
func (s *System) DecompressDevice(src uintptr, srcBytes int, dtype DType, dst uintptr, dstBytes int, status uintptr, statusLen int, stream uintptr) error {
	err := call(func() uint32 {
		return C.saraphis_decompress_device(s.p, C.saraphis_go_device_ptr(C.uintptr_t(src)), C.size_t(srcBytes),
			C.uint32_t(dtype), C.saraphis_go_device_ptr(C.uintptr_t(dst)), C.size_t(dstBytes),
			(*C.int32_t)(C.saraphis_go_device_ptr(C.uintptr_t(status))), C.size_t(statusLen),
			C.saraphis_go_device_ptr(C.uintptr_t(stream)))
	})
	runtime.KeepAlive(s)
	return err
}

// DeviceSynchronize waits for the work enqueued on the library's own stream (device calls given
// stream 0). ErrDevice on a CPU system or if that work failed.
func (s *System) DeviceSynchronize() error {
	err := call(func() uint32 { return C.saraphis_device_synchronize(s.p) })
	runtime.KeepAlive(s)
	return err
}

// CompressOnGPU compresses data (little-endian elements of dtype and shape) on the system's GPU
// and returns the container (bit-exact codecs: the same bytes as CompressBytes; p-adic: within the
// bound, bytes may differ from the CPU's); synchronous. ErrDevice on a CPU system.
func (s *System) CompressOnGPU(data []byte, dtype DType, shape []uint64, p *Params) ([]byte, error) {
	var buf *C.saraphis_buffer
	shp := shapePtr(shape)
	err := call(func() uint32 {
		return C.saraphis_compress_on_gpu(s.p, p.p, ptr(data), C.size_t(len(data)), C.uint32_t(dtype), shp, C.size_t(len(shape)), &buf)
	})
	runtime.KeepAlive(s)
	runtime.KeepAlive(p)
	runtime.KeepAlive(data)
	runtime.KeepAlive(shape)
	if err != nil {
		return nil, err
	}
	return takeBuffer(buf), nil
}

// CompressDeviceSizes gives, without a device, what CompressDevice needs for a tensor of dtype
// and shape under p: temporary device bytes and the largest container in bytes (every codec).
func CompressDeviceSizes(dtype DType, shape []uint64, p *Params) (tempBytes int, maxCompressedBytes int, err error) {
	var tb, mb C.size_t
	shp := shapePtr(shape)
	err = call(func() uint32 {
		return C.saraphis_compress_device_sizes(p.p, C.uint32_t(dtype), shp, C.size_t(len(shape)), &tb, &mb)
	})
	runtime.KeepAlive(shape)
	runtime.KeepAlive(p)
	return int(tb), int(mb), err
}

// CompressDevice enqueues GPU compression of the tensor at device address src (srcBytes long)
// into device address dst (dstCapacity from CompressDeviceSizes) on the CUstream stream (0 = the
// library's own stream: wait with DeviceSynchronize). The container length goes to the uint64 at device address
// compressedBytes. temp = 0 lets the library allocate its temporary memory stream-ordered.
// Returns once enqueued; nothing synchronizes. Addresses come from the caller's CUDA allocator,
// never Go memory.
func (s *System) CompressDevice(src uintptr, srcBytes int, dtype DType, shape []uint64, p *Params, dst uintptr,
	dstCapacity int, temp uintptr, tempBytes int, compressedBytes uintptr, stream uintptr) error {
	shp := shapePtr(shape)
	err := call(func() uint32 {
		return C.saraphis_compress_device(s.p, p.p, C.saraphis_go_device_ptr(C.uintptr_t(src)), C.size_t(srcBytes),
			C.uint32_t(dtype), shp, C.size_t(len(shape)), C.saraphis_go_device_ptr(C.uintptr_t(dst)),
			C.size_t(dstCapacity), C.saraphis_go_device_ptr(C.uintptr_t(temp)), C.size_t(tempBytes),
			(*C.uint64_t)(C.saraphis_go_device_ptr(C.uintptr_t(compressedBytes))),
			C.saraphis_go_device_ptr(C.uintptr_t(stream)))
	})
	runtime.KeepAlive(s)
	runtime.KeepAlive(p)
	runtime.KeepAlive(shape)
	return err
}

// ErrDevice is the code of a device failure (no CUDA device in this system, launch failure).
const ErrDevice = int(C.SARAPHIS_ERR_DEVICE)

// Device is the device in use and why it was chosen, e.g. "cpu (cpu requested)".
func (s *System) Device() (string, error) {
	buf := make([]byte, 512)
	var need C.size_t
	err := call(func() uint32 {
		return C.saraphis_system_device(s.p, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), &need)
	})
	runtime.KeepAlive(s)
	if err != nil {
		return "", err
	}
	return string(buf[:need-1]), nil
}

// CompressFloat32 compresses a []float32 tensor.
func (s *System) CompressFloat32(v []float32, shape []uint64, p *Params) ([]byte, error) {
	return s.CompressBytes(f32bytes(v), F32, shape, p)
}

// CompressUint16 compresses a []uint16 tensor holding F16 or BF16 bit patterns.
func (s *System) CompressUint16(v []uint16, dtype DType, shape []uint64, p *Params) ([]byte, error) {
	return s.CompressBytes(u16bytes(v), dtype, shape, p)
}

// DecompressBytes decodes container c into dst, which must be exactly the tensor's size.
func (s *System) DecompressBytes(c []byte, dtype DType, dst []byte) error {
	err := call(func() uint32 {
		return C.saraphis_decompress(s.p, ptr(c), C.size_t(len(c)), C.uint32_t(dtype), ptr(dst), C.size_t(len(dst)))
	})
	runtime.KeepAlive(s)
	runtime.KeepAlive(c)
	runtime.KeepAlive(dst)
	return err
}

// DecompressFloat32 decodes an F32 container into dst.
func (s *System) DecompressFloat32(c []byte, dst []float32) error {
	return s.DecompressBytes(c, F32, f32bytes(dst))
}

// DecompressUint16 decodes an F16 or BF16 container into dst.
func (s *System) DecompressUint16(c []byte, dtype DType, dst []uint16) error {
	return s.DecompressBytes(c, dtype, u16bytes(dst))
}

// Info is what Inspect reads from a container header, and Archive.Info from an archive's.
type Info struct {
	DType           DType
	Codec           Codec
	Shape           []uint64
	OriginalBytes   uint64
	CompressedBytes uint64
	Chunks          uint64
	BoundMode       uint32 // 0 exact, 1 absolute, 2 relative
	ErrorBound      float64
	Prime           uint32
	Precision       uint32
	MaxAbsError     float64 // quant: largest |x - x'| measured at compression
	QuantBits       uint32  // quant: bits per element (0: per block, error-bounded)
	QuantGrouping   uint32  // quant: 0 blocks, 1 channels, 2 global
	QuantGroupArg   uint32  // quant: block length or axis
	QuantScaleDType DType   // quant: dtype of the scales
	QuantZeroPoint  bool    // quant: a minimum per group
	SparseNonzeros  uint64  // sparse: nonzero elements stored
	SparseValues    Codec   // sparse: codec of the values
	SparseMask      Codec   // sparse: codec of the mask (Bytes or Raw)
}

// Inspect reads a container's header without decoding. c is the whole container or any prefix
// of it that holds the header (HeaderBytes says how long that is). Errors: ErrTruncated (c ends
// inside the header), ErrBadMagic, ErrChecksum, ErrCorrupt.
func Inspect(c []byte) (*Info, error) {
	var info C.saraphis_tensor_info
	err := call(func() uint32 { return C.saraphis_inspect(ptr(c), C.size_t(len(c)), &info) })
	runtime.KeepAlive(c)
	if err != nil {
		return nil, err
	}
	return infoOf(&info), nil
}

// infoOf copies a C saraphis_tensor_info into an Info.
func infoOf(info *C.saraphis_tensor_info) *Info {
	shape := make([]uint64, int(info.ndim))
	for i := range shape {
		shape[i] = uint64(info.shape[i])
	}
	return &Info{DType(info.dtype), Codec(info.codec), shape, uint64(info.original_bytes), uint64(info.compressed_bytes),
		uint64(info.chunks), uint32(info.bound_mode), float64(info.error_bound), uint32(info.prime), uint32(info.precision),
		float64(info.max_abs_error), uint32(info.quant_bits), uint32(info.quant_grouping), uint32(info.quant_group_arg),
		DType(info.quant_scale_dtype), info.quant_zero_point != 0, uint64(info.sparse_nonzeros),
		Codec(info.sparse_values_codec), Codec(info.sparse_mask_codec)}
}

// HeaderMaxBytes (8192) is a prefix length that always lets HeaderBytes give a container's exact
// header length for containers this build writes: read this many bytes of a file (or all of it,
// if shorter), ask HeaderBytes, read more if it says so, then Inspect.
const HeaderMaxBytes = int(C.SARAPHIS_HEADER_MAX_BYTES)

// HeaderBytes says how many bytes from the start of a container Inspect needs, judged from
// prefix, the container's first len(prefix) bytes (any number, 0 included). Once prefix reaches
// the header's chunk count (always from HeaderMaxBytes bytes on) it returns the header's exact
// length; otherwise a longer prefix length to call again with (at most four rounds from 0
// bytes). A result <= len(prefix) means prefix holds the whole header. Only the magic is
// checked: ErrBadMagic for 4 or more bytes that are not a container's start. prefix is read
// during the call only. Safe for concurrent use.
func HeaderBytes(prefix []byte) (int, error) {
	var n C.size_t
	err := call(func() uint32 { return C.saraphis_header_bytes(ptr(prefix), C.size_t(len(prefix)), &n) })
	runtime.KeepAlive(prefix)
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// ---------------------------------------------------------------- Archive

// Archive is an opened .sph archive (a whole model, as `saraphis compress model.safetensors -o
// model.sph` writes it): its tensors by index (0 .. Len()-1, the order of their data in the
// original safetensors file) or by name, described without decoding (Info) and decoded into
// host memory (Decompress, DecompressInto) or, on a CUDA system, into device memory
// (DecompressDevice, DecompressDeviceBatch).
//
// An Archive is safe for concurrent use by many goroutines, decodes included; Close must not run
// concurrently with another call, and after Close every method fails with ErrNullParameter (Len
// returns 0). The C
// archive holds its own reference to the system, so the System may be closed first; the Archive
// also keeps a Go reference to it. Close is idempotent; a finalizer is the safety net.
type Archive struct {
	once sync.Once
	p    *C.saraphis_archive
	sys  *System
	// mem is the C copy of the bytes given to OpenArchiveMemory (nil for a file), freed by
	// Close after the C archive.
	mem unsafe.Pointer
}

func newArchive(s *System, p *C.saraphis_archive, mem unsafe.Pointer) *Archive {
	a := &Archive{p: p, sys: s, mem: mem}
	runtime.SetFinalizer(a, (*Archive).Close)
	return a
}

// OpenArchive opens the .sph archive file at path on s, memory-mapped read-only. It checks the
// file header, the index and every container's header against its index entry; no payload is
// read, so opening costs neither time nor memory in proportion to the model. Errors: ErrIO (a
// missing or unreadable file; the message names the path), ErrBadMagic, ErrTruncated,
// ErrChecksum, ErrCorrupt, ErrUnsupported (a dtype this build does not know), ErrInvalidArgument
// (a directory, a path with a NUL byte). Another process truncating the file while it is mapped
// is the hazard of every memory-mapped reader (SIGBUS). Safe for concurrent use.
func OpenArchive(s *System, path string) (*Archive, error) {
	if strings.IndexByte(path, 0) >= 0 {
		return nil, &Error{Code: ErrInvalidArgument, Message: ResultText(ErrInvalidArgument) + ": path contains a NUL byte"}
	}
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	var p *C.saraphis_archive
	err := call(func() uint32 { return C.saraphis_archive_open(s.p, cs, &p) })
	runtime.KeepAlive(s)
	if err != nil {
		return nil, err
	}
	return newArchive(s, p, nil), nil
}

// CompressFileDelta compresses the safetensors file input into the .sph archive output against
// the base model base (a safetensors file or .sph archive: the model input was fine-tuned from;
// docs/FORMAT.md section 10), as `saraphis compress --base` does: each tensor with a same-named
// tensor of the same dtype and shape in base is also coded as a delta against it (lossless, or
// within p's absolute bound) and the smaller container kept. The output is written to a
// temporary file and renamed into place when complete; an output that is an input is refused.
// Read the result with its base attached (Archive.SetBase). Errors: ErrIO (naming the path),
// ErrInvalidArgument.
func (s *System) CompressFileDelta(p *Params, input, base, output string) error {
	for _, x := range []string{input, base, output} {
		if strings.IndexByte(x, 0) >= 0 {
			return &Error{Code: ErrInvalidArgument, Message: ResultText(ErrInvalidArgument) + ": path contains a NUL byte"}
		}
	}
	ci, cb, co := C.CString(input), C.CString(base), C.CString(output)
	defer C.free(unsafe.Pointer(ci))
	defer C.free(unsafe.Pointer(cb))
	defer C.free(unsafe.Pointer(co))
	err := call(func() uint32 { return C.saraphis_archive_compress_file_delta(s.p, p.p, ci, cb, co) })
	runtime.KeepAlive(s)
	runtime.KeepAlive(p)
	return err
}

// OpenArchiveMemory opens an archive held in data (a whole .sph file's bytes) on s. The bytes are
// copied into C memory owned by the Archive (Go memory may not be kept by C past a call) and
// freed by Close, so data may be reused or modified at once. Checks and errors as OpenArchive,
// without ErrIO. Safe for concurrent use.
func OpenArchiveMemory(s *System, data []byte) (*Archive, error) {
	var mem unsafe.Pointer
	if len(data) > 0 {
		mem = C.CBytes(data)
	}
	var p *C.saraphis_archive
	err := call(func() uint32 { return C.saraphis_archive_open_memory(s.p, mem, C.size_t(len(data)), &p) })
	runtime.KeepAlive(s)
	if err != nil {
		C.free(mem)
		return nil, err
	}
	return newArchive(s, p, mem), nil
}

// Close frees the archive (its map, or its copy of the bytes of OpenArchiveMemory, and the
// containers it keeps in device memory); later calls are no-ops. Device work enqueued through the
// archive must be finished first: it reads those containers.
func (a *Archive) Close() {
	a.once.Do(func() {
		C.saraphis_archive_free(a.p)
		a.p = nil
		if a.mem != nil {
			C.free(a.mem)
			a.mem = nil
		}
		a.sys = nil
		runtime.SetFinalizer(a, nil)
	})
}

// Len is the number of tensors (0 after Close).
func (a *Archive) Len() int {
	var n C.size_t
	err := call(func() uint32 { return C.saraphis_archive_tensor_count(a.p, &n) })
	runtime.KeepAlive(a)
	if err != nil {
		return 0
	}
	return int(n)
}

// Name is the name of tensor i (UTF-8), as in the original safetensors file. Errors:
// ErrInvalidArgument (i out of range).
func (a *Archive) Name(i int) (string, error) {
	if a.p == nil {
		return "", &Error{Code: ErrNullParameter, Message: ResultText(ErrNullParameter) + ": the archive is closed"}
	}
	if i < 0 {
		return "", indexError(i)
	}
	n := C.saraphis_archive_tensor_name(a.p, C.size_t(i))
	if n == nil {
		runtime.KeepAlive(a)
		return "", indexError(i)
	}
	name := C.GoString(n) // the C string lives until the archive is freed: copy it first
	runtime.KeepAlive(a)
	return name, nil
}

func indexError(i int) error {
	return &Error{Code: ErrInvalidArgument, Message: fmt.Sprintf("%s: tensor index %d out of range", ResultText(ErrInvalidArgument), i)}
}

// Find is the index of the tensor called name. Errors: ErrNotFound (no such tensor).
func (a *Archive) Find(name string) (int, error) {
	if strings.IndexByte(name, 0) >= 0 { // no tensor name holds a NUL byte; C would see a prefix
		return 0, &Error{Code: ErrNotFound, Message: ResultText(ErrNotFound) + ": the name contains a NUL byte"}
	}
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	var i C.size_t
	err := call(func() uint32 { return C.saraphis_archive_find(a.p, cs, &i) })
	runtime.KeepAlive(a)
	if err != nil {
		return 0, err
	}
	return int(i), nil
}

// Info is the header information of tensor i, read at open (nothing is decoded): dtype, codec,
// shape, OriginalBytes (the decoded tensor's size in bytes, what Decompress returns),
// CompressedBytes (its container's size in the archive), chunks and, for p-adic tensors, the
// bound, prime and digit planes. Errors: ErrInvalidArgument (i out of range).
func (a *Archive) Info(i int) (*Info, error) {
	if i < 0 {
		return nil, indexError(i)
	}
	var info C.saraphis_tensor_info
	err := call(func() uint32 { return C.saraphis_archive_tensor_info(a.p, C.size_t(i), &info) })
	runtime.KeepAlive(a)
	if err != nil {
		return nil, err
	}
	return infoOf(&info), nil
}

// Decompress decodes tensor i on the CPU (the system's worker threads) into a new slice of its
// OriginalBytes: little-endian elements of its dtype, row-major, bit for bit for exact codecs and
// within the recorded bound for p-adic ones. The container's CRC-32 recorded in the index and its
// chunks' checksums (unless the config says the data is trusted) are checked first. Errors:
// ErrInvalidArgument (i out of range), ErrChecksum (the container or a chunk was altered; the
// message names the tensor), ErrCorrupt.
func (a *Archive) Decompress(i int) ([]byte, error) {
	info, err := a.Info(i)
	if err != nil {
		return nil, err
	}
	dst := make([]byte, info.OriginalBytes)
	if err := a.DecompressInto(i, dst); err != nil {
		return nil, err
	}
	return dst, nil
}

// SetBase attaches the base model of a's delta tensors (docs/FORMAT.md section 10, the CLI's
// --base), opened as an archive: each base tensor is decoded once and checked against the hash
// its delta tensor records (ErrInvalidArgument for a wrong or missing one, nothing attached).
// a keeps its own reference to base (base may be closed afterwards). Returns the number of
// delta tensors. Safe for concurrent use; call it before decoding delta tensors.
func (a *Archive) SetBase(base *Archive) (int, error) {
	var n C.size_t
	err := call(func() uint32 { return C.saraphis_archive_set_base(a.p, base.p, &n) })
	runtime.KeepAlive(a)
	runtime.KeepAlive(base)
	return int(n), err
}

// DecompressInto decodes tensor i on the CPU into dst, which must be exactly the tensor's
// OriginalBytes long (see Decompress). Errors as Decompress, and ErrDestination (wrong length;
// nothing written). On a data error dst holds unspecified bytes. dst is written during the call
// only.
func (a *Archive) DecompressInto(i int, dst []byte) error {
	if i < 0 {
		return indexError(i)
	}
	err := call(func() uint32 {
		return C.saraphis_archive_decompress(a.p, C.size_t(i), ptr(dst), C.size_t(len(dst)))
	})
	runtime.KeepAlive(a)
	runtime.KeepAlive(dst)
	return err
}

// DecompressDevice enqueues a decode of tensor i into the device address dstDev (dstBytes long:
// exactly the tensor's OriginalBytes, aligned to its element size) on the CUstream stream (a
// cudaStream_t of the system GPU's primary context; 0 = the library's own stream: wait with
// DeviceSynchronize). The tensor's container is uploaded once, after its CRC-32 check, and kept
// in device memory until Close. The first device decode of each tensor waits for stream and
// checks every chunk on the host (a tensor the GPU kernels cannot decode is then decoded on the
// CPU and copied, from then on); later calls only enqueue. dstDev comes from the caller's CUDA
// allocator, never Go memory. Errors: ErrDevice (no CUDA device in this system, out of device
// memory, launch failure), ErrInvalidArgument (i out of range, a zero or misaligned dstDev),
// ErrDestination (wrong size), ErrChecksum, ErrCorrupt (a chunk failed on the GPU, named).
func (a *Archive) DecompressDevice(i int, dstDev uintptr, dstBytes int, stream uintptr) error {
	if i < 0 {
		return indexError(i)
	}
	err := call(func() uint32 {
		return C.saraphis_archive_decompress_device(a.p, C.size_t(i), C.saraphis_go_device_ptr(C.uintptr_t(dstDev)),
			C.size_t(dstBytes), C.saraphis_go_device_ptr(C.uintptr_t(stream)))
	})
	runtime.KeepAlive(a)
	return err
}

// ArchiveOutput is one output of DecompressDeviceBatch: tensor Index of the archive and the
// device buffer Dst (DstBytes long, exactly the tensor's OriginalBytes, aligned to its element
// size) it decodes into.
type ArchiveOutput struct {
	Index    int
	Dst      uintptr
	DstBytes int
}

// DecompressDeviceBatch enqueues the decode of several tensors into device memory on the CUstream
// stream (0 = the library's own stream), as DecompressDevice for each; destinations must not
// overlap. Every output is checked before anything is enqueued. Lossless-v2 tensors already
// decoded once on the GPU share one launch per 256 tensors (warm, a whole model is one launch);
// the others take one launch each, and the first device decode of a tensor waits for stream.
// outputs is read during the call only. Errors as DecompressDevice, naming the failing tensor.
func (a *Archive) DecompressDeviceBatch(outputs []ArchiveOutput, stream uintptr) error {
	var arr *C.saraphis_archive_output
	if len(outputs) > 0 {
		for _, o := range outputs {
			if o.Index < 0 {
				return indexError(o.Index)
			}
		}
		// C memory: the descriptors hold device addresses as pointers.
		mem := C.malloc(C.size_t(len(outputs)) * C.size_t(C.sizeof_saraphis_archive_output))
		if mem == nil {
			panic("saraphis: out of memory")
		}
		defer C.free(mem)
		arr = (*C.saraphis_archive_output)(mem)
		cs := unsafe.Slice(arr, len(outputs))
		for k, o := range outputs {
			cs[k].index = C.size_t(o.Index)
			cs[k].dst_dev = C.saraphis_go_device_ptr(C.uintptr_t(o.Dst))
			cs[k].dst_bytes = C.size_t(o.DstBytes)
		}
	}
	err := call(func() uint32 {
		return C.saraphis_archive_decompress_device_batch(a.p, arr, C.size_t(len(outputs)),
			C.saraphis_go_device_ptr(C.uintptr_t(stream)))
	})
	runtime.KeepAlive(a)
	return err
}

func f32bytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*4)
}

func u16bytes(v []uint16) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*2)
}

// ---------------------------------------------------------------- Math library (issue 14)

// Semiring selects a tropical semiring (saraphis_semiring): which of max / min is the addition ⊕
// (the multiplication ⊗ is + in both). Zero (the ⊕ identity): -Inf / +Inf for floats,
// math.MinInt32 / math.MaxInt32 for int32; one: 0. Floats: NaN counts as the zero; int32: finite
// entries must lie in [-2^28, 2^28] (others give ErrInvalidArgument).
type Semiring uint32

// Tropical semirings.
const (
	MaxPlus Semiring = C.SARAPHIS_SEMIRING_MAX_PLUS
	MinPlus Semiring = C.SARAPHIS_SEMIRING_MIN_PLUS
)

// TropicalOp is the operation of TropicalElementwise (saraphis_tropical_op).
type TropicalOp uint32

// Elementwise tropical operations: ⊕ (max / min) and ⊗ (+).
const (
	TropicalAdd TropicalOp = C.SARAPHIS_TROPICAL_ADD
	TropicalMul TropicalOp = C.SARAPHIS_TROPICAL_MUL
)

// PadicOp is the operation of PadicRing.Batch (saraphis_padic_op). PadicAdd, PadicSub and
// PadicMul read a and b; PadicNeg, PadicInverse (units only, host only) and PadicValuation (N for
// 0) read a only.
type PadicOp uint32

// p-adic batch operations.
const (
	PadicAdd       PadicOp = C.SARAPHIS_PADIC_ADD
	PadicSub       PadicOp = C.SARAPHIS_PADIC_SUB
	PadicMul       PadicOp = C.SARAPHIS_PADIC_MUL
	PadicNeg       PadicOp = C.SARAPHIS_PADIC_NEG
	PadicInverse   PadicOp = C.SARAPHIS_PADIC_INVERSE
	PadicValuation PadicOp = C.SARAPHIS_PADIC_VALUATION
)

// TropicalElement is an element type of the tropical calls: float32, float64 or int32.
type TropicalElement interface {
	float32 | float64 | int32
}

// tropicalDType is the C dtype of T.
func tropicalDType[T TropicalElement]() C.uint32_t {
	var z T
	switch any(z).(type) {
	case float32:
		return C.SARAPHIS_F32
	case float64:
		return C.SARAPHIS_F64
	default:
		return C.SARAPHIS_I32
	}
}

// slicePtr is the C view of v (nil when empty); the caller keeps v alive for the call.
func slicePtr[T any](v []T) unsafe.Pointer {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Pointer(&v[0])
}

// emptyOut is where an empty output slice points: the C calls take NULL for empty inputs, but
// an empty output given as NULL aborts a debug build of the library (see outPtr).
var emptyOut [2]uint64

// outPtr is the C view of an output slice: a non-NULL, 8-aligned pointer also when v is empty.
func outPtr[T any](v []T) unsafe.Pointer {
	if len(v) == 0 {
		return unsafe.Pointer(&emptyOut[0])
	}
	return unsafe.Pointer(&v[0])
}

// firstErr is the first non-nil error of errs.
func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// sizeOf is the product of dims (elements), or an error when one is negative or it overflows.
func sizeOf(what string, dims ...int) (int, error) {
	n := 1
	for _, d := range dims {
		if d < 0 {
			return 0, &Error{Code: ErrInvalidArgument, Message: fmt.Sprintf("%s: negative size %d", what, d)}
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, &Error{Code: ErrInvalidArgument, Message: what + ": size overflows"}
		}
		n *= d
	}
	return n, nil
}

// wantLen checks that a slice the C call reads (input) or writes (output) has exactly want
// elements: the C library trusts the sizes it is given, so a shorter Go slice must not reach it.
func wantLen(what string, got, want int, output bool) error {
	if got == want {
		return nil
	}
	code := ErrInvalidArgument
	if output {
		code = ErrDestination
	}
	return &Error{Code: code, Message: fmt.Sprintf("%s has %d elements, expected %d", what, got, want)}
}

// TropicalMatmul is the tropical matrix product C = A ⊗ B on the system's CPU pool:
// c[i*n+j] = ⊕_l a[i*k+l] ⊗ b[l*n+j] (row-major; len(a) = m*k, len(b) = k*n, len(c) = m*n).
// argbest: nil, or m*n entries that get the smallest l attaining each entry (math.MaxUint32
// where it is the zero: no path). Outputs must not overlap the inputs (ErrDestination) and are
// written only on success.
func TropicalMatmul[T TropicalElement](s *System, sr Semiring, a, b, c []T, m, k, n int, argbest []uint32) error {
	mk, err := sizeOf("a", m, k)
	if err != nil {
		return err
	}
	kn, err := sizeOf("b", k, n)
	if err != nil {
		return err
	}
	mn, err := sizeOf("c", m, n)
	if err != nil {
		return err
	}
	if err := firstErr(wantLen("a", len(a), mk, false), wantLen("b", len(b), kn, false),
		wantLen("c", len(c), mn, true)); err != nil {
		return err
	}
	var arg *C.uint32_t
	if argbest != nil {
		if err := wantLen("argbest", len(argbest), mn, true); err != nil {
			return err
		}
		arg = (*C.uint32_t)(outPtr(argbest))
	}
	err = call(func() uint32 {
		return C.saraphis_tropical_matmul(s.p, C.uint32_t(sr), tropicalDType[T](), slicePtr(a), slicePtr(b),
			outPtr(c), C.size_t(m), C.size_t(k), C.size_t(n), arg)
	})
	runtime.KeepAlive(s)
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	runtime.KeepAlive(c)
	runtime.KeepAlive(argbest)
	return err
}

// TropicalElementwise computes out[i] = a[i] ⊕ b[i] (TropicalAdd) or a[i] ⊗ b[i] (TropicalMul);
// the three slices have the same length.
func TropicalElementwise[T TropicalElement](s *System, sr Semiring, op TropicalOp, a, b, out []T) error {
	if err := firstErr(wantLen("b", len(b), len(a), false), wantLen("out", len(out), len(a), true)); err != nil {
		return err
	}
	err := call(func() uint32 {
		return C.saraphis_tropical_elementwise(s.p, C.uint32_t(sr), C.uint32_t(op), tropicalDType[T](), slicePtr(a),
			slicePtr(b), outPtr(out), C.size_t(len(a)))
	})
	runtime.KeepAlive(s)
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	runtime.KeepAlive(out)
	return err
}

// TropicalPolyEval evaluates tropical polynomials: out[q*len(xs)+x] = ⊕_i coeffs[q*terms+i] ⊗
// xs[x]^{⊗i} (max-plus: max_i coeffs[q*terms+i] + i·xs[x]); len(coeffs) is a multiple of terms
// (>= 1), len(out) = len(coeffs)/terms * len(xs).
func TropicalPolyEval[T TropicalElement](s *System, sr Semiring, coeffs []T, terms int, xs, out []T) error {
	if terms <= 0 || len(coeffs)%terms != 0 {
		return &Error{Code: ErrInvalidArgument, Message: fmt.Sprintf("poly_eval: %d coefficients in terms of %d", len(coeffs), terms)}
	}
	polys := len(coeffs) / terms
	po, err := sizeOf("out", polys, len(xs))
	if err != nil {
		return err
	}
	if err := wantLen("out", len(out), po, true); err != nil {
		return err
	}
	err = call(func() uint32 {
		return C.saraphis_tropical_poly_eval(s.p, C.uint32_t(sr), tropicalDType[T](), slicePtr(coeffs),
			C.size_t(polys), C.size_t(terms), slicePtr(xs), C.size_t(len(xs)), outPtr(out))
	})
	runtime.KeepAlive(s)
	runtime.KeepAlive(coeffs)
	runtime.KeepAlive(xs)
	runtime.KeepAlive(out)
	return err
}

// TropicalConv1D is the 1-D tropical convolution, valid part, as a correlation:
// out[i] = ⊕_j x[i+j] ⊗ w[j] (1 <= len(w) <= len(x), len(out) = len(x) - len(w) + 1).
func TropicalConv1D[T TropicalElement](s *System, sr Semiring, x, w, out []T) error {
	if len(w) == 0 || len(w) > len(x) {
		return &Error{Code: ErrInvalidArgument, Message: fmt.Sprintf("conv1d: kernel of %d for an input of %d", len(w), len(x))}
	}
	if err := wantLen("out", len(out), len(x)-len(w)+1, true); err != nil {
		return err
	}
	err := call(func() uint32 {
		return C.saraphis_tropical_conv1d(s.p, C.uint32_t(sr), tropicalDType[T](), slicePtr(x), C.size_t(len(x)),
			slicePtr(w), C.size_t(len(w)), outPtr(out))
	})
	runtime.KeepAlive(s)
	runtime.KeepAlive(x)
	runtime.KeepAlive(w)
	runtime.KeepAlive(out)
	return err
}

// TropicalConv2D is the 2-D tropical convolution, valid part, as a correlation (grey-scale
// dilation for max-plus): x is h × w, kernel kh × kw (1 <= kh <= h, 1 <= kw <= w), out
// (h-kh+1) × (w-kw+1), row-major.
func TropicalConv2D[T TropicalElement](s *System, sr Semiring, x []T, h, w int, kernel []T, kh, kw int, out []T) error {
	if kh <= 0 || kw <= 0 || kh > h || kw > w {
		return &Error{Code: ErrInvalidArgument, Message: fmt.Sprintf("conv2d: kernel %d x %d for an input of %d x %d", kh, kw, h, w)}
	}
	hw, err := sizeOf("x", h, w)
	if err != nil {
		return err
	}
	if err := firstErr(wantLen("x", len(x), hw, false), wantLen("kernel", len(kernel), kh*kw, false),
		wantLen("out", len(out), (h-kh+1)*(w-kw+1), true)); err != nil {
		return err
	}
	err = call(func() uint32 {
		return C.saraphis_tropical_conv2d(s.p, C.uint32_t(sr), tropicalDType[T](), slicePtr(x), C.size_t(h),
			C.size_t(w), slicePtr(kernel), C.size_t(kh), C.size_t(kw), outPtr(out))
	})
	runtime.KeepAlive(s)
	runtime.KeepAlive(x)
	runtime.KeepAlive(kernel)
	runtime.KeepAlive(out)
	return err
}

// TropicalClosure is the Kleene closure A* = I ⊕ A ⊕ A^2 ⊕ ... of the n × n matrix a into out:
// all-pairs heaviest (max-plus) or shortest (min-plus) path weights. ErrInvalidArgument when a
// cycle gains weight (the closure diverges) or int32 path weights pass 2^28.
func TropicalClosure[T TropicalElement](s *System, sr Semiring, a []T, n int, out []T) error {
	nn, err := sizeOf("a", n, n)
	if err != nil {
		return err
	}
	if err := firstErr(wantLen("a", len(a), nn, false), wantLen("out", len(out), nn, true)); err != nil {
		return err
	}
	err = call(func() uint32 {
		return C.saraphis_tropical_closure(s.p, C.uint32_t(sr), tropicalDType[T](), slicePtr(a), C.size_t(n),
			outPtr(out))
	})
	runtime.KeepAlive(s)
	runtime.KeepAlive(a)
	runtime.KeepAlive(out)
	return err
}

// TropicalMatmulDevice enqueues TropicalMatmul on the system's GPU on the CUstream stream (0 =
// the library's own stream: wait with DeviceSynchronize). a, b, c (and argbest unless 0) are
// device addresses of m*k, k*n, m*n elements of dtype (F32, F64 or I32) from the caller's CUDA
// allocator, never Go memory; status is 0 or one device int32 the kernel ORs with 1 when an int32
// input is out of range. ErrDevice on a CPU system.
func TropicalMatmulDevice(s *System, sr Semiring, dtype DType, a, b, c uintptr, m, k, n int, argbest, status, stream uintptr) error {
	if _, err := sizeOf("matmul", m, k, n); err != nil {
		return err
	}
	err := call(func() uint32 {
		return C.saraphis_tropical_matmul_device(s.p, C.uint32_t(sr), C.uint32_t(dtype),
			C.saraphis_go_device_ptr(C.uintptr_t(a)), C.saraphis_go_device_ptr(C.uintptr_t(b)),
			C.saraphis_go_device_ptr(C.uintptr_t(c)), C.size_t(m), C.size_t(k), C.size_t(n),
			(*C.uint32_t)(C.saraphis_go_device_ptr(C.uintptr_t(argbest))),
			(*C.int32_t)(C.saraphis_go_device_ptr(C.uintptr_t(status))),
			C.saraphis_go_device_ptr(C.uintptr_t(stream)))
	})
	runtime.KeepAlive(s)
	return err
}

// PadicRing is the ring Z/p^N (a prime p <= 65521, N >= 1, p^N <= 2^62) of p-adic residues
// (uint64 in [0, p^N)): batch arithmetic, digits and Hensel lifting. Immutable, so safe for
// concurrent use; Close (idempotent; a finalizer is the safety net) frees it.
type PadicRing struct {
	once      sync.Once
	p         *C.saraphis_padic_ring
	prime     uint32
	precision uint32
}

// NewPadicRing makes Z/prime^precision. ErrInvalidArgument when prime is not a prime <= 65521,
// precision is 0 or prime^precision > 2^62.
func NewPadicRing(prime, precision uint32) (*PadicRing, error) {
	var p *C.saraphis_padic_ring
	if err := call(func() uint32 { return C.saraphis_padic_ring_new(C.uint32_t(prime), C.uint32_t(precision), &p) }); err != nil {
		return nil, err
	}
	r := &PadicRing{p: p, prime: prime, precision: precision}
	runtime.SetFinalizer(r, (*PadicRing).Close)
	return r, nil
}

// Close frees the ring; later calls are no-ops (and calls on the closed ring fail with
// ErrNullParameter).
func (r *PadicRing) Close() {
	r.once.Do(func() {
		C.saraphis_padic_ring_free(r.p)
		r.p = nil
		runtime.SetFinalizer(r, nil)
	})
}

// Prime is p.
func (r *PadicRing) Prime() uint32 { return r.prime }

// Precision is N, the digits of a residue.
func (r *PadicRing) Precision() uint32 { return r.precision }

// Modulus is p^N (0 once closed).
func (r *PadicRing) Modulus() uint64 {
	m := uint64(C.saraphis_padic_ring_modulus(r.p))
	runtime.KeepAlive(r)
	return m
}

// Batch computes out[i] = a[i] op b[i] (PadicAdd, PadicSub, PadicMul) or op a[i] (PadicNeg,
// PadicInverse, PadicValuation: b must be nil) on the system's worker pool; the slices have the
// same length. ErrInvalidArgument for an input >= p^N (the message names its index) or a
// non-unit to invert; out is written only on success and must not overlap the inputs.
func (r *PadicRing) Batch(s *System, op PadicOp, a, b, out []uint64) error {
	if err := wantLen("out", len(out), len(a), true); err != nil {
		return err
	}
	if b != nil {
		if err := wantLen("b", len(b), len(a), false); err != nil {
			return err
		}
	}
	err := call(func() uint32 {
		return C.saraphis_padic_batch(s.p, r.p, C.uint32_t(op), (*C.uint64_t)(slicePtr(a)), (*C.uint64_t)(slicePtr(b)),
			(*C.uint64_t)(outPtr(out)), C.size_t(len(a)))
	})
	runtime.KeepAlive(s)
	runtime.KeepAlive(r)
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	runtime.KeepAlive(out)
	return err
}

// BatchDevice enqueues Batch on the system's GPU on the CUstream stream (0 = the library's own
// stream): a, b (0 for unary ops) and out are device addresses of n uint64 from the caller's
// CUDA allocator, never Go memory; status is 0 or one device int32 the kernel ORs with 1 when an
// input is >= p^N. PadicInverse is host only (ErrUnsupported); ErrDevice on a CPU system.
func (r *PadicRing) BatchDevice(s *System, op PadicOp, a, b, out uintptr, n int, status, stream uintptr) error {
	if n < 0 {
		return &Error{Code: ErrInvalidArgument, Message: fmt.Sprintf("negative length %d", n)}
	}
	err := call(func() uint32 {
		return C.saraphis_padic_batch_device(s.p, r.p, C.uint32_t(op),
			(*C.uint64_t)(C.saraphis_go_device_ptr(C.uintptr_t(a))),
			(*C.uint64_t)(C.saraphis_go_device_ptr(C.uintptr_t(b))),
			(*C.uint64_t)(C.saraphis_go_device_ptr(C.uintptr_t(out))), C.size_t(n),
			(*C.int32_t)(C.saraphis_go_device_ptr(C.uintptr_t(status))),
			C.saraphis_go_device_ptr(C.uintptr_t(stream)))
	})
	runtime.KeepAlive(s)
	runtime.KeepAlive(r)
	return err
}

// ToDigits gives the base-p digits of residues, least significant first: digit j of a[i] is
// element i*N + j of the result. ErrInvalidArgument for an input >= p^N.
func (r *PadicRing) ToDigits(a []uint64) ([]uint32, error) {
	nd, err := sizeOf("digits", len(a), int(r.precision))
	if err != nil {
		return nil, err
	}
	d := make([]uint32, nd)
	err = call(func() uint32 {
		return C.saraphis_padic_to_digits(r.p, (*C.uint64_t)(slicePtr(a)), C.size_t(len(a)), (*C.uint32_t)(outPtr(d)))
	})
	runtime.KeepAlive(r)
	runtime.KeepAlive(a)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// FromDigits is the inverse of ToDigits: len(digits) is a multiple of N, each digit < p
// (ErrInvalidArgument otherwise).
func (r *PadicRing) FromDigits(digits []uint32) ([]uint64, error) {
	if r.precision == 0 || len(digits)%int(r.precision) != 0 {
		return nil, &Error{Code: ErrInvalidArgument, Message: fmt.Sprintf("from_digits: %d digits are not a multiple of N = %d", len(digits), r.precision)}
	}
	out := make([]uint64, len(digits)/int(r.precision))
	err := call(func() uint32 {
		return C.saraphis_padic_from_digits(r.p, (*C.uint32_t)(slicePtr(digits)), C.size_t(len(out)), (*C.uint64_t)(outPtr(out)))
	})
	runtime.KeepAlive(r)
	runtime.KeepAlive(digits)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// HenselRoot lifts r0, a simple root mod p of sum_i coeffs[i] x^i (residues, constant term
// first), to the root in Z/p^N congruent to it (Hensel's lemma). ErrInvalidArgument when r0 is
// not a root mod p, the root is singular, a coefficient is >= p^N or there are none.
func (r *PadicRing) HenselRoot(coeffs []uint64, r0 uint64) (uint64, error) {
	var root C.uint64_t
	err := call(func() uint32 {
		return C.saraphis_padic_hensel_root(r.p, (*C.uint64_t)(slicePtr(coeffs)), C.size_t(len(coeffs)), C.uint64_t(r0), &root)
	})
	runtime.KeepAlive(r)
	runtime.KeepAlive(coeffs)
	return uint64(root), err
}

// saraphis.hpp: header-only C++17 wrapper of the Saraphis C API (include/saraphis.h).
//
// One move-only RAII class per handle (Config, Params, System, Archive, Residency, PadicRing; buffers are copied
// into std::vector and freed at once); the math library as tropical_* function templates and PadicRing; every
// failure throws
// saraphis::Error carrying the C result code and the detailed message. Thread safety follows
// the C API: a System may be used from many threads at once; Config and Params must not be
// modified while another thread uses them.
#ifndef SARAPHIS_HPP
#define SARAPHIS_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "saraphis.h"

namespace saraphis {

/// Error thrown by every wrapper call that fails; code() is the C saraphis_result.
class Error : public std::runtime_error {
 public:
  Error(saraphis_result code, const std::string& message) : std::runtime_error(message), code_(code) {}
  saraphis_result code() const noexcept { return code_; }

 private:
  saraphis_result code_;
};

/// Element types (values of saraphis_dtype).
enum class DType : uint32_t {
  F32 = SARAPHIS_F32, F16 = SARAPHIS_F16, BF16 = SARAPHIS_BF16, F64 = SARAPHIS_F64,
  I8 = SARAPHIS_I8, I16 = SARAPHIS_I16, I32 = SARAPHIS_I32, I64 = SARAPHIS_I64,
  U8 = SARAPHIS_U8, U16 = SARAPHIS_U16, U32 = SARAPHIS_U32, U64 = SARAPHIS_U64, Bool = SARAPHIS_BOOL,
};

/// Codecs (values of saraphis_codec).
enum class Codec : uint32_t {
  Raw = SARAPHIS_CODEC_RAW, Lossless = SARAPHIS_CODEC_LOSSLESS, Padic = SARAPHIS_CODEC_PADIC,
  Bytes = SARAPHIS_CODEC_BYTES,
  /// Bit-exact, stream layout v2 (F32/F16/BF16): what saraphis_decompress_device_batch decodes.
  LosslessV2 = SARAPHIS_CODEC_LOSSLESS_V2,
  /// Block, per-channel or global quantization, fixed rate or within abs_bound (FORMAT.md §7).
  Quant = SARAPHIS_CODEC_QUANT,
  /// Bitmap of the nonzeros plus the nonzero values, lossless or within a bound (FORMAT.md §8);
  /// written where it is smaller than the values' codec.
  Sparse = SARAPHIS_CODEC_SPARSE,
  /// Chosen per tensor by trial compression under the constraints set (abs/rel bound, bits,
  /// target_ratio, priority) (FORMAT.md §9); the container is the chosen codec's. CPU only.
  Auto = SARAPHIS_CODEC_AUTO,
  /// Coded against a base model's tensor (FORMAT.md §10, the CLI's --base): what inspect
  /// reports; not a compression codec here; archives decode such tensors once their base is
  /// attached (Archive::set_base).
  Delta = SARAPHIS_CODEC_DELTA,
};

namespace detail {
inline void check(saraphis_result r) {
  if (r != SARAPHIS_OK) {
    const char* m = saraphis_last_error_message();
    throw Error(r, std::string(saraphis_result_text(static_cast<uint32_t>(r))) + ": " + (m ? m : ""));
  }
}
struct ConfigFree { void operator()(saraphis_config* p) const noexcept { saraphis_config_free(p); } };
struct ParamsFree { void operator()(saraphis_params* p) const noexcept { saraphis_params_free(p); } };
struct SystemFree { void operator()(saraphis_system* p) const noexcept { saraphis_system_free(p); } };
struct BufferFree { void operator()(saraphis_buffer* p) const noexcept { saraphis_buffer_free(p); } };
struct ArchiveFree { void operator()(saraphis_archive* p) const noexcept { saraphis_archive_free(p); } };
struct ResidencyFree { void operator()(saraphis_residency* p) const noexcept { saraphis_residency_free(p); } };
struct PadicRingFree { void operator()(saraphis_padic_ring* p) const noexcept { saraphis_padic_ring_free(p); } };
/// The dtype of a tropical element type: float, double or int32_t only (others do not compile).
template <class T>
struct TropicalDType;
template <>
struct TropicalDType<float> { static constexpr uint32_t value = SARAPHIS_F32; };
template <>
struct TropicalDType<double> { static constexpr uint32_t value = SARAPHIS_F64; };
template <>
struct TropicalDType<int32_t> { static constexpr uint32_t value = SARAPHIS_I32; };
}  // namespace detail

/// Run-time library version, e.g. "0.2.0".
inline std::string version() { return saraphis_version(); }

/// System configuration (device, threads, chunk size, checksum verification).
class Config {
 public:
  /// Defaults: device auto, one thread per core, 2^18-element chunks, checksums verified.
  Config() { saraphis_config* c = nullptr; detail::check(saraphis_config_new(&c)); h_.reset(c); }
  /// From JSON such as {"device":"cpu","threads":4}; unknown keys throw.
  static Config from_json(const std::string& json) {
    saraphis_config* c = nullptr;
    detail::check(saraphis_config_from_json(json.c_str(), &c));
    return Config(c);
  }
  /// From SARAPHIS_DEVICE, SARAPHIS_THREADS, SARAPHIS_CHUNK_ELEMS, SARAPHIS_VERIFY_CHECKSUMS.
  static Config from_env() { saraphis_config* c = nullptr; detail::check(saraphis_config_from_env(&c)); return Config(c); }
  Config& threads(int64_t n) { detail::check(saraphis_config_set(h_.get(), SARAPHIS_CONFIG_THREADS, n)); return *this; }
  Config& chunk_elems(int64_t n) { detail::check(saraphis_config_set(h_.get(), SARAPHIS_CONFIG_CHUNK_ELEMS, n)); return *this; }
  Config& verify_checksums(bool v) { detail::check(saraphis_config_set(h_.get(), SARAPHIS_CONFIG_VERIFY_CHECKSUMS, v ? 1 : 0)); return *this; }
  /// Any integer key (saraphis_config_key: lanes, gpu_memory_limit_mb, cpu_workers, enable_profiling,
  /// monitoring_interval_ms, swap_policy, optimization_strategy, memory_pressure_mode, ...); throws on a bad value.
  Config& set(saraphis_config_key key, int64_t value) { detail::check(saraphis_config_set(h_.get(), key, value)); return *this; }
  /// "auto", "cpu" or "cuda:N".
  Config& device(const std::string& d) { detail::check(saraphis_config_set_device(h_.get(), d.c_str())); return *this; }
  const saraphis_config* get() const noexcept { return h_.get(); }

 private:
  explicit Config(saraphis_config* c) : h_(c) {}
  std::unique_ptr<saraphis_config, detail::ConfigFree> h_;
};

/// Codec and its parameters.
class Params {
 public:
  explicit Params(Codec codec) {
    saraphis_params* p = nullptr;
    detail::check(saraphis_params_new(static_cast<uint32_t>(codec), &p));
    h_.reset(p);
  }
  static Params lossless() { return Params(Codec::Lossless); }
  static Params padic_abs(double eps) { Params p(Codec::Padic); p.abs_bound(eps); return p; }
  static Params padic_rel(double eps) { Params p(Codec::Padic); p.rel_bound(eps); return p; }
  /// llama.cpp's Q8_0 layout: 8 bits, blocks of 32, F16 scales, symmetric.
  static Params quant(uint32_t bits = 8) { Params p(Codec::Quant); p.bits(bits); return p; }
  /// Sparse, lossless values (add abs_bound / rel_bound for p-adic values).
  static Params sparse() { return Params(Codec::Sparse); }
  /// Auto, bit-exact candidates only (add abs_bound / rel_bound for lossy ones, bits for
  /// fixed-rate quant).
  static Params automatic() { return Params(Codec::Auto); }
  Params& prime(uint32_t p) { return set(SARAPHIS_PARAM_PRIME, p); }
  Params& precision(uint32_t n) { return set(SARAPHIS_PARAM_PRECISION, n); }
  Params& abs_bound(double eps) { return set(SARAPHIS_PARAM_ABS_BOUND, eps); }
  Params& rel_bound(double eps) { return set(SARAPHIS_PARAM_REL_BOUND, eps); }
  Params& chunk_elems(uint32_t n) { return set(SARAPHIS_PARAM_CHUNK_ELEMS, n); }
  /// Most rANS lanes per stream (0 = 32, up to 128; more decode faster on GPUs).
  Params& lanes(uint32_t n) { return set(SARAPHIS_PARAM_LANES, n); }
  /// Quant: bits per element (2..8), block length (16..4096), per-channel axis, grouping
  /// (0 blocks, 1 channels, 2 global), scale dtype (F32/F16/BF16), a minimum per group.
  Params& bits(uint32_t n) { return set(SARAPHIS_PARAM_BITS, n); }
  Params& block(uint32_t n) { return set(SARAPHIS_PARAM_BLOCK, n); }
  Params& axis(uint32_t a) { return set(SARAPHIS_PARAM_AXIS, a); }
  Params& grouping(uint32_t g) { return set(SARAPHIS_PARAM_GROUPING, g); }
  Params& scale_dtype(DType d) { return set(SARAPHIS_PARAM_SCALE_DTYPE, static_cast<uint32_t>(d)); }
  Params& zero_point(bool on) { return set(SARAPHIS_PARAM_ZERO_POINT, on ? 1 : 0); }
  /// Auto: the fastest-decoding codec reaching this ratio (0 = none); priority 0 highest
  /// ratio, 1 fastest within 5% of it.
  Params& target_ratio(double r) { return set(SARAPHIS_PARAM_TARGET_RATIO, r); }
  Params& priority(uint32_t p) { return set(SARAPHIS_PARAM_PRIORITY, p); }
  const saraphis_params* get() const noexcept { return h_.get(); }

 private:
  Params& set(saraphis_param k, double v) { detail::check(saraphis_params_set(h_.get(), static_cast<uint32_t>(k), v)); return *this; }
  std::unique_ptr<saraphis_params, detail::ParamsFree> h_;
};

/// Header information of a container (see saraphis_tensor_info).
inline saraphis_tensor_info inspect(const void* src, size_t bytes) {
  saraphis_tensor_info info{};
  detail::check(saraphis_inspect(src, bytes, &info));
  return info;
}
inline saraphis_tensor_info inspect(const std::vector<uint8_t>& c) { return inspect(c.data(), c.size()); }

/// How many bytes from a container's start inspect() needs, judged from its first `bytes`
/// bytes (SARAPHIS_HEADER_MAX_BYTES always suffice for the exact answer).
inline size_t header_bytes(const void* src, size_t bytes) {
  size_t n = 0;
  detail::check(saraphis_header_bytes(src, bytes, &n));
  return n;
}

/// Worst-case container size for a tensor.
inline size_t compress_bound(DType dtype, const std::vector<uint64_t>& shape, const Params& p) {
  size_t n = 0;
  detail::check(saraphis_compress_bound(static_cast<uint32_t>(dtype), shape.data(), shape.size(), p.get(), &n));
  return n;
}

/// The coordinator. Thread-safe: share one instance.
/// Sizes for System::compress_device, known on the host: temporary device bytes and the largest
/// container (every codec; p-adic containers meet the bound but may differ from the CPU's bytes).
struct DeviceCompressSizes {
  size_t temp_bytes;
  size_t max_compressed_bytes;
};
inline DeviceCompressSizes compress_device_sizes(DType dtype, const std::vector<uint64_t>& shape, const Params& p) {
  DeviceCompressSizes s{0, 0};
  detail::check(saraphis_compress_device_sizes(p.get(), static_cast<uint32_t>(dtype), shape.data(), shape.size(),
                                               &s.temp_bytes, &s.max_compressed_bytes));
  return s;
}

class System {
 public:
  System() : System(Config()) {}
  explicit System(const Config& c) { saraphis_system* s = nullptr; detail::check(saraphis_system_new(c.get(), &s)); h_.reset(s); }

  /// Compress `bytes` bytes of little-endian elements into a new container.
  std::vector<uint8_t> compress(const void* data, size_t bytes, DType dtype, const std::vector<uint64_t>& shape,
                                const Params& p) const {
    saraphis_buffer* b = nullptr;
    detail::check(saraphis_compress(h_.get(), p.get(), data, bytes, static_cast<uint32_t>(dtype), shape.data(),
                                    shape.size(), &b));
    return take(b);
  }
  template <class T>
  std::vector<uint8_t> compress(const std::vector<T>& v, DType dtype, const std::vector<uint64_t>& shape,
                                const Params& p) const {
    return compress(v.data(), v.size() * sizeof(T), dtype, shape, p);
  }

  /// Compress into dst (capacity from compress_bound); returns the container length.
  size_t compress_into(const void* data, size_t bytes, DType dtype, const std::vector<uint64_t>& shape,
                       const Params& p, void* dst, size_t capacity) const {
    size_t written = 0;
    detail::check(saraphis_compress_into(h_.get(), p.get(), data, bytes, static_cast<uint32_t>(dtype),
                                         shape.data(), shape.size(), dst, capacity, &written));
    return written;
  }

  /// Decompress into dst, which must be exactly the tensor's size and dtype.
  void decompress(const void* src, size_t src_bytes, DType dtype, void* dst, size_t dst_bytes) const {
    detail::check(saraphis_decompress(h_.get(), src, src_bytes, static_cast<uint32_t>(dtype), dst, dst_bytes));
  }
  template <class T>
  void decompress(const std::vector<uint8_t>& c, DType dtype, std::vector<T>& dst) const {
    decompress(c.data(), c.size(), dtype, dst.data(), dst.size() * sizeof(T));
  }

  /// Progressive p-adic decode of the top `planes` digit planes; returns the bound that holds.
  double decompress_progressive(const void* src, size_t src_bytes, DType dtype, uint32_t planes, void* dst,
                                size_t dst_bytes) const {
    double bound = 0;
    detail::check(saraphis_decompress_progressive(h_.get(), src, src_bytes, static_cast<uint32_t>(dtype), planes,
                                                  dst, dst_bytes, &bound));
    return bound;
  }

  /// Enqueue a decode (any codec) from device memory to device memory on a CUstream (nullptr =
  /// the library's own stream: wait with device_synchronize()); per-chunk codes land in
  /// status_dev (may be nullptr). Returns once enqueued. Throws SARAPHIS_ERR_DEVICE when the
  /// system has no CUDA device.
  void decompress_device(const void* src_dev, size_t src_bytes, DType dtype, void* dst_dev, size_t dst_bytes,
                         int32_t* status_dev = nullptr, size_t status_len = 0, void* cu_stream = nullptr) const {
    detail::check(saraphis_decompress_device(h_.get(), src_dev, src_bytes, static_cast<uint32_t>(dtype), dst_dev,
                                             dst_bytes, status_dev, status_len, cu_stream));
  }

  /// Wait for the work enqueued on the library's own stream (device calls given nullptr).
  /// Throws SARAPHIS_ERR_DEVICE on a CPU system or if that work failed.
  void device_synchronize() const { detail::check(saraphis_device_synchronize(h_.get())); }

  /// Compress a host tensor on the system's GPU (synchronous); same bytes as compress().
  /// Throws SARAPHIS_ERR_DEVICE on a CPU system.
  std::vector<uint8_t> compress_on_gpu(const void* data, size_t bytes, DType dtype, const std::vector<uint64_t>& shape,
                                       const Params& p) const {
    saraphis_buffer* b = nullptr;
    detail::check(saraphis_compress_on_gpu(h_.get(), p.get(), data, bytes, static_cast<uint32_t>(dtype), shape.data(),
                                           shape.size(), &b));
    return take(b);
  }

  /// Enqueue GPU compression of a tensor in device memory into dst_dev (capacity from
  /// compress_device_sizes) on cu_stream (nullptr = the library's own stream); the container length
  /// goes to the device uint64_t at compressed_bytes_dev. temp_dev = nullptr: the library
  /// allocates its temporary memory stream-ordered. Nothing synchronizes the host.
  void compress_device(const void* src_dev, size_t src_bytes, DType dtype, const std::vector<uint64_t>& shape,
                       const Params& p, void* dst_dev, size_t dst_capacity, uint64_t* compressed_bytes_dev,
                       void* temp_dev = nullptr, size_t temp_bytes = 0, void* cu_stream = nullptr) const {
    detail::check(saraphis_compress_device(h_.get(), p.get(), src_dev, src_bytes, static_cast<uint32_t>(dtype),
                                           shape.data(), shape.size(), dst_dev, dst_capacity, temp_dev, temp_bytes,
                                           compressed_bytes_dev, cu_stream));
  }

  /// The device in use and why it was chosen.
  std::string device() const {
    size_t need = 0;
    detail::check(saraphis_system_device(h_.get(), nullptr, 0, &need));  // size query
    std::string s(need, '\0');
    detail::check(saraphis_system_device(h_.get(), &s[0], s.size(), &need));
    s.resize(need - 1);
    return s;
  }

  const saraphis_system* get() const noexcept { return h_.get(); }

 private:
  /// Copy a library buffer into a vector and free it.
  static std::vector<uint8_t> take(saraphis_buffer* b) {
    std::unique_ptr<saraphis_buffer, detail::BufferFree> owned(b);
    const uint8_t* d = saraphis_buffer_data(b);
    return std::vector<uint8_t>(d, d + saraphis_buffer_len(b));
  }

  std::unique_ptr<saraphis_system, detail::SystemFree> h_;
};

/// An opened .sph archive (a whole model): tensors by name or index, decoded into host or
/// device memory. Holds a reference to its System (which may be destroyed first). Thread-safe.
class Archive {
 public:
  /// Open (memory-map) the archive file at `path`; checks every index entry, reads no payload.
  Archive(const System& sys, const std::string& path) {
    saraphis_archive* a = nullptr;
    detail::check(saraphis_archive_open(sys.get(), path.c_str(), &a));
    h_.reset(a);
  }
  /// Open an archive in memory that the caller keeps valid and unchanged for the Archive's life.
  Archive(const System& sys, const void* data, size_t bytes) {
    saraphis_archive* a = nullptr;
    detail::check(saraphis_archive_open_memory(sys.get(), data, bytes, &a));
    h_.reset(a);
  }
  /// Number of tensors.
  size_t size() const { size_t n = 0; detail::check(saraphis_archive_tensor_count(h_.get(), &n)); return n; }
  /// Name of tensor i; throws SARAPHIS_ERR_INVALID_ARGUMENT when out of range.
  std::string name(size_t i) const {
    const char* n = saraphis_archive_tensor_name(h_.get(), i);
    if (!n) throw Error(SARAPHIS_ERR_INVALID_ARGUMENT, "tensor index out of range");
    return n;
  }
  /// Index of the tensor called `name`; throws SARAPHIS_ERR_NOT_FOUND.
  size_t find(const std::string& name) const {
    size_t i = 0;
    detail::check(saraphis_archive_find(h_.get(), name.c_str(), &i));
    return i;
  }
  /// Header information of tensor i (nothing decoded).
  saraphis_tensor_info info(size_t i) const {
    saraphis_tensor_info t{};
    detail::check(saraphis_archive_tensor_info(h_.get(), i, &t));
    return t;
  }
  /// Attach the base model of this archive's delta tensors (FORMAT.md §10; the CLI's --base),
  /// opened as an archive: each base tensor is checked against the hash its delta tensor
  /// records (throws SARAPHIS_ERR_INVALID_ARGUMENT for a wrong or missing one). This archive
  /// keeps its own reference to base. Returns the number of delta tensors.
  size_t set_base(const Archive& base) {
    size_t n = 0;
    detail::check(saraphis_archive_set_base(h_.get(), base.h_.get(), &n));
    return n;
  }
  /// Decode tensor i on the CPU into dst (exactly its original_bytes).
  void decompress(size_t i, void* dst, size_t dst_bytes) const {
    detail::check(saraphis_archive_decompress(h_.get(), i, dst, dst_bytes));
  }
  /// Decode tensor i on the CPU into a new byte vector.
  std::vector<uint8_t> decompress(size_t i) const {
    std::vector<uint8_t> v(static_cast<size_t>(info(i).original_bytes));
    decompress(i, v.data(), v.size());
    return v;
  }
  /// Decode tensor i into device memory on cu_stream (nullptr = the library's own stream). The
  /// first device decode of a tensor uploads its container and synchronizes the stream.
  void decompress_device(size_t i, void* dst_dev, size_t dst_bytes, void* cu_stream = nullptr) const {
    detail::check(saraphis_archive_decompress_device(h_.get(), i, dst_dev, dst_bytes, cu_stream));
  }
  /// Decode many tensors into device memory on cu_stream (see saraphis_archive_decompress_device_batch).
  void decompress_device_batch(const std::vector<saraphis_archive_output>& outputs, void* cu_stream = nullptr) const {
    detail::check(saraphis_archive_decompress_device_batch(h_.get(), outputs.data(), outputs.size(), cu_stream));
  }
  const saraphis_archive* get() const noexcept { return h_.get(); }

 private:
  std::unique_ptr<saraphis_archive, detail::ArchiveFree> h_;
};

/// Decoded tensors of an Archive cached in host memory under a budget (bytes), evicted by
/// priority then recency: prefetch the next layers, acquire a layer's weights, release them.
/// Holds a reference to the archive. Thread-safe.
class Residency {
 public:
  enum class Policy : uint32_t { Conservative = SARAPHIS_SWAP_CONSERVATIVE, Balanced = SARAPHIS_SWAP_BALANCED,
                                 Aggressive = SARAPHIS_SWAP_AGGRESSIVE };
  /// Where decoded tensors live: host memory (acquire/release) or GPU memory (acquire_device/release_device).
  enum class Tier { Host, Device };
  /// Where a device-tier manager decodes a tensor (saraphis_placement).
  enum class Placement : uint32_t { Auto = SARAPHIS_PLACEMENT_AUTO, RequireGpu = SARAPHIS_PLACEMENT_REQUIRE_GPU,
                                    RequireCpu = SARAPHIS_PLACEMENT_REQUIRE_CPU };
  Residency(const Archive& a, uint64_t budget_bytes, Policy p = Policy::Balanced, Tier tier = Tier::Host) {
    saraphis_residency* r = nullptr;
    if (tier == Tier::Host)
      detail::check(saraphis_residency_new(a.get(), budget_bytes, static_cast<uint32_t>(p), &r));
    else
      detail::check(saraphis_residency_new_device(a.get(), budget_bytes, static_cast<uint32_t>(p), &r));
    h_.reset(r);
  }
  /// Device tier: tensor i decoded in GPU memory and pinned; `stream` (a CUstream, nullptr = the library's own)
  /// waits for its decode on the device. Valid for work enqueued on `stream` until release_device(i, stream).
  std::pair<void*, size_t> acquire_device(size_t i, void* stream = nullptr) const {
    void* p = nullptr;
    size_t n = 0;
    detail::check(saraphis_residency_acquire_device(h_.get(), i, stream, &p, &n));
    return {p, n};
  }
  /// Device tier: the end of `stream`'s use of tensor i (the memory is reused only after it).
  void release_device(size_t i, void* stream = nullptr) const {
    detail::check(saraphis_residency_release_device(h_.get(), i, stream));
  }
  void set_placement(size_t i, Placement p) const {
    detail::check(saraphis_residency_set_placement(h_.get(), i, static_cast<uint32_t>(p)));
  }
  /// Tensor i, decoded and pinned: the bytes stay valid until release(i). Throws
  /// SARAPHIS_ERR_BUDGET when pinned tensors leave no room.
  std::pair<const void*, size_t> acquire(size_t i) const {
    const void* p = nullptr;
    size_t n = 0;
    detail::check(saraphis_residency_acquire(h_.get(), i, &p, &n));
    return {p, n};
  }
  void release(size_t i) const { detail::check(saraphis_residency_release(h_.get(), i)); }
  /// Start decoding these tensors in the background; returns how many decodes began.
  size_t prefetch(const std::vector<size_t>& indices) const {
    size_t started = 0;
    detail::check(saraphis_residency_prefetch(h_.get(), indices.data(), indices.size(), &started));
    return started;
  }
  void set_priority(size_t i, int32_t priority) const {
    detail::check(saraphis_residency_set_priority(h_.get(), i, priority));
  }
  /// State and counters as JSON (see saraphis_residency_stats_json).
  std::string stats_json() const {
    size_t need = 0;
    detail::check(saraphis_residency_stats_json(h_.get(), nullptr, 0, &need));
    std::string s(need + 256, '\0');
    detail::check(saraphis_residency_stats_json(h_.get(), &s[0], s.size(), &need));
    s.resize(need - 1);
    return s;
  }

 private:
  std::unique_ptr<saraphis_residency, detail::ResidencyFree> h_;
};

// ---------------------------------------------------------------- math library (issue 14)

/// A tropical semiring (saraphis_semiring): which of max / min is ⊕ (⊗ is + in both). Zero (the ⊕ identity):
/// -inf / +inf for floats, INT32_MIN / INT32_MAX for int32_t; one: 0. Floats: NaN counts as the zero; int32_t:
/// finite entries must lie in [-2^28, 2^28] (others throw SARAPHIS_ERR_INVALID_ARGUMENT).
enum class Semiring : uint32_t { MaxPlus = SARAPHIS_SEMIRING_MAX_PLUS, MinPlus = SARAPHIS_SEMIRING_MIN_PLUS };

/// The operation of tropical_elementwise (saraphis_tropical_op): Add is ⊕ (max / min), Mul is ⊗ (+).
enum class TropicalOp : uint32_t { Add = SARAPHIS_TROPICAL_ADD, Mul = SARAPHIS_TROPICAL_MUL };

/// The operation of PadicRing::batch (saraphis_padic_op). Add, Sub, Mul read a and b; Neg, Inverse (units only,
/// host only), Valuation (N for 0) read a only (b must be nullptr).
enum class PadicOp : uint32_t {
  Add = SARAPHIS_PADIC_ADD, Sub = SARAPHIS_PADIC_SUB, Mul = SARAPHIS_PADIC_MUL, Neg = SARAPHIS_PADIC_NEG,
  Inverse = SARAPHIS_PADIC_INVERSE, Valuation = SARAPHIS_PADIC_VALUATION,
};

/// Tropical matrix product C = A ⊗ B on the system's CPU pool: C[i][j] = ⊕_l A[i][l] ⊗ B[l][j], row-major, a of
/// m × k, b of k × n, c of m × n elements of T (float, double or int32_t). argbest: nullptr, or m × n entries
/// that get the smallest l attaining each C[i][j] (UINT32_MAX where it is the zero: no path). Outputs must not
/// overlap the inputs (SARAPHIS_ERR_DESTINATION); they are written only on success.
template <class T>
void tropical_matmul(const System& sys, Semiring s, const T* a, const T* b, T* c, size_t m, size_t k, size_t n,
                     uint32_t* argbest = nullptr) {
  detail::check(saraphis_tropical_matmul(sys.get(), static_cast<uint32_t>(s), detail::TropicalDType<T>::value, a, b,
                                         c, m, k, n, argbest));
}

/// out[i] = a[i] ⊕ b[i] (TropicalOp::Add) or a[i] ⊗ b[i] (TropicalOp::Mul), len elements each.
template <class T>
void tropical_elementwise(const System& sys, Semiring s, TropicalOp op, const T* a, const T* b, T* out, size_t len) {
  detail::check(saraphis_tropical_elementwise(sys.get(), static_cast<uint32_t>(s), static_cast<uint32_t>(op),
                                              detail::TropicalDType<T>::value, a, b, out, len));
}

/// Batched tropical polynomials: out[q][x] = ⊕_i coeffs[q][i] ⊗ xs[x]^{⊗i} (max-plus: max_i coeffs[q][i] + i·x),
/// coeffs polys × terms (terms >= 1; term i multiplies x^i), out polys × points.
template <class T>
void tropical_poly_eval(const System& sys, Semiring s, const T* coeffs, size_t polys, size_t terms, const T* xs,
                        size_t points, T* out) {
  detail::check(saraphis_tropical_poly_eval(sys.get(), static_cast<uint32_t>(s), detail::TropicalDType<T>::value,
                                            coeffs, polys, terms, xs, points, out));
}

/// 1-D tropical convolution, valid part, as a correlation: out[i] = ⊕_j x[i + j] ⊗ w[j] for
/// i < len - kernel_len + 1 (1 <= kernel_len <= len).
template <class T>
void tropical_conv1d(const System& sys, Semiring s, const T* x, size_t len, const T* w, size_t kernel_len, T* out) {
  detail::check(saraphis_tropical_conv1d(sys.get(), static_cast<uint32_t>(s), detail::TropicalDType<T>::value, x,
                                         len, w, kernel_len, out));
}

/// 2-D tropical convolution, valid part, as a correlation (grey-scale dilation for max-plus): x is h × w,
/// kernel kh × kw, out (h - kh + 1) × (w - kw + 1), row-major.
template <class T>
void tropical_conv2d(const System& sys, Semiring s, const T* x, size_t h, size_t w, const T* kernel, size_t kh,
                     size_t kw, T* out) {
  detail::check(saraphis_tropical_conv2d(sys.get(), static_cast<uint32_t>(s), detail::TropicalDType<T>::value, x, h,
                                         w, kernel, kh, kw, out));
}

/// Kleene closure A* = I ⊕ A ⊕ A^2 ⊕ ... of the n × n matrix a into out: all-pairs heaviest (max-plus) or
/// shortest (min-plus) path weights. Throws SARAPHIS_ERR_INVALID_ARGUMENT when a cycle gains weight (the closure
/// diverges) or int32_t path weights pass 2^28.
template <class T>
void tropical_closure(const System& sys, Semiring s, const T* a, size_t n, T* out) {
  detail::check(
      saraphis_tropical_closure(sys.get(), static_cast<uint32_t>(s), detail::TropicalDType<T>::value, a, n, out));
}

/// Enqueue tropical_matmul on the system's GPU on cu_stream (nullptr = the library's own stream: wait with
/// System::device_synchronize()); every pointer is device memory. status_dev: nullptr or one int32_t the kernel ORs
/// with 1 when an int32_t input is out of range. Throws SARAPHIS_ERR_DEVICE on a CPU system.
template <class T>
void tropical_matmul_device(const System& sys, Semiring s, const T* a_dev, const T* b_dev, T* c_dev, size_t m,
                            size_t k, size_t n, uint32_t* argbest_dev = nullptr, int32_t* status_dev = nullptr,
                            void* cu_stream = nullptr) {
  detail::check(saraphis_tropical_matmul_device(sys.get(), static_cast<uint32_t>(s), detail::TropicalDType<T>::value,
                                                a_dev, b_dev, c_dev, m, k, n, argbest_dev, status_dev, cu_stream));
}

/// The ring Z/p^N (a prime p <= 65521, N >= 1, p^N <= 2^62) of p-adic residues (uint64_t in [0, p^N)), with
/// batch arithmetic, digits and Hensel lifting. Immutable: share it across threads freely. Batch calls take the
/// System whose worker pool (or GPU) runs them.
class PadicRing {
 public:
  PadicRing(uint32_t prime, uint32_t precision) : prime_(prime), precision_(precision) {
    saraphis_padic_ring* r = nullptr;
    detail::check(saraphis_padic_ring_new(prime, precision, &r));
    h_.reset(r);
  }
  uint32_t prime() const noexcept { return prime_; }
  uint32_t precision() const noexcept { return precision_; }
  /// p^N (0 after the ring was moved from).
  uint64_t modulus() const noexcept { return saraphis_padic_ring_modulus(h_.get()); }

  /// out[i] = a[i] op b[i] (Add, Sub, Mul) or op a[i] (Neg, Inverse, Valuation: b = nullptr), len residues each,
  /// on the system's worker pool. Throws SARAPHIS_ERR_INVALID_ARGUMENT for an input >= p^N or a non-unit to
  /// invert; out must not overlap the inputs and is written only on success.
  void batch(const System& sys, PadicOp op, const uint64_t* a, const uint64_t* b, uint64_t* out, size_t len) const {
    detail::check(saraphis_padic_batch(sys.get(), h_.get(), static_cast<uint32_t>(op), a, b, out, len));
  }
  /// The same on vectors; b empty for the unary ops. Returns the results.
  std::vector<uint64_t> batch(const System& sys, PadicOp op, const std::vector<uint64_t>& a,
                              const std::vector<uint64_t>& b = {}) const {
    if (!b.empty() && b.size() != a.size()) {
      throw Error(SARAPHIS_ERR_INVALID_ARGUMENT, "batch: a and b differ in length");
    }
    std::vector<uint64_t> out(a.size());
    batch(sys, op, a.data(), b.empty() ? nullptr : b.data(), out.data(), a.size());
    return out;
  }
  /// Enqueue batch() on the system's GPU (every array device memory; Inverse is host only: SARAPHIS_ERR_UNSUPPORTED)
  /// on cu_stream (nullptr = the library's own stream). Throws SARAPHIS_ERR_DEVICE on a CPU system.
  void batch_device(const System& sys, PadicOp op, const uint64_t* a_dev, const uint64_t* b_dev, uint64_t* out_dev,
                    size_t len, int32_t* status_dev = nullptr, void* cu_stream = nullptr) const {
    detail::check(saraphis_padic_batch_device(sys.get(), h_.get(), static_cast<uint32_t>(op), a_dev, b_dev, out_dev,
                                              len, status_dev, cu_stream));
  }

  /// Base-p digits, least significant first: digits[i * N + j] is digit j of a[i] (digits holds len × N).
  void to_digits(const uint64_t* a, size_t len, uint32_t* digits) const {
    detail::check(saraphis_padic_to_digits(h_.get(), a, len, digits));
  }
  std::vector<uint32_t> to_digits(const std::vector<uint64_t>& a) const {
    std::vector<uint32_t> d(a.size() * precision_);
    to_digits(a.data(), a.size(), d.data());
    return d;
  }
  /// Residues from digits (len × N, each < p): the inverse of to_digits.
  void from_digits(const uint32_t* digits, size_t len, uint64_t* out) const {
    detail::check(saraphis_padic_from_digits(h_.get(), digits, len, out));
  }
  std::vector<uint64_t> from_digits(const std::vector<uint32_t>& digits) const {
    if (digits.size() % precision_ != 0) throw Error(SARAPHIS_ERR_INVALID_ARGUMENT, "from_digits: not a multiple of N");
    std::vector<uint64_t> out(digits.size() / precision_);
    from_digits(digits.data(), out.size(), out.data());
    return out;
  }

  /// The root in Z/p^N of sum_i coeffs[i] x^i (constant term first, residues) congruent to r0 mod p, lifted by
  /// Hensel's lemma. Throws SARAPHIS_ERR_INVALID_ARGUMENT when r0 is not a simple root mod p.
  uint64_t hensel_root(const uint64_t* coeffs, size_t n_coeffs, uint64_t r0) const {
    uint64_t root = 0;
    detail::check(saraphis_padic_hensel_root(h_.get(), coeffs, n_coeffs, r0, &root));
    return root;
  }
  uint64_t hensel_root(const std::vector<uint64_t>& coeffs, uint64_t r0) const {
    return hensel_root(coeffs.data(), coeffs.size(), r0);
  }
  const saraphis_padic_ring* get() const noexcept { return h_.get(); }

 private:
  uint32_t prime_;
  uint32_t precision_;
  std::unique_ptr<saraphis_padic_ring, detail::PadicRingFree> h_;
};

}  // namespace saraphis

#endif  // SARAPHIS_HPP

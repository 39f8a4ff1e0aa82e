// Example and test of the C++ binding: round-trips a real MiniLM weight matrix bit-exactly and
// within an error bound, and shows errors as exceptions; with an archive of the fixture
// (`saraphis compress FIXTURE -o M.sph`), reads every matrix of it through saraphis::Archive.
// With SARAPHIS_TEST_DEVICE=cuda:0 (on a GPU machine) the engine loop runs again on the device
// tier (decoded weights in GPU memory), each tensor copied back through the driver to check it.
// Usage: example FIXTURE.safetensors [M.sph]
#include <dlfcn.h>

#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <vector>

#include "saraphis.hpp"
#include "saraphis.hpp"  // included twice on purpose: the header is idempotent

#include "fixture.h"

// The few CUDA driver calls the device-tier check needs, found at run time (no CUDA headers or
// link-time dependency, as the library itself): the primary context of device 0, and a copy.
struct Driver {
  int (*init)(unsigned) = nullptr;
  int (*device_get)(int*, int) = nullptr;
  int (*retain)(void**, int) = nullptr;
  int (*set_current)(void*) = nullptr;
  int (*dtoh)(void*, unsigned long long, size_t) = nullptr;
  bool load() {
    void* h = dlopen("libcuda.so.1", RTLD_NOW);
    if (!h) return false;
    init = reinterpret_cast<int (*)(unsigned)>(dlsym(h, "cuInit"));
    device_get = reinterpret_cast<int (*)(int*, int)>(dlsym(h, "cuDeviceGet"));
    retain = reinterpret_cast<int (*)(void**, int)>(dlsym(h, "cuDevicePrimaryCtxRetain"));
    set_current = reinterpret_cast<int (*)(void*)>(dlsym(h, "cuCtxSetCurrent"));
    dtoh = reinterpret_cast<int (*)(void*, unsigned long long, size_t)>(dlsym(h, "cuMemcpyDtoH_v2"));
    int dev = 0;
    void* ctx = nullptr;
    return init && device_get && retain && set_current && dtoh && init(0) == 0 &&
           device_get(&dev, 0) == 0 && retain(&ctx, dev) == 0 && set_current(ctx) == 0;
  }
};

int main(int argc, char** argv) {
  int passed = 0, failed = 0;
  auto check = [&](bool ok, const char* what) {
    if (ok) {
      passed++;
    } else {
      failed++;
      std::fprintf(stderr, "FAILED: %s\n", what);
    }
  };
  if (argc != 2 && argc != 3) return 2;
  {
    saraphis::Config cfg;
    cfg.set(SARAPHIS_CONFIG_OPTIMIZATION_STRATEGY, 0).set(SARAPHIS_CONFIG_GPU_MEMORY_LIMIT_MB, 64);
    try {
      cfg.set(SARAPHIS_CONFIG_SWAP_POLICY, 7);
      check(false, "config: a bad swap policy throws");
    } catch (const saraphis::Error& e) {
      check(e.code() == SARAPHIS_ERR_INVALID_ARGUMENT, "config: bad value code");
    }
  }
  uint64_t rows = 0, cols = 0;
  size_t bytes = 0;
  unsigned char* raw = fixture_tensor(argv[1], "encoder.layer.0.intermediate.dense.weight", &rows, &cols, &bytes);
  if (!raw) return 1;
  std::vector<float> w(bytes / 4);
  std::memcpy(w.data(), raw, bytes);
  std::free(raw);

  saraphis::System sys(saraphis::Config().threads(2).device("cpu"));
  check(sys.device().rfind("cpu", 0) == 0, "device");
  auto lossless = sys.compress(w, saraphis::DType::F32, {rows, cols}, saraphis::Params::lossless());
  std::vector<float> back(w.size());
  sys.decompress(lossless, saraphis::DType::F32, back);
  check(std::memcmp(back.data(), w.data(), bytes) == 0, "lossless bit-exact");
  // Lossless writes F32 in stream layout v2 by default (container codec LOSSLESS_V2).
  check(saraphis::inspect(lossless).codec == SARAPHIS_CODEC_LOSSLESS_V2, "inspect");

  auto wide = sys.compress(w, saraphis::DType::F32, {rows, cols}, saraphis::Params::lossless().lanes(128));
  sys.decompress(wide, saraphis::DType::F32, back);
  check(std::memcmp(back.data(), w.data(), bytes) == 0, "128-lane container bit-exact");
  auto lossy = sys.compress(w, saraphis::DType::F32, {rows, cols}, saraphis::Params::padic_abs(1e-3).prime(251));
  sys.decompress(lossy, saraphis::DType::F32, back);
  double max = 0;
  for (size_t i = 0; i < w.size(); i++) max = std::fmax(max, std::fabs((double)w[i] - back[i]));
  check(max <= 1e-3, "bound holds");

  saraphis::System moved = std::move(sys);  // move-only handles
  try {
    std::vector<float> small(10);
    moved.decompress(lossy, saraphis::DType::F32, small);
    check(false, "short destination throws");
  } catch (const saraphis::Error& e) {
    check(e.code() == SARAPHIS_ERR_DESTINATION, "error code");
    check(std::strstr(e.what(), "bytes") != nullptr, "error message");
  }
  try {
    int dummy = 0;
    saraphis::System(saraphis::Config().device("cpu")).decompress_device(&dummy, 4, saraphis::DType::F32, &dummy, 4);
    check(false, "decompress_device on a CPU system throws");
  } catch (const saraphis::Error& e) {
    check(e.code() == SARAPHIS_ERR_DEVICE, "decompress_device without a GPU");
  }
  {
    saraphis::Params lossless_p(saraphis::Codec::Lossless);
    auto sz = saraphis::compress_device_sizes(saraphis::DType::F32, {1024, 1024}, lossless_p);
    // The GPU encoder writes layout v1, whose bound is within the host bound (layout v2's).
    check(sz.max_compressed_bytes > 0 &&
              sz.max_compressed_bytes <= saraphis::compress_bound(saraphis::DType::F32, {1024, 1024}, lossless_p),
          "device bound within the host bound");
    check(sz.temp_bytes > 0 && sz.temp_bytes * 50 <= 4u * 1024 * 1024, "device temp within 2%");
    try {
      int dummy = 0;
      uint64_t len = 0;
      saraphis::System(saraphis::Config().device("cpu"))
          .compress_device(&dummy, 4, saraphis::DType::F32, {1}, lossless_p, &dummy, 64, &len);
      check(false, "compress_device on a CPU system throws");
    } catch (const saraphis::Error& e) {
      check(e.code() == SARAPHIS_ERR_DEVICE, "compress_device without a GPU");
    }
    try {
      float one = 1.0f;
      saraphis::System(saraphis::Config().device("cpu")).compress_on_gpu(&one, 4, saraphis::DType::F32, {1}, lossless_p);
      check(false, "compress_on_gpu on a CPU system throws");
    } catch (const saraphis::Error& e) {
      check(e.code() == SARAPHIS_ERR_DEVICE, "compress_on_gpu without a GPU");
    }
  }
  try {
    saraphis::Params(saraphis::Codec::Padic).prime(250);
    check(false, "non-prime throws");
  } catch (const saraphis::Error& e) {
    check(e.code() == SARAPHIS_ERR_INVALID_ARGUMENT, "non-prime code");
  }
  if (argc == 3) {
    // The archive: every 2-D tensor, looked up by name, equals the fixture's bytes.
    saraphis::Archive a(saraphis::System(saraphis::Config().device("cpu")), argv[2]);  // keeps its system
    size_t matrices = 0;
    for (size_t i = 0; i < a.size(); i++) {
      std::string name = a.name(i);
      check(a.find(name) == i, "find(name(i)) == i");
      uint64_t r = 0, c = 0;
      size_t nb = 0;
      unsigned char* want = fixture_tensor(argv[1], name.c_str(), &r, &c, &nb);
      if (!want) continue;
      auto info = a.info(i);
      check(info.ndim == 2 && info.shape[0] == r && info.shape[1] == c, "archive info shape");
      auto got = a.decompress(i);
      check(got.size() == nb && std::memcmp(got.data(), want, nb) == 0, "archive tensor bit-exact");
      std::free(want);
      matrices++;
    }
    check(matrices > 0, "the archive holds the fixture's matrices");
    try {
      a.find("no.such.tensor");
      check(false, "find of an unknown name throws");
    } catch (const saraphis::Error& e) {
      check(e.code() == SARAPHIS_ERR_NOT_FOUND, "unknown name: SARAPHIS_ERR_NOT_FOUND");
    }
    try {
      std::vector<uint8_t> host(static_cast<size_t>(a.info(0).original_bytes));
      a.decompress_device(0, host.data(), host.size());
      check(false, "archive device decode on a CPU system throws");
    } catch (const saraphis::Error& e) {
      check(e.code() == SARAPHIS_ERR_DEVICE, "archive device decode without a GPU: SARAPHIS_ERR_DEVICE");
    }
    check(saraphis::header_bytes(lossless.data(), lossless.size()) < lossless.size(), "header_bytes");
    std::printf("C++ archive: %zu tensors, %zu matrices bit-exact\n", a.size(), matrices);

    // An engine's loop: every tensor in order, twice, under a quarter of the decoded model
    // (at least its largest tensor), prefetching the next two, each checked against the file.
    uint64_t total = 0, largest = 0;
    for (size_t i = 0; i < a.size(); i++) {
      uint64_t b = a.info(i).original_bytes;
      total += b;
      largest = b > largest ? b : largest;
    }
    saraphis::Residency res(a, total / 4 > largest ? total / 4 : largest);
    size_t checked = 0;
    for (int pass = 0; pass < 2; pass++) {
      for (size_t i = 0; i < a.size(); i++) {
        std::vector<size_t> next;
        for (size_t k = i + 1; k < a.size() && k <= i + 2; k++) next.push_back(k);
        res.prefetch(next);
        auto [p, nb] = res.acquire(i);
        uint64_t r = 0, c = 0;
        size_t wb = 0;
        unsigned char* want = fixture_tensor(argv[1], a.name(i).c_str(), &r, &c, &wb);
        if (want) {
          check(wb == nb && std::memcmp(p, want, nb) == 0, "residency: acquired tensor bit-exact");
          std::free(want);
          checked++;
        }
        res.release(i);
      }
    }
    std::string st = res.stats_json();
    check(checked == 2 * matrices, "residency: every matrix checked");
    check(st.find("\"evictions\":0,") == std::string::npos && st.find("\"failures\":0,") != std::string::npos,
          "residency: evicted under a quarter budget, no failure");
    std::printf("C++ residency, budget %llu of %llu bytes: %s\n", (unsigned long long)(total / 4 > largest ? total / 4 : largest),
                (unsigned long long)total, st.c_str());

    // The same loop on the device tier (GPU machine only): weights decoded in GPU memory.
    const char* dev = std::getenv("SARAPHIS_TEST_DEVICE");
    if (dev && *dev) {
      Driver cu;
      check(cu.load(), "device tier: the CUDA driver loads");
      saraphis::System gsys(saraphis::Config().device(dev));
      saraphis::Archive g(gsys, argv[2]);
      saraphis::Residency dres(g, total / 4 > largest ? total / 4 : largest, saraphis::Residency::Policy::Balanced,
                               saraphis::Residency::Tier::Device);
      size_t dchecked = 0;
      for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < g.size(); i++) {
          std::vector<size_t> next;
          for (size_t k = i + 1; k < g.size() && k <= i + 2; k++) next.push_back(k);
          dres.prefetch(next);
          auto [p, nb] = dres.acquire_device(i, nullptr);
          uint64_t r = 0, c = 0;
          size_t wb = 0;
          unsigned char* want = fixture_tensor(argv[1], g.name(i).c_str(), &r, &c, &wb);
          if (want) {
            std::vector<unsigned char> got(nb);
            // The library's own stream (nullptr) was made to wait for the decode: wait for it.
            gsys.device_synchronize();
            check(cu.dtoh(got.data(), reinterpret_cast<unsigned long long>(p), nb) == 0, "device tier: copy back");
            check(wb == nb && std::memcmp(got.data(), want, nb) == 0, "device tier: acquired tensor bit-exact");
            std::free(want);
            dchecked++;
          }
          dres.release_device(i, nullptr);
        }
      }
      std::string dst = dres.stats_json();
      check(dchecked == 2 * matrices, "device tier: every matrix checked");
      check(dst.find("\"tier\":\"device\"") != std::string::npos && dst.find("\"evictions\":0,") == std::string::npos,
            "device tier: evicted under a quarter budget");
      std::printf("C++ residency, device tier: %s\n", dst.c_str());
    }
  }
  std::printf("C++ binding %s: lossless %.3fx, p-adic 1e-3 %.3fx\n", saraphis::version().c_str(),
              (double)bytes / lossless.size(), (double)bytes / lossy.size());
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}

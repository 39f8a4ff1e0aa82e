/* Round-trips a real weight tensor through the Saraphis C API and exercises its error paths.
 * Usage: roundtrip RAW_F32_FILE ROWS COLS
 * Built and run by tests/c_api.rs (cargo test); also run under valgrind by .ci/run.
 * Prints "N passed, 0 failed" on success and exits 0; any failed check exits 1. */
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

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s RAW_F32_FILE ROWS COLS\n", argv[0]);
        return 2;
    }
    uint64_t shape[2] = {strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10)};
    size_t n = (size_t)(shape[0] * shape[1]);
    size_t bytes = n * sizeof(float);
    float *data = malloc(bytes), *copy = malloc(bytes), *out = malloc(bytes);
    FILE *f = fopen(argv[1], "rb");
    if (!f || !data || !copy || !out || fread(data, 1, bytes, f) != bytes) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 2;
    }
    fclose(f);
    memcpy(copy, data, bytes);

    CHECK(saraphis_version_number() == SARAPHIS_VERSION_NUMBER, "version number");
    CHECK(strlen(saraphis_version()) > 0, "version string");

    saraphis_config *cfg = NULL;
    OK(saraphis_config_new(&cfg));
    OK(saraphis_config_set(cfg, SARAPHIS_CONFIG_THREADS, 2));
    OK(saraphis_config_set_device(cfg, "cpu"));
    CHECK(saraphis_config_set_device(cfg, "tpu") == SARAPHIS_ERR_INVALID_ARGUMENT, "bad device");
    CHECK(saraphis_config_set(cfg, SARAPHIS_CONFIG_CHUNK_ELEMS, 0) == SARAPHIS_ERR_INVALID_ARGUMENT, "bad chunk");
    saraphis_system *sys = NULL;
    OK(saraphis_system_new(cfg, &sys));
    saraphis_config_free(cfg);

    char dev[256];
    size_t need = 0;
    OK(saraphis_system_device(sys, NULL, 0, &need));
    CHECK(need > 4 && need <= sizeof dev, "device text size query");
    size_t need_full = need;
    /* Too small: an error, and neither *needed nor the buffer is written. */
    need = 12345;
    memset(dev, 'z', sizeof dev);
    CHECK(saraphis_system_device(sys, dev, 3, &need) == SARAPHIS_ERR_DESTINATION, "device text: small buffer");
    CHECK(need == 12345, "*needed untouched on failure");
    CHECK(dev[0] == 'z' && dev[2] == 'z', "buffer untouched on failure");
    CHECK(saraphis_system_device(sys, NULL, 8, &need) == SARAPHIS_ERR_NULL_PARAMETER && need == 12345,
          "NULL buffer with a capacity");
    OK(saraphis_system_device(sys, dev, sizeof dev, &need));
    CHECK(need == need_full && strlen(dev) + 1 == need, "device text length");
    CHECK(strncmp(dev, "cpu", 3) == 0, "device is cpu");

    /* Lossless into a caller buffer sized by the bound. */
    saraphis_params *lossless = NULL;
    OK(saraphis_params_new(SARAPHIS_CODEC_LOSSLESS, &lossless));
    size_t bound = 0, written = 0;
    OK(saraphis_compress_bound(SARAPHIS_F32, shape, 2, lossless, &bound));
    unsigned char *c = malloc(bound);
    OK(saraphis_compress_into(sys, lossless, data, bytes, SARAPHIS_F32, shape, 2, c, bound, &written));
    CHECK(written > 0 && written < bytes, "lossless compresses real weights");

    /* GPU compression sizes are known on the host; a CPU system refuses the device call. The GPU
       encoder writes layout v1, whose bound is within the host bound (layout v2's). */
    size_t temp_bytes = 0, max_bytes = 0;
    OK(saraphis_compress_device_sizes(lossless, SARAPHIS_F32, shape, 2, &temp_bytes, &max_bytes));
    CHECK(max_bytes > 0 && max_bytes <= bound, "device bound within the host bound");
    CHECK(temp_bytes > 0 && temp_bytes * 50 <= bytes, "temporary memory within 2% of the input (1% at the default 2^16-element chunks)");
    uint64_t fake_len = 0;
    CHECK(saraphis_compress_device(sys, lossless, data, bytes, SARAPHIS_F32, shape, 2, c, bound, NULL, 0, &fake_len,
                                   NULL) == SARAPHIS_ERR_DEVICE,
          "compress_device on a CPU system");
    saraphis_buffer *gbuf = NULL;
    CHECK(saraphis_compress_on_gpu(sys, lossless, data, bytes, SARAPHIS_F32, shape, 2, &gbuf) == SARAPHIS_ERR_DEVICE &&
              gbuf == NULL,
          "compress_on_gpu on a CPU system");
    CHECK(saraphis_compress_device(sys, lossless, data, bytes, SARAPHIS_F32, shape, 2, c, bound, NULL, 0, NULL, NULL) ==
              SARAPHIS_ERR_NULL_PARAMETER,
          "compress_device without a length pointer");
    CHECK(saraphis_device_synchronize(sys) == SARAPHIS_ERR_DEVICE, "device_synchronize on a CPU system");
    CHECK(saraphis_device_synchronize(NULL) == SARAPHIS_ERR_NULL_PARAMETER, "device_synchronize(NULL)");
    saraphis_tensor_info info;
    OK(saraphis_inspect(c, written, &info));
    CHECK(info.dtype == SARAPHIS_F32 && info.ndim == 2 && info.shape[0] == shape[0] && info.shape[1] == shape[1], "inspect shape");
    /* LOSSLESS writes F32 in stream layout v2 by default: the container's codec is LOSSLESS_V2. */
    CHECK(info.codec == SARAPHIS_CODEC_LOSSLESS_V2 && info.compressed_bytes == written && info.original_bytes == bytes, "inspect sizes");
    memset(out, 0xAB, bytes);
    OK(saraphis_decompress(sys, c, written, SARAPHIS_F32, out, bytes));
    CHECK(memcmp(out, data, bytes) == 0, "lossless round trip is bit-exact");

    /* Error paths. */
    CHECK(saraphis_decompress(sys, c, written, SARAPHIS_F32, out, bytes - 4) == SARAPHIS_ERR_DESTINATION, "short dst");
    CHECK(saraphis_decompress(sys, c, written, SARAPHIS_BF16, out, bytes / 2) == SARAPHIS_ERR_DESTINATION, "wrong dtype");
    CHECK(saraphis_decompress(sys, c, written, 99, out, bytes) == SARAPHIS_ERR_INVALID_ARGUMENT, "unknown dtype");
    CHECK(saraphis_decompress(NULL, c, written, SARAPHIS_F32, out, bytes) == SARAPHIS_ERR_NULL_PARAMETER, "NULL system");
    CHECK(saraphis_decompress(sys, NULL, written, SARAPHIS_F32, out, bytes) == SARAPHIS_ERR_NULL_PARAMETER, "NULL src");
    CHECK(strlen(saraphis_last_error_message()) > 0, "last error message set");
    CHECK(saraphis_decompress(sys, c, written - 1, SARAPHIS_F32, out, bytes) == SARAPHIS_ERR_TRUNCATED, "truncated");
    c[written - 5] ^= 0x20; /* payload byte: chunk checksum */
    CHECK(saraphis_decompress(sys, c, written, SARAPHIS_F32, out, bytes) == SARAPHIS_ERR_CHECKSUM, "corrupted chunk");
    CHECK(strstr(saraphis_last_error_message(), "chunk") != NULL, "message names the chunk");
    c[written - 5] ^= 0x20;
    c[0] = 'X';
    CHECK(saraphis_decompress(sys, c, written, SARAPHIS_F32, out, bytes) == SARAPHIS_ERR_BAD_MAGIC, "bad magic");
    c[0] = 'S';
    {
        /* Too small a destination: an error, and neither dst nor *written is written. */
        unsigned char small[64];
        size_t w = 777;
        memset(small, 0xA5, sizeof small);
        CHECK(saraphis_compress_into(sys, lossless, data, bytes, SARAPHIS_F32, shape, 2, small, sizeof small, &w) ==
                  SARAPHIS_ERR_DESTINATION, "small dst");
        int untouched = w == 777;
        for (size_t i = 0; i < sizeof small; i++) untouched &= small[i] == 0xA5;
        CHECK(untouched, "dst and *written untouched on failure");
        CHECK(strstr(saraphis_last_error_message(), "needs") != NULL, "message gives the size needed");
    }
    {
        /* BYTES: accepted for integer tensors (same container as LOSSLESS), refused for floats. */
        saraphis_params *byte_planes = NULL;
        OK(saraphis_params_new(SARAPHIS_CODEC_BYTES, &byte_planes));
        CHECK(saraphis_params_new(8, &byte_planes) == SARAPHIS_ERR_INVALID_ARGUMENT && byte_planes != NULL, "codec 8");
        int32_t ints[256];
        for (int i = 0; i < 256; i++) ints[i] = (i * 37) % 11 - 5;
        uint64_t ishape[1] = {256};
        saraphis_buffer *ib = NULL, *lb = NULL;
        OK(saraphis_compress(sys, byte_planes, ints, sizeof ints, SARAPHIS_I32, ishape, 1, &ib));
        OK(saraphis_compress(sys, lossless, ints, sizeof ints, SARAPHIS_I32, ishape, 1, &lb));
        CHECK(saraphis_buffer_len(ib) == saraphis_buffer_len(lb) &&
                  memcmp(saraphis_buffer_data(ib), saraphis_buffer_data(lb), saraphis_buffer_len(ib)) == 0,
              "BYTES equals LOSSLESS on integers");
        saraphis_tensor_info ii;
        OK(saraphis_inspect(saraphis_buffer_data(ib), saraphis_buffer_len(ib), &ii));
        CHECK(ii.codec == SARAPHIS_CODEC_BYTES, "inspect reports BYTES");
        saraphis_buffer *fb = NULL;
        CHECK(saraphis_compress(sys, byte_planes, data, bytes, SARAPHIS_F32, shape, 2, &fb) == SARAPHIS_ERR_UNSUPPORTED &&
                  fb == NULL, "BYTES refuses floats");
        saraphis_buffer_free(ib);
        saraphis_buffer_free(lb);
        saraphis_params_free(byte_planes);
    }
    {
        /* LOSSLESS_V2 (stream layout v2, what the batched GPU call decodes): sized by its own
         * bound, reported as such by inspect, bit-exact, and a flipped byte is refused. */
        saraphis_params *v2 = NULL;
        OK(saraphis_params_new(SARAPHIS_CODEC_LOSSLESS_V2, &v2));
        size_t b2 = 0, w2 = 0;
        OK(saraphis_compress_bound(SARAPHIS_F32, shape, 2, v2, &b2));
        unsigned char *c2 = malloc(b2);
        OK(saraphis_compress_into(sys, v2, data, bytes, SARAPHIS_F32, shape, 2, c2, b2, &w2));
        CHECK(w2 > 0 && w2 < bytes && w2 <= b2, "LOSSLESS_V2 compresses real weights within its bound");
        saraphis_tensor_info i2;
        OK(saraphis_inspect(c2, w2, &i2));
        CHECK(i2.codec == SARAPHIS_CODEC_LOSSLESS_V2 && i2.compressed_bytes == w2, "inspect reports LOSSLESS_V2");
        memset(out, 0xAB, bytes);
        OK(saraphis_decompress(sys, c2, w2, SARAPHIS_F32, out, bytes));
        CHECK(memcmp(out, data, bytes) == 0, "LOSSLESS_V2 round trip is bit-exact");
        c2[w2 - 40] ^= 0x01;
        CHECK(saraphis_decompress(sys, c2, w2, SARAPHIS_F32, out, bytes) != SARAPHIS_OK, "LOSSLESS_V2 flipped byte refused");
        free(c2);
        saraphis_params_free(v2);
    }
    CHECK(saraphis_compress_into(sys, lossless, data, bytes - 1, SARAPHIS_F32, shape, 2, c, bound, &written) == SARAPHIS_ERR_INVALID_ARGUMENT, "size mismatch");
    uint64_t big[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK(saraphis_compress_bound(SARAPHIS_F32, big, 9, lossless, &bound) == SARAPHIS_ERR_INVALID_ARGUMENT, "9 dims");
    CHECK(strcmp(saraphis_result_text(SARAPHIS_ERR_CHECKSUM), "checksum mismatch") == 0, "result text");
    free(c);

    /* p-adic at an absolute bound, into a library-owned buffer. */
    saraphis_params *padic = NULL;
    OK(saraphis_params_new(SARAPHIS_CODEC_PADIC, &padic));
    saraphis_buffer *buf = NULL;
    CHECK(saraphis_compress(sys, padic, data, bytes, SARAPHIS_F32, shape, 2, &buf) == SARAPHIS_ERR_INVALID_ARGUMENT, "p-adic needs a bound");
    CHECK(buf == NULL, "out untouched on error");
    CHECK(saraphis_params_set(padic, SARAPHIS_PARAM_PRIME, 250) == SARAPHIS_ERR_INVALID_ARGUMENT, "250 is not prime");
    CHECK(saraphis_params_set(padic, SARAPHIS_PARAM_ABS_BOUND, 0.0) == SARAPHIS_ERR_INVALID_ARGUMENT, "bound 0");
    CHECK(saraphis_params_set(padic, SARAPHIS_PARAM_ABS_BOUND, NAN) == SARAPHIS_ERR_INVALID_ARGUMENT, "bound NaN");
    CHECK(saraphis_params_set(padic, SARAPHIS_PARAM_PRECISION, 100) == SARAPHIS_ERR_INVALID_ARGUMENT, "precision");
    OK(saraphis_params_set(padic, SARAPHIS_PARAM_ABS_BOUND, 1e-3));
    {
        size_t tb = 0, mb = 0, hb = 0;
        OK(saraphis_compress_device_sizes(padic, SARAPHIS_F32, shape, 2, &tb, &mb));
        OK(saraphis_compress_bound(SARAPHIS_F32, shape, 2, padic, &hb));
        CHECK(mb == hb && tb > 0, "p-adic GPU compression sizes: bound as the host's, some temp");
    }
    OK(saraphis_compress(sys, padic, data, bytes, SARAPHIS_F32, shape, 2, &buf));
    CHECK(saraphis_buffer_len(buf) * 3 < bytes, "p-adic at 1e-3 compresses > 3x");
    OK(saraphis_decompress(sys, saraphis_buffer_data(buf), saraphis_buffer_len(buf), SARAPHIS_F32, out, bytes));
    double max_err = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)out[i] - (double)data[i]);
        if (e > max_err) max_err = e;
    }
    CHECK(max_err <= 1e-3, "every element within 1e-3");
    OK(saraphis_inspect(saraphis_buffer_data(buf), saraphis_buffer_len(buf), &info));
    CHECK(info.codec == SARAPHIS_CODEC_PADIC && info.bound_mode == 1 && info.error_bound == 1e-3 && info.prime == 251, "inspect p-adic");
    double coarse = 0;
    OK(saraphis_decompress_progressive(sys, saraphis_buffer_data(buf), saraphis_buffer_len(buf), SARAPHIS_F32, 1, out, bytes, &coarse));
    double cmax = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)out[i] - (double)data[i]);
        if (e > cmax) cmax = e;
    }
    CHECK(cmax <= coarse, "progressive decode within its stated bound");
    saraphis_buffer_free(buf);

    {
        /* QUANT: llama.cpp's Q8_0 layout by default; 4 bits with a minimum per block of 64;
         * per-channel; error-bounded. The header reports the settings and the error measured at
         * compression, which the decoded values reproduce exactly. */
        saraphis_params *q = NULL;
        OK(saraphis_params_new(SARAPHIS_CODEC_QUANT, &q));
        CHECK(saraphis_params_set(q, SARAPHIS_PARAM_BITS, 9) == SARAPHIS_ERR_INVALID_ARGUMENT, "quant bits 9");
        CHECK(saraphis_params_set(q, SARAPHIS_PARAM_BITS, 1) == SARAPHIS_ERR_INVALID_ARGUMENT, "quant bits 1");
        CHECK(saraphis_params_set(q, SARAPHIS_PARAM_BLOCK, 48) == SARAPHIS_ERR_INVALID_ARGUMENT, "quant block 48");
        CHECK(saraphis_params_set(q, SARAPHIS_PARAM_SCALE_DTYPE, SARAPHIS_F64) == SARAPHIS_ERR_INVALID_ARGUMENT, "quant F64 scales");
        CHECK(saraphis_params_set(q, SARAPHIS_PARAM_GROUPING, 3) == SARAPHIS_ERR_INVALID_ARGUMENT, "quant grouping 3");
        CHECK(saraphis_params_set(q, SARAPHIS_PARAM_ZERO_POINT, 2) == SARAPHIS_ERR_INVALID_ARGUMENT, "quant zero point 2");
        struct { int bits, block, axis, zp; double abs; double max_bpw; } cases[] = {
            {8, 32, -1, 0, 0, 8.6}, {4, 64, -1, 1, 0, 4.6}, {8, 0, 0, 0, 0, 8.6}, {0, 32, -1, 0, 1e-3, 14.0},
        };
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            saraphis_params *p = NULL;
            OK(saraphis_params_new(SARAPHIS_CODEC_QUANT, &p));
            if (cases[k].bits) OK(saraphis_params_set(p, SARAPHIS_PARAM_BITS, cases[k].bits));
            if (cases[k].block) OK(saraphis_params_set(p, SARAPHIS_PARAM_BLOCK, cases[k].block));
            if (cases[k].axis >= 0) OK(saraphis_params_set(p, SARAPHIS_PARAM_AXIS, cases[k].axis));
            OK(saraphis_params_set(p, SARAPHIS_PARAM_ZERO_POINT, cases[k].zp));
            if (cases[k].abs > 0) OK(saraphis_params_set(p, SARAPHIS_PARAM_ABS_BOUND, cases[k].abs));
            saraphis_buffer *qb = NULL;
            OK(saraphis_compress(sys, p, data, bytes, SARAPHIS_F32, shape, 2, &qb));
            double bpw = qb ? 8.0 * saraphis_buffer_len(qb) / n : 0;
            if (!(bpw < cases[k].max_bpw)) fprintf(stderr, "case %zu: %.3f bits per weight\n", k, bpw);
            CHECK(qb && bpw < cases[k].max_bpw, "quant bits per weight");
            saraphis_tensor_info qi;
            OK(saraphis_inspect(saraphis_buffer_data(qb), saraphis_buffer_len(qb), &qi));
            CHECK(qi.codec == SARAPHIS_CODEC_QUANT && qi.quant_bits == (uint32_t)cases[k].bits &&
                      qi.quant_grouping == (cases[k].axis >= 0 ? 1u : 0u) &&
                      qi.quant_group_arg == (uint32_t)(cases[k].axis >= 0 ? cases[k].axis : cases[k].block) &&
                      qi.quant_scale_dtype == SARAPHIS_F16 && qi.quant_zero_point == (uint32_t)(cases[k].zp || cases[k].abs > 0),
                  "inspect reports the quant settings");
            CHECK(qi.bound_mode == (cases[k].abs > 0 ? 1u : 0u) && qi.max_abs_error > 0, "quant bound and measured error");
            memset(out, 0xAB, bytes);
            OK(saraphis_decompress(sys, saraphis_buffer_data(qb), saraphis_buffer_len(qb), SARAPHIS_F32, out, bytes));
            double qerr = 0;
            for (size_t i = 0; i < n; i++) {
                double e = fabs((double)out[i] - (double)data[i]);
                if (e > qerr) qerr = e;
            }
            CHECK(qerr == qi.max_abs_error, "decoded values reproduce the stored max error exactly");
            if (cases[k].abs > 0) CHECK(qerr <= cases[k].abs, "quant within its bound");
            ((unsigned char *)saraphis_buffer_data(qb))[saraphis_buffer_len(qb) - 20] ^= 0x08;
            CHECK(saraphis_decompress(sys, saraphis_buffer_data(qb), saraphis_buffer_len(qb), SARAPHIS_F32, out, bytes) != SARAPHIS_OK,
                  "quant flipped byte refused");
            saraphis_buffer_free(qb);
            saraphis_params_free(p);
        }
        OK(saraphis_params_set(q, SARAPHIS_PARAM_REL_BOUND, 1e-2));
        saraphis_buffer *rb = NULL;
        CHECK(saraphis_compress(sys, q, data, bytes, SARAPHIS_F32, shape, 2, &rb) == SARAPHIS_ERR_INVALID_ARGUMENT && rb == NULL,
              "quant refuses a relative bound");
        saraphis_params_free(q);
    }
    {
        /* SPARSE: the real weights pruned 2:4 by magnitude (the two smallest |x| of every four
         * become +0.0): mask + nonzeros, smaller than lossless, bit for bit; a chunk size that
         * is not whole mask words is refused; the unpruned weights come back densely coded. */
        float *pr = malloc(bytes), *back = malloc(bytes);
        memcpy(pr, data, bytes);
        for (size_t g = 0; g + 4 <= n; g += 4) {
            for (int z = 0; z < 2; z++) {
                size_t m = g;
                for (size_t j = g; j < g + 4; j++)
                    if (pr[j] != 0.0f && (pr[m] == 0.0f || fabsf(pr[j]) < fabsf(pr[m]))) m = j;
                pr[m] = 0.0f;
            }
        }
        saraphis_params *sp = NULL;
        OK(saraphis_params_new(SARAPHIS_CODEC_SPARSE, &sp));
        saraphis_buffer *sb = NULL, *lb = NULL;
        OK(saraphis_compress(sys, sp, pr, bytes, SARAPHIS_F32, shape, 2, &sb));
        OK(saraphis_compress(sys, lossless, pr, bytes, SARAPHIS_F32, shape, 2, &lb));
        CHECK(saraphis_buffer_len(sb) < saraphis_buffer_len(lb), "sparse smaller than lossless on 2:4 weights");
        saraphis_tensor_info si;
        OK(saraphis_inspect(saraphis_buffer_data(sb), saraphis_buffer_len(sb), &si));
        size_t nz = 0;
        for (size_t i = 0; i < n; i++) nz += pr[i] != 0.0f;
        CHECK(si.codec == SARAPHIS_CODEC_SPARSE && si.sparse_nonzeros == nz &&
                  si.sparse_values_codec == SARAPHIS_CODEC_LOSSLESS_V2 && si.sparse_mask_codec == SARAPHIS_CODEC_BYTES,
              "inspect reports the sparse parts");
        memset(back, 0xAB, bytes);
        OK(saraphis_decompress(sys, saraphis_buffer_data(sb), saraphis_buffer_len(sb), SARAPHIS_F32, back, bytes));
        CHECK(memcmp(back, pr, bytes) == 0, "sparse round trip bit for bit");
        ((unsigned char *)saraphis_buffer_data(sb))[saraphis_buffer_len(sb) / 2] ^= 0x10;
        CHECK(saraphis_decompress(sys, saraphis_buffer_data(sb), saraphis_buffer_len(sb), SARAPHIS_F32, back, bytes) != SARAPHIS_OK,
              "sparse flipped byte refused");
        saraphis_buffer_free(sb);
        saraphis_buffer_free(lb);
        OK(saraphis_params_set(sp, SARAPHIS_PARAM_CHUNK_ELEMS, 48));
        sb = NULL;
        CHECK(saraphis_compress(sys, sp, pr, bytes, SARAPHIS_F32, shape, 2, &sb) == SARAPHIS_ERR_INVALID_ARGUMENT && sb == NULL,
              "sparse scatter block not a multiple of 32 refused");
        OK(saraphis_params_set(sp, SARAPHIS_PARAM_CHUNK_ELEMS, 4096));
        OK(saraphis_compress(sys, sp, data, bytes, SARAPHIS_F32, shape, 2, &sb));
        OK(saraphis_inspect(saraphis_buffer_data(sb), saraphis_buffer_len(sb), &si));
        CHECK(si.codec == SARAPHIS_CODEC_LOSSLESS_V2 && si.sparse_nonzeros == 0, "dense weights: the values' codec");
        saraphis_buffer_free(sb);
        saraphis_params_free(sp);
        free(pr);
        free(back);
    }
    {
        /* AUTO: per tensor, the best codec the constraints allow (docs/FORMAT.md §9). At abs
         * 1e-3 it is no larger than p-adic alone and keeps the bound element by element; a
         * target ratio of 2 takes the fastest decoder reaching it (quant); bad constraints are
         * refused. */
        saraphis_params *ap = NULL, *pp = NULL;
        OK(saraphis_params_new(SARAPHIS_CODEC_AUTO, &ap));
        OK(saraphis_params_set(ap, SARAPHIS_PARAM_ABS_BOUND, 1e-3));
        OK(saraphis_params_new(SARAPHIS_CODEC_PADIC, &pp));
        OK(saraphis_params_set(pp, SARAPHIS_PARAM_ABS_BOUND, 1e-3));
        saraphis_buffer *ab = NULL, *pb = NULL;
        OK(saraphis_compress(sys, ap, data, bytes, SARAPHIS_F32, shape, 2, &ab));
        OK(saraphis_compress(sys, pp, data, bytes, SARAPHIS_F32, shape, 2, &pb));
        CHECK(saraphis_buffer_len(ab) <= saraphis_buffer_len(pb), "auto no larger than p-adic");
        size_t abound = 0;
        OK(saraphis_compress_bound(SARAPHIS_F32, shape, 2, ap, &abound));
        CHECK(saraphis_buffer_len(ab) <= abound, "auto within its size query");
        saraphis_tensor_info ai;
        OK(saraphis_inspect(saraphis_buffer_data(ab), saraphis_buffer_len(ab), &ai));
        CHECK(ai.codec != SARAPHIS_CODEC_AUTO && ai.codec <= SARAPHIS_CODEC_SPARSE, "a concrete codec");
        float *back = malloc(bytes);
        OK(saraphis_decompress(sys, saraphis_buffer_data(ab), saraphis_buffer_len(ab), SARAPHIS_F32, back, bytes));
        int within = 1;
        for (size_t i = 0; i < n; i++) within &= fabsf(back[i] - data[i]) <= 1e-3f;
        CHECK(within, "auto keeps the bound for every element");
        saraphis_buffer_free(ab);
        OK(saraphis_params_set(ap, SARAPHIS_PARAM_TARGET_RATIO, 2));
        ab = NULL;
        OK(saraphis_compress(sys, ap, data, bytes, SARAPHIS_F32, shape, 2, &ab));
        OK(saraphis_inspect(saraphis_buffer_data(ab), saraphis_buffer_len(ab), &ai));
        CHECK(ai.codec == SARAPHIS_CODEC_QUANT, "target ratio 2: the fastest decoder reaching it");
        saraphis_buffer_free(ab);
        CHECK(saraphis_params_set(ap, SARAPHIS_PARAM_TARGET_RATIO, -1) == SARAPHIS_ERR_INVALID_ARGUMENT, "target ratio -1");
        CHECK(saraphis_params_set(ap, SARAPHIS_PARAM_PRIORITY, 2) == SARAPHIS_ERR_INVALID_ARGUMENT, "priority 2");
        OK(saraphis_params_set(ap, SARAPHIS_PARAM_BITS, 8));
        ab = NULL;
        CHECK(saraphis_compress(sys, ap, data, bytes, SARAPHIS_F32, shape, 2, &ab) == SARAPHIS_ERR_INVALID_ARGUMENT && ab == NULL,
              "auto: bits with a bound refused");
        saraphis_buffer_free(pb);
        saraphis_params_free(ap);
        saraphis_params_free(pp);
        free(back);
    }
    CHECK(memcmp(copy, data, bytes) == 0, "input never written");
    saraphis_params_free(padic);
    saraphis_params_free(lossless);
    saraphis_system_free(sys);
    saraphis_system_free(NULL);
    saraphis_buffer_free(NULL);
    free(data);
    free(copy);
    free(out);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}

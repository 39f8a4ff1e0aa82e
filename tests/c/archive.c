/* Reads a real .sph archive through the Saraphis archive C API and exercises its error paths.
 * Usage: archive MODEL.sph MODEL.safetensors
 *   MODEL.sph is a lossless archive of MODEL.safetensors (`saraphis compress --lossless-v2`).
 * The expected bytes are the safetensors file's data section: the tensors in data order, which
 * is the archive's order. Built and run by tests/c_api.rs (cargo test); also by
 * scripts/sanitize.sh (ASan, UBSan) and scripts/sdk-test.sh (valgrind).
 * Prints "N passed, 0 failed" on success and exits 0; any failed check exits 1. */
#include "saraphis.h"

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

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Field by field: the struct's padding bytes are not part of its value. */
static int info_eq(const saraphis_tensor_info *a, const saraphis_tensor_info *b) {
    if (a->dtype != b->dtype || a->codec != b->codec || a->ndim != b->ndim || a->numel != b->numel ||
        a->original_bytes != b->original_bytes || a->compressed_bytes != b->compressed_bytes ||
        a->chunk_elems != b->chunk_elems || a->chunks != b->chunks || a->bound_mode != b->bound_mode ||
        a->error_bound != b->error_bound || a->prime != b->prime || a->precision != b->precision)
        return 0;
    for (int d = 0; d < 8; d++)
        if (a->shape[d] != b->shape[d] || (d < 5 && a->reserved[d] != b->reserved[d])) return 0;
    if (a->sparse_values_codec != b->sparse_values_codec || a->sparse_nonzeros != b->sparse_nonzeros ||
        a->sparse_mask_codec != b->sparse_mask_codec)
        return 0;
    return 1;
}

/* Every tensor of `a` decodes on the CPU to exactly its bytes in `expected`. */
static void check_all(const saraphis_archive *a, const unsigned char *expected, size_t expected_len,
                      const char *what) {
    size_t n = 0, off = 0;
    OK(saraphis_archive_tensor_count(a, &n));
    for (size_t i = 0; i < n; i++) {
        saraphis_tensor_info info;
        OK(saraphis_archive_tensor_info(a, i, &info));
        size_t bytes = (size_t)info.original_bytes;
        unsigned char *out = malloc(bytes ? bytes : 1);
        memset(out, 0xA5, bytes);
        OK(saraphis_archive_decompress(a, i, out, bytes));
        int same = off + bytes <= expected_len && memcmp(out, expected + off, bytes) == 0;
        if (!same) fprintf(stderr, "%s: tensor %zu (%s) differs\n", what, i, saraphis_archive_tensor_name(a, i));
        CHECK(same, "tensor decodes bit-exact");
        off += bytes;
        free(out);
    }
    CHECK(off == expected_len, "tensor sizes add up to the expected bytes");
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.sph MODEL.safetensors\n", argv[0]);
        return 2;
    }
    size_t st_len = 0, file_len = 0;
    unsigned char *st = read_file(argv[2], &st_len);
    unsigned char *file = read_file(argv[1], &file_len);
    if (!st || !file || st_len < 8) {
        fprintf(stderr, "cannot read the inputs\n");
        return 2;
    }
    uint64_t st_header = 0;
    for (int b = 7; b >= 0; b--) st_header = st_header << 8 | st[b];
    if (st_header > st_len - 8) {
        fprintf(stderr, "%s is not a safetensors file\n", argv[2]);
        return 2;
    }
    const unsigned char *expected = st + 8 + st_header;
    size_t expected_len = st_len - 8 - (size_t)st_header;

    saraphis_config *cfg = NULL;
    OK(saraphis_config_new(&cfg));
    OK(saraphis_config_set(cfg, SARAPHIS_CONFIG_THREADS, 2));
    OK(saraphis_config_set_device(cfg, "cpu"));
    saraphis_system *sys = NULL;
    OK(saraphis_system_new(cfg, &sys));
    saraphis_config_free(cfg);

    /* Opening: errors leave *out alone. */
    saraphis_archive *a = (saraphis_archive *)&passed; /* a sentinel that must survive failures */
    CHECK(saraphis_archive_open(sys, "/nonexistent/model.sph", &a) == SARAPHIS_ERR_IO &&
              a == (saraphis_archive *)&passed,
          "missing file: IO, out untouched");
    CHECK(strstr(saraphis_last_error_message(), "/nonexistent/model.sph") != NULL, "the message names the path");
    CHECK(saraphis_archive_open(sys, argv[2], &a) == SARAPHIS_ERR_BAD_MAGIC, "a file that is not an archive");
    CHECK(saraphis_archive_open(NULL, argv[1], &a) == SARAPHIS_ERR_NULL_PARAMETER, "NULL system");
    CHECK(saraphis_archive_open(sys, NULL, &a) == SARAPHIS_ERR_NULL_PARAMETER, "NULL path");
    CHECK(saraphis_archive_open(sys, argv[1], NULL) == SARAPHIS_ERR_NULL_PARAMETER, "NULL out");
    CHECK(saraphis_archive_open_memory(sys, file, file_len - 1, &a) != SARAPHIS_OK, "truncated by one byte");
    CHECK(saraphis_archive_open_memory(sys, file, 7, &a) != SARAPHIS_OK, "truncated to 7 bytes");
    CHECK(a == (saraphis_archive *)&passed, "out untouched by every failed open");

    /* The file, memory-mapped. */
    a = NULL;
    OK(saraphis_archive_open(sys, argv[1], &a));
    size_t n = 0;
    OK(saraphis_archive_tensor_count(a, &n));
    CHECK(n > 1, "the archive holds tensors");
    for (size_t i = 0; i < n; i++) {
        const char *name = saraphis_archive_tensor_name(a, i);
        size_t j = n + 1;
        CHECK(name != NULL && strlen(name) > 0, "tensor name");
        OK(saraphis_archive_find(a, name, &j));
        CHECK(j == i, "find returns the tensor's index");
        saraphis_tensor_info info;
        OK(saraphis_archive_tensor_info(a, i, &info));
        uint64_t numel = 1;
        for (uint32_t d = 0; d < info.ndim; d++) numel *= info.shape[d];
        CHECK(info.ndim <= 8 && numel == info.numel, "shape matches the element count");
        CHECK(info.compressed_bytes > 0 && info.original_bytes > 0, "sizes");
        for (int r = 0; r < 5; r++) CHECK(info.reserved[r] == 0, "reserved words are 0");
    }
    check_all(a, expected, expected_len, "mapped");

    /* Lookups and destinations that are wrong. */
    size_t j = 12345;
    CHECK(saraphis_archive_find(a, "no.such.tensor", &j) == SARAPHIS_ERR_NOT_FOUND && j == 12345, "not found");
    CHECK(strstr(saraphis_last_error_message(), "no.such.tensor") != NULL, "the message names the tensor");
    CHECK(saraphis_archive_tensor_name(a, n) == NULL, "name out of range");
    CHECK(saraphis_archive_tensor_name(NULL, 0) == NULL, "name of NULL archive");
    saraphis_tensor_info info0;
    CHECK(saraphis_archive_tensor_info(a, n, &info0) == SARAPHIS_ERR_INVALID_ARGUMENT, "info out of range");
    OK(saraphis_archive_tensor_info(a, 0, &info0));
    size_t b0 = (size_t)info0.original_bytes;
    unsigned char *out = malloc(b0 + 16);
    memset(out, 0x5A, b0 + 16);
    CHECK(saraphis_archive_decompress(a, 0, out, b0 - 1) == SARAPHIS_ERR_DESTINATION, "destination one byte short");
    CHECK(saraphis_archive_decompress(a, 0, out, b0 + 1) == SARAPHIS_ERR_DESTINATION, "destination one byte long");
    CHECK(out[0] == 0x5A && out[b0] == 0x5A, "nothing written on a size error");
    CHECK(saraphis_archive_decompress(a, n, out, b0) == SARAPHIS_ERR_INVALID_ARGUMENT, "decompress out of range");
    CHECK(saraphis_archive_decompress(a, 0, NULL, b0) == SARAPHIS_ERR_NULL_PARAMETER, "NULL destination");

    /* Device calls on a CPU system are refused, not crashed. */
    CHECK(saraphis_archive_decompress_device(a, 0, (void *)out, b0, NULL) == SARAPHIS_ERR_DEVICE,
          "device decode on a CPU system");
    OK(saraphis_archive_decompress_device_batch(a, NULL, 0, NULL));
    CHECK(saraphis_archive_decompress_device_batch(a, NULL, 1, NULL) == SARAPHIS_ERR_NULL_PARAMETER,
          "NULL outputs");
    saraphis_archive_output o = {0, (void *)out, b0};
    CHECK(saraphis_archive_decompress_device_batch(a, &o, 1, NULL) == SARAPHIS_ERR_DEVICE,
          "device batch on a CPU system");
    o.index = n;
    CHECK(saraphis_archive_decompress_device_batch(a, &o, 1, NULL) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "device batch out of range");

    /* System statistics as JSON: the decodes above are counted. */
    {
        size_t need = 0;
        OK(saraphis_system_stats_json(sys, NULL, 0, &need));
        char *json = malloc(need + 256);
        OK(saraphis_system_stats_json(sys, json, need + 256, &need));
        const char *td = strstr(json, "\"tensors_decompressed\":");
        CHECK(strstr(json, "\"state\":\"ready\"") != NULL && td != NULL &&
                  strtoull(td + strlen("\"tensors_decompressed\":"), NULL, 10) >= n,
              "system stats count the decodes");
        CHECK(saraphis_system_stats_json(sys, json, 3, &need) == SARAPHIS_ERR_DESTINATION, "system stats: small buffer");
        free(json);
    }

    /* The archive keeps its system alive: free the system first, decode after. */
    saraphis_system_free(sys);
    sys = NULL;
    check_all(a, expected, expected_len, "after system_free");
    saraphis_archive_free(a);
    saraphis_archive_free(NULL);

    /* The same archive from memory: no copy, the same tensors; the bytes are not modified. */
    saraphis_config *cfg2 = NULL;
    OK(saraphis_config_new(&cfg2));
    OK(saraphis_config_set_device(cfg2, "cpu"));
    OK(saraphis_system_new(cfg2, &sys));
    saraphis_config_free(cfg2);
    unsigned char *pristine = malloc(file_len);
    memcpy(pristine, file, file_len);
    OK(saraphis_archive_open_memory(sys, file, file_len, &a));
    check_all(a, expected, expected_len, "memory");
    /* Decoding into the archive's own bytes is refused (an output never overwrites an input). */
    CHECK(saraphis_archive_decompress(a, 0, file, b0) == SARAPHIS_ERR_DESTINATION, "dst overlapping the archive");
    saraphis_archive_free(a);
    CHECK(memcmp(pristine, file, file_len) == 0, "the caller's archive bytes are unchanged");

    /* One flipped payload byte: the archive opens (payloads are not read at open), that tensor
     * is refused with CHECKSUM, naming it, and the others still decode. Containers start at
     * byte 64, in data order, each at a multiple of 64 (docs/FORMAT.md section 5): flip the
     * last byte of the largest. */
    OK(saraphis_archive_open_memory(sys, file, file_len, &a));
    size_t k = 0, k_at = 0, at = 64;
    uint64_t k_len = 0;
    for (size_t i = 0; i < n; i++) {
        saraphis_tensor_info ti;
        OK(saraphis_archive_tensor_info(a, i, &ti));
        if (ti.compressed_bytes > k_len) {
            k = i;
            k_len = ti.compressed_bytes;
            k_at = at;
        }
        at += ((size_t)ti.compressed_bytes + 63) / 64 * 64;
    }
    saraphis_archive_free(a);
    unsigned char *altered = malloc(file_len);
    memcpy(altered, file, file_len);
    CHECK(memcmp(altered + k_at, "SPHT", 4) == 0, "the largest container where the format puts it");
    altered[k_at + k_len - 1] ^= 0x10;
    saraphis_archive *bad = NULL;
    OK(saraphis_archive_open_memory(sys, altered, file_len, &bad));
    saraphis_tensor_info ik;
    OK(saraphis_archive_tensor_info(bad, k, &ik));
    unsigned char *ok_out = malloc((size_t)ik.original_bytes);
    CHECK(saraphis_archive_decompress(bad, k, ok_out, (size_t)ik.original_bytes) == SARAPHIS_ERR_CHECKSUM,
          "altered tensor refused");
    CHECK(strstr(saraphis_last_error_message(), saraphis_archive_tensor_name(bad, k)) != NULL,
          "the message names the altered tensor");
    /* Its neighbour still decodes bit-exact. */
    size_t other = k == 0 ? 1 : k - 1, other_off = 0;
    saraphis_tensor_info io;
    for (size_t i = 0; i < other; i++) {
        OK(saraphis_archive_tensor_info(bad, i, &io));
        other_off += (size_t)io.original_bytes;
    }
    OK(saraphis_archive_tensor_info(bad, other, &io));
    unsigned char *o2 = malloc((size_t)io.original_bytes);
    OK(saraphis_archive_decompress(bad, other, o2, (size_t)io.original_bytes));
    CHECK(memcmp(o2, expected + other_off, (size_t)io.original_bytes) == 0, "another tensor of the altered archive");
    saraphis_archive_free(bad);

    /* A container's header from a prefix: compress the first F32 tensor, then ask for the
     * header's length from nothing, as a reader of a file would, and inspect that prefix. */
    OK(saraphis_archive_open(sys, argv[1], &a));
    saraphis_tensor_info fi;
    size_t foff = 0;
    for (size_t i = 0; i < n; i++) {
        OK(saraphis_archive_tensor_info(a, i, &fi));
        if (fi.dtype == SARAPHIS_F32) break;
        foff += (size_t)fi.original_bytes;
    }
    saraphis_archive_free(a);
    CHECK(fi.dtype == SARAPHIS_F32, "the fixture has an F32 tensor");
    size_t fb = (size_t)fi.original_bytes;
    saraphis_params *params = NULL;
    OK(saraphis_params_new(SARAPHIS_CODEC_LOSSLESS_V2, &params));
    saraphis_buffer *buf = NULL;
    OK(saraphis_compress(sys, params, expected + foff, fb, fi.dtype, fi.shape, fi.ndim, &buf));
    const unsigned char *c = saraphis_buffer_data(buf);
    size_t clen = saraphis_buffer_len(buf), have = 0, need = 0;
    int rounds = 0;
    for (;;) {
        OK(saraphis_header_bytes(c, have, &need));
        if (need <= have || rounds > 4) break;
        have = need < clen ? need : clen;
        rounds++;
    }
    CHECK(rounds >= 1 && rounds <= 4 && need == have && need < clen, "header length in at most four rounds");
    size_t from_max = 0;
    OK(saraphis_header_bytes(c, clen < SARAPHIS_HEADER_MAX_BYTES ? clen : SARAPHIS_HEADER_MAX_BYTES, &from_max));
    CHECK(from_max == need, "the same length from SARAPHIS_HEADER_MAX_BYTES");
    saraphis_tensor_info ip, iw;
    OK(saraphis_inspect(c, need, &ip));
    OK(saraphis_inspect(c, clen, &iw));
    CHECK(info_eq(&ip, &iw), "inspect of the header prefix equals inspect of the whole");
    CHECK(ip.codec == SARAPHIS_CODEC_LOSSLESS_V2 && ip.original_bytes == fb, "prefix inspect fields");
    CHECK(saraphis_inspect(c, need - 1, &ip) == SARAPHIS_ERR_TRUNCATED, "one byte short of the header");
    CHECK(saraphis_header_bytes(expected, 16, &need) == SARAPHIS_ERR_BAD_MAGIC, "not a container");
    CHECK(saraphis_header_bytes(NULL, 0, &need) == SARAPHIS_OK && need > 0, "from zero bytes");
    CHECK(saraphis_header_bytes(c, clen, NULL) == SARAPHIS_ERR_NULL_PARAMETER, "NULL needed");
    saraphis_buffer_free(buf);

    /* The residency manager: an engine's loop over every tensor, twice, under a quarter of
     * the decoded model (at least the largest tensor), prefetching the next two. */
    {
        saraphis_archive *ra = NULL;
        OK(saraphis_archive_open(sys, argv[1], &ra));
        size_t largest = 0;
        for (size_t i = 0; i < n; i++) {
            saraphis_tensor_info ti;
            OK(saraphis_archive_tensor_info(ra, i, &ti));
            if ((size_t)ti.original_bytes > largest) largest = (size_t)ti.original_bytes;
        }
        uint64_t budget = expected_len / 4 > largest ? expected_len / 4 : largest;
        saraphis_residency *r = NULL;
        CHECK(saraphis_residency_new(ra, budget, 7, &r) == SARAPHIS_ERR_INVALID_ARGUMENT && r == NULL, "bad policy");
        CHECK(saraphis_residency_new(ra, 0, SARAPHIS_SWAP_BALANCED, &r) == SARAPHIS_ERR_INVALID_ARGUMENT, "zero budget");
        OK(saraphis_residency_new(ra, budget, SARAPHIS_SWAP_BALANCED, &r));
        saraphis_archive_free(ra); /* the residency manager keeps the archive */
        for (int pass = 0; pass < 2; pass++) {
            size_t off = 0;
            for (size_t i = 0; i < n; i++) {
                size_t next[2] = {i + 1, i + 2}, count = i + 2 < n ? 2 : (i + 1 < n ? 1 : 0), started = 99;
                OK(saraphis_residency_prefetch(r, next, count, &started));
                CHECK(started <= count, "prefetch count");
                const void *p = NULL;
                size_t pb = 0;
                OK(saraphis_residency_acquire(r, i, &p, &pb));
                CHECK(p != NULL && off + pb <= expected_len && memcmp(p, expected + off, pb) == 0,
                      "acquired tensor bit-exact");
                OK(saraphis_residency_release(r, i));
                off += pb;
            }
            CHECK(off == expected_len, "every tensor acquired");
        }
        CHECK(saraphis_residency_release(r, 0) == SARAPHIS_ERR_INVALID_ARGUMENT, "release without acquire");
        const void *p = NULL;
        size_t pb = 0;
        CHECK(saraphis_residency_acquire(r, n, &p, &pb) == SARAPHIS_ERR_INVALID_ARGUMENT, "acquire out of range");
        size_t bad_index = n;
        CHECK(saraphis_residency_prefetch(r, &bad_index, 1, NULL) == SARAPHIS_ERR_INVALID_ARGUMENT,
              "prefetch out of range");
        OK(saraphis_residency_set_priority(r, 0, 3));
        size_t need = 0;
        OK(saraphis_residency_stats_json(r, NULL, 0, &need));
        char *json = malloc(need + 256);
        OK(saraphis_residency_stats_json(r, json, need + 256, &need));
        CHECK(strstr(json, "\"tier\":\"host\"") != NULL && strstr(json, "\"evictions\":0,") == NULL &&
                  strstr(json, "\"failures\":0,") != NULL && strstr(json, "\"pinned_bytes\":0,") != NULL,
              "stats: evictions happened, no failure, nothing pinned");
        CHECK(saraphis_residency_stats_json(r, json, 4, &need) == SARAPHIS_ERR_DESTINATION, "stats: small buffer");
        free(json);
        saraphis_residency_free(r);
        saraphis_residency_free(NULL);
        /* A budget one byte short of the largest tensor: BUDGET, not a crash or an overshoot. */
        OK(saraphis_archive_open(sys, argv[1], &ra));
        OK(saraphis_residency_new(ra, largest - 1, SARAPHIS_SWAP_CONSERVATIVE, &r));
        size_t big = 0;
        for (size_t i = 0; i < n; i++) {
            saraphis_tensor_info ti;
            OK(saraphis_archive_tensor_info(ra, i, &ti));
            if ((size_t)ti.original_bytes == largest) big = i;
        }
        CHECK(saraphis_residency_acquire(r, big, &p, &pb) == SARAPHIS_ERR_BUDGET, "tensor larger than the budget");
        saraphis_residency_free(r);
        saraphis_archive_free(ra);
    }

    /* Writing archives: the safetensors bytes in memory to an archive buffer, and file to file;
     * both read back bit-exact. The input is not modified; output = input is refused. */
    unsigned char *st_copy = malloc(st_len);
    memcpy(st_copy, st, st_len);
    saraphis_buffer *ab = NULL;
    OK(saraphis_archive_compress(sys, params, st, st_len, &ab));
    CHECK(memcmp(st_copy, st, st_len) == 0, "archive_compress leaves its input alone");
    CHECK(ab != NULL && saraphis_buffer_len(ab) < st_len, "the archive is smaller than the file");
    saraphis_archive *w = NULL;
    OK(saraphis_archive_open_memory(sys, saraphis_buffer_data(ab), saraphis_buffer_len(ab), &w));
    check_all(w, expected, expected_len, "archive_compress");
    saraphis_archive_free(w);
    saraphis_buffer_free(ab);
    saraphis_buffer *nb = NULL;
    CHECK(saraphis_archive_compress(sys, params, file, 64, &nb) == SARAPHIS_ERR_INVALID_ARGUMENT && nb == NULL,
          "archive_compress of bytes that are not safetensors");
    char out_path[4096];
    snprintf(out_path, sizeof out_path, "%s.c-test.sph", argv[1]);
    remove(out_path);
    OK(saraphis_archive_compress_file(sys, params, argv[2], out_path));
    OK(saraphis_archive_open(sys, out_path, &w));
    check_all(w, expected, expected_len, "archive_compress_file");
    saraphis_archive_free(w);
    CHECK(saraphis_archive_compress_file(sys, params, out_path, out_path) == SARAPHIS_ERR_INVALID_ARGUMENT,
          "output = input refused");
    OK(saraphis_archive_open(sys, out_path, &w));
    check_all(w, expected, expected_len, "the archive survives output = input");
    saraphis_archive_free(w);
    CHECK(saraphis_archive_compress_file(sys, params, "/nonexistent/in.safetensors", out_path) == SARAPHIS_ERR_IO,
          "missing input");
    remove(out_path);
    free(st_copy);
    saraphis_params_free(params);
    saraphis_system_free(sys);

    free(out);
    free(ok_out);
    free(o2);
    free(pristine);
    free(altered);
    free(file);
    free(st);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}

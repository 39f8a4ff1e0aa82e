/* Reads one F32 tensor from a safetensors fixture (tests/data). Test helper, C99 and C++17. */
#ifndef SARAPHIS_TEST_FIXTURE_H
#define SARAPHIS_TEST_FIXTURE_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* On success returns a malloc'd copy of the tensor's bytes and fills rows, cols, bytes. */
static unsigned char *fixture_tensor(const char *path, const char *name, uint64_t *rows, uint64_t *cols, size_t *bytes) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = (unsigned char *)malloc((size_t)len);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) { fclose(f); free(buf); return NULL; }
    fclose(f);
    uint64_t n = 0;
    memcpy(&n, buf, 8);
    char *header = (char *)malloc(n + 1);
    memcpy(header, buf + 8, n);
    header[n] = 0;
    char key[256];
    snprintf(key, sizeof key, "\"%s\":", name);
    char *at = strstr(header, key);
    unsigned long long r = 0, c = 0, s = 0, e = 0;
    unsigned char *out = NULL;
    if (at) {
        char *sh = strstr(at, "\"shape\":[");
        char *off = strstr(at, "\"data_offsets\":[");
        if (sh && off && sscanf(sh, "\"shape\":[%llu,%llu]", &r, &c) == 2 &&
            sscanf(off, "\"data_offsets\":[%llu,%llu]", &s, &e) == 2 && e > s) {
            out = (unsigned char *)malloc((size_t)(e - s));
            memcpy(out, buf + 8 + n + s, (size_t)(e - s));
            *rows = r;
            *cols = c;
            *bytes = (size_t)(e - s);
        }
    }
    free(header);
    free(buf);
    return out;
}
#endif

/* CMake / pkg-config consumer test: round-trips a real MiniLM tensor through the installed
 * library. Usage: consumer FIXTURE.safetensors. Prints "N passed, N failed". */
#include <math.h>
#include <saraphis.h>
#include <saraphis_config.h>
#include <stdio.h>
#include <string.h>

#include "fixture.h"

int main(int argc, char **argv) {
    int passed = 0, failed = 0;
#define CHECK(c) do { if (c) passed++; else { failed++; fprintf(stderr, "FAILED line %d: %s (%s)\n", __LINE__, #c, saraphis_last_error_message()); } } while (0)
    if (argc != 2) return 2;
    uint64_t shape[2];
    size_t bytes = 0;
    unsigned char *data = fixture_tensor(argv[1], "encoder.layer.0.attention.self.query.weight", &shape[0], &shape[1], &bytes);
    CHECK(data != NULL && bytes == shape[0] * shape[1] * 4);
    if (!data) return 1;
    CHECK(SARAPHIS_HAS_CUDA == (int)saraphis_build_has_cuda());
    CHECK(strcmp(SARAPHIS_CONFIG_VERSION, saraphis_version()) == 0);
    saraphis_system *sys = NULL;
    CHECK(saraphis_system_new(NULL, &sys) == SARAPHIS_OK);
    saraphis_params *p = NULL;
    CHECK(saraphis_params_new(SARAPHIS_CODEC_PADIC, &p) == SARAPHIS_OK);
    CHECK(saraphis_params_set(p, SARAPHIS_PARAM_ABS_BOUND, 1e-4) == SARAPHIS_OK);
    saraphis_buffer *c = NULL;
    CHECK(saraphis_compress(sys, p, data, bytes, SARAPHIS_F32, shape, 2, &c) == SARAPHIS_OK);
    float *out = (float *)malloc(bytes);
    CHECK(saraphis_decompress(sys, saraphis_buffer_data(c), saraphis_buffer_len(c), SARAPHIS_F32, out, bytes) == SARAPHIS_OK);
    const float *in = (const float *)data;
    double max = 0;
    for (size_t i = 0; i < bytes / 4; i++) {
        double e = fabs((double)in[i] - (double)out[i]);
        if (e > max) max = e;
    }
    CHECK(max <= 1e-4 && max > 0);
    printf("ratio %.3f, max error %.3g\n", (double)bytes / (double)saraphis_buffer_len(c), max);
    saraphis_buffer_free(c);
    saraphis_params_free(p);
    saraphis_system_free(sys);
    free(out);
    free(data);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

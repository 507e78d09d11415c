/* The forward tests' data: a seeded generator of uniform numbers in
 * [-1, 1), buffers filled from it or with NaN, and one-conv nets of
 * random weights. Include after cmocka.h. */
#ifndef LRC_TEST_FW_TEST_DATA_H
#define LRC_TEST_FW_TEST_DATA_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lrc/core.h"
#include "lrc/model.h"

static inline double rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / (double)(1ULL << 53) * 2.0 - 1.0;
}

/* n floats from rnd (at least one allocated); the caller frees them. */
static inline float *rand_floats(size_t n, uint64_t *seed)
{
    float *p = malloc((n > 0 ? n : 1) * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)rnd(seed);
    return p;
}

/* A buffer of exactly n floats (so that AddressSanitizer sees any read or
 * write past it), every one NaN. */
static inline float *nan_floats(size_t n)
{
    float *p = malloc((n > 0 ? n : 1) * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = NAN;
    return p;
}

/* n zeroed floats from a cache line on (64 bytes: where the kernels may
 * stream their outputs); the caller frees them with lrc_free. */
static inline float *line_floats(size_t n)
{
    float *p = NULL;
    assert_int_equal(lrc_calloc_aligned(&p, n > 0 ? n : 1, sizeof *p, 64,
                                        "test buffer"),
                     LRC_OK);
    return p;
}

/* A one-layer net holding a stride-1 conv named "conv" (c -> d channels,
 * kh x kw, pads pt, pl, pb, pr) on an h x w input, its weights and then
 * its bias drawn from *seed; the caller destroys it. */
static inline lrc_net *fw_conv_net(int64_t c, int64_t h, int64_t w,
                                   int64_t d, int64_t kh, int64_t kw,
                                   int64_t pt, int64_t pl, int64_t pb,
                                   int64_t pr, uint64_t *seed)
{
    lrc_layer p;
    memset(&p, 0, sizeof p);
    p.name = "conv";
    p.op = LRC_OP_CONV;
    p.in_c = c;
    p.out_c = d;
    p.kh = kh;
    p.kw = kw;
    p.sh = p.sw = 1;
    p.pt = pt;
    p.pl = pl;
    p.pb = pb;
    p.pr = pr;
    p.flatten_check = -1;
    p.weight = rand_floats((size_t)(d * c * kh * kw), seed);
    p.bias = rand_floats((size_t)d, seed);
    lrc_net *net = NULL;
    assert_int_equal(lrc_net_create(&net), LRC_OK);
    assert_int_equal(lrc_net_append(net, &p), LRC_OK);
    assert_int_equal(lrc_net_set_input(net, c, h, w), LRC_OK);
    free(p.weight);
    free(p.bias);
    return net;
}

#endif

/* The tests' reference convolution: the definition, summed in double, for
 * any kernel, stride and padding (NCHW input, weights d x c x kh x kw).
 * Include after cmocka.h. */
#ifndef LRC_TEST_NAIVE_CONV_H
#define LRC_TEST_NAIVE_CONV_H

#include <stdlib.h>

#include "lrc/model.h"

static inline void naive_conv(const lrc_layer *l, const float *in, int64_t n,
                              double *out)
{
    const int64_t c = l->in_shape[0], h = l->in_shape[1], w = l->in_shape[2];
    const int64_t d = l->out_c, ho = l->out_shape[1], wo = l->out_shape[2];
    for (int64_t b = 0; b < n; b++)
        for (int64_t f = 0; f < d; f++)
            for (int64_t y = 0; y < ho; y++)
                for (int64_t x = 0; x < wo; x++) {
                    double s = l->bias[f];
                    for (int64_t ch = 0; ch < c; ch++)
                        for (int64_t i = 0; i < l->kh; i++)
                            for (int64_t j = 0; j < l->kw; j++) {
                                int64_t iy = y * l->sh - l->pt + i;
                                int64_t ix = x * l->sw - l->pl + j;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                    continue;
                                s += (double)l->weight[((f * c + ch) * l->kh + i) * l->kw + j] *
                                     in[((b * c + ch) * h + iy) * w + ix];
                            }
                    out[((b * d + f) * ho + y) * wo + x] = s;
                }
}

/* naive_conv of n images into a new buffer; the caller frees it. */
static inline double *naive_conv_new(const lrc_layer *l, const float *in,
                                     int64_t n)
{
    const size_t outn =
        (size_t)(n * l->out_c * l->out_shape[1] * l->out_shape[2]);
    double *out = malloc((outn > 0 ? outn : 1) * sizeof *out);
    assert_non_null(out);
    naive_conv(l, in, n, out);
    return out;
}

#endif

/* The forward tests' data: a seeded generator of uniform numbers in
 * [-1, 1) and buffers filled from it or with NaN. Include after cmocka.h. */
#ifndef LRC_TEST_FW_TEST_DATA_H
#define LRC_TEST_FW_TEST_DATA_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

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

#endif

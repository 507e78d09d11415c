/* Exact, order-independent sums across ranks in 64-bit fixed point (see
 * lrc_xsum in include/lrc/parallel.h). */
#include <math.h>
#include <string.h>

#include "lrc/parallel.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define LRC_XSUM_AVX512 1
#else
#define LRC_XSUM_AVX512 0
#endif

lrc_status lrc_xsum_init(lrc_xsum *x, int64_t n, double bound)
{
    memset(x, 0, sizeof *x);
    if (n < 0)
        LRC_RAISE(LRC_ERR_INTERNAL, "lrc_xsum_init: %lld values", (long long)n);
    if (!isfinite(bound))
        LRC_RAISE(LRC_ERR_NUMERIC, "a sum's bound is not finite (%g): the "
                  "samples hold a NaN or an infinity", bound);
    /* the largest 2^e with bound 2^e <= 2^61: sums stay below 2^61 plus
     * half a unit per term, far from 2^63 */
    int ex = 0;
    if (bound > 0)
        (void)frexp(bound, &ex); /* bound < 2^ex */
    x->scale = ldexp(1.0, 61 - ex);
    x->n = n;
    return lrc_calloc(&x->acc, (size_t)n + 1, sizeof *x->acc, "fixed-point sums");
}

void lrc_xsum_free(lrc_xsum *x)
{
    lrc_free(&x->acc);
    x->n = 0;
}

void lrc_xsum_add(lrc_xsum *x, const double *v)
{
    const double s = x->scale;
    int64_t *restrict a = x->acc;
    for (int64_t i = 0; i < x->n; i++)
        a[i] += (int64_t)nearbyint(v[i] * s);
}

/* The solver adds a d x d float product per chunk of samples and
 * iteration, so this one runs often: with AVX-512DQ, eight at a time
 * (vcvtpd2qq rounds in the current mode, as nearbyint does: the same
 * integers). */
#if LRC_XSUM_AVX512
__attribute__((target("avx512f,avx512dq"))) static void
add_f_avx512(int64_t n, int64_t *restrict a, const float *restrict v, double s)
{
    const __m512d sv = _mm512_set1_pd(s);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m512d t = _mm512_mul_pd(_mm512_cvtps_pd(_mm256_loadu_ps(v + i)), sv);
        const __m512i q = _mm512_cvtpd_epi64(t);
        _mm512_storeu_si512(a + i, _mm512_add_epi64(_mm512_loadu_si512(a + i), q));
    }
    for (; i < n; i++)
        a[i] += (int64_t)nearbyint((double)v[i] * s);
}
#endif

void lrc_xsum_add_f(lrc_xsum *x, const float *v)
{
    const double s = x->scale;
    int64_t *restrict a = x->acc;
#if LRC_XSUM_AVX512
    if (__builtin_cpu_supports("avx512dq")) {
        add_f_avx512(x->n, a, v, s);
        return;
    }
#endif
    for (int64_t i = 0; i < x->n; i++)
        a[i] += (int64_t)nearbyint((double)v[i] * s);
}

lrc_status lrc_xsum_reduce(MPI_Comm comm, lrc_xsum *x, double *out)
{
    lrc_status st = LRC_OK;
    /* in slices: MPI counts are int */
    for (int64_t at = 0; at < x->n; at += 1 << 28) {
        const int64_t m = x->n - at < (1 << 28) ? x->n - at : (1 << 28);
        LRC_TRY_MPI(MPI_Allreduce(MPI_IN_PLACE, x->acc + at, (int)m, MPI_INT64_T,
                                  MPI_SUM, comm));
    }
    for (int64_t i = 0; i < x->n; i++)
        out[i] = (double)x->acc[i] / x->scale;
cleanup:
    return st;
}

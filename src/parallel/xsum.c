/* Exact, order-independent sums across ranks in 64-bit fixed point (see
 * lrc_xsum in include/lrc/parallel.h). */
#include <math.h>
#include <string.h>

#include "lrc/parallel.h"

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

void lrc_xsum_add_f(lrc_xsum *x, const float *v)
{
    const double s = x->scale;
    int64_t *restrict a = x->acc;
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

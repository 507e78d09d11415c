/* Rank selection under a whole-model speedup (docs/METHOD.md, section 4).
 *
 * The greedy lowers, one step at a time, the rank of the layer that loses the
 * least relative energy per multiply-add saved. The saving of one rank step
 * is taken as the constant (kkc + d) hw, never as the drop of
 * min(original, decomposed) cost: that drop is zero while a layer's
 * decomposed cost still exceeds its original, and a greedy that measured it
 * would pour every step into whichever layer first crossed below, draining
 * it to rank 1. The real cost (with the min) only decides when the budget
 * holds and which layers keep their original form. */
#include "lrc/method.h"

#include <assert.h>
#include <math.h>

/* A covariance is positive semi-definite: negative eigenvalues are rounding
 * noise and carry no energy. */
static long double energy(double e)
{
    return e > 0.0 ? (long double)e : 0.0L;
}

/* a * b for non-negative a, b; 0 when it overflows int64. */
static int mul_fits(int64_t a, int64_t b, int64_t *out)
{
    if (a != 0 && b > INT64_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

/* Whether the layer at rank r is cheaper decomposed than in its original
 * form: r (kkc + d) hw < d kkc hw. */
static int64_t original_cost(const lrc_rank_layer *l)
{
    return l->orig > 0 ? l->orig : l->d * l->kkc * l->hw;
}

static int decomposed_is_cheaper(const lrc_rank_layer *l, int64_t r)
{
    return r < l->d && l->extra + r * (l->kkc + l->d) * l->hw < original_cost(l);
}

int64_t lrc_rank_cost(const lrc_rank_layer *l, int64_t r)
{
    assert(l && r >= 1);
    /* Tested before computing r (kkc + d) hw, so that the product stays
     * below d (kkc + d) hw, which lrc_select_ranks checks fits int64. */
    if (!decomposed_is_cheaper(l, r))
        return original_cost(l);
    return l->extra + r * (l->kkc + l->d) * l->hw;
}

/* Checks one layer's sizes and eigenvalues; i is its index for messages. */
static lrc_status check_layer(const lrc_rank_layer *l, int64_t i)
{
    int64_t full;
    if (l->d < 1 || l->kkc < 1 || l->hw < 1)
        LRC_RAISE(LRC_ERR_ARG,
                  "layer %lld: d, k*k*c and h*w must be positive "
                  "(got d = %lld, k*k*c = %lld, h*w = %lld)",
                  (long long)i, (long long)l->d, (long long)l->kkc,
                  (long long)l->hw);
    if (l->kkc > INT64_MAX - l->d || !mul_fits(l->d, l->kkc + l->d, &full) ||
        !mul_fits(full, l->hw, &full))
        LRC_RAISE(LRC_ERR_ARG,
                  "layer %lld: cost d (k*k*c + d) h*w overflows int64 "
                  "(d = %lld, k*k*c = %lld, h*w = %lld)",
                  (long long)i, (long long)l->d, (long long)l->kkc,
                  (long long)l->hw);
    if (l->orig < 0 || l->extra < 0 || l->extra > full)
        LRC_RAISE(LRC_ERR_ARG, "layer %lld: invalid original (%lld) or extra "
                  "(%lld) cost", (long long)i, (long long)l->orig,
                  (long long)l->extra);
    if (!l->eig)
        LRC_RAISE(LRC_ERR_ARG, "layer %lld: no eigenvalues", (long long)i);
    for (int64_t a = 0; a < l->d; a++) {
        if (!isfinite(l->eig[a]))
            LRC_RAISE(LRC_ERR_NUMERIC, "layer %lld: eigenvalue %lld is %g",
                      (long long)i, (long long)a, l->eig[a]);
        /* Compared after clamping, so that the order of rounding noise
         * below zero does not matter. */
        if (a > 0 && energy(l->eig[a]) > energy(l->eig[a - 1]))
            LRC_RAISE(LRC_ERR_ARG,
                      "layer %lld: eigenvalues are not in descending order "
                      "(eig[%lld] = %g < eig[%lld] = %g)",
                      (long long)i, (long long)(a - 1), l->eig[a - 1],
                      (long long)a, l->eig[a]);
    }
    return LRC_OK;
}

/* Relative energy lost per multiply-add saved by lowering layer l from rank
 * r to r - 1; pre[a] is the energy of its first a eigenvalues. A layer with
 * no energy left loses nothing. */
static long double step_loss(const lrc_rank_layer *l, const long double *pre,
                             int64_t r)
{
    if (pre[r] <= 0.0L)
        return 0.0L;
    long double step = (long double)(l->kkc + l->d) * (long double)l->hw;
    return energy(l->eig[r - 1]) / pre[r] / step;
}

lrc_status lrc_select_ranks(const lrc_rank_layer *layers, int64_t n,
                            int64_t fixed_cost, double speedup,
                            int64_t *ranks, double *achieved)
{
    lrc_status st = LRC_OK;
    long double *pre = NULL;  /* every layer's d + 1 prefix energies */
    int64_t *start = NULL;    /* where layer l's prefix energies start */
    long double *loss = NULL; /* step_loss of each layer at its rank */

    if (n < 1)
        LRC_RAISE(LRC_ERR_ARG, "no layer to approximate (n = %lld)",
                  (long long)n);
    if (!layers || !ranks || !achieved)
        LRC_RAISE(LRC_ERR_ARG, "layers, ranks and achieved must not be NULL");
    if (!(speedup > 1.0))
        LRC_RAISE(LRC_ERR_ARG, "speedup %g must be > 1", speedup);
    if (fixed_cost < 0)
        LRC_RAISE(LRC_ERR_ARG, "fixed cost %lld must not be negative",
                  (long long)fixed_cost);

    int64_t total = fixed_cost, lowest = fixed_cost, npre = 0;
    for (int64_t l = 0; l < n; l++) {
        LRC_CALL(check_layer(&layers[l], l));
        int64_t orig = lrc_rank_cost(&layers[l], layers[l].d);
        if (total > INT64_MAX - orig || npre > INT64_MAX - layers[l].d - 1)
            LRC_RAISE(LRC_ERR_ARG, "the model's cost overflows int64 at "
                      "layer %lld", (long long)l);
        total += orig;
        lowest += lrc_rank_cost(&layers[l], 1);
        npre += layers[l].d + 1;
    }
    double budget = (double)total / speedup;
    if ((double)lowest > budget)
        LRC_RAISE(LRC_ERR_ARG,
                  "speedup %g cannot be reached: with every rank at 1 the "
                  "model still costs %lld of its %lld multiply-adds per "
                  "image; the highest reachable speedup is %.6g",
                  speedup, (long long)lowest, (long long)total,
                  (double)total / (double)lowest);

    LRC_TRY(lrc_calloc(&pre, (size_t)npre, sizeof *pre, "prefix energies"));
    LRC_TRY(lrc_calloc(&start, (size_t)n, sizeof *start, "layer offsets"));
    LRC_TRY(lrc_calloc(&loss, (size_t)n, sizeof *loss, "step losses"));
    for (int64_t l = 0, off = 0; l < n; l++) {
        const lrc_rank_layer *ly = &layers[l];
        start[l] = off;
        for (int64_t a = 0; a < ly->d; a++)
            pre[off + a + 1] = pre[off + a] + energy(ly->eig[a]);
        off += ly->d + 1;
        ranks[l] = ly->d;
        if (ly->d > 1)
            loss[l] = step_loss(ly, pre + start[l], ly->d);
    }

    int64_t cost = total;
    while ((double)cost > budget) {
        int64_t best = -1;
        for (int64_t l = 0; l < n; l++) /* ties go to the lowest index */
            if (ranks[l] > 1 && (best < 0 || loss[l] < loss[best]))
                best = l;
        if (best < 0) /* cannot happen: rank 1 everywhere meets the budget */
            LRC_FAIL(LRC_ERR_INTERNAL, "rank selection ran out of steps at "
                     "cost %lld > budget %.17g", (long long)cost, budget);
        const lrc_rank_layer *ly = &layers[best];
        int64_t r = ranks[best];
        cost -= lrc_rank_cost(ly, r) - lrc_rank_cost(ly, r - 1);
        ranks[best] = r - 1;
        if (r - 1 > 1)
            loss[best] = step_loss(ly, pre + start[best], r - 1);
    }

    for (int64_t l = 0; l < n; l++)
        if (!decomposed_is_cheaper(&layers[l], ranks[l]))
            ranks[l] = layers[l].d;
    *achieved = (double)total / (double)cost;

cleanup:
    lrc_free(&pre);
    lrc_free(&start);
    lrc_free(&loss);
    return st;
}

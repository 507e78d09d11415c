/* Rank selection: the greedy against brute force, the budget, the pitfall of
 * measuring a step's saving as a drop of min(original, decomposed) cost, and
 * the edge cases (dead layers, rounding noise, bad arguments). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lrc/method.h"

#define MAXL 8

/* ---- independent references ---- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_unif(uint64_t *s) /* in (0, 1] */
{
    return ((double)(rng_next(s) >> 11) + 1.0) / 9007199254740992.0;
}

static int64_t rng_int(uint64_t *s, int64_t lo, int64_t hi) /* [lo, hi] */
{
    return lo + (int64_t)(rng_next(s) % (uint64_t)(hi - lo + 1));
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* The cost rule written out again: min(d kkc hw, r (kkc + d) hw). */
static int64_t ref_cost(const lrc_rank_layer *l, int64_t r)
{
    int64_t orig = l->d * l->kkc * l->hw, dec = r * (l->kkc + l->d) * l->hw;
    return dec < orig ? dec : orig;
}

static int64_t model_cost(const lrc_rank_layer *L, int64_t n, int64_t fixed,
                          const int64_t *r)
{
    int64_t c = fixed;
    for (int64_t l = 0; l < n; l++)
        c += ref_cost(&L[l], r[l]);
    return c;
}

static int64_t original_cost(const lrc_rank_layer *L, int64_t n, int64_t fixed)
{
    int64_t c = fixed;
    for (int64_t l = 0; l < n; l++)
        c += L[l].d * L[l].kkc * L[l].hw;
    return c;
}

static long double kept_energy(const lrc_rank_layer *l, int64_t r)
{
    long double e = 0.0L;
    for (int64_t a = 0; a < r; a++)
        e += l->eig[a] > 0.0 ? l->eig[a] : 0.0;
    return e;
}

static double kept_fraction(const lrc_rank_layer *l, int64_t r)
{
    long double all = kept_energy(l, l->d);
    return all > 0.0L ? (double)(kept_energy(l, r) / all) : 1.0;
}

/* The greedy of the paper, naively: every energy summed afresh each step,
 * the cost recomputed over the whole model. With `pitfall`, the saving of a
 * step is the drop of the real cost (the mistake the method warns about):
 * a zero saving gives an infinite loss. */
static void ref_greedy(const lrc_rank_layer *L, int64_t n, int64_t fixed,
                       double speedup, int pitfall, int64_t *r)
{
    double budget = (double)original_cost(L, n, fixed) / speedup;
    for (int64_t l = 0; l < n; l++)
        r[l] = L[l].d;
    while ((double)model_cost(L, n, fixed, r) > budget) {
        int64_t best = -1;
        long double best_v = 0.0L;
        for (int64_t l = 0; l < n; l++) {
            if (r[l] <= 1)
                continue;
            long double e = kept_energy(&L[l], r[l]);
            long double lost = L[l].eig[r[l] - 1] > 0.0 ? L[l].eig[r[l] - 1] : 0.0;
            long double saved =
                pitfall ? (long double)(ref_cost(&L[l], r[l]) -
                                        ref_cost(&L[l], r[l] - 1))
                        : (long double)(L[l].kkc + L[l].d) * L[l].hw;
            long double v = e > 0.0L ? lost / e : 0.0L;
            v = saved > 0.0L ? v / saved : INFINITY;
            if (best < 0 || v < best_v) {
                best = l;
                best_v = v;
            }
        }
        assert_true(best >= 0);
        r[best]--;
    }
    for (int64_t l = 0; l < n; l++)
        if (r[l] * (L[l].kkc + L[l].d) >= L[l].d * L[l].kkc)
            r[l] = L[l].d;
}

/* The properties every answer must have: ranks in range, a layer keeps its
 * original form or is cheaper decomposed, the budget holds, the last step
 * was needed (raising some decomposed layer by one breaks the budget) and
 * the achieved speedup is the cost ratio. */
static void check_answer(const lrc_rank_layer *L, int64_t n, int64_t fixed,
                         double speedup, const int64_t *r, double achieved)
{
    int64_t total = original_cost(L, n, fixed);
    double budget = (double)total / speedup;
    int64_t cost = model_cost(L, n, fixed, r);
    int needed = 0;
    for (int64_t l = 0; l < n; l++) {
        assert_true(r[l] >= 1 && r[l] <= L[l].d);
        if (r[l] < L[l].d) {
            assert_true(r[l] * (L[l].kkc + L[l].d) < L[l].d * L[l].kkc);
            int64_t up[MAXL];
            memcpy(up, r, (size_t)n * sizeof *up);
            up[l]++;
            if ((double)model_cost(L, n, fixed, up) > budget)
                needed = 1;
        }
    }
    assert_true((double)cost <= budget);
    assert_true(needed);
    assert_true(isfinite(achieved));
    assert_true(fabs(achieved - (double)total / (double)cost) <=
                1e-14 * achieved);
    assert_true(achieved >= speedup);
}

/* ---- 1. brute force ---- */

/* Equal step costs (kkc + d = 10000 in every layer, same hw) and a required
 * saving R = (K - 1/2) * step: any K steps save at least K step - sum d^2 >
 * R, K - 1 steps at most (K - 1) step < R, so the feasible choices are those
 * with at least K steps, where taking the K smallest (increasing) marginal
 * losses, the greedy, is optimal. The brute force checks feasibility on the
 * real costs all the same. */
static void test_brute_force(void **state)
{
    (void)state;
    uint64_t seed = 20150607;
    int compared = 0, unique = 0;
    for (int trial = 0; trial < 240; trial++) {
        int64_t n = 2 + trial % 2, hw = 1 + trial % 3;
        double eig[3][6];
        lrc_rank_layer L[3];
        for (int64_t l = 0; l < n; l++) {
            int64_t d = rng_int(&seed, 3, 6);
            L[l] = (lrc_rank_layer){d, 10000 - d, hw, eig[l], 0, 0};
            double a = 0.3 + 0.65 * rng_unif(&seed);
            for (int64_t i = 0; i < d; i++)
                eig[l][i] = trial % 3 == 0 ? rng_unif(&seed)
                                           : 5.0 * rng_unif(&seed) * pow(a, (double)i);
            qsort(eig[l], (size_t)d, sizeof eig[l][0], cmp_desc);
            if (trial % 5 == 4) /* a tail of dead filters */
                eig[l][d - 1] = 0.0;
        }
        int64_t fixed = trial % 2 ? 0 : 30000 * hw;
        int64_t total = original_cost(L, n, fixed), steps = 0;
        for (int64_t l = 0; l < n; l++)
            steps += L[l].d - 1;
        for (int64_t K = 1; K <= steps; K++) {
            double speedup = (double)total /
                             ((double)total - (K - 0.5) * 10000.0 * (double)hw);
            double budget = (double)total / speedup, achieved = 0.0;
            int64_t r[3];
            assert_int_equal(lrc_select_ranks(L, n, fixed, speedup, r, &achieved),
                             LRC_OK);
            check_answer(L, n, fixed, speedup, r, achieved);

            long double best = -1.0L;
            int64_t best_r[3] = {0, 0, 0}, c[3] = {1, 1, 1};
            for (;;) {
                if ((double)model_cost(L, n, fixed, c) <= budget) {
                    long double p = 1.0L;
                    for (int64_t l = 0; l < n; l++)
                        p *= kept_energy(&L[l], c[l]);
                    if (p > best) {
                        best = p;
                        memcpy(best_r, c, sizeof c);
                    }
                }
                int64_t l = 0;
                while (l < n && ++c[l] > L[l].d)
                    c[l++] = 1;
                if (l == n)
                    break;
            }
            int near = 0;
            for (c[0] = 1, c[1] = 1, c[2] = 1;;) {
                if ((double)model_cost(L, n, fixed, c) <= budget) {
                    long double p = 1.0L;
                    for (int64_t l = 0; l < n; l++)
                        p *= kept_energy(&L[l], c[l]);
                    if (fabsl(p - best) <= 1e-12L * best)
                        near++;
                }
                int64_t l = 0;
                while (l < n && ++c[l] > L[l].d)
                    c[l++] = 1;
                if (l == n)
                    break;
            }
            long double got = 1.0L;
            for (int64_t l = 0; l < n; l++)
                got *= kept_energy(&L[l], r[l]);
            assert_true(fabsl(got - best) <= 1e-12L * best);
            compared++;
            if (near == 1) {
                unique++;
                for (int64_t l = 0; l < n; l++)
                    assert_int_equal(r[l], best_r[l]);
            }
        }
    }
    print_message("brute force: %d budgets compared, %d with a unique optimum\n",
                  compared, unique);
    assert_true(compared > 1000 && unique > 500);
}

/* ---- 2. the budget, on random models with unequal step costs ---- */

static void test_budget_random(void **state)
{
    (void)state;
    uint64_t seed = 42;
    static double eig[MAXL][64];
    static const int64_t hws[] = {1, 4, 49, 196, 784};
    int runs = 0;
    for (int trial = 0; trial < 400; trial++) {
        lrc_rank_layer L[MAXL];
        int64_t n = rng_int(&seed, 1, 6);
        for (int64_t l = 0; l < n; l++) {
            int64_t d = rng_int(&seed, 1, 48), c = rng_int(&seed, 1, 64);
            int64_t kkc = rng_unif(&seed) < 0.3 ? c : 9 * c;
            L[l] = (lrc_rank_layer){d, kkc, hws[rng_int(&seed, 0, 4)], eig[l], 0, 0};
            double a = 0.5 + 0.49 * rng_unif(&seed);
            for (int64_t i = 0; i < d; i++)
                eig[l][i] = rng_unif(&seed) * pow(a, (double)i);
            qsort(eig[l], (size_t)d, sizeof eig[l][0], cmp_desc);
            if (d > 3 && trial % 4 == 0) { /* rounding noise below zero */
                eig[l][d - 2] = -1e-17;
                eig[l][d - 1] = -4e-17;
            }
        }
        int64_t fixed = rng_int(&seed, 0, 1) ? 0 : rng_int(&seed, 0, 1000000);
        int64_t ones[MAXL];
        for (int64_t l = 0; l < n; l++)
            ones[l] = 1;
        double smax = (double)original_cost(L, n, fixed) /
                      (double)model_cost(L, n, fixed, ones);
        if (smax < 1.001)
            continue;
        double speedup = 1.0 + (smax - 1.0) * (0.001 + 0.998 * rng_unif(&seed));
        int64_t r[MAXL], ref[MAXL];
        double achieved = 0.0;
        assert_int_equal(lrc_select_ranks(L, n, fixed, speedup, r, &achieved),
                         LRC_OK);
        check_answer(L, n, fixed, speedup, r, achieved);
        ref_greedy(L, n, fixed, speedup, 0, ref);
        for (int64_t l = 0; l < n; l++)
            assert_int_equal(r[l], ref[l]);
        runs++;
    }
    print_message("random models: %d runs\n", runs);
    assert_true(runs > 200);
}

/* ---- 3. the pitfall ---- */

/* Eigenvalues decaying like a^i. */
static void geometric(double *eig, int64_t d, double a)
{
    for (int64_t i = 0; i < d; i++)
        eig[i] = pow(a, (double)i);
}

static void print_ranks(const char *what, const lrc_rank_layer *L, int64_t n,
                        const int64_t *r, double achieved)
{
    char line[512];
    int len = snprintf(line, sizeof line, "%s:", what);
    for (int64_t l = 0; l < n && len < (int)sizeof line; l++)
        len += snprintf(line + len, sizeof line - (size_t)len, " %lld/%lld",
                        (long long)r[l], (long long)L[l].d);
    print_message("%s (speedup %.4f)\n", line, achieved);
}

static void test_vgg_pitfall(void **state)
{
    (void)state;
    static const int64_t d[6] = {32, 32, 64, 64, 128, 128};
    static const int64_t c[6] = {3, 32, 32, 64, 64, 128};
    static const int64_t side[6] = {28, 28, 14, 14, 7, 7};
    static const double a[6] = {0.80, 0.86, 0.90, 0.93, 0.95, 0.97};
    static double eig[6][128];
    lrc_rank_layer L[6];
    for (int l = 0; l < 6; l++) {
        L[l] = (lrc_rank_layer){d[l], 9 * c[l], side[l] * side[l], eig[l], 0, 0};
        geometric(eig[l], d[l], a[l]);
    }
    int64_t fixed = 10 * 128 * 49; /* a classifier head */
    int64_t r[6], ref[6];
    double achieved = 0.0;
    assert_int_equal(lrc_select_ranks(L, 6, fixed, 4.0, r, &achieved), LRC_OK);
    print_ranks("VGG-style at 4x", L, 6, r, achieved);
    check_answer(L, 6, fixed, 4.0, r, achieved);
    for (int l = 0; l < 6; l++) {
        assert_true(r[l] > 1);
        assert_true(8 * r[l] >= d[l]);
    }
    ref_greedy(L, 6, fixed, 4.0, 0, ref);
    for (int l = 0; l < 6; l++)
        assert_int_equal(r[l], ref[l]);

    /* The same net under the mistaken saving collapses, so the checks above
     * do tell the two apart. */
    ref_greedy(L, 6, fixed, 4.0, 1, ref);
    print_ranks("VGG-style at 4x, saving as a cost drop (the pitfall)", L, 6,
                ref, (double)original_cost(L, 6, fixed) /
                         (double)model_cost(L, 6, fixed, ref));
    int collapsed = 0;
    for (int l = 0; l < 6; l++)
        collapsed |= ref[l] == 1;
    assert_true(collapsed);
}

/* Layers whose decomposed cost stays above the original down to a rank far
 * below d: the first conv (kkc = 27 < d = 64, threshold 19.6) and a 1x1 conv
 * (kkc = 64, d = 256, threshold 51.2). Once the greedy takes them across,
 * they must not be drained: they keep most of their energy, as their fast
 * falling spectra allow, and the mistaken saving does drain one. */
static void test_threshold_not_drained(void **state)
{
    (void)state;
    static double eig[5][256];
    lrc_rank_layer L[5] = {
        {64, 27, 32 * 32, eig[0], 0, 0},     /* conv1, 3x3x3 */
        {64, 576, 32 * 32, eig[1], 0, 0},    /* 3x3x64 */
        {128, 576, 16 * 16, eig[2], 0, 0},   /* 3x3x64 */
        {256, 64, 16 * 16, eig[3], 0, 0},    /* 1x1x64 */
        {256, 2304, 8 * 8, eig[4], 0, 0},    /* 3x3x256 */
    };
    static const double a[5] = {0.70, 0.92, 0.95, 0.90, 0.98};
    for (int l = 0; l < 5; l++)
        geometric(eig[l], L[l].d, a[l]);
    static const double speedups[] = {2.0, 3.0, 4.0, 5.0};
    for (size_t s = 0; s < sizeof speedups / sizeof speedups[0]; s++) {
        int64_t r[5], ref[5];
        double achieved = 0.0;
        char what[64];
        assert_int_equal(lrc_select_ranks(L, 5, 0, speedups[s], r, &achieved),
                         LRC_OK);
        snprintf(what, sizeof what, "thresholds at %.0fx", speedups[s]);
        print_ranks(what, L, 5, r, achieved);
        check_answer(L, 5, 0, speedups[s], r, achieved);
        ref_greedy(L, 5, 0, speedups[s], 0, ref);
        for (int l = 0; l < 5; l++) {
            assert_int_equal(r[l], ref[l]);
            assert_true(r[l] > 1);
            assert_true(kept_fraction(&L[l], r[l]) > 0.5);
        }
        /* both really decomposed, neither drained */
        assert_true(r[0] < 19 && kept_fraction(&L[0], r[0]) > 0.9);
        assert_true(r[3] < 51 && kept_fraction(&L[3], r[3]) > 0.9);

        ref_greedy(L, 5, 0, speedups[s], 1, ref);
        print_ranks("  the pitfall", L, 5, ref,
                    (double)original_cost(L, 5, 0) /
                        (double)model_cost(L, 5, 0, ref));
        int drained = 0;
        for (int l = 0; l < 5; l++)
            drained |= ref[l] == 1;
        assert_true(drained);
    }
}

/* ---- 4. edge cases and errors ---- */

static void test_dead_and_noise(void **state)
{
    (void)state;
    double dead[8] = {0}, live[8];
    geometric(live, 8, 0.8);
    lrc_rank_layer L[2] = {{8, 72, 100, dead, 0, 0}, {8, 72, 100, live, 0, 0}};
    int64_t r[2];
    double achieved = 0.0;
    /* Dropping the dead layer's filters is free and reaches 115200 / 65600. */
    assert_int_equal(lrc_select_ranks(L, 2, 0, 1.7, r, &achieved), LRC_OK);
    assert_int_equal(r[0], 1);
    assert_int_equal(r[1], 8);
    assert_true(fabs(achieved - 115200.0 / 65600.0) < 1e-12);
    /* Further, the live layer pays, and nothing turns NaN. */
    assert_int_equal(lrc_select_ranks(L, 2, 0, 3.0, r, &achieved), LRC_OK);
    assert_int_equal(r[0], 1);
    assert_true(r[1] > 1 && r[1] < 8);
    check_answer(L, 2, 0, 3.0, r, achieved);
    /* A model with nothing alive at all. */
    lrc_rank_layer D[2] = {{8, 72, 100, dead, 0, 0}, {8, 72, 100, dead, 0, 0}};
    assert_int_equal(lrc_select_ranks(D, 2, 0, 4.0, r, &achieved), LRC_OK);
    check_answer(D, 2, 0, 4.0, r, achieved);

    /* Negative rounding noise is no energy, in either order: step 1000,
     * original 4975 each; the noisy layer drops its two noise filters first
     * (cost 8975, then 7975 <= 8000). */
    double noisy[5] = {4, 2, 1, -1e-17, -3e-17};
    double noisy2[5] = {4, 2, 1, -3e-17, -1e-17};
    double flat[5] = {1, 1, 1, 1, 1};
    lrc_rank_layer N[2] = {{5, 995, 1, noisy, 0, 0}, {5, 995, 1, flat, 0, 0}};
    assert_int_equal(lrc_select_ranks(N, 2, 0, 9950.0 / 8000.0, r, &achieved),
                     LRC_OK);
    assert_int_equal(r[0], 3);
    assert_int_equal(r[1], 5);
    N[0].eig = noisy2;
    assert_int_equal(lrc_select_ranks(N, 2, 0, 9950.0 / 8000.0, r, &achieved),
                     LRC_OK);
    assert_int_equal(r[0], 3);
    assert_int_equal(r[1], 5);
    assert_true(fabs(achieved - 9950.0 / 7975.0) < 1e-12);
}

/* A layer lowered to where its decomposed cost equals its original reports
 * d: layer A (O = 48, 16 per rank) drops a zero filter for nothing (rank 3,
 * cost 48), then B's cheaper step meets the budget. */
static void test_equal_cost_keeps_original(void **state)
{
    (void)state;
    double ea[4] = {1, 0.5, 0.25, 0}, eb[4] = {1, 1, 1, 1};
    lrc_rank_layer L[2] = {{4, 12, 1, ea, 0, 0}, {4, 996, 1, eb, 0, 0}};
    int64_t r[2];
    double achieved = 0.0;
    assert_int_equal(lrc_select_ranks(L, 2, 0, 4032.0 / 4000.0, r, &achieved),
                     LRC_OK);
    assert_int_equal(r[0], 4);
    assert_int_equal(r[1], 3);
    assert_true(fabs(achieved - 4032.0 / 3048.0) < 1e-12);

    /* A one-filter layer is never lowered and counts whole. */
    double e1[1] = {2.0};
    lrc_rank_layer M[2] = {{1, 27, 100, e1, 0, 0}, {4, 996, 1, eb, 0, 0}};
    assert_int_equal(lrc_select_ranks(M, 2, 0, 1.5, r, &achieved), LRC_OK);
    assert_int_equal(r[0], 1);
    check_answer(M, 2, 0, 1.5, r, achieved);
}

static void test_errors(void **state)
{
    (void)state;
    double good[3] = {3, 2, 1}, bad[3] = {1, 3, 2}, nan3[3] = {3, NAN, 1};
    lrc_rank_layer L[2] = {{3, 27, 10, good, 0, 0}, {3, 27, 10, good, 0, 0}};
    int64_t r[2] = {0, 0};
    double achieved = 0.0;

    assert_int_equal(lrc_select_ranks(L, 0, 0, 2.0, r, &achieved), LRC_ERR_ARG);
    assert_int_equal(lrc_select_ranks(L, 2, 0, 1.0, r, &achieved), LRC_ERR_ARG);
    assert_int_equal(lrc_select_ranks(L, 2, 0, 0.5, r, &achieved), LRC_ERR_ARG);
    assert_int_equal(lrc_select_ranks(L, 2, 0, NAN, r, &achieved), LRC_ERR_ARG);
    assert_int_equal(lrc_select_ranks(L, 2, -1, 2.0, r, &achieved), LRC_ERR_ARG);
    assert_int_equal(lrc_select_ranks(NULL, 2, 0, 2.0, r, &achieved),
                     LRC_ERR_ARG);
    assert_int_equal(lrc_select_ranks(L, 2, 0, 2.0, NULL, &achieved),
                     LRC_ERR_ARG);

    L[1].eig = bad;
    assert_int_equal(lrc_select_ranks(L, 2, 0, 2.0, r, &achieved), LRC_ERR_ARG);
    L[1].eig = nan3;
    assert_int_equal(lrc_select_ranks(L, 2, 0, 2.0, r, &achieved),
                     LRC_ERR_NUMERIC);
    L[1].eig = NULL;
    assert_int_equal(lrc_select_ranks(L, 2, 0, 2.0, r, &achieved), LRC_ERR_ARG);
    L[1] = (lrc_rank_layer){0, 27, 10, good, 0, 0};
    assert_int_equal(lrc_select_ranks(L, 2, 0, 2.0, r, &achieved), LRC_ERR_ARG);
    L[1] = (lrc_rank_layer){3, INT64_MAX / 2, 10, good, 0, 0};
    assert_int_equal(lrc_select_ranks(L, 2, 0, 2.0, r, &achieved), LRC_ERR_ARG);

    /* One layer of 8 filters, kkc 72, 100 pixels: 57600 whole, 8000 at rank
     * 1, so 7.2 is the most it can give. */
    double e8[8];
    geometric(e8, 8, 0.7);
    lrc_rank_layer one = {8, 72, 100, e8, 0, 0};
    assert_int_equal(lrc_select_ranks(&one, 1, 0, 8.0, r, &achieved),
                     LRC_ERR_ARG);
    assert_int_equal(lrc_select_ranks(&one, 1, 0, 7.0, r, &achieved), LRC_OK);
    assert_int_equal(r[0], 1);
    assert_true(fabs(achieved - 7.2) < 1e-12);
    /* A fixed cost bounds the speedup too: 115200 / 65600 = 1.756. */
    assert_int_equal(lrc_select_ranks(&one, 1, 57600, 1.75, r, &achieved),
                     LRC_OK);
    assert_int_equal(r[0], 1);
    assert_int_equal(lrc_select_ranks(&one, 1, 57600, 1.76, r, &achieved),
                     LRC_ERR_ARG);
}

/* ---- 5. the cost rule ---- */

static void test_rank_cost(void **state)
{
    (void)state;
    /* d 64, 3x3x64, 14x14: original 64*576*196 = 7225344; a rank step
     * (576 + 64)*196 = 125440; decomposed below the original up to rank 57
     * (57.6 = 64*576/640). */
    lrc_rank_layer l = {64, 576, 196, NULL, 0, 0};
    assert_int_equal(lrc_rank_cost(&l, 1), 125440);
    assert_int_equal(lrc_rank_cost(&l, 16), 2007040);
    assert_int_equal(lrc_rank_cost(&l, 57), 7150080);
    assert_int_equal(lrc_rank_cost(&l, 58), 7225344);
    assert_int_equal(lrc_rank_cost(&l, 64), 7225344);
    /* Equal costs keep the original: d 4, kkc 12, 1 pixel: 48 vs 16 r. */
    lrc_rank_layer e = {4, 12, 1, NULL, 0, 0};
    assert_int_equal(lrc_rank_cost(&e, 2), 32);
    assert_int_equal(lrc_rank_cost(&e, 3), 48);
    assert_int_equal(lrc_rank_cost(&e, 4), 48);
    /* conv1 of a VGG on 224x224: 64 * 27 * 50176 = 86704128; threshold
     * 64*27/91 = 18.99. */
    lrc_rank_layer c1 = {64, 27, 224 * 224, NULL, 0, 0};
    assert_int_equal(lrc_rank_cost(&c1, 18), 82188288);
    assert_int_equal(lrc_rank_cost(&c1, 19), 86704128);
    /* A single filter is never cheaper decomposed. */
    lrc_rank_layer s = {1, 27, 10, NULL, 0, 0};
    assert_int_equal(lrc_rank_cost(&s, 1), 270);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_brute_force),
        cmocka_unit_test(test_budget_random),
        cmocka_unit_test(test_vgg_pitfall),
        cmocka_unit_test(test_threshold_not_drained),
        cmocka_unit_test(test_dead_and_noise),
        cmocka_unit_test(test_equal_cost_keeps_original),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_rank_cost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* lrc_xsum, the exact fixed-point sums behind mixed precision, under
 * mpirun at 1, 2 and 3 ranks:
 * - lrc_xsum_add_f (vectorised where the CPU has AVX-512DQ) rounds every
 *   value as the plain formula nearbyint(v * scale) does, halfway cases
 *   and tails of every length included;
 * - terms dealt to the ranks in any way sum to the same bits as on one
 *   rank, within the documented rounding of the exact sum;
 * - a bound that is not finite is refused. */
#include <math.h>
#include <mpi.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lrc/parallel.h"

static int g_rank, g_size;

static double uni(uint64_t i)
{
    uint64_t x = i * 0x9e3779b97f4a7c15ULL + 12345;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return (double)(x >> 11) * 0x1.0p-52 - 1.0; /* [-1, 1) */
}

static void test_add_f_rounds_as_formula(void **state)
{
    (void)state;
    enum { MAXN = 75 };
    float v[MAXN];
    for (int n = 0; n <= MAXN; n++) {
        lrc_xsum x;
        assert_int_equal(lrc_xsum_init(&x, n, 1000.0), LRC_OK);
        int64_t ref[MAXN + 1];
        memset(ref, 0, sizeof ref);
        for (int rep = 0; rep < 3; rep++) {
            for (int i = 0; i < n; i++) {
                /* every third value a halfway case of the fixed point */
                v[i] = (float)(uni((uint64_t)(rep * 1000 + n * MAXN + i)) * 10.0);
                if (i % 3 == 0)
                    v[i] = (float)ldexp(2 * i + 1, -1 - (int)log2(x.scale));
                ref[i] += (int64_t)nearbyint((double)v[i] * x.scale);
            }
            lrc_xsum_add_f(&x, v);
        }
        for (int i = 0; i < n; i++)
            assert_true(x.acc[i] == ref[i]);
        lrc_xsum_free(&x);
    }
}

static void test_sum_same_bits_on_any_ranks(void **state)
{
    (void)state;
    enum { M = 37, TERMS = 500 };
    double t[M], all[M], part[M];
    long double exact[M];
    lrc_xsum one, mine;
    assert_int_equal(lrc_xsum_init(&one, M, 2.0 * TERMS * 50.0), LRC_OK);
    assert_int_equal(lrc_xsum_init(&mine, M, 2.0 * TERMS * 50.0), LRC_OK);
    memset(exact, 0, sizeof exact);
    for (int k = 0; k < TERMS; k++) {
        for (int i = 0; i < M; i++) {
            t[i] = uni((uint64_t)(k * M + i)) * 50.0 * (i % 5 == 0 ? 1e-9 : 1.0);
            exact[i] += t[i];
        }
        lrc_xsum_add(&one, t);
        if (k % g_size == g_rank) /* terms dealt round robin */
            lrc_xsum_add(&mine, t);
    }
    assert_int_equal(lrc_xsum_reduce(MPI_COMM_SELF, &one, all), LRC_OK);
    assert_int_equal(lrc_xsum_reduce(MPI_COMM_WORLD, &mine, part), LRC_OK);
    assert_memory_equal(all, part, sizeof all);
    const double unit = 1.0 / one.scale; /* half a unit per term at most */
    for (int i = 0; i < M; i++)
        assert_true(fabsl((long double)all[i] - exact[i]) <= 0.5 * TERMS * unit);
    lrc_xsum_free(&one);
    lrc_xsum_free(&mine);
}

static void test_bound_not_finite(void **state)
{
    (void)state;
    lrc_xsum x;
    assert_int_equal(lrc_xsum_init(&x, 4, NAN), LRC_ERR_NUMERIC);
    assert_int_equal(lrc_xsum_init(&x, 4, INFINITY), LRC_ERR_NUMERIC);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_f_rounds_as_formula),
        cmocka_unit_test(test_sum_same_bits_on_any_ranks),
        cmocka_unit_test(test_bound_not_finite),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    MPI_Finalize();
    return rc;
}

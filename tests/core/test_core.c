/* Core: allocation, checked sizes, shard ranges, status names, OpenBLAS's
 * kernel set against the CPU. Also run as test_core_haswell, with
 * OPENBLAS_CORETYPE=Haswell. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <cmocka.h>

#include "lrc/core.h"

static void test_alloc(void **state)
{
    (void)state;
    double *p = NULL;
    assert_int_equal(lrc_calloc(&p, 10, sizeof *p, "test"), LRC_OK);
    assert_non_null(p);
    for (int i = 0; i < 10; i++)
        assert_true(p[i] == 0.0); /* zeroed */
    lrc_free(&p);
    assert_null(p);
    lrc_free(&p); /* no-op on NULL */
    lrc_free(NULL);
    /* an overflowing request fails cleanly and leaves NULL */
    assert_int_equal(lrc_calloc(&p, SIZE_MAX / 2, 16, "huge"), LRC_ERR_NOMEM);
    assert_null(p);
    /* empty arrays get a valid pointer */
    assert_int_equal(lrc_calloc(&p, 0, sizeof *p, "empty"), LRC_OK);
    assert_non_null(p);
    lrc_free(&p);
    /* aligned: zeroed, on the boundary asked for, whatever the size;
     * alignments that are not powers of two (or too small) and
     * overflowing sizes are refused with NULL */
    for (size_t n = 0; n < 40; n += 13) {
        assert_int_equal(lrc_calloc_aligned(&p, n, sizeof *p, 64, "aligned"),
                         LRC_OK);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 64, 0);
        for (size_t i = 0; i < n; i++)
            assert_true(p[i] == 0.0);
        lrc_free(&p);
    }
    assert_int_equal(lrc_calloc_aligned(&p, 4, 8, 48, "odd"), LRC_ERR_ARG);
    assert_null(p);
    assert_int_equal(lrc_calloc_aligned(&p, 4, 8, 2, "small"), LRC_ERR_ARG);
    assert_int_equal(lrc_calloc_aligned(&p, SIZE_MAX / 2, 16, 64, "huge"),
                     LRC_ERR_NOMEM);
    assert_int_equal(lrc_calloc_aligned(&p, 1, SIZE_MAX - 8, 64, "edge"),
                     LRC_ERR_NOMEM);
    assert_null(p);
    char *s = NULL;
    assert_int_equal(lrc_strdup(&s, "conv3_1"), LRC_OK);
    assert_string_equal(s, "conv3_1");
    lrc_free(&s);
}

static void test_mul_size(void **state)
{
    (void)state;
    size_t out = 0;
    assert_int_equal(lrc_mul_size(1000, 1000, &out, "x"), LRC_OK);
    assert_int_equal(out, 1000000);
    assert_int_equal(lrc_mul_size(SIZE_MAX / 3, 4, &out, "x"), LRC_ERR_ARG);
}

static void test_shard_range(void **state)
{
    (void)state;
    const int64_t totals[] = {0, 1, 2, 7, 10, 1000, 10007};
    for (size_t t = 0; t < sizeof totals / sizeof totals[0]; t++)
        for (int size = 1; size <= 9; size++) {
            int64_t next = 0, lo = INT64_MAX, hi = 0;
            for (int r = 0; r < size; r++) {
                int64_t s, c;
                lrc_shard_range(totals[t], r, size, &s, &c);
                assert_int_equal(s, next); /* contiguous, in rank order */
                assert_true(c >= 0);
                next = s + c;
                lo = c < lo ? c : lo;
                hi = c > hi ? c : hi;
            }
            assert_int_equal(next, totals[t]); /* covers everything */
            assert_true(hi - lo <= 1);         /* balanced */
        }
}

static void test_status_names(void **state)
{
    (void)state;
    assert_string_equal(lrc_status_name(LRC_OK), "ok");
    assert_string_equal(lrc_status_name(LRC_ERR_FORMAT), "format error");
    assert_int_equal(LRC_ERR_IO, lrc_error_report(LRC_ERR_IO, "a/b.c", 1, "f",
                                                  "%s: expected", "file.h5"));
}

static void test_blas_core(void **state)
{
    (void)state;
    /* the rule, on names as openblas_get_corename() spells them */
    assert_int_equal(lrc_blas_core_fallback("Haswell", 1), 1);
    assert_int_equal(lrc_blas_core_fallback("Zen", 1), 1);
    assert_int_equal(lrc_blas_core_fallback("Sandybridge", 1), 1);
    assert_int_equal(lrc_blas_core_fallback("SkylakeX", 1), 0);
    assert_int_equal(lrc_blas_core_fallback("Cooperlake", 1), 0);
    assert_int_equal(lrc_blas_core_fallback("SAPPHIRERAPIDS", 1), 0);
    assert_int_equal(lrc_blas_core_fallback("Haswell", 0), 0);
    assert_int_equal(lrc_blas_core_fallback("", 1), 0);
    assert_int_equal(lrc_blas_core_fallback(NULL, 1), 0);

    /* this process: the note agrees with the rule, names the kernels, and
     * says whether the environment chose them */
    const char *core = openblas_get_corename();
    char note[512];
    int fb = lrc_blas_note(note, sizeof note);
    assert_int_equal(fb, lrc_blas_core_fallback(core, lrc_cpu_avx512()));
    assert_int_equal(lrc_blas_note(NULL, 0), fb);
    if (fb) {
        assert_non_null(strstr(note, core));
        assert_non_null(strstr(note, "SkylakeX"));
    } else {
        assert_string_equal(note, "");
    }
    const char *env = getenv("OPENBLAS_CORETYPE");
    if (env && strcmp(env, "Haswell") == 0) {
        /* test_core_haswell: OpenBLAS takes the set it is given */
        assert_string_equal(core, "Haswell");
        assert_int_equal(fb, lrc_cpu_avx512());
        if (fb)
            assert_non_null(strstr(note, "OPENBLAS_CORETYPE=Haswell"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc),
        cmocka_unit_test(test_mul_size),
        cmocka_unit_test(test_shard_range),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_blas_core),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

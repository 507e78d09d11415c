#define _POSIX_C_SOURCE 200809L
/* The carried-activation store of the asymmetric pass: in memory and
 * spilled to a scratch HDF5 file, with values that grow and shrink from
 * one map to the next, against a plain reference computed image by image;
 * a scratch directory that does not exist is a clear error. */
#include <mpi.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pipeline/pipeline_impl.h"

enum { N = 23, W = 40 };

/* value k of image b after `step` maps */
static float expect(int step, int64_t b, int64_t k)
{
    return (float)(1000 * step + 10 * b + k % 7);
}

static const int64_t sizes[] = {12, 40, 5, 33, 33, 1, 40};

typedef struct mapper {
    int step;           /* the map being applied (1-based) */
    float out[W];
    int bad;            /* inputs that were not what the previous step wrote */
} mapper;

static lrc_status step_fn(void *arg, int64_t b, const float *in, const float **out)
{
    mapper *m = arg;
    const int64_t in_sz = sizes[m->step - 1], out_sz = sizes[m->step];
    for (int64_t k = 0; k < in_sz; k++)
        if (in[k] != expect(m->step - 1, b, k))
            m->bad++;
    for (int64_t k = 0; k < out_sz; k++)
        m->out[k] = expect(m->step, b, k);
    *out = m->out;
    return LRC_OK;
}

static void run(const char *dir, int64_t batch)
{
    lrc_actstore as;
    float *first = calloc((size_t)(N * sizes[0]), sizeof *first);
    assert_non_null(first);
    for (int64_t b = 0; b < N; b++)
        for (int64_t k = 0; k < sizes[0]; k++)
            first[b * sizes[0] + k] = expect(0, b, k);
    assert_int_equal(lrc_actstore_open(&as, N, W, batch, dir, 0), LRC_OK);
    /* filled in two pieces */
    assert_int_equal(lrc_actstore_fill(&as, 0, 10, sizes[0], first), LRC_OK);
    assert_int_equal(lrc_actstore_fill(&as, 10, N - 10, sizes[0],
                                       first + 10 * sizes[0]), LRC_OK);
    mapper m;
    memset(&m, 0, sizeof m);
    for (m.step = 1; m.step < (int)(sizeof sizes / sizeof sizes[0]); m.step++)
        assert_int_equal(lrc_actstore_map(&as, sizes[m.step], step_fn, &m), LRC_OK);
    assert_int_equal(m.bad, 0);
    if (dir) {
        assert_true(as.spill);
        assert_true(as.io_bytes > 0);
        assert_int_equal(access(as.path, F_OK), 0);
        char *path = strdup(as.path);
        lrc_actstore_close(&as);
        assert_int_not_equal(access(path, F_OK), 0); /* removed */
        free(path);
    } else {
        assert_false(as.spill);
        lrc_actstore_close(&as);
    }
    free(first);
}

static void test_memory(void **state)
{
    (void)state;
    run(NULL, 0);
}

static void test_spilled(void **state)
{
    (void)state;
    char dir[] = "/tmp/lrc_actstore_XXXXXX";
    assert_non_null(mkdtemp(dir));
    run(dir, 1);
    run(dir, 4);   /* a short last micro-batch */
    run(dir, N);   /* one micro-batch */
    run(dir, 100); /* more than the images */
    rmdir(dir);
}

static void test_missing_dir(void **state)
{
    (void)state;
    lrc_actstore as;
    assert_int_equal(lrc_actstore_open(&as, N, W, 2, "/nonexistent/lrc", 0),
                     LRC_ERR_IO);
    lrc_actstore_close(&as); /* harmless after a failed open */
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_spilled),
        cmocka_unit_test(test_missing_dir),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    MPI_Finalize();
    return rc;
}

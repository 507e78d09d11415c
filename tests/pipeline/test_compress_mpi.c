/* lrc_compress under mpirun (1, 2, 3 ranks): for every method, the chosen
 * ranks are identical and the compressed weights agree within 1e-5
 * (relative to the layer's largest weight) with a run of the same images on
 * one rank (MPI_COMM_SELF); in mixed precision they are the same bits. The compressed net has the two-conv structure
 * and its outputs stay close to the original's. */
#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lrc/lrc.h"

enum { N = 48, C = 3, H = 12, W = 12 };

static int g_rank, g_size;
static char data_path[512];

static double rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / (double)(1ULL << 53);
}

static void fill(float *w, int64_t n, double scale, uint64_t *s)
{
    for (int64_t i = 0; i < n; i++)
        w[i] = (float)((rnd(s) * 2 - 1) * scale);
}

/* conv 3->8, relu, conv 8->12, relu, maxpool, conv 12->16, relu, gap,
 * flatten, dense 16->5 */
static lrc_net *make_net(void)
{
    static float w0[8 * C * 9], w1[12 * 8 * 9], w2[16 * 12 * 9], wd[5 * 16];
    static float b0[8], b1[12], b2[16], bd[5];
    uint64_t s = 77;
    fill(w0, 8 * C * 9, 0.3, &s); fill(b0, 8, 0.1, &s);
    fill(w1, 12 * 8 * 9, 0.2, &s); fill(b1, 12, 0.1, &s);
    fill(w2, 16 * 12 * 9, 0.15, &s); fill(b2, 16, 0.1, &s);
    fill(wd, 5 * 16, 0.5, &s); fill(bd, 5, 0.1, &s);
    lrc_layer l[10];
    memset(l, 0, sizeof l);
    const char *names[3] = {"conv0", "conv1", "conv2"};
    float *ws[3] = {w0, w1, w2}, *bs[3] = {b0, b1, b2};
    int64_t cin[3] = {C, 8, 12}, cout[3] = {8, 12, 16};
    int idx[3] = {0, 2, 5};
    for (int k = 0; k < 3; k++) {
        lrc_layer *c = &l[idx[k]];
        c->name = (char *)names[k];
        c->op = LRC_OP_CONV; c->in_c = cin[k]; c->out_c = cout[k];
        c->kh = c->kw = 3; c->sh = c->sw = 1; c->pt = c->pl = c->pb = c->pr = 1;
        c->weight = ws[k]; c->bias = bs[k];
    }
    l[1].op = LRC_OP_RELU; l[3].op = LRC_OP_RELU;
    l[4].op = LRC_OP_MAXPOOL; l[4].kh = l[4].kw = l[4].sh = l[4].sw = 2;
    l[6].op = LRC_OP_RELU;
    l[7].op = LRC_OP_GLOBALAVGPOOL;
    l[8].op = LRC_OP_FLATTEN; l[8].flatten_check = -1;
    l[9].op = LRC_OP_DENSE; l[9].in_c = 16; l[9].out_c = 5; l[9].kh = l[9].kw = 1;
    l[9].weight = wd; l[9].bias = bd;
    lrc_net *net = NULL;
    assert_int_equal(lrc_net_create(&net), LRC_OK);
    for (int i = 0; i < 10; i++)
        assert_int_equal(lrc_net_append(net, &l[i]), LRC_OK);
    assert_int_equal(lrc_net_set_input(net, C, H, W), LRC_OK);
    return net;
}

static void write_data(void)
{
    static uint8_t img[N * C * H * W];
    int32_t lab[N];
    uint64_t s = 5;
    /* smooth images (so responses have structure) plus noise */
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    double v = 128 + 60 * sin(0.3 * (n + 1) * (x + c)) * cos(0.2 * y * (n % 5 + 1)) +
                               30 * (rnd(&s) - 0.5);
                    img[((n * C + c) * H + y) * W + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
    for (int n = 0; n < N; n++)
        lab[n] = n % 5;
    hid_t f = H5Fcreate(data_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t d4[4] = {N, C, H, W}, d1[1] = {N};
    hid_t sp = H5Screate_simple(4, d4, NULL);
    hid_t ds = H5Dcreate2(f, "images", H5T_NATIVE_UINT8, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, img);
    H5Dclose(ds); H5Sclose(sp);
    sp = H5Screate_simple(1, d1, NULL);
    ds = H5Dcreate2(f, "labels", H5T_NATIVE_INT32, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab);
    H5Dclose(ds); H5Sclose(sp); H5Fclose(f);
}

static int setup(void **state)
{
    (void)state;
    if (g_rank == 0)
        write_data();
    MPI_Barrier(MPI_COMM_WORLD);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    MPI_Barrier(MPI_COMM_WORLD);
    if (g_rank == 0)
        remove(data_path);
    return 0;
}

static void compare_nets(const lrc_net *a, const lrc_net *b, int exact)
{
    assert_int_equal(lrc_net_num_layers(a), lrc_net_num_layers(b));
    for (int64_t i = 0; i < lrc_net_num_layers(a); i++) {
        const lrc_layer *la = lrc_net_layer(a, i), *lb = lrc_net_layer(b, i);
        assert_string_equal(la->name, lb->name);
        assert_int_equal(la->out_c, lb->out_c);
        if (la->op != LRC_OP_CONV && la->op != LRC_OP_DENSE)
            continue;
        int64_t nw = la->out_c * la->in_c * la->kh * la->kw;
        double scale = 0, diff = 0;
        for (int64_t k = 0; k < nw; k++) {
            scale = fmax(scale, fabs(la->weight[k]));
            diff = fmax(diff, fabs(la->weight[k] - lb->weight[k]));
        }
        for (int64_t k = 0; k < la->out_c; k++) {
            scale = fmax(scale, fabs(la->bias[k]));
            diff = fmax(diff, fabs(la->bias[k] - lb->bias[k]));
        }
        if (diff > 1e-5 * scale)
            fail_msg("layer %s: weights differ by %g (scale %g)", la->name, diff, scale);
        if (exact && diff != 0.0)
            fail_msg("layer %s: weights differ by %g: mixed precision must give "
                     "the same bits on any rank count", la->name, diff);
    }
}

static void run_method_prec(lrc_method m, int mixed)
{
    lrc_net *net = make_net(), *out = NULL, *ref = NULL;
    lrc_dataset *ds = NULL;
    char spec[600];
    snprintf(spec, sizeof spec, "h5:%s", data_path);
    assert_int_equal(lrc_dataset_open(spec, &ds), LRC_OK);
    lrc_norm norm;
    assert_int_equal(lrc_norm_parse("128", "64", "test", &norm), LRC_OK);
    lrc_compress_params p;
    lrc_compress_defaults(&p);
    p.method = m;
    p.speedup = 2.0;
    p.images = 40;
    /* mixed: 40 images x 64 locations are 5 chunks of 512 samples, which
     * the even shards of 2 and 3 ranks cut, so samples move between ranks */
    p.locations = mixed ? 64 : 6;
    p.seed = 3;
    p.batch = 7;
    p.nl.iters_small = 4;
    p.nl.iters_large = 4;
    p.nl.mixed_precision = mixed;
    p.quiet = 1;
    lrc_compress_result r, r1;
    assert_int_equal(lrc_compress(MPI_COMM_WORLD, net, ds, &norm, &p, &out, &r), LRC_OK);
    assert_int_equal(lrc_compress(MPI_COMM_SELF, net, ds, &norm, &p, &ref, &r1), LRC_OK);
    assert_int_equal(r.n, 2); /* every conv but the first */
    assert_int_equal(r.samples, p.images * p.locations);
    for (int64_t j = 0; j < r.n; j++) {
        assert_int_equal(r.layers[j].rank, r1.layers[j].rank);
        assert_true(r.layers[j].rank >= 1 && r.layers[j].rank < r.layers[j].d);
        assert_int_equal(r.layers[j].report.samples, p.images * p.locations);
        for (int64_t a = 0; a < r.layers[j].d; a++)
            assert_true(fabs(r.layers[j].eig[a] - r1.layers[j].eig[a]) <=
                        1e-9 * (r1.layers[j].eig[0] + 1e-300));
        if (mixed) /* the spectra's sums are exact too */
            assert_memory_equal(r.layers[j].eig, r1.layers[j].eig,
                                (size_t)r.layers[j].d * sizeof(double));
    }
    assert_true(r.speedup >= 2.0);
    compare_nets(out, ref, mixed);
    /* two convs per approximated layer (three with the spatial split) */
    const int per = m == LRC_METHOD_3D ? 3 : 2;
    assert_int_equal(lrc_net_num_layers(out), 10 + 2 * (per - 1));
    if (m == LRC_METHOD_3D) {
        const lrc_layer *v = lrc_net_layer(out, lrc_net_find(out, "conv1_lrV"));
        assert_non_null(v);
        assert_int_equal(v->out_c, r.layers[0].spatial_rank);
        assert_int_equal(v->kw, 1);
        assert_true(r.layers[0].spatial_rank > 0);
    }
    assert_true(lrc_net_find(out, "conv1_lrA") >= 0);
    assert_true(lrc_net_find(out, "conv2_lrB") >= 0);
    assert_true(lrc_net_find(out, "conv1") < 0);
    const lrc_layer *la = lrc_net_layer(out, lrc_net_find(out, "conv1_lrA"));
    assert_int_equal(la->out_c, r.layers[0].rank);
    lrc_compress_result_free(&r);
    lrc_compress_result_free(&r1);
    lrc_net_destroy(&out);
    lrc_net_destroy(&ref);
    lrc_dataset_destroy(&ds);
    lrc_net_destroy(&net);
}

static void run_method(lrc_method m) { run_method_prec(m, 0); }

static void test_nonlinear_asym(void **state) { (void)state; run_method(LRC_METHOD_NONLINEAR_ASYM); }
/* mixed precision: bitwise the weights of one rank */
static void test_nonlinear_asym_mixed(void **state) { (void)state; run_method_prec(LRC_METHOD_NONLINEAR_ASYM, 1); }
static void test_3d_mixed(void **state) { (void)state; run_method_prec(LRC_METHOD_3D, 1); }
static void test_linear_asym(void **state) { (void)state; run_method(LRC_METHOD_LINEAR_ASYM); }
static void test_nonlinear(void **state) { (void)state; run_method(LRC_METHOD_NONLINEAR); }
static void test_linear(void **state) { (void)state; run_method(LRC_METHOD_LINEAR); }
static void test_svd(void **state) { (void)state; run_method(LRC_METHOD_SVD); }
static void test_3d(void **state) { (void)state; run_method(LRC_METHOD_3D); }

/* Explicit ranks are honoured; bad requests are refused on every rank. */
static void test_ranks_and_errors(void **state)
{
    (void)state;
    lrc_net *net = make_net(), *out = NULL;
    lrc_dataset *ds = NULL;
    char spec[600];
    snprintf(spec, sizeof spec, "h5:%s", data_path);
    assert_int_equal(lrc_dataset_open(spec, &ds), LRC_OK);
    lrc_compress_params p;
    lrc_compress_defaults(&p);
    p.images = 20;
    p.locations = 3;
    p.quiet = 1;
    p.nl.iters_small = p.nl.iters_large = 1;
    const int64_t ranks[2] = {3, 16};
    p.ranks = ranks;
    p.n_ranks = 2;
    lrc_compress_result r;
    assert_int_equal(lrc_compress(MPI_COMM_WORLD, net, ds, NULL, &p, &out, &r), LRC_OK);
    assert_int_equal(r.layers[0].rank, 3);
    assert_int_equal(r.layers[1].rank, 16); /* full rank: kept as it is */
    assert_true(lrc_net_find(out, "conv2") >= 0);
    lrc_compress_result_free(&r);
    lrc_net_destroy(&out);

    lrc_compress_params bad = p;
    bad.ranks = NULL;
    bad.speedup = 1.0;
    assert_int_equal(lrc_compress(MPI_COMM_WORLD, net, ds, NULL, &bad, &out, &r), LRC_ERR_ARG);
    bad = p;
    bad.images = N + 1;
    assert_int_equal(lrc_compress(MPI_COMM_WORLD, net, ds, NULL, &bad, &out, &r), LRC_ERR_ARG);
    const char *nope[1] = {"conv9"};
    bad = p;
    bad.layers = nope;
    bad.n_layers = 1;
    bad.ranks = NULL;
    assert_int_equal(lrc_compress(MPI_COMM_WORLD, net, ds, NULL, &bad, &out, &r), LRC_ERR_ARG);
    const char *notconv[1] = {"Relu_1"};
    bad.layers = notconv;
    assert_int_equal(lrc_compress(MPI_COMM_WORLD, net, ds, NULL, &bad, &out, &r), LRC_ERR_ARG);
    assert_null(out);
    lrc_dataset_destroy(&ds);
    lrc_net_destroy(&net);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    const char *tmp = getenv("LRC_TEST_TMP");
    snprintf(data_path, sizeof data_path, "%s/compress_mpi_np%d.h5", tmp ? tmp : ".", g_size);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nonlinear_asym),
        cmocka_unit_test(test_nonlinear_asym_mixed),
        cmocka_unit_test(test_3d_mixed),
        cmocka_unit_test(test_linear_asym),
        cmocka_unit_test(test_nonlinear),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_svd),
        cmocka_unit_test(test_3d),
        cmocka_unit_test(test_ranks_and_errors),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    if (rc != 0 && g_size > 1)
        MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Finalize();
    return rc;
}

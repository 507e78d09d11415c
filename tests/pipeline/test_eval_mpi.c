/* lrc_eval under mpirun (1, 2, 3 ranks): the reduced top-1/top-5 counts and
 * the parallel-HDF5 logits file equal a serial computation on every rank. */
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
#include <unistd.h>

#include <cmocka.h>

#include "lrc/lrc.h"

enum { N = 37, C = 2, H = 6, W = 5, K = 7 };

static double rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / (double)(1ULL << 53);
}

static char data_path[512], logits_path[512];

/* conv 3x3 (2->4) -> relu -> global avg pool -> flatten -> dense (4->7) */
static lrc_net *make_net(void)
{
    uint64_t s = 5;
    float cw[4 * C * 9], cb[4], dw[K * 4], db[K];
    for (size_t i = 0; i < sizeof cw / sizeof cw[0]; i++) cw[i] = (float)(rnd(&s) - 0.5);
    for (int i = 0; i < 4; i++) cb[i] = (float)(rnd(&s) - 0.5);
    for (int i = 0; i < K * 4; i++) dw[i] = (float)(rnd(&s) * 4 - 2);
    for (int i = 0; i < K; i++) db[i] = (float)(rnd(&s) - 0.5);
    lrc_layer l[5];
    memset(l, 0, sizeof l);
    l[0].op = LRC_OP_CONV; l[0].in_c = C; l[0].out_c = 4; l[0].kh = l[0].kw = 3;
    l[0].sh = l[0].sw = 1; l[0].pt = l[0].pl = l[0].pb = l[0].pr = 1;
    l[0].weight = cw; l[0].bias = cb;
    l[1].op = LRC_OP_RELU;
    l[2].op = LRC_OP_GLOBALAVGPOOL;
    l[3].op = LRC_OP_FLATTEN; l[3].flatten_check = -1;
    l[4].op = LRC_OP_DENSE; l[4].in_c = 4; l[4].out_c = K; l[4].kh = l[4].kw = 1;
    l[4].weight = dw; l[4].bias = db;
    lrc_net *net = NULL;
    assert_int_equal(lrc_net_create(&net), LRC_OK);
    for (int i = 0; i < 5; i++)
        assert_int_equal(lrc_net_append(net, &l[i]), LRC_OK);
    assert_int_equal(lrc_net_set_input(net, C, H, W), LRC_OK);
    return net;
}

static void write_data(void)
{
    uint64_t s = 11;
    static uint8_t img[N * C * H * W];
    int32_t lab[N];
    for (size_t i = 0; i < sizeof img; i++) img[i] = (uint8_t)(rnd(&s) * 256);
    for (int i = 0; i < N; i++) lab[i] = (int32_t)(rnd(&s) * K);
    hid_t f = H5Fcreate(data_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    hsize_t d4[4] = {N, C, H, W}, d1[1] = {N};
    hid_t sp = H5Screate_simple(4, d4, NULL);
    hid_t ds = H5Dcreate2(f, "images", H5T_NATIVE_UINT8, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Dwrite(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, img) >= 0);
    H5Dclose(ds); H5Sclose(sp);
    sp = H5Screate_simple(1, d1, NULL);
    ds = H5Dcreate2(f, "labels", H5T_NATIVE_INT32, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Dwrite(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab) >= 0);
    H5Dclose(ds); H5Sclose(sp); H5Fclose(f);
}

static void test_eval_matches_serial(void **state)
{
    (void)state;
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (rank == 0)
        write_data();
    MPI_Barrier(MPI_COMM_WORLD);

    lrc_net *net = make_net();
    lrc_dataset *ds = NULL;
    char spec[600];
    snprintf(spec, sizeof spec, "h5:%s", data_path);
    assert_int_equal(lrc_dataset_open(spec, &ds), LRC_OK);
    lrc_norm norm;
    assert_int_equal(lrc_norm_parse("100,120", "50,60", "test", &norm), LRC_OK);

    /* serial reference: every image through the net on this rank */
    static float in[N * C * H * W], ref[N * K];
    int32_t lab[N];
    assert_int_equal(lrc_dataset_read(ds, 0, N, &norm, in, lab), LRC_OK);
    lrc_forward *fw = NULL;
    assert_int_equal(lrc_forward_create(net, 0, 5, 1, &fw), LRC_OK);
    assert_int_equal(lrc_forward_run(fw, in, N, ref), LRC_OK);
    lrc_forward_destroy(&fw);
    int64_t top1 = 0, top5 = 0;
    for (int i = 0; i < N; i++) {
        int better = 0;
        for (int j = 0; j < K; j++)
            if (ref[i * K + j] > ref[i * K + lab[i]] ||
                (ref[i * K + j] == ref[i * K + lab[i]] && j < lab[i]))
                better++;
        top1 += better == 0;
        top5 += better < 5;
    }

    lrc_eval_params p = {0, 4, logits_path, 1, LRC_BACKEND_OPENBLAS};
    lrc_eval_result r;
    assert_int_equal(lrc_eval(MPI_COMM_WORLD, net, ds, &norm, &p, &r), LRC_OK);
    assert_int_equal(r.images, N);
    assert_int_equal(r.classes, K);
    assert_int_equal(r.top1, top1);
    assert_int_equal(r.top5, top5);
    assert_true(top1 > 0 && top1 < N); /* the case is not degenerate */

    /* the file holds every rank's rows in data order */
    static float got[N * K];
    int32_t glab[N];
    hid_t f = H5Fopen(logits_path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, "logits", H5P_DEFAULT);
    assert_true(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0);
    H5Dclose(d);
    d = H5Dopen2(f, "labels", H5P_DEFAULT);
    assert_true(H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, glab) >= 0);
    H5Dclose(d);
    H5Fclose(f);
    for (int i = 0; i < N * K; i++)
        assert_float_equal(got[i], ref[i], 1e-6 * (1 + fabs(ref[i])));
    assert_memory_equal(glab, lab, sizeof lab);

    /* --limit beyond the set is refused on every rank alike */
    lrc_eval_params bad = {N + 1, 4, NULL, 1, LRC_BACKEND_OPENBLAS};
    assert_int_equal(lrc_eval(MPI_COMM_WORLD, net, ds, &norm, &bad, &r), LRC_ERR_ARG);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        remove(data_path);
        remove(logits_path);
    }
    lrc_dataset_destroy(&ds);
    lrc_net_destroy(&net);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int size;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *tmp = getenv("LRC_TEST_TMP");
    snprintf(data_path, sizeof data_path, "%s/eval_mpi_np%d.h5", tmp ? tmp : ".", size);
    snprintf(logits_path, sizeof logits_path, "%s/eval_mpi_np%d_logits.h5", tmp ? tmp : ".", size);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_matches_serial),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    /* a failed assertion on one rank must not leave the others waiting */
    if (rc != 0 && size > 1)
        MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Finalize();
    return rc;
}

/* Winograd F(4x4, 3x3) (src/forward/conv_winograd.c) against a naive
 * double-precision convolution, and the winograd backend of the forward
 * plan against the openblas one.
 *
 * Both tiles are tested: F(4x4, 3x3) on outputs of at least 49 tiles of
 * 4 x 4, F(2x2, 3x3) on smaller ones.
 *
 * Tolerance: max |got - naive| <= 1e-4 max |naive|. Winograd rounds more
 * than the direct sum (its transforms have entries up to 8 and 5, and the
 * products run over 36 transformed elements); measured on these cases
 * 7e-7 to 5e-6 with F(4x4, 3x3) and 5e-8 to 2.3e-7 with F(2x2, 3x3), so
 * the bound leaves room without hiding a wrong transform
 * (a wrong coefficient gives errors of the outputs' own size). Each case
 * also checks: the same bits on a second run, an image alone as in the
 * batch, the fused ReLU as max(x, 0) of the plain output, and scratch and
 * output buffers that held NaN before. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "forward/forward_impl.h"
#include "lrc/forward.h"
#include "lrc/model.h"
#include "fw_test_data.h"
#include "naive_conv.h"

#define TOL 1e-4

/* max |got - want| / max |want| */
static double rel_error(const float *got, const double *want, size_t n)
{
    double scale = 0, worst = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(want[i]) > scale)
            scale = fabs(want[i]);
    for (size_t i = 0; i < n; i++) {
        const double e = fabs((double)got[i] - want[i]);
        if (isnan(e))
            return INFINITY;
        if (e > worst)
            worst = e;
    }
    return worst / (scale > 0 ? scale : 1);
}

static float *run_wino(const lrc_layer *l, const float *u, int packed,
                       const float *in, int64_t n, int relu)
{
    const size_t outn = (size_t)(n * l->out_c * l->out_shape[1] * l->out_shape[2]);
    float *out = nan_floats(outn);
    float *work = nan_floats(lrc_fw_wino_workspace(l));
    assert_int_equal(lrc_fw_conv_winograd_with(l, u, packed, in, n, out, work,
                                               relu),
                     LRC_OK);
    free(work);
    return out;
}

typedef struct {
    int64_t c, h, w, d, pt, pl, pb, pr, n;
} wino_case;

/* The 3x3 conv of case k with random weights (fw_conv_net). */
static lrc_net *conv_net(const wino_case *k, uint64_t *seed)
{
    return fw_conv_net(k->c, k->h, k->w, k->d, 3, 3, k->pt, k->pl, k->pb,
                       k->pr, seed);
}

static void test_winograd_against_naive(void **state)
{
    (void)state;
    const wino_case cases[] = {
        /* c, h, w, d, pt, pl, pb, pr, n; F(4x4, 3x3) from 49 tiles of
         * 4 x 4 on, F(2x2, 3x3) below */
        {1, 4, 4, 1, 1, 1, 1, 1, 2},       /* one tile */
        {1, 2, 2, 2, 1, 1, 1, 1, 2},       /* one tile of 2 x 2 */
        {6, 30, 30, 5, 1, 1, 1, 1, 2},     /* 8 x 8 tiles of 4 x 4 */
        {3, 25, 27, 4, 0, 1, 0, 1, 2},     /* 6 x 7 tiles of 4, partial */
        {3, 7, 9, 5, 1, 1, 1, 1, 3},       /* partial tiles at both edges */
        {32, 28, 28, 32, 1, 1, 1, 1, 2},   /* whole tiles, VGG-like */
        {33, 14, 14, 40, 1, 1, 1, 1, 2},   /* 14 = 3.5 tiles */
        {17, 11, 37, 9, 0, 2, 1, 0, 2},    /* asymmetric pads */
        {8, 6, 5, 7, 0, 0, 0, 0, 2},       /* no pads: 4 x 3 output */
        {5, 3, 200, 6, 1, 1, 1, 1, 2},     /* several blocks along a row */
        {4, 60, 7, 3, 2, 2, 2, 2, 2},      /* several blocks of tile rows */
        {2, 9, 9, 3, 3, 3, 3, 3, 2},       /* pads wider than the kernel */
        /* blocks whose last vector of tiles is partial (3, 5, 6 tiles:
         * masked in the AVX-512 products; 49 = 48 + 1 and 98 = 96 + 2
         * above ride along), c a multiple of 16 or not */
        {20, 6, 34, 11, 1, 1, 1, 1, 2},    /* 51 tiles */
        {19, 2, 106, 6, 1, 1, 1, 1, 2},    /* 53 tiles */
        {16, 4, 54, 5, 1, 1, 1, 1, 2},     /* 54 tiles */
        /* F(4, 3) rows of several groups of 16 tiles, whose first and
         * last groups reach into the pads (read through the edge copy)
         * and whose last group is partial (39 = 16 + 16 + 7 and 36 tiles
         * across) */
        {3, 9, 150, 4, 2, 3, 1, 2, 2},
        {4, 8, 140, 5, 1, 3, 2, 3, 2},
        /* batches of 5 and 4 images whose tiles are one block each */
        {8, 14, 14, 9, 1, 1, 1, 1, 5},     /* 7 x 7 tiles of 2 x 2 */
        {16, 28, 28, 17, 1, 1, 1, 1, 4},   /* 7 x 7 tiles of 4 x 4 */
    };
    uint64_t seed = 11;
    int ran[2] = {0, 0}; /* cases run with F(2, 3), with F(4, 3) */
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const wino_case *k = &cases[t];
        lrc_net *net = conv_net(k, &seed);
        const lrc_layer *l = lrc_net_layer(net, 0);
        assert_true(lrc_fw_wino_shape_ok(l));
        const int m = lrc_fw_wino_tile(l);
        assert_int_equal(m, lrc_fw_wino_tiles(l, 4) >= 49 ? 4 : 2);
        ran[m == 4]++;
        assert_int_equal(lrc_fw_wino_weights_size(l),
                         (size_t)((m + 2) * (m + 2) * k->c *
                                  ((k->d + 7) / 8 * 8)));
        const int64_t n = k->n, in_sz = k->c * k->h * k->w;
        const int64_t out_sz = k->d * l->out_shape[1] * l->out_shape[2];
        const size_t outn = (size_t)(n * out_sz);
        float *in = rand_floats((size_t)(n * in_sz), &seed);
        double *want = naive_conv_new(l, in, n);
        /* both product paths: sgemm on U as d x c, and (on a CPU with
         * AVX-512) our kernel on U packed */
        for (int packed = 0; packed <= lrc_fw_wino_packed(); packed++) {
            float *u = nan_floats(lrc_fw_wino_weights_size(l));
            lrc_fw_wino_weights_with(l, packed, u);
            float *got = run_wino(l, u, packed, in, n, 0);
            const double err = rel_error(got, want, outn);
            if (!(err <= TOL))
                fail_msg("case %zu (packed %d): relative error %g exceeds %g",
                         t, packed, err, TOL);
            float *again = run_wino(l, u, packed, in, n, 0);
            assert_memory_equal(got, again, outn * sizeof(float));
            float *fused = run_wino(l, u, packed, in, n, 1);
            for (size_t i = 0; i < outn; i++) {
                const float r = got[i] > 0.0f ? got[i] : 0.0f;
                assert_memory_equal(&fused[i], &r, sizeof r);
            }
            for (int64_t b = 0; b < n; b++) {
                float *one = run_wino(l, u, packed, in + b * in_sz, 1, 0);
                assert_memory_equal(one, got + b * out_sz,
                                    (size_t)out_sz * sizeof(float));
                free(one);
            }
            free(again);
            free(fused);
            free(got);
            free(u);
        }
        free(want);
        free(in);
        lrc_net_destroy(&net);
    }
    assert_true(ran[0] >= 3 && ran[1] >= 3);
}

/* An output of at least 32 MB on whole cache lines (a batch of 11 images
 * of 16 x 224 x 224) is streamed past the caches (on AVX-512): the same
 * bits as each image alone, whose 3.2 MB are stored plainly, and the
 * naive conv's values on the first and last images. */
static void test_winograd_streamed(void **state)
{
    (void)state;
    uint64_t seed = 5;
    const wino_case k = {2, 224, 224, 16, 1, 1, 1, 1, 11};
    lrc_net *net = conv_net(&k, &seed);
    const lrc_layer *l = lrc_net_layer(net, 0);
    const int64_t n = k.n, in_sz = k.c * k.h * k.w, out_sz = k.d * k.h * k.w;
    assert_true(lrc_fw_stream_pays(n, out_sz * (int64_t)sizeof(float)));
    assert_false(lrc_fw_stream_pays(1, out_sz * (int64_t)sizeof(float)));
    float *in = rand_floats((size_t)(n * in_sz), &seed);
    float *u = nan_floats(lrc_fw_wino_weights_size(l));
    lrc_fw_wino_weights(l, u);
    float *work = nan_floats(lrc_fw_wino_workspace(l));
    float *out = NULL;
    assert_int_equal(lrc_calloc_aligned(&out, (size_t)(n * out_sz),
                                        sizeof(float), 64, "output"),
                     LRC_OK);
    assert_int_equal((uintptr_t)out % 64, 0);
    assert_int_equal(lrc_fw_conv_winograd(l, u, in, n, out, work, 1), LRC_OK);
    for (int64_t b = 0; b < n; b++) {
        float *one = nan_floats((size_t)out_sz);
        assert_int_equal(lrc_fw_conv_winograd(l, u, in + b * in_sz, 1, one,
                                              work, 1),
                         LRC_OK);
        assert_memory_equal(one, out + b * out_sz,
                            (size_t)out_sz * sizeof(float));
        free(one);
    }
    for (int64_t b = 0; b < n; b += n - 1) {
        double *want = naive_conv_new(l, in + b * in_sz, 1);
        for (int64_t i = 0; i < out_sz; i++)
            want[i] = want[i] > 0 ? want[i] : 0; /* the fused ReLU */
        const double err = rel_error(out + b * out_sz, want, (size_t)out_sz);
        if (!(err <= TOL))
            fail_msg("image %lld: relative error %g exceeds %g",
                     (long long)b, err, TOL);
        free(want);
    }
    lrc_free(&out);
    free(work);
    free(u);
    free(in);
    lrc_net_destroy(&net);
}

/* Shapes Winograd cannot run are refused, not computed wrongly. */
static void test_winograd_shapes(void **state)
{
    (void)state;
    uint64_t seed = 3;
    const wino_case k = {4, 8, 8, 4, 1, 1, 1, 1, 1};
    lrc_net *net = conv_net(&k, &seed);
    lrc_layer *l = lrc_net_layer_mut(net, 0);
    assert_true(lrc_fw_wino_shape_ok(l));
    l->sh = 2;
    assert_false(lrc_fw_wino_shape_ok(l));
    float out[4], work[4], u[1] = {0}, in[1] = {0};
    assert_int_equal(lrc_fw_conv_winograd(l, u, in, 1, out, work, 0),
                     LRC_ERR_INTERNAL);
    l->sh = 1;
    l->kh = l->kw = 5;
    assert_false(lrc_fw_wino_shape_ok(l));
    assert_false(lrc_fw_wino_pays(l));
    lrc_net_destroy(&net);
}

/* The rule's thresholds on the output channels (conv.c): 12 from 224 x
 * 224 outputs (F(4x4, 3x3), 3,136 tiles), 20 from 56 x 56 (196 tiles), 32
 * at 28 x 28 (49 tiles) and with F(2x2, 3x3) (14 x 14); never with fewer
 * than 32 input channels. */
static void test_winograd_rule(void **state)
{
    (void)state;
    const struct {
        int64_t c, hw, d;
        int pays;
    } cases[] = {{64, 224, 12, 1}, {64, 224, 11, 0}, {64, 112, 19, 0},
                 {64, 56, 20, 1}, {64, 56, 19, 0}, {64, 28, 32, 1},
                 {64, 28, 31, 0}, {64, 14, 32, 1}, {64, 14, 31, 0},
                 {31, 56, 64, 0}, {32, 56, 64, 1}, {64, 12, 64, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t seed = 11;
        const wino_case k = {cases[i].c, cases[i].hw, cases[i].hw, cases[i].d,
                             1, 1, 1, 1, 1};
        lrc_net *net = conv_net(&k, &seed);
        assert_int_equal(lrc_fw_wino_pays(lrc_net_layer(net, 0)),
                         cases[i].pays);
        lrc_net_destroy(&net);
    }
}

/* A plan on the winograd backend: a small VGG-style chain (a conv that
 * the rule sends to F(4x4, 3x3), one to F(2x2, 3x3), one with c = 3 that
 * it does not send to Winograd, ReLUs, a pooling, a dense layer) agrees with the openblas plan within the tolerance, gives
 * an image the same bits alone as in a batch, and costs its transformed
 * weights in lrc_forward_bytes. */
static void test_winograd_plan(void **state)
{
    (void)state;
    uint64_t seed = 5;
    lrc_net *net = NULL;
    assert_int_equal(lrc_net_create(&net), LRC_OK);
    const int64_t chans[4] = {3, 32, 48, 40};
    for (int i = 0; i < 3; i++) {
        lrc_layer p;
        memset(&p, 0, sizeof p);
        char name[16];
        snprintf(name, sizeof name, "conv%d", i);
        p.name = name;
        p.op = LRC_OP_CONV;
        p.in_c = chans[i];
        p.out_c = chans[i + 1];
        p.kh = p.kw = 3;
        p.sh = p.sw = 1;
        p.pt = p.pl = p.pb = p.pr = 1;
        p.flatten_check = -1;
        p.weight = rand_floats((size_t)(p.out_c * p.in_c * 9), &seed);
        p.bias = rand_floats((size_t)p.out_c, &seed);
        /* scale so that activations keep their size through the layers */
        for (int64_t j = 0; j < p.out_c * p.in_c * 9; j++)
            p.weight[j] *= (float)(1.0 / sqrt((double)(p.in_c * 9)));
        assert_int_equal(lrc_net_append(net, &p), LRC_OK);
        free(p.weight);
        free(p.bias);
        lrc_layer r;
        memset(&r, 0, sizeof r);
        snprintf(name, sizeof name, "relu%d", i);
        r.name = name;
        r.op = LRC_OP_RELU;
        r.flatten_check = -1;
        assert_int_equal(lrc_net_append(net, &r), LRC_OK);
        if (i == 1) {
            lrc_layer m;
            memset(&m, 0, sizeof m);
            m.name = "pool";
            m.op = LRC_OP_MAXPOOL;
            m.kh = m.kw = m.sh = m.sw = 2;
            m.flatten_check = -1;
            assert_int_equal(lrc_net_append(net, &m), LRC_OK);
        }
    }
    lrc_layer f;
    memset(&f, 0, sizeof f);
    f.name = "flat";
    f.op = LRC_OP_FLATTEN;
    f.flatten_check = -1;
    assert_int_equal(lrc_net_append(net, &f), LRC_OK);
    lrc_layer fc;
    memset(&fc, 0, sizeof fc);
    fc.name = "fc";
    fc.op = LRC_OP_DENSE;
    fc.in_c = 40 * 15 * 15;
    fc.out_c = 10;
    fc.flatten_check = -1;
    fc.weight = rand_floats((size_t)(fc.in_c * fc.out_c), &seed);
    fc.bias = rand_floats(10, &seed);
    assert_int_equal(lrc_net_append(net, &fc), LRC_OK);
    free(fc.weight);
    free(fc.bias);
    assert_int_equal(lrc_net_set_input(net, 3, 30, 30), LRC_OK);
    /* conv1 (30 x 30: 64 tiles of 4 x 4) runs F(4x4, 3x3), conv2 (15 x
     * 15: 16 tiles of 4 x 4, 64 of 2 x 2) F(2x2, 3x3); conv0 (c = 3) stays
     * on the openblas paths */
    assert_false(lrc_fw_wino_pays(lrc_net_layer(net, 0)));
    assert_true(lrc_fw_wino_pays(lrc_net_layer(net, 2)));
    assert_int_equal(lrc_fw_wino_tile(lrc_net_layer(net, 2)), 4);
    assert_true(lrc_fw_wino_pays(lrc_net_layer(net, 5)));
    assert_int_equal(lrc_fw_wino_tile(lrc_net_layer(net, 5)), 2);

    const int64_t nl = lrc_net_num_layers(net), n = 5;
    const int64_t in_sz = lrc_net_input_size(net);
    float *in = rand_floats((size_t)(n * in_sz), &seed);
    float ref[5 * 10], got[5 * 10], one[10];
    lrc_forward *fb = NULL, *fw = NULL;
    assert_int_equal(lrc_forward_create(net, 0, nl, 3, &fb), LRC_OK);
    assert_int_equal(lrc_forward_create_with(net, 0, nl, 3,
                                             LRC_BACKEND_WINOGRAD, &fw), LRC_OK);
    assert_int_equal(lrc_forward_backend(fw), LRC_BACKEND_WINOGRAD);
    const size_t wino_bytes = (36 * 32 * 48 + 16 * 48 * 40) * sizeof(float);
    /* in the openblas plan, the weights of those two convs laid out for
     * the kernels that run them there */
    size_t fb_packed = 0;
    for (int64_t i = 2; i <= 5; i += 3) {
        const lrc_layer *l = lrc_net_layer(net, i);
        fb_packed += lrc_fw_conv_packed_size(l, lrc_fw_conv_choose(l)) *
                     sizeof(float);
    }
    assert_true(lrc_forward_bytes(fw) + fb_packed >=
                lrc_forward_bytes(fb) + wino_bytes);
    assert_int_equal(lrc_forward_run(fb, in, n, ref), LRC_OK);
    assert_int_equal(lrc_forward_run(fw, in, n, got), LRC_OK);
    double scale = 0, worst = 0;
    for (int i = 0; i < n * 10; i++) {
        if (fabs(ref[i]) > scale)
            scale = fabs(ref[i]);
        if (fabs((double)got[i] - ref[i]) > worst)
            worst = fabs((double)got[i] - ref[i]);
    }
    if (!(worst <= TOL * scale))
        fail_msg("winograd plan: logits differ by %g (scale %g)", worst, scale);
    assert_true(worst > 0); /* it did run another algorithm */
    for (int64_t b = 0; b < n; b++) {
        assert_int_equal(lrc_forward_run(fw, in + b * in_sz, 1, one), LRC_OK);
        assert_memory_equal(one, got + b * 10, sizeof one);
    }
    lrc_forward_destroy(&fw);
    lrc_forward_destroy(&fb);
    free(in);
    lrc_net_destroy(&net);
}

static void test_backend_names(void **state)
{
    (void)state;
    lrc_backend b;
    assert_int_equal(lrc_backend_parse("winograd", &b), LRC_OK);
    assert_int_equal(b, LRC_BACKEND_WINOGRAD);
    assert_string_equal(lrc_backend_name(b), "winograd");
    assert_true(lrc_backend_available(b));
    assert_int_equal(lrc_backend_parse("winograd2", &b), LRC_ERR_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_winograd_against_naive),
        cmocka_unit_test(test_winograd_streamed),
        cmocka_unit_test(test_winograd_shapes),
        cmocka_unit_test(test_winograd_rule),
        cmocka_unit_test(test_winograd_plan),
        cmocka_unit_test(test_backend_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The forward plan's backends (include/lrc/forward.h).
 *
 * In a build without oneDNN: the backend parses but plans refuse it with a
 * message. With oneDNN (-DLRC_WITH_DNNL=ON): on a synthetic chain that has
 * every kind of layer and boundary a segment meets (convs with and without
 * a ReLU after them, 1x1, strided and thin convs, max and average pooling
 * in ceil mode and in floor mode with a row left over, a ReLU alone, a pooling oneDNN cannot express, dense
 * layers and softmax after the convs), and on the real default model, the
 * oneDNN plan's outputs equal the OpenBLAS plan's within 1e-4 of their
 * largest magnitude (Winograd sums in another order: not bitwise), for a
 * batch that leaves a short last batch (the primitives are rebuilt), and
 * they are the same bits when run again. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lrc/forward.h"
#include "lrc/model.h"
#include "fw_test_data.h"

#define TOL 1e-4

static float *rand_scaled(size_t n, uint64_t *seed, float scale)
{
    float *p = malloc(n * sizeof *p + 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = scale * (float)rnd(seed);
    return p;
}

/* Runs layers [first, last) of net on n images with the given backend
 * and plan batch; returns the outputs (caller frees). */
static float *run_plan(const lrc_net *net, int64_t first, int64_t last,
                       int64_t batch, lrc_backend b, const float *in, int64_t n)
{
    const lrc_layer *ll = lrc_net_layer(net, last - 1);
    const size_t m =
        (size_t)(n * ll->out_shape[0] * ll->out_shape[1] * ll->out_shape[2]);
    float *out = calloc(m + 1, sizeof *out);
    assert_non_null(out);
    lrc_forward *fw = NULL;
    assert_int_equal(lrc_forward_create_with(net, first, last, batch, b, &fw),
                     LRC_OK);
    assert_int_equal(lrc_forward_backend(fw), b);
    assert_int_equal(lrc_forward_run(fw, in, n, out), LRC_OK);
    lrc_forward_destroy(&fw);
    return out;
}

static void assert_close(const float *got, const float *want, size_t n,
                         const char *what)
{
    double scale = 0, worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(want[i]) > scale)
            scale = fabs(want[i]);
    assert_true(scale > 0);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i]))
            fail_msg("%s: output %zu is %g", what, i, (double)got[i]);
        const double e = fabs((double)got[i] - want[i]);
        if (e > worst) {
            worst = e;
            at = i;
        }
    }
    print_message("%s: max difference %.2e of the largest output %.3g\n", what,
                  worst / scale, scale);
    if (worst > TOL * scale)
        fail_msg("%s: max difference %g at %zu (oneDNN %g, OpenBLAS %g) "
                 "exceeds %g", what, worst, at, (double)got[at],
                 (double)want[at], TOL * scale);
}

static void test_parse(void **state)
{
    (void)state;
    lrc_backend b = LRC_BACKEND_ONEDNN;
    assert_int_equal(lrc_backend_parse("openblas", &b), LRC_OK);
    assert_int_equal(b, LRC_BACKEND_OPENBLAS);
    assert_int_equal(lrc_backend_parse("onednn", &b), LRC_OK);
    assert_int_equal(b, LRC_BACKEND_ONEDNN);
    assert_int_equal(lrc_backend_parse("cuda", &b), LRC_ERR_ARG);
    assert_int_equal(lrc_backend_parse(NULL, &b), LRC_ERR_ARG);
    assert_string_equal(lrc_backend_name(LRC_BACKEND_ONEDNN), "onednn");
    assert_string_equal(lrc_backend_name(LRC_BACKEND_OPENBLAS), "openblas");
    assert_true(lrc_backend_available(LRC_BACKEND_OPENBLAS));
}

/* conv(k, s, p) with `in` -> `out` channels */
static lrc_layer conv(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p,
                      uint64_t *seed)
{
    lrc_layer l;
    memset(&l, 0, sizeof l);
    l.op = LRC_OP_CONV;
    l.in_c = in;
    l.out_c = out;
    l.kh = l.kw = k;
    l.sh = l.sw = s;
    l.pt = l.pl = l.pb = l.pr = p;
    l.weight = rand_scaled((size_t)(out * in * k * k), seed,
                           (float)(1.5 / sqrt((double)(in * k * k))));
    l.bias = rand_scaled((size_t)out, seed, 0.1f);
    return l;
}

static lrc_layer pool(lrc_op op, int64_t k, int64_t s, int64_t p, int ceil,
                      int include_pad)
{
    lrc_layer l;
    memset(&l, 0, sizeof l);
    l.op = op;
    l.kh = l.kw = k;
    l.sh = l.sw = s;
    l.pt = l.pl = l.pb = l.pr = p;
    l.ceil_mode = ceil;
    l.count_include_pad = include_pad;
    return l;
}

static lrc_layer simple(lrc_op op)
{
    lrc_layer l;
    memset(&l, 0, sizeof l);
    l.op = op;
    return l;
}

static void test_unavailable(void **state)
{
    (void)state;
    if (lrc_backend_available(LRC_BACKEND_ONEDNN))
        skip();
    uint64_t seed = 1;
    lrc_layer c = conv(2, 3, 3, 1, 1, &seed);
    lrc_net *net = NULL;
    assert_int_equal(lrc_net_create(&net), LRC_OK);
    assert_int_equal(lrc_net_append(net, &c), LRC_OK);
    assert_int_equal(lrc_net_set_input(net, 2, 5, 5), LRC_OK);
    lrc_forward *fw = (lrc_forward *)&seed;
    assert_int_equal(lrc_forward_create_with(net, 0, 1, 4, LRC_BACKEND_ONEDNN,
                                             &fw),
                     LRC_ERR_UNSUPPORTED);
    assert_null(fw);
    free(c.weight);
    free(c.bias);
    lrc_net_destroy(&net);
}

static void test_chain(void **state)
{
    (void)state;
    if (!lrc_backend_available(LRC_BACKEND_ONEDNN)) {
        print_message("skipping: built without oneDNN (-DLRC_WITH_DNNL=ON)\n");
        skip();
    }
    uint64_t seed = 7;
    /* 3 x 19 x 17 input */
    lrc_layer ls[] = {
        conv(3, 16, 3, 1, 1, &seed),        /* 0 conv + relu */
        simple(LRC_OP_RELU),                /* 1 */
        pool(LRC_OP_MAXPOOL, 2, 2, 0, 1, 0), /* 2 ceil: 10 x 9 */
        conv(16, 17, 3, 1, 1, &seed),       /* 3 thin, no relu */
        conv(17, 64, 1, 1, 0, &seed),       /* 4 1x1 + relu */
        simple(LRC_OP_RELU),                /* 5 */
        pool(LRC_OP_AVGPOOL, 3, 2, 1, 0, 0), /* 6 exclude pads: 5 x 5 */
        simple(LRC_OP_RELU),                /* 7 a ReLU alone */
        conv(64, 64, 3, 1, 1, &seed),       /* 8 Winograd-sized + relu */
        simple(LRC_OP_RELU),                /* 9 */
        conv(64, 32, 5, 2, 2, &seed),       /* 10 strided: 3 x 3 */
        simple(LRC_OP_RELU),                /* 11 */
        pool(LRC_OP_AVGPOOL, 2, 2, 0, 1, 1), /* 12 include pads, ceil: not
                                                 oneDNN's: 2 x 2 */
        conv(32, 24, 2, 1, 1, &seed),       /* 13 even kernel: 3 x 3 */
        simple(LRC_OP_RELU),                /* 14 */
        pool(LRC_OP_MAXPOOL, 2, 2, 0, 0, 0), /* 15 floor, a row left
                                                 over: 1 x 1 */
        simple(LRC_OP_FLATTEN),             /* 16 */
        simple(LRC_OP_DENSE),               /* 17 */
        simple(LRC_OP_SOFTMAX)};            /* 18 */
    const int nl = (int)(sizeof ls / sizeof ls[0]);
    ls[17].in_c = 24;
    ls[17].out_c = 10;
    ls[17].weight = rand_scaled(10 * 24, &seed, 0.1f);
    ls[17].bias = rand_scaled(10, &seed, 0.1f);
    lrc_net *net = NULL;
    assert_int_equal(lrc_net_create(&net), LRC_OK);
    for (int i = 0; i < nl; i++)
        assert_int_equal(lrc_net_append(net, &ls[i]), LRC_OK);
    assert_int_equal(lrc_net_set_input(net, 3, 19, 17), LRC_OK);
    assert_int_equal(lrc_net_layer(net, 2)->out_shape[1], 10);
    assert_int_equal(lrc_net_layer(net, 12)->out_shape[1], 2);
    assert_int_equal(lrc_net_layer(net, 15)->out_shape[1], 1);
    const int64_t n = 7;
    float *in = rand_scaled((size_t)(n * 3 * 19 * 17), &seed, 1.0f);

    /* the whole net, and plans that end inside and right after segments */
    const int64_t lasts[] = {nl, nl - 1, 17, 16, 13, 12, 8, 4, 3, 1};
    for (size_t t = 0; t < sizeof lasts / sizeof lasts[0]; t++) {
        const int64_t last = lasts[t];
        const lrc_layer *ll = lrc_net_layer(net, last - 1);
        const size_t m = (size_t)(n * ll->out_shape[0] * ll->out_shape[1] *
                                  ll->out_shape[2]);
        float *want = run_plan(net, 0, last, 3, LRC_BACKEND_OPENBLAS, in, n);
        float *got = run_plan(net, 0, last, 3, LRC_BACKEND_ONEDNN, in, n);
        char what[64];
        snprintf(what, sizeof what, "layers 0..%d", (int)last - 1);
        assert_close(got, want, m, what);
        free(want);
        free(got);
    }
    /* a plan that starts after the first layers (NCHW input mid-net) */
    {
        const lrc_layer *l3 = lrc_net_layer(net, 3);
        const size_t m3 =
            (size_t)(n * l3->in_shape[0] * l3->in_shape[1] * l3->in_shape[2]);
        float *mid = rand_scaled(m3, &seed, 1.0f);
        const lrc_layer *ll = lrc_net_layer(net, 11);
        const size_t m = (size_t)(n * ll->out_shape[0] * ll->out_shape[1] *
                                  ll->out_shape[2]);
        float *want = run_plan(net, 3, 12, 4, LRC_BACKEND_OPENBLAS, mid, n);
        float *got = run_plan(net, 3, 12, 4, LRC_BACKEND_ONEDNN, mid, n);
        assert_close(got, want, m, "layers 3..11");
        free(want);
        free(got);
        free(mid);
    }
    /* the same bits on a second run, after a short batch rebuilt the
     * primitives, and one image at a time */
    {
        const size_t m = (size_t)(n * 10);
        float *a = calloc(m, sizeof *a), *b = calloc(m, sizeof *b);
        assert_non_null(a);
        assert_non_null(b);
        lrc_forward *fw = NULL;
        assert_int_equal(lrc_forward_create_with(net, 0, nl, 3,
                                                 LRC_BACKEND_ONEDNN, &fw),
                         LRC_OK);
        assert_true(lrc_forward_bytes(fw) > 0);
        print_message("oneDNN implementations: %s\n", lrc_forward_impl(fw));
        assert_true(strlen(lrc_forward_impl(fw)) > 0);
        assert_int_equal(lrc_forward_run(fw, in, n, a), LRC_OK);
        assert_int_equal(lrc_forward_run(fw, in, n, b), LRC_OK);
        assert_memory_equal(a, b, m * sizeof *a);
        lrc_forward_destroy(&fw);
        free(a);
        free(b);
    }
    free(in);
    for (int i = 0; i < nl; i++) {
        free(ls[i].weight);
        free(ls[i].bias);
    }
    lrc_net_destroy(&net);
}

static void test_default_model(void **state)
{
    (void)state;
    if (!lrc_backend_available(LRC_BACKEND_ONEDNN))
        skip();
    const char *src = getenv("LRC_SOURCE_DIR");
    assert_non_null(src);
    char path[4200];
    snprintf(path, sizeof path, "%s/models/fashion_vgg.onnx", src);
    lrc_net *net = NULL;
    assert_int_equal(lrc_onnx_load(path, &net), LRC_OK);
    assert_int_equal(lrc_net_set_input(net, 1, 28, 28), LRC_OK);
    uint64_t seed = 11;
    const int64_t n = 50, nl = lrc_net_num_layers(net);
    float *in = rand_scaled((size_t)(n * 28 * 28), &seed, 2.0f);
    const size_t m = (size_t)(n * lrc_net_output_size(net));
    float *want = run_plan(net, 0, nl, 16, LRC_BACKEND_OPENBLAS, in, n);
    float *got = run_plan(net, 0, nl, 16, LRC_BACKEND_ONEDNN, in, n);
    assert_close(got, want, m, "models/fashion_vgg.onnx");
    free(want);
    free(got);
    free(in);
    lrc_net_destroy(&net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_unavailable),
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_default_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The YAML config: values and defaults reach the compression parameters,
 * --set overrides, and every kind of bad file is refused with the right
 * status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lrc/config.h"

static char path[512];

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static lrc_status load(const char *text, char *const *sets, int n, lrc_config **c)
{
    write_file(text);
    return lrc_config_load(path, sets, n, c);
}

static const char *full =
    "model: m.onnx\n"
    "calibration: fashion-mnist:train\n"
    "evaluation: fashion-mnist:test\n"
    "evaluation_limit: 500\n"
    "normalization:\n  mean: \"1,2,3\"\n  std: \"4,5,6\"\n"
    "method: linear-asym\n"
    "speedup: 3.5\n"
    "layers: [conv2, conv3]\n"
    "images: 123\n"
    "locations: 7\n"
    "seed: 42\n"
    "batch: 16\n"
    "nonlinear:\n  iters_small: 3\n  lambda_large: 2.5\n"
    "output: out/x\n"
    "checkpoint: false\n";

static void test_full_config(void **state)
{
    (void)state;
    lrc_config *c = NULL;
    lrc_compress_params p;
    assert_int_equal(load(full, NULL, 0, &c), LRC_OK);
    assert_string_equal(c->model, "m.onnx");
    assert_string_equal(c->evaluation, "fashion-mnist:test");
    assert_int_equal(*c->evaluation_limit, 500);
    assert_string_equal(c->normalization->std, "4,5,6");
    assert_false(*c->checkpoint);
    assert_int_equal(lrc_config_params(c, path, &p), LRC_OK);
    assert_int_equal(p.method, LRC_METHOD_LINEAR_ASYM);
    assert_true(p.speedup == 3.5);
    assert_int_equal(p.n_layers, 2);
    assert_string_equal(p.layers[1], "conv3");
    assert_int_equal(p.images, 123);
    assert_int_equal(p.locations, 7);
    assert_int_equal(p.seed, 42);
    assert_int_equal(p.batch, 16);
    assert_int_equal(p.nl.iters_small, 3);
    assert_int_equal(p.nl.iters_large, 25);      /* default kept */
    assert_true(p.nl.lambda_small == 0.01);      /* default kept */
    assert_true(p.nl.lambda_large == 2.5);
    lrc_config_destroy(&c);
    assert_null(c);
    lrc_config_destroy(&c); /* no-op on NULL */
}

static void test_defaults_and_sets(void **state)
{
    (void)state;
    lrc_config *c = NULL;
    lrc_compress_params p;
    char *sets[] = {"images=77", "nonlinear.iters_large=4", "method=3d",
                    "output=elsewhere", "checkpoint=true"};
    assert_int_equal(load("model: m.onnx\ncalibration: c\noutput: o\nspeedup: 2\n",
                          sets, 5, &c), LRC_OK);
    assert_int_equal(lrc_config_params(c, path, &p), LRC_OK);
    assert_int_equal(p.images, 77);
    assert_int_equal(p.locations, 10);
    assert_int_equal(p.nl.iters_large, 4);
    assert_int_equal(p.method, LRC_METHOD_3D);
    assert_null(p.layers);
    assert_string_equal(c->output, "elsewhere");
    assert_true(*c->checkpoint);
    assert_null(c->evaluation_backend);
    lrc_config_destroy(&c);
    /* the evaluation's backend, from the file or --set */
    char *set_be[] = {"evaluation_backend=openblas"};
    assert_int_equal(load("model: m\ncalibration: c\noutput: o\nspeedup: 2\n"
                          "evaluation_backend: onednn\n", set_be, 1, &c), LRC_OK);
    assert_int_equal(lrc_config_params(c, path, &p), LRC_OK);
    assert_string_equal(c->evaluation_backend, "openblas");
    lrc_config_destroy(&c);
    /* explicit ranks instead of a speedup */
    assert_int_equal(load("model: m\ncalibration: c\noutput: o\nranks: [3, 5]\n",
                          NULL, 0, &c), LRC_OK);
    assert_int_equal(lrc_config_params(c, path, &p), LRC_OK);
    assert_int_equal(p.n_ranks, 2);
    assert_int_equal(p.ranks[1], 5);
    lrc_config_destroy(&c);
}

static void test_bad_files(void **state)
{
    (void)state;
    lrc_config *c = NULL;
    lrc_compress_params p;
    const char *base = "model: m\ncalibration: c\noutput: o\n";
    char buf[512];
    /* unknown key, wrong type, missing key, not YAML */
    snprintf(buf, sizeof buf, "%sspeedup: 2\nspedup: 4\n", base);
    assert_int_equal(load(buf, NULL, 0, &c), LRC_ERR_FORMAT);
    snprintf(buf, sizeof buf, "%sspeedup: fast\n", base);
    assert_int_equal(load(buf, NULL, 0, &c), LRC_ERR_FORMAT);
    assert_int_equal(load("model: m\noutput: o\nspeedup: 2\n", NULL, 0, &c), LRC_ERR_FORMAT);
    assert_int_equal(load("model: [unclosed\n", NULL, 0, &c), LRC_ERR_FORMAT);
    snprintf(buf, sizeof buf, "%sspeedup: 2\nnonlinear:\n  iters: 3\n", base);
    assert_int_equal(load(buf, NULL, 0, &c), LRC_ERR_FORMAT);
    assert_null(c);
    /* a missing file */
    assert_int_equal(lrc_config_load("/nonexistent/x.yaml", NULL, 0, &c), LRC_ERR_IO);
    /* out-of-range values pass the schema but not the checks */
    const char *ranges[] = {"speedup: 1\n", "speedup: 0.5\n", "speedup: 2\nimages: 0\n",
                            "speedup: 2\nlocations: -1\n", "speedup: 2\nmethod: magic\n",
                            "speedup: 2\nnonlinear:\n  lambda_small: 0\n",
                            "speedup: 2\nseed: -4\n", "ranks: [3, 0]\n", "images: 5\n",
                            "speedup: 2\nevaluation_backend: cuda\n"};
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        snprintf(buf, sizeof buf, "%s%s", base, ranges[i]);
        assert_int_equal(load(buf, NULL, 0, &c), LRC_OK);
        assert_int_equal(lrc_config_params(c, path, &p), LRC_ERR_ARG);
        lrc_config_destroy(&c);
    }
    /* bad --set */
    char *bad1[] = {"nope=3"}, *bad2[] = {"images=abc"}, *bad3[] = {"images"};
    snprintf(buf, sizeof buf, "%sspeedup: 2\n", base);
    assert_int_equal(load(buf, bad1, 1, &c), LRC_ERR_ARG);
    assert_int_equal(load(buf, bad2, 1, &c), LRC_ERR_ARG);
    assert_int_equal(load(buf, bad3, 1, &c), LRC_ERR_ARG);
    assert_null(c);
}

int main(void)
{
    const char *tmp = getenv("LRC_TEST_TMP");
    snprintf(path, sizeof path, "%s/test_config.yaml", tmp ? tmp : ".");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_defaults_and_sets),
        cmocka_unit_test(test_bad_files),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    remove(path);
    return rc;
}

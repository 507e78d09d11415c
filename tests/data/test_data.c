/* Tests of src/data: spec parsing, the IDX and HDF5 readers, normalisation.
 *
 * Every expected value comes from outside the code under test: the test
 * writes its own IDX and HDF5 files from known arrays, and reads the real
 * Fashion-MNIST files with zlib directly. Pixels and normalised values are
 * compared exactly: both sides compute (p - mean) / std in double and round
 * once to float. Temporary files live in $LRC_TEST_TMP and are removed by
 * each test's teardown, pass or fail. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "lrc/data.h"

/* ---- temporary files, removed by the teardown ---- */

#define MAX_TMP 32

typedef struct tmp_files {
    int n;
    char path[MAX_TMP][512];
} tmp_files;

static int setup_tmp(void **state)
{
    tmp_files *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    *state = t;
    return 0;
}

static int teardown_tmp(void **state)
{
    tmp_files *t = *state;
    /* Newest first, so that files go before the directories holding them. */
    for (int i = t->n - 1; i >= 0; i--)
        remove(t->path[i]);
    free(t);
    return 0;
}

/* A fresh path in $LRC_TEST_TMP, registered for removal. */
static const char *tmp_path(void **state, const char *name)
{
    tmp_files *t = *state;
    const char *dir = getenv("LRC_TEST_TMP");
    if (!dir || !*dir)
        dir = "/tmp";
    assert_true(t->n < MAX_TMP);
    char *p = t->path[t->n++];
    snprintf(p, sizeof t->path[0], "%s/test_data_%ld_%s", dir, (long)getpid(),
             name);
    remove(p);
    return p;
}

/* dir/name, registered for removal. */
static const char *tmp_child(void **state, const char *dir, const char *name)
{
    tmp_files *t = *state;
    assert_true(t->n < MAX_TMP);
    char *p = t->path[t->n++];
    snprintf(p, sizeof t->path[0], "%s/%s", dir, name);
    return p;
}

/* ---- writing IDX files ---- */

static void put_be32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

/* Writes magic, dims and then `len` bytes of data; gzipped when gz. */
static void write_idx(const char *path, int gz, uint32_t magic, int ndims,
                      const uint32_t *dims, const uint8_t *data, size_t len)
{
    unsigned char hdr[16];
    put_be32(hdr, magic);
    for (int d = 0; d < ndims; d++)
        put_be32(hdr + 4 + 4 * d, dims[d]);
    size_t hlen = 4 + 4 * (size_t)ndims;
    if (gz) {
        gzFile f = gzopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(gzwrite(f, hdr, (unsigned)hlen), (int)hlen);
        if (len)
            assert_int_equal(gzwrite(f, data, (unsigned)len), (int)len);
        assert_int_equal(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(hdr, 1, hlen, f), hlen);
        if (len)
            assert_int_equal(fwrite(data, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
    }
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len)
        assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* The small IDX set used by several tests: 5 images of 3 x 4. */
enum { SN = 5, SH = 3, SW = 4 };
static const uint8_t small_labels[SN] = {3, 1, 4, 1, 5};

static void small_pixels(uint8_t px[SN * SH * SW])
{
    for (int i = 0; i < SN * SH * SW; i++)
        px[i] = (uint8_t)((i * 37 + 11) % 256);
}

/* Writes the small set; returns "idx:IMAGES,LABELS" in spec. */
static void write_small_idx(void **state, int gz, char *spec, size_t len)
{
    uint8_t px[SN * SH * SW];
    small_pixels(px);
    const uint32_t idims[3] = {SN, SH, SW}, ldims[1] = {SN};
    const char *img = tmp_path(state, gz ? "small-images.gz" : "small-images");
    const char *lab = tmp_path(state, gz ? "small-labels.gz" : "small-labels");
    write_idx(img, gz, 0x803, 3, idims, px, sizeof px);
    write_idx(lab, gz, 0x801, 1, ldims, small_labels, SN);
    snprintf(spec, len, "idx:%s,%s", img, lab);
}

static void expect_open_fails(const char *spec, lrc_status want)
{
    lrc_dataset *ds = (lrc_dataset *)&ds; /* must be reset to NULL */
    lrc_status st = lrc_dataset_open(spec, &ds);
    if (st != want)
        fail_msg("spec '%s': status %s, expected %s", spec ? spec : "(null)",
                 lrc_status_name(st), lrc_status_name(want));
    assert_null(ds);
}

/* Exact comparison of float buffers, naming the first difference. */
static void expect_floats(const float *got, const float *want, size_t n,
                          const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i] &&
            !(isnan(got[i]) && isnan(want[i])))
            fail_msg("%s: value %zu is %.9g, expected %.9g", what, i,
                     (double)got[i], (double)want[i]);
}

static float norm_ref(double p, double mean, double sd)
{
    return (float)((p - mean) / sd);
}

/* ---- Fashion-MNIST, checked against zlib reads of the same files ---- */

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Reads a whole gzipped file into *buf (caller frees). */
static size_t gz_slurp(const char *path, uint8_t **buf)
{
    gzFile f = gzopen(path, "rb");
    assert_non_null(f);
    size_t cap = 1 << 20, len = 0;
    uint8_t *b = malloc(cap);
    assert_non_null(b);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            b = realloc(b, cap);
            assert_non_null(b);
        }
        int r = gzread(f, b + len, (unsigned)(cap - len));
        assert_true(r >= 0);
        if (r == 0)
            break;
        len += (size_t)r;
    }
    gzclose(f);
    *buf = b;
    return len;
}

static void check_fashion_mnist(const char *split, const char *stem,
                                int64_t n, int64_t sum_first,
                                int64_t sum_last, const int32_t first10[10],
                                int32_t last_label, int64_t total_sum)
{
    char spec[64], path[256];
    uint8_t *ref_img = NULL, *ref_lab = NULL;
    lrc_dataset *ds = NULL;
    int64_t chw[3];
    const size_t per = 28 * 28;

    snprintf(path, sizeof path, FMNIST_DIR "/%s-images-idx3-ubyte.gz", stem);
    size_t ilen = gz_slurp(path, &ref_img);
    snprintf(path, sizeof path, FMNIST_DIR "/%s-labels-idx1-ubyte.gz", stem);
    size_t llen = gz_slurp(path, &ref_lab);
    assert_int_equal(ilen, 16 + (size_t)n * per);
    assert_int_equal(llen, 8 + (size_t)n);

    snprintf(spec, sizeof spec, "fashion-mnist:%s", split);
    assert_int_equal(lrc_dataset_open(spec, &ds), LRC_OK);
    assert_string_equal(lrc_dataset_spec(ds), spec);
    assert_int_equal(lrc_dataset_count(ds), n);
    lrc_dataset_shape(ds, chw);
    assert_int_equal(chw[0], 1);
    assert_int_equal(chw[1], 28);
    assert_int_equal(chw[2], 28);

    /* First and last image against the zlib read and the known sums. */
    float img[28 * 28], want[28 * 28];
    int32_t lab = -1;
    const int64_t which[2] = {0, n - 1};
    const int64_t sums[2] = {sum_first, sum_last};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(lrc_dataset_read(ds, which[k], 1, NULL, img, &lab),
                         LRC_OK);
        const uint8_t *ref = ref_img + 16 + (size_t)which[k] * per;
        int64_t sum = 0, ref_sum = 0;
        for (size_t p = 0; p < per; p++) {
            want[p] = (float)ref[p];
            sum += (int64_t)img[p];
            ref_sum += ref[p];
        }
        expect_floats(img, want, per, spec);
        assert_int_equal(sum, ref_sum);
        assert_int_equal(sum, sums[k]);
        assert_int_equal(lab, ref_lab[8 + which[k]]);
    }
    assert_int_equal(lab, last_label);

    /* The whole set in chunks: every label against the zlib read, and the
     * pixel total against the known value. */
    const int64_t chunk = 2500;
    float *buf = malloc((size_t)chunk * per * sizeof *buf);
    int32_t *labs = malloc((size_t)chunk * sizeof *labs);
    assert_non_null(buf);
    assert_non_null(labs);
    int64_t total = 0;
    for (int64_t s0 = 0; s0 < n; s0 += chunk) {
        int64_t c = n - s0 < chunk ? n - s0 : chunk;
        assert_int_equal(lrc_dataset_read(ds, s0, c, NULL, buf, labs), LRC_OK);
        for (int64_t i = 0; i < c; i++)
            assert_int_equal(labs[i], ref_lab[8 + s0 + i]);
        if (s0 == 0)
            for (int i = 0; i < 10; i++)
                assert_int_equal(labs[i], first10[i]);
        for (size_t p = 0; p < (size_t)c * per; p++)
            total += (int64_t)buf[p];
    }
    assert_int_equal(total, total_sum);

    /* One normalised pixel: image 0, row 14, column 14. */
    lrc_norm nm;
    assert_int_equal(lrc_norm_parse("72.94", "90", "test", &nm), LRC_OK);
    assert_int_equal(lrc_dataset_read(ds, 0, 1, &nm, img, NULL), LRC_OK);
    const uint8_t p0 = ref_img[16 + 14 * 28 + 14];
    assert_true(img[14 * 28 + 14] == norm_ref(p0, 72.94, 90.0));

    free(buf);
    free(labs);
    lrc_dataset_destroy(&ds);
    assert_null(ds);
    free(ref_img);
    free(ref_lab);
}

/* Known values, obtained once with /usr/bin/python3: gzip.open(...).read()
 * on the files of dataset-fashion-mnist, summing bytes [16 + 784 i, 16 +
 * 784 (i + 1)) for image i and all bytes after the 16-byte header for the
 * total; labels are bytes 8.. of the label file. */
static void test_fashion_mnist_test(void **state)
{
    const int32_t first10[10] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
    check_fashion_mnist("test", "t10k", 10000, 33456, 24390, first10, 5,
                        573469082);
}

static void test_fashion_mnist_train(void **state)
{
    const int32_t first10[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
    check_fashion_mnist("train", "train", 60000, 76247, 16684, first10, 5,
                        3431114169);
}

/* LRC_FASHION_MNIST_DIR: a missing directory, a file in its place, and a
 * directory of our own files under the Debian names. */
static void test_fashion_mnist_dir(void **state)
{
    const char *old = getenv("LRC_FASHION_MNIST_DIR");
    char *saved = old ? strdup(old) : NULL;
    lrc_dataset *ds = NULL;

    const char *missing = tmp_path(state, "no-such-dir");
    assert_int_equal(setenv("LRC_FASHION_MNIST_DIR", missing, 1), 0);
    expect_open_fails("fashion-mnist:test", LRC_ERR_IO);

    const char *file = tmp_path(state, "not-a-dir");
    write_bytes(file, "x", 1);
    assert_int_equal(setenv("LRC_FASHION_MNIST_DIR", file, 1), 0);
    expect_open_fails("fashion-mnist:test", LRC_ERR_IO);

    const char *dir = tmp_path(state, "fmnist");
    assert_int_equal(mkdir(dir, 0700), 0);
    /* Registered after the directory, so the teardown removes them first. */
    const char *img = tmp_child(state, dir, "t10k-images-idx3-ubyte.gz");
    const char *lab = tmp_child(state, dir, "t10k-labels-idx1-ubyte.gz");
    uint8_t px[SN * SH * SW];
    small_pixels(px);
    const uint32_t idims[3] = {SN, SH, SW}, ldims[1] = {SN};
    write_idx(img, 1, 0x803, 3, idims, px, sizeof px);
    write_idx(lab, 1, 0x801, 1, ldims, small_labels, SN);
    assert_int_equal(setenv("LRC_FASHION_MNIST_DIR", dir, 1), 0);
    assert_int_equal(lrc_dataset_open("fashion-mnist:test", &ds), LRC_OK);
    assert_int_equal(lrc_dataset_count(ds), SN);
    lrc_dataset_destroy(&ds);
    /* The training files are not there. */
    expect_open_fails("fashion-mnist:train", LRC_ERR_IO);

    if (saved)
        setenv("LRC_FASHION_MNIST_DIR", saved, 1);
    else
        unsetenv("LRC_FASHION_MNIST_DIR");
    free(saved);
}

static void test_spec_errors(void **state)
{
    expect_open_fails(NULL, LRC_ERR_ARG);
    expect_open_fails("", LRC_ERR_ARG);
    expect_open_fails("mnist:train", LRC_ERR_ARG);
    expect_open_fails("/data/train.h5", LRC_ERR_ARG);
    expect_open_fails("fashion-mnist:valid", LRC_ERR_ARG);
    expect_open_fails("fashion-mnist:", LRC_ERR_ARG);
    expect_open_fails("idx:images-only.gz", LRC_ERR_ARG);
    expect_open_fails("idx:a,b,c", LRC_ERR_ARG);
    expect_open_fails("idx:,labels.gz", LRC_ERR_ARG);
    expect_open_fails("idx:images.gz,", LRC_ERR_ARG);
    expect_open_fails("h5:", LRC_ERR_ARG);

    lrc_dataset *ds = NULL;
    lrc_dataset_destroy(NULL);
    lrc_dataset_destroy(&ds);
    assert_null(ds);
    assert_int_equal(lrc_dataset_count(NULL), 0);
    assert_null(lrc_dataset_spec(NULL));
}

/* ---- normalisation ---- */

static void test_norm_parse(void **state)
{
    lrc_norm nm;
    assert_int_equal(lrc_norm_parse("1,2,3", "4,5,6", "test", &nm), LRC_OK);
    assert_int_equal(nm.channels, 3);
    for (int i = 0; i < 3; i++) {
        assert_true(nm.mean[i] == i + 1);
        assert_true(nm.std[i] == i + 4);
    }
    assert_int_equal(lrc_norm_parse("123.7, 116.3 ,103.5", " 58.4,57.1,57.4 ",
                                    "test", &nm), LRC_OK);
    assert_int_equal(nm.channels, 3);
    assert_true(nm.mean[0] == 123.7 && nm.mean[1] == 116.3 &&
                nm.mean[2] == 103.5);
    assert_true(nm.std[0] == 58.4 && nm.std[1] == 57.1 && nm.std[2] == 57.4);
    assert_int_equal(lrc_norm_parse("72.94", "90", NULL, &nm), LRC_OK);
    assert_int_equal(nm.channels, 1);
    assert_true(nm.mean[0] == 72.94 && nm.std[0] == 90);
    assert_int_equal(lrc_norm_parse("-1e2", "1e-3", "test", &nm), LRC_OK);
    assert_true(nm.mean[0] == -100 && nm.std[0] == 1e-3);

    const char *bad[][2] = {
        {"1,x", "1,1"},    /* not a number */
        {"1,2x", "1,1"},   /* trailing junk */
        {"1", "0"},        /* std 0 */
        {"1", "-2"},       /* std < 0 */
        {"1,2,3", "1"},    /* count mismatch */
        {"1", "1,2"},      /* count mismatch */
        {"", ""},          /* empty */
        {"  ", "1"},       /* empty */
        {"1,,2", "1,1,1"}, /* empty item */
        {"1,", "1,1"},     /* empty item */
        {"nan", "1"},      /* not finite */
        {"1", "inf"},      /* not finite */
        {"1", "1e999"},    /* overflows to inf */
        {"0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0",
         "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1"}, /* 17 > LRC_MAX_CHANNELS */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nm.channels = 99;
        lrc_status st = lrc_norm_parse(bad[i][0], bad[i][1], "test", &nm);
        if (st != LRC_ERR_ARG)
            fail_msg("mean '%s' std '%s': status %s, expected invalid "
                     "argument", bad[i][0], bad[i][1], lrc_status_name(st));
        assert_int_equal(nm.channels, 0);
    }
    assert_int_equal(lrc_norm_parse(NULL, "1", "test", &nm), LRC_ERR_ARG);
    assert_int_equal(lrc_norm_parse("1", NULL, "test", &nm), LRC_ERR_ARG);
    /* Exactly LRC_MAX_CHANNELS is fine. */
    assert_int_equal(lrc_norm_parse("0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0",
                                    "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1", "test",
                                    &nm), LRC_OK);
    assert_int_equal(nm.channels, LRC_MAX_CHANNELS);
}

static void test_norm_check(void **state)
{
    lrc_norm nm;
    memset(&nm, 0, sizeof nm);
    assert_int_equal(lrc_norm_check(NULL, 3, "test"), LRC_OK);
    assert_int_equal(lrc_norm_check(&nm, 3, "test"), LRC_OK);
    assert_int_equal(lrc_norm_parse("1", "2", "test", &nm), LRC_OK);
    assert_int_equal(lrc_norm_check(&nm, 1, "test"), LRC_OK);
    assert_int_equal(lrc_norm_check(&nm, 3, "test"), LRC_OK);
    assert_int_equal(lrc_norm_parse("1,2,3", "2,2,2", "test", &nm), LRC_OK);
    assert_int_equal(lrc_norm_check(&nm, 3, "test"), LRC_OK);
    assert_int_equal(lrc_norm_check(&nm, 1, "test"), LRC_ERR_ARG);
    assert_int_equal(lrc_norm_check(&nm, 4, "test"), LRC_ERR_ARG);
    assert_int_equal(lrc_norm_parse("1,2", "2,2", "test", &nm), LRC_OK);
    assert_int_equal(lrc_norm_check(&nm, 3, "test"), LRC_ERR_ARG);
    /* Hand-built structs are checked too. */
    nm.channels = LRC_MAX_CHANNELS + 1;
    assert_int_equal(lrc_norm_check(&nm, 3, "test"), LRC_ERR_ARG);
    nm.channels = -1;
    assert_int_equal(lrc_norm_check(&nm, 3, "test"), LRC_ERR_ARG);
    nm.channels = 1;
    nm.std[0] = 0;
    assert_int_equal(lrc_norm_check(&nm, 1, "test"), LRC_ERR_ARG);
}

/* ---- IDX ---- */

static void check_small_idx(const char *spec)
{
    uint8_t px[SN * SH * SW];
    float got[SN * SH * SW], want[SN * SH * SW];
    int32_t labels[SN];
    int64_t chw[3];
    lrc_dataset *ds = NULL;
    const int per = SH * SW;

    small_pixels(px);
    assert_int_equal(lrc_dataset_open(spec, &ds), LRC_OK);
    assert_int_equal(lrc_dataset_count(ds), SN);
    lrc_dataset_shape(ds, chw);
    assert_int_equal(chw[0], 1);
    assert_int_equal(chw[1], SH);
    assert_int_equal(chw[2], SW);

    const int64_t ranges[][2] = {{0, SN}, {2, 2}, {4, 1}, {0, 1}};
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
        int64_t s0 = ranges[r][0], c = ranges[r][1];
        memset(labels, 0xff, sizeof labels);
        assert_int_equal(lrc_dataset_read(ds, s0, c, NULL, got, labels),
                         LRC_OK);
        for (int64_t i = 0; i < c * per; i++)
            want[i] = (float)px[s0 * per + i];
        expect_floats(got, want, (size_t)(c * per), spec);
        for (int64_t i = 0; i < c; i++)
            assert_int_equal(labels[i], small_labels[s0 + i]);
    }

    /* One-channel normalisation, and labels left alone when NULL. */
    lrc_norm nm;
    assert_int_equal(lrc_norm_parse("10", "2", "test", &nm), LRC_OK);
    assert_int_equal(lrc_dataset_read(ds, 1, 3, &nm, got, NULL), LRC_OK);
    for (int i = 0; i < 3 * per; i++)
        want[i] = norm_ref(px[per + i], 10, 2);
    expect_floats(got, want, 3 * per, "normalised IDX");
    /* A three-channel normalisation does not fit one-channel images. */
    assert_int_equal(lrc_norm_parse("1,2,3", "1,1,1", "test", &nm), LRC_OK);
    assert_int_equal(lrc_dataset_read(ds, 0, 1, &nm, got, NULL),
                     LRC_ERR_ARG);
    /* An empty read touches nothing. */
    assert_int_equal(lrc_dataset_read(ds, SN, 0, NULL, NULL, NULL), LRC_OK);
    lrc_dataset_destroy(&ds);
}

static void test_idx_gz(void **state)
{
    char spec[1200];
    write_small_idx(state, 1, spec, sizeof spec);
    check_small_idx(spec);
}

static void test_idx_plain(void **state)
{
    char spec[1200];
    write_small_idx(state, 0, spec, sizeof spec);
    check_small_idx(spec);
}

static void test_idx_errors(void **state)
{
    char spec[1200];
    uint8_t px[SN * SH * SW];
    small_pixels(px);
    const uint32_t idims[3] = {SN, SH, SW}, ldims[1] = {SN};
    const char *img = tmp_path(state, "img.gz");
    const char *lab = tmp_path(state, "lab.gz");
    const char *bad = tmp_path(state, "bad");
    write_idx(img, 1, 0x803, 3, idims, px, sizeof px);
    write_idx(lab, 1, 0x801, 1, ldims, small_labels, SN);

#define EXPECT_IDX(images, labels, status)                         \
    do {                                                           \
        snprintf(spec, sizeof spec, "idx:%s,%s", images, labels); \
        expect_open_fails(spec, status);                           \
    } while (0)

    /* Missing files and directories. */
    EXPECT_IDX("/nonexistent/images.gz", lab, LRC_ERR_IO);
    EXPECT_IDX(img, "/nonexistent/labels.gz", LRC_ERR_IO);
    const char *dir = tmp_path(state, "dir");
    assert_int_equal(mkdir(dir, 0700), 0);
    EXPECT_IDX(dir, lab, LRC_ERR_IO);
    EXPECT_IDX(img, dir, LRC_ERR_IO);

    /* Wrong magic: the files swapped, and an int32 (0x0c) image file. */
    EXPECT_IDX(lab, img, LRC_ERR_FORMAT);
    EXPECT_IDX(img, img, LRC_ERR_FORMAT);
    write_idx(bad, 1, 0x0c03, 3, idims, px, sizeof px);
    EXPECT_IDX(bad, lab, LRC_ERR_FORMAT);

    /* Truncated pixel data, gzipped and plain. */
    for (int gz = 0; gz < 2; gz++) {
        write_idx(bad, gz, 0x803, 3, idims, px, sizeof px - 7);
        EXPECT_IDX(bad, lab, LRC_ERR_FORMAT);
        write_idx(bad, gz, 0x801, 1, ldims, small_labels, SN - 1);
        EXPECT_IDX(img, bad, LRC_ERR_FORMAT);
    }
    /* Truncated header, and an empty file. */
    write_bytes(bad, "\0\0\x08\x03\0\0\0\x05\0\0", 10);
    EXPECT_IDX(bad, lab, LRC_ERR_FORMAT);
    write_bytes(bad, "", 0);
    EXPECT_IDX(bad, lab, LRC_ERR_FORMAT);
    /* A gzip stream cut in the middle. */
    {
        uint8_t big[4096];
        for (size_t i = 0; i < sizeof big; i++)
            big[i] = (uint8_t)((i * 2654435761u) >> 13);
        const uint32_t bdims[3] = {4, 32, 32};
        write_idx(bad, 1, 0x803, 3, bdims, big, sizeof big);
        FILE *f = fopen(bad, "rb");
        assert_non_null(f);
        uint8_t whole[8192];
        size_t n = fread(whole, 1, sizeof whole, f);
        fclose(f);
        assert_true(n > 200 && n < sizeof whole);
        write_bytes(bad, whole, n / 2);
        EXPECT_IDX(bad, lab, LRC_ERR_FORMAT);
    }
    /* A header promising far more than the file can hold: an error, not an
     * attempt to allocate 3 TB. */
    const uint32_t huge[3] = {0xffffffffu, 28, 28};
    write_idx(bad, 1, 0x803, 3, huge, px, sizeof px);
    EXPECT_IDX(bad, lab, LRC_ERR_FORMAT);
    write_idx(bad, 0, 0x803, 3, huge, px, sizeof px);
    EXPECT_IDX(bad, lab, LRC_ERR_FORMAT);
    /* A zero dimension. */
    const uint32_t zero[3] = {SN, 0, SW};
    write_idx(bad, 0, 0x803, 3, zero, px, 0);
    EXPECT_IDX(bad, lab, LRC_ERR_FORMAT);

    /* Image and label counts that differ. */
    const uint32_t four[1] = {SN - 1};
    write_idx(bad, 1, 0x801, 1, four, small_labels, SN - 1);
    EXPECT_IDX(img, bad, LRC_ERR_FORMAT);
#undef EXPECT_IDX
}

static void test_read_range(void **state)
{
    char spec[1200];
    float img[SN * SH * SW];
    int32_t labels[SN];
    lrc_dataset *ds = NULL;

    write_small_idx(state, 1, spec, sizeof spec);
    assert_int_equal(lrc_dataset_open(spec, &ds), LRC_OK);
    const int64_t bad[][2] = {
        {-1, 1}, {0, -1}, {4, 2}, {5, 1}, {6, 0}, {0, SN + 1},
        {0, INT64_MAX}, {INT64_MAX, INT64_MAX}, {INT64_MIN, 1},
        {1, INT64_MAX},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lrc_status st = lrc_dataset_read(ds, bad[i][0], bad[i][1], NULL, img,
                                         labels);
        if (st != LRC_ERR_ARG)
            fail_msg("read [%lld + %lld): status %s, expected invalid "
                     "argument", (long long)bad[i][0], (long long)bad[i][1],
                     lrc_status_name(st));
    }
    assert_int_equal(lrc_dataset_read(ds, 0, SN, NULL, img, labels), LRC_OK);
    assert_int_equal(lrc_dataset_read(ds, SN, 0, NULL, img, labels), LRC_OK);
    assert_int_equal(lrc_dataset_read(NULL, 0, 1, NULL, img, labels),
                     LRC_ERR_ARG);
    lrc_dataset_destroy(&ds);
}

/* ---- HDF5 ---- */

/* Writes dataset `name` of file type `ftype` from memory of type `mtype`. */
static void h5_put(hid_t file, const char *name, hid_t ftype, hid_t mtype,
                   int rank, const hsize_t *dims, const void *data)
{
    hid_t space = H5Screate_simple(rank, dims, NULL);
    assert_true(space >= 0);
    hid_t ds = H5Dcreate2(file, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT,
                          H5P_DEFAULT);
    assert_true(ds >= 0);
    assert_true(H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(ds);
    H5Sclose(space);
}

static hid_t h5_new(const char *path)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    return f;
}

/* uint8 N x C x H x W with three channels, int64 labels. */
enum { UN = 6, UC = 3, UH = 2, UW = 3 };
static const int64_t u8_labels[UN] = {0, 1, 2, 3, 4, 255};

static void u8_pixels(uint8_t px[UN * UC * UH * UW])
{
    for (int i = 0; i < UN * UC * UH * UW; i++)
        px[i] = (uint8_t)((i * 53 + 7) % 256);
}

static void test_h5_uint8_nchw(void **state)
{
    enum { PER = UC * UH * UW };
    uint8_t px[UN * PER];
    float got[UN * PER], want[UN * PER];
    int32_t labels[UN];
    int64_t chw[3];
    char spec[600];
    lrc_dataset *ds = NULL;

    u8_pixels(px);
    const char *path = tmp_path(state, "u8.h5");
    hid_t f = h5_new(path);
    const hsize_t idims[4] = {UN, UC, UH, UW}, ldims[1] = {UN};
    h5_put(f, "images", H5T_STD_U8LE, H5T_NATIVE_UINT8, 4, idims, px);
    h5_put(f, "labels", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, ldims, u8_labels);
    H5Fclose(f);

    snprintf(spec, sizeof spec, "h5:%s", path);
    assert_int_equal(lrc_dataset_open(spec, &ds), LRC_OK);
    assert_string_equal(lrc_dataset_spec(ds), spec);
    assert_int_equal(lrc_dataset_count(ds), UN);
    lrc_dataset_shape(ds, chw);
    assert_int_equal(chw[0], UC);
    assert_int_equal(chw[1], UH);
    assert_int_equal(chw[2], UW);

    const int64_t ranges[][2] = {{0, UN}, {1, 3}, {5, 1}, {2, 1}};
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
        int64_t s0 = ranges[r][0], c = ranges[r][1];
        memset(labels, 0xff, sizeof labels);
        assert_int_equal(lrc_dataset_read(ds, s0, c, NULL, got, labels),
                         LRC_OK);
        for (int64_t i = 0; i < c * PER; i++)
            want[i] = (float)px[s0 * PER + i];
        expect_floats(got, want, (size_t)(c * PER), "uint8 h5");
        for (int64_t i = 0; i < c; i++)
            assert_int_equal(labels[i], u8_labels[s0 + i]);
    }

    /* Three-channel normalisation: channel k of every image uses mean[k],
     * std[k]. */
    const double mean[3] = {10, 20.5, 30}, sd[3] = {2, 4, 0.25};
    lrc_norm nm;
    assert_int_equal(lrc_norm_parse("10,20.5,30", "2,4,0.25", "test", &nm),
                     LRC_OK);
    assert_int_equal(lrc_dataset_read(ds, 1, 4, &nm, got, NULL), LRC_OK);
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < UC; k++)
            for (int p = 0; p < UH * UW; p++) {
                size_t o = (size_t)(i * PER + k * UH * UW + p);
                want[o] = norm_ref(px[PER + o], mean[k], sd[k]);
            }
    expect_floats(got, want, 4 * PER, "3-channel normalisation");
    /* One value for all channels. */
    assert_int_equal(lrc_norm_parse("100", "50", "test", &nm), LRC_OK);
    assert_int_equal(lrc_dataset_read(ds, 0, UN, &nm, got, NULL), LRC_OK);
    for (int i = 0; i < UN * PER; i++)
        want[i] = norm_ref(px[i], 100, 50);
    expect_floats(got, want, UN * PER, "1-channel normalisation of RGB");
    /* Two values for three channels. */
    assert_int_equal(lrc_norm_parse("1,2", "1,1", "test", &nm), LRC_OK);
    assert_int_equal(lrc_dataset_read(ds, 0, 1, &nm, got, NULL),
                     LRC_ERR_ARG);
    /* Out of range. */
    assert_int_equal(lrc_dataset_read(ds, 5, 2, NULL, got, labels),
                     LRC_ERR_ARG);
    assert_int_equal(lrc_dataset_read(ds, -1, 1, NULL, got, labels),
                     LRC_ERR_ARG);
    lrc_dataset_destroy(&ds);
}

/* float32 N x H x W (one channel), int16 labels; big-endian on disk to show
 * that HDF5's conversion is used. */
enum { FN = 4, FH = 3, FW = 5 };

static void test_h5_float_nhw(void **state)
{
    enum { PER = FH * FW };
    float px[FN * PER], got[FN * PER], want[FN * PER];
    const int16_t labs[FN] = {7, 0, 9, 3};
    int32_t labels[FN];
    int64_t chw[3];
    char spec[600];
    lrc_dataset *ds = NULL;

    for (int i = 0; i < FN * PER; i++)
        px[i] = 0.75f * (float)i - 3.25f + (i % 3 ? 254.125f : 0.0f);
    const char *path = tmp_path(state, "f32.h5");
    hid_t f = h5_new(path);
    const hsize_t idims[3] = {FN, FH, FW}, ldims[1] = {FN};
    h5_put(f, "images", H5T_IEEE_F32BE, H5T_NATIVE_FLOAT, 3, idims, px);
    h5_put(f, "labels", H5T_STD_I16LE, H5T_NATIVE_INT16, 1, ldims, labs);
    H5Fclose(f);

    snprintf(spec, sizeof spec, "h5:%s", path);
    assert_int_equal(lrc_dataset_open(spec, &ds), LRC_OK);
    assert_int_equal(lrc_dataset_count(ds), FN);
    lrc_dataset_shape(ds, chw);
    assert_int_equal(chw[0], 1);
    assert_int_equal(chw[1], FH);
    assert_int_equal(chw[2], FW);

    const int64_t ranges[][2] = {{0, FN}, {1, 2}, {3, 1}};
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
        int64_t s0 = ranges[r][0], c = ranges[r][1];
        assert_int_equal(lrc_dataset_read(ds, s0, c, NULL, got, labels),
                         LRC_OK);
        expect_floats(got, px + s0 * PER, (size_t)(c * PER), "float h5");
        for (int64_t i = 0; i < c; i++)
            assert_int_equal(labels[i], labs[s0 + i]);
    }
    lrc_norm nm;
    assert_int_equal(lrc_norm_parse("72.94", "90", "test", &nm), LRC_OK);
    assert_int_equal(lrc_dataset_read(ds, 1, 3, &nm, got, NULL), LRC_OK);
    for (int i = 0; i < 3 * PER; i++)
        want[i] = norm_ref(px[PER + i], 72.94, 90);
    expect_floats(got, want, 3 * PER, "normalised float h5");
    lrc_dataset_destroy(&ds);
}

static void test_h5_errors(void **state)
{
    uint8_t px[UN * UC * UH * UW];
    char spec[600];
    const hsize_t idims[4] = {UN, UC, UH, UW}, ldims[1] = {UN};
    const hsize_t short_dims[1] = {UN - 1}, flat[2] = {UN, UC * UH * UW};
    const char *path = tmp_path(state, "bad.h5");
    hid_t f;

    u8_pixels(px);
    snprintf(spec, sizeof spec, "h5:%s", path);

    /* No "images". */
    f = h5_new(path);
    h5_put(f, "labels", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, ldims, u8_labels);
    H5Fclose(f);
    expect_open_fails(spec, LRC_ERR_FORMAT);
    /* No "labels". */
    f = h5_new(path);
    h5_put(f, "images", H5T_STD_U8LE, H5T_NATIVE_UINT8, 4, idims, px);
    H5Fclose(f);
    expect_open_fails(spec, LRC_ERR_FORMAT);
    /* int16 images. */
    {
        int16_t wide[UN * UC * UH * UW];
        for (int i = 0; i < UN * UC * UH * UW; i++)
            wide[i] = px[i];
        f = h5_new(path);
        h5_put(f, "images", H5T_STD_I16LE, H5T_NATIVE_INT16, 4, idims, wide);
        h5_put(f, "labels", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, ldims,
               u8_labels);
        H5Fclose(f);
        expect_open_fails(spec, LRC_ERR_UNSUPPORTED);
    }
    /* float64 images. */
    {
        double dbl[UN * UC * UH * UW];
        for (int i = 0; i < UN * UC * UH * UW; i++)
            dbl[i] = px[i];
        f = h5_new(path);
        h5_put(f, "images", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 4, idims, dbl);
        h5_put(f, "labels", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, ldims,
               u8_labels);
        H5Fclose(f);
        expect_open_fails(spec, LRC_ERR_UNSUPPORTED);
    }
    /* Rank 2 images. */
    f = h5_new(path);
    h5_put(f, "images", H5T_STD_U8LE, H5T_NATIVE_UINT8, 2, flat, px);
    h5_put(f, "labels", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, ldims, u8_labels);
    H5Fclose(f);
    expect_open_fails(spec, LRC_ERR_FORMAT);
    /* Rank 2 labels. */
    {
        const hsize_t l2[2] = {UN, 1};
        f = h5_new(path);
        h5_put(f, "images", H5T_STD_U8LE, H5T_NATIVE_UINT8, 4, idims, px);
        h5_put(f, "labels", H5T_STD_I64LE, H5T_NATIVE_INT64, 2, l2,
               u8_labels);
        H5Fclose(f);
        expect_open_fails(spec, LRC_ERR_FORMAT);
    }
    /* Float labels. */
    {
        const float fl[UN] = {0, 1, 2, 3, 4, 5};
        f = h5_new(path);
        h5_put(f, "images", H5T_STD_U8LE, H5T_NATIVE_UINT8, 4, idims, px);
        h5_put(f, "labels", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, ldims, fl);
        H5Fclose(f);
        expect_open_fails(spec, LRC_ERR_UNSUPPORTED);
    }
    /* Five labels for six images. */
    f = h5_new(path);
    h5_put(f, "images", H5T_STD_U8LE, H5T_NATIVE_UINT8, 4, idims, px);
    h5_put(f, "labels", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, short_dims,
           u8_labels);
    H5Fclose(f);
    expect_open_fails(spec, LRC_ERR_FORMAT);
    /* "images" a group, not a dataset. */
    f = h5_new(path);
    hid_t g = H5Gcreate2(f, "images", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(g >= 0);
    H5Gclose(g);
    h5_put(f, "labels", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, ldims, u8_labels);
    H5Fclose(f);
    expect_open_fails(spec, LRC_ERR_FORMAT);

    /* Not an HDF5 file, a missing file, a directory. */
    write_bytes(path, "this is not HDF5\n", 17);
    expect_open_fails(spec, LRC_ERR_FORMAT);
    expect_open_fails("h5:/nonexistent/data.h5", LRC_ERR_IO);
    const char *dir = tmp_path(state, "h5dir");
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(spec, sizeof spec, "h5:%s", dir);
    expect_open_fails(spec, LRC_ERR_IO);
}

/* Problems in the data itself surface when the range holding them is read. */
static void test_h5_bad_values(void **state)
{
    enum { PER = FH * FW };
    float px[FN * PER], got[FN * PER];
    int32_t labels[FN];
    const hsize_t idims[3] = {FN, FH, FW}, ldims[1] = {FN};
    const int16_t labs[FN] = {1, 300, -1, 2};
    char spec[600];
    lrc_dataset *ds = NULL;

    for (int i = 0; i < FN * PER; i++)
        px[i] = (float)i;
    px[2 * PER + 7] = NAN;  /* image 2 */
    px[3 * PER + 0] = -INFINITY; /* image 3 */
    const char *path = tmp_path(state, "nan.h5");
    hid_t f = h5_new(path);
    h5_put(f, "images", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, idims, px);
    h5_put(f, "labels", H5T_STD_I16LE, H5T_NATIVE_INT16, 1, ldims, labs);
    H5Fclose(f);

    snprintf(spec, sizeof spec, "h5:%s", path);
    assert_int_equal(lrc_dataset_open(spec, &ds), LRC_OK);
    /* Images 0 and 1 are fine, so is label 0. */
    assert_int_equal(lrc_dataset_read(ds, 0, 2, NULL, got, NULL), LRC_OK);
    expect_floats(got, px, 2 * PER, "finite images");
    assert_int_equal(lrc_dataset_read(ds, 0, 1, NULL, got, labels), LRC_OK);
    assert_int_equal(labels[0], 1);
    /* NaN in image 2, -inf in image 3, with and without normalisation. */
    lrc_norm nm;
    assert_int_equal(lrc_norm_parse("1", "2", "test", &nm), LRC_OK);
    assert_int_equal(lrc_dataset_read(ds, 0, 3, NULL, got, NULL),
                     LRC_ERR_NUMERIC);
    assert_int_equal(lrc_dataset_read(ds, 2, 1, &nm, got, NULL),
                     LRC_ERR_NUMERIC);
    assert_int_equal(lrc_dataset_read(ds, 3, 1, NULL, got, NULL),
                     LRC_ERR_NUMERIC);
    /* Label 300 is a valid class index (ImageNet has 1000); -1 is not. */
    assert_int_equal(lrc_dataset_read(ds, 1, 1, NULL, got, labels), LRC_OK);
    assert_int_equal(labels[0], 300);
    assert_int_equal(lrc_dataset_read(ds, 0, 2, NULL, got, labels), LRC_OK);
    /* Labels alone (no image buffer) skip the pixels of image 2. */
    assert_int_equal(lrc_dataset_read(ds, 2, 1, NULL, NULL, labels),
                     LRC_ERR_FORMAT);
    assert_int_equal(lrc_dataset_read(ds, 3, 1, NULL, NULL, labels), LRC_OK);
    assert_int_equal(labels[0], 2);
    lrc_dataset_destroy(&ds);

    /* A normalised value beyond the float range. */
    lrc_norm tiny;
    assert_int_equal(lrc_norm_parse("0", "1e-300", "test", &tiny), LRC_OK);
    for (int i = 0; i < FN * PER; i++)
        px[i] = 1.0f;
    f = h5_new(path);
    h5_put(f, "images", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, idims, px);
    h5_put(f, "labels", H5T_STD_I16LE, H5T_NATIVE_INT16, 1, ldims, labs);
    H5Fclose(f);
    assert_int_equal(lrc_dataset_open(spec, &ds), LRC_OK);
    assert_int_equal(lrc_dataset_read(ds, 0, 1, &tiny, got, NULL),
                     LRC_ERR_NUMERIC);
    lrc_dataset_destroy(&ds);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_tmp, teardown_tmp)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_spec_errors),
        T(test_norm_parse),
        T(test_norm_check),
        T(test_idx_gz),
        T(test_idx_plain),
        T(test_idx_errors),
        T(test_read_range),
        T(test_h5_uint8_nchw),
        T(test_h5_float_nhw),
        T(test_h5_errors),
        T(test_h5_bad_values),
        T(test_fashion_mnist_dir),
        T(test_fashion_mnist_test),
        T(test_fashion_mnist_train),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

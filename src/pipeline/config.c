/* The YAML config of `lrcompress run`, parsed with libcyaml from a schema. */
#include "lrc/config.h"

#include <cyaml/cyaml.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPT_PTR (CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL)

static const cyaml_schema_value_t string_entry = {
    CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 1, CYAML_UNLIMITED),
};
static const cyaml_schema_value_t int_entry = {
    CYAML_VALUE_INT(CYAML_FLAG_DEFAULT, int64_t),
};

static const cyaml_schema_field_t nonlinear_fields[] = {
    CYAML_FIELD_INT_PTR("iters_small", OPT_PTR, lrc_config_nonlinear, iters_small),
    CYAML_FIELD_INT_PTR("iters_large", OPT_PTR, lrc_config_nonlinear, iters_large),
    CYAML_FIELD_FLOAT_PTR("lambda_small", OPT_PTR, lrc_config_nonlinear, lambda_small),
    CYAML_FIELD_FLOAT_PTR("lambda_large", OPT_PTR, lrc_config_nonlinear, lambda_large),
    CYAML_FIELD_STRING_PTR("precision", OPT_PTR,
                           lrc_config_nonlinear, precision, 1, CYAML_UNLIMITED),
    CYAML_FIELD_END};

static const cyaml_schema_field_t norm_fields[] = {
    CYAML_FIELD_STRING_PTR("mean", CYAML_FLAG_POINTER, lrc_config_norm, mean, 1,
                           CYAML_UNLIMITED),
    CYAML_FIELD_STRING_PTR("std", CYAML_FLAG_POINTER, lrc_config_norm, std, 1,
                           CYAML_UNLIMITED),
    CYAML_FIELD_END};

static const cyaml_schema_field_t top_fields[] = {
    CYAML_FIELD_STRING_PTR("model", CYAML_FLAG_POINTER, lrc_config, model, 1,
                           CYAML_UNLIMITED),
    CYAML_FIELD_STRING_PTR("calibration", CYAML_FLAG_POINTER, lrc_config,
                           calibration, 1, CYAML_UNLIMITED),
    CYAML_FIELD_STRING_PTR("evaluation", OPT_PTR, lrc_config, evaluation, 1,
                           CYAML_UNLIMITED),
    CYAML_FIELD_INT_PTR("evaluation_limit", OPT_PTR, lrc_config, evaluation_limit),
    CYAML_FIELD_STRING_PTR("evaluation_backend", OPT_PTR, lrc_config,
                           evaluation_backend, 1, CYAML_UNLIMITED),
    CYAML_FIELD_MAPPING_PTR("normalization", OPT_PTR, lrc_config, normalization,
                            norm_fields),
    CYAML_FIELD_STRING_PTR("method", OPT_PTR, lrc_config, method, 1,
                           CYAML_UNLIMITED),
    CYAML_FIELD_FLOAT_PTR("speedup", OPT_PTR, lrc_config, speedup),
    CYAML_FIELD_SEQUENCE("ranks", OPT_PTR, lrc_config, ranks, &int_entry, 1,
                         CYAML_UNLIMITED),
    CYAML_FIELD_SEQUENCE("layers", OPT_PTR, lrc_config, layers, &string_entry, 1,
                         CYAML_UNLIMITED),
    CYAML_FIELD_INT_PTR("images", OPT_PTR, lrc_config, images),
    CYAML_FIELD_INT_PTR("locations", OPT_PTR, lrc_config, locations),
    CYAML_FIELD_INT_PTR("seed", OPT_PTR, lrc_config, seed),
    CYAML_FIELD_INT_PTR("batch", OPT_PTR, lrc_config, batch),
    CYAML_FIELD_MAPPING_PTR("nonlinear", OPT_PTR, lrc_config, nonlinear,
                            nonlinear_fields),
    CYAML_FIELD_FLOAT_PTR("spatial_speedup", OPT_PTR, lrc_config, spatial_speedup),
    CYAML_FIELD_STRING_PTR("output", CYAML_FLAG_POINTER, lrc_config, output, 1,
                           CYAML_UNLIMITED),
    CYAML_FIELD_INT_PTR("memory_limit_mb", OPT_PTR, lrc_config, memory_limit_mb),
    CYAML_FIELD_STRING_PTR("scratch_dir", OPT_PTR, lrc_config, scratch_dir, 1,
                           CYAML_UNLIMITED),
    CYAML_FIELD_BOOL_PTR("checkpoint", OPT_PTR, lrc_config, checkpoint),
    CYAML_FIELD_INT_PTR("stop_after_layer", OPT_PTR, lrc_config, stop_after_layer),
    CYAML_FIELD_STRING_PTR("bad_images", OPT_PTR, lrc_config, bad_images, 1,
                           CYAML_UNLIMITED),
    CYAML_FIELD_END};

static const cyaml_schema_value_t top_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, lrc_config, top_fields),
};

/* libcyaml's messages come in pieces ("Load: Unexpected key: x", then a
 * backtrace with the line); they are joined into one line naming the file. */
typedef struct log_ctx {
    char text[1024];
    size_t len;
} log_ctx;

static void cfg_log(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
    log_ctx *c = ctx;
    if (level < CYAML_LOG_ERROR || c->len + 2 >= sizeof c->text)
        return;
    int n = vsnprintf(c->text + c->len, sizeof c->text - c->len, fmt, args);
    if (n < 0)
        return;
    c->len += (size_t)n < sizeof c->text - c->len ? (size_t)n
                                                  : sizeof c->text - c->len - 1;
    /* newlines become "; " */
    for (size_t i = 0; i < c->len; i++)
        if (c->text[i] == '\n' || c->text[i] == '\t')
            c->text[i] = ' ';
}

static const cyaml_config_t *cyaml_cfg(log_ctx *lc, cyaml_config_t *out)
{
    memset(out, 0, sizeof *out);
    out->log_fn = cfg_log;
    out->log_ctx = lc;
    out->mem_fn = cyaml_mem;
    out->log_level = CYAML_LOG_ERROR;
    out->flags = CYAML_CFG_DEFAULT;
    return out;
}

void lrc_config_destroy(lrc_config **cfg)
{
    if (!cfg || !*cfg)
        return;
    log_ctx lc;
    cyaml_config_t cc;
    memset(&lc, 0, sizeof lc);
    cyaml_free(cyaml_cfg(&lc, &cc), &top_schema, *cfg, 0);
    *cfg = NULL;
}

/* ---- --set key=value ---- */

typedef enum { K_STR, K_INT, K_DBL, K_BOOL } kind;

/* cyaml_mem frees with free(): replacements are malloc'ed. */
static lrc_status set_value(void **slot, kind k, const char *key, const char *v)
{
    void *p = NULL;
    char *end = NULL;
    errno = 0;
    switch (k) {
    case K_STR:
        p = malloc(strlen(v) + 1);
        if (p)
            strcpy(p, v);
        break;
    case K_INT: {
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end)
            LRC_RAISE(LRC_ERR_ARG, "--set %s=%s: not an integer", key, v);
        p = malloc(sizeof(int64_t));
        if (p)
            *(int64_t *)p = x;
        break;
    }
    case K_DBL: {
        double x = strtod(v, &end);
        if (errno || end == v || *end)
            LRC_RAISE(LRC_ERR_ARG, "--set %s=%s: not a number", key, v);
        p = malloc(sizeof(double));
        if (p)
            *(double *)p = x;
        break;
    }
    case K_BOOL: {
        int b = strcmp(v, "true") == 0 ? 1 : strcmp(v, "false") == 0 ? 0 : -1;
        if (b < 0)
            LRC_RAISE(LRC_ERR_ARG, "--set %s=%s: not true or false", key, v);
        p = malloc(sizeof(bool));
        if (p)
            *(bool *)p = b;
        break;
    }
    }
    if (!p)
        LRC_RAISE(LRC_ERR_NOMEM, "--set %s: out of memory", key);
    free(*slot);
    *slot = p;
    return LRC_OK;
}

static lrc_status apply_set(lrc_config *c, const char *set)
{
    const char *eq = strchr(set, '=');
    char key[64];
    if (!eq || eq == set || (size_t)(eq - set) >= sizeof key)
        LRC_RAISE(LRC_ERR_ARG, "--set '%s' is not KEY=VALUE", set);
    memcpy(key, set, (size_t)(eq - set));
    key[eq - set] = '\0';
    const char *v = eq + 1;
    if (strncmp(key, "nonlinear.", 10) == 0) {
        if (!c->nonlinear) {
            c->nonlinear = calloc(1, sizeof *c->nonlinear);
            if (!c->nonlinear)
                LRC_RAISE(LRC_ERR_NOMEM, "--set %s: out of memory", key);
        }
        lrc_config_nonlinear *n = c->nonlinear;
        struct { const char *k; void **slot; kind t; } nl[] = {
            {"nonlinear.iters_small", (void **)&n->iters_small, K_INT},
            {"nonlinear.iters_large", (void **)&n->iters_large, K_INT},
            {"nonlinear.lambda_small", (void **)&n->lambda_small, K_DBL},
            {"nonlinear.lambda_large", (void **)&n->lambda_large, K_DBL},
            {"nonlinear.precision", (void **)&n->precision, K_STR}};
        for (size_t i = 0; i < sizeof nl / sizeof nl[0]; i++)
            if (strcmp(key, nl[i].k) == 0)
                return set_value(nl[i].slot, nl[i].t, key, v);
        LRC_RAISE(LRC_ERR_ARG, "--set: unknown key '%s'", key);
    }
    struct { const char *k; void **slot; kind t; } tab[] = {
        {"model", (void **)&c->model, K_STR},
        {"calibration", (void **)&c->calibration, K_STR},
        {"evaluation", (void **)&c->evaluation, K_STR},
        {"evaluation_limit", (void **)&c->evaluation_limit, K_INT},
        {"evaluation_backend", (void **)&c->evaluation_backend, K_STR},
        {"method", (void **)&c->method, K_STR},
        {"speedup", (void **)&c->speedup, K_DBL},
        {"images", (void **)&c->images, K_INT},
        {"locations", (void **)&c->locations, K_INT},
        {"seed", (void **)&c->seed, K_INT},
        {"batch", (void **)&c->batch, K_INT},
        {"spatial_speedup", (void **)&c->spatial_speedup, K_DBL},
        {"output", (void **)&c->output, K_STR},
        {"memory_limit_mb", (void **)&c->memory_limit_mb, K_INT},
        {"scratch_dir", (void **)&c->scratch_dir, K_STR},
        {"checkpoint", (void **)&c->checkpoint, K_BOOL},
        {"stop_after_layer", (void **)&c->stop_after_layer, K_INT},
        {"bad_images", (void **)&c->bad_images, K_STR}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(key, tab[i].k) == 0)
            return set_value(tab[i].slot, tab[i].t, key, v);
    LRC_RAISE(LRC_ERR_ARG, "--set: unknown or non-scalar key '%s' (lists and "
              "normalization are set in the file)", key);
}

/* libcyaml's text without its "Load:" and "Backtrace:" markers and with
 * runs of spaces folded. */
static void tidy_message(const char *in, char *out, size_t len)
{
    size_t k = 0;
    while (*in && k + 1 < len) {
        if (strncmp(in, "Load: ", 6) == 0) {
            in += 6;
            continue;
        }
        if (strncmp(in, "Backtrace:", 10) == 0) {
            in += 10;
            continue;
        }
        if (*in == ' ' && (k == 0 || out[k - 1] == ' ')) {
            in++;
            continue;
        }
        out[k++] = *in++;
    }
    while (k > 0 && out[k - 1] == ' ')
        k--;
    out[k] = '\0';
}

/* The 1-based line where `key:` starts (after indentation), or 0. */
static int key_line(const char *path, const char *key)
{
    char buf[1024];
    int line = 0, found = 0;
    size_t kl = strlen(key);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    while (!found && fgets(buf, sizeof buf, f)) {
        line++;
        const char *q = buf;
        while (*q == ' ' || *q == '-')
            q++;
        if (strncmp(q, key, kl) == 0 && q[kl] == ':')
            found = 1;
    }
    fclose(f);
    return found ? line : 0;
}

lrc_status lrc_config_load(const char *path, char *const *sets, int n_sets,
                           lrc_config **out)
{
    lrc_status st = LRC_OK;
    lrc_config *c = NULL;
    log_ctx lc;
    cyaml_config_t cc;
    memset(&lc, 0, sizeof lc);
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f)
        LRC_RAISE(LRC_ERR_IO, "%s: cannot open the config: %s", path,
                  strerror(errno));
    fclose(f);
    cyaml_err_t err = cyaml_load_file(path, cyaml_cfg(&lc, &cc), &top_schema,
                                      (cyaml_data_t **)&c, NULL);
    if (err != CYAML_OK) {
        char msg[1024];
        tidy_message(lc.text, msg, sizeof msg);
        const char *uk = strstr(lc.text, "Unexpected key: ");
        if (uk) {
            char key[128];
            if (sscanf(uk + 16, "%127s", key) == 1)
                LRC_RAISE(LRC_ERR_FORMAT, "%s:%d: unknown key '%s' (see "
                          "docs/CONFIG.md for the keys)", path,
                          key_line(path, key), key);
        }
        LRC_RAISE(LRC_ERR_FORMAT, "%s: %s: %s", path, cyaml_strerror(err), msg);
    }
    if (!c)
        LRC_RAISE(LRC_ERR_FORMAT, "%s: the config is empty (it needs at least "
                  "the keys model, calibration and output)", path);
    for (int i = 0; i < n_sets; i++)
        LRC_TRY(apply_set(c, sets[i]));
    *out = c;
    return LRC_OK;
cleanup:
    lrc_config_destroy(&c);
    return st;
}

lrc_status lrc_config_params(const lrc_config *c, const char *path,
                             lrc_compress_params *p)
{
    lrc_compress_defaults(p);
    if (c->method)
        if (!lrc_method_lookup(c->method, &p->method))
            LRC_RAISE(LRC_ERR_ARG, "%s: key 'method': '%s' is not one of "
                      "nonlinear-asym, nonlinear, linear-asym, linear, svd, 3d",
                      path, c->method);
    if (c->speedup) {
        if (!(*c->speedup > 1.0))
            LRC_RAISE(LRC_ERR_ARG, "%s: key 'speedup': %g must be greater than 1",
                      path, *c->speedup);
        p->speedup = *c->speedup;
    }
    if (!c->speedup && !c->ranks)
        LRC_RAISE(LRC_ERR_ARG, "%s: give key 'speedup' (or 'ranks')", path);
    struct { const char *k; const int64_t *v; int64_t *dst; int64_t min; } ints[] = {
        {"images", c->images, &p->images, 1},
        {"locations", c->locations, &p->locations, 1},
        {"batch", c->batch, &p->batch, 1}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (ints[i].v) {
            if (*ints[i].v < ints[i].min)
                LRC_RAISE(LRC_ERR_ARG, "%s: key '%s': %" PRId64 " must be at "
                          "least %" PRId64, path, ints[i].k, *ints[i].v,
                          ints[i].min);
            *ints[i].dst = *ints[i].v;
        }
    if (c->seed) {
        if (*c->seed < 0)
            LRC_RAISE(LRC_ERR_ARG, "%s: key 'seed' must not be negative", path);
        p->seed = (uint64_t)*c->seed;
    }
    if (c->nonlinear) {
        const lrc_config_nonlinear *n = c->nonlinear;
        if ((n->iters_small && (*n->iters_small < 0 || *n->iters_small > 100000)) ||
            (n->iters_large && (*n->iters_large < 0 || *n->iters_large > 100000)))
            LRC_RAISE(LRC_ERR_ARG, "%s: keys 'nonlinear.iters_*' must lie in "
                      "0..100000", path);
        if ((n->lambda_small && !(*n->lambda_small > 0)) ||
            (n->lambda_large && !(*n->lambda_large > 0)))
            LRC_RAISE(LRC_ERR_ARG, "%s: keys 'nonlinear.lambda_*' must be "
                      "positive", path);
        if (n->iters_small)
            p->nl.iters_small = (int)*n->iters_small;
        if (n->iters_large)
            p->nl.iters_large = (int)*n->iters_large;
        if (n->lambda_small)
            p->nl.lambda_small = *n->lambda_small;
        if (n->lambda_large)
            p->nl.lambda_large = *n->lambda_large;
        if (n->precision && strcmp(n->precision, "mixed") &&
            strcmp(n->precision, "double"))
            LRC_RAISE(LRC_ERR_ARG, "%s: key 'nonlinear.precision': '%s' is not "
                      "one of double, mixed", path, n->precision);
        if (n->precision)
            p->nl.mixed_precision = strcmp(n->precision, "mixed") == 0;
    }
    if (c->spatial_speedup) {
        if (!(*c->spatial_speedup > 1.0))
            LRC_RAISE(LRC_ERR_ARG, "%s: key 'spatial_speedup' must be greater "
                      "than 1", path);
        p->spatial_speedup = *c->spatial_speedup;
    }
    if (c->evaluation_limit && *c->evaluation_limit < 0)
        LRC_RAISE(LRC_ERR_ARG, "%s: key 'evaluation_limit' must not be negative",
                  path);
    if (c->stop_after_layer) {
        if (*c->stop_after_layer < 0)
            LRC_RAISE(LRC_ERR_ARG, "%s: key 'stop_after_layer' must not be "
                      "negative", path);
        if (c->checkpoint && !*c->checkpoint && *c->stop_after_layer > 0)
            LRC_RAISE(LRC_ERR_ARG, "%s: key 'stop_after_layer' needs "
                      "'checkpoint: true'", path);
        p->stop_after = *c->stop_after_layer;
    }
    if (c->bad_images && strcmp(c->bad_images, "error") &&
        strcmp(c->bad_images, "skip"))
        LRC_RAISE(LRC_ERR_ARG, "%s: key 'bad_images': '%s' is not one of "
                  "error, skip", path, c->bad_images);
    if (c->evaluation_backend && strcmp(c->evaluation_backend, "openblas") &&
        strcmp(c->evaluation_backend, "winograd") &&
        strcmp(c->evaluation_backend, "onednn"))
        LRC_RAISE(LRC_ERR_ARG, "%s: key 'evaluation_backend': '%s' is not one "
                  "of openblas, winograd, onednn", path, c->evaluation_backend);
    if (c->memory_limit_mb && *c->memory_limit_mb < 0)
        LRC_RAISE(LRC_ERR_ARG, "%s: key 'memory_limit_mb' must not be negative",
                  path);
    if (c->memory_limit_mb)
        p->memory_limit_mb = *c->memory_limit_mb;
    for (unsigned i = 0; i < c->ranks_count; i++)
        if (c->ranks[i] < 1)
            LRC_RAISE(LRC_ERR_ARG, "%s: key 'ranks': entry %u is %" PRId64
                      "; ranks are at least 1", path, i + 1, c->ranks[i]);
    if (c->layers) {
        p->layers = (const char *const *)c->layers;
        p->n_layers = c->layers_count;
    }
    if (c->ranks) {
        p->ranks = c->ranks;
        p->n_ranks = c->ranks_count;
    }
    return LRC_OK;
}

/* FNV-1a over the file's bytes. */
static lrc_status file_checksum(const char *path, uint64_t *h, int64_t *size)
{
    unsigned char buf[1 << 16];
    size_t n;
    FILE *f = fopen(path, "rb");
    if (!f)
        LRC_RAISE(LRC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    *h = 1469598103934665603ULL;
    *size = 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        for (size_t i = 0; i < n; i++)
            *h = (*h ^ buf[i]) * 1099511628211ULL;
        *size += (int64_t)n;
    }
    fclose(f);
    return LRC_OK;
}

lrc_status lrc_config_fingerprint(const lrc_config *c, const lrc_compress_params *p,
                                  char **out)
{
    uint64_t h = 0;
    int64_t size = 0;
    char buf[4096];
    size_t k = 0;
    LRC_CALL(file_checksum(c->model, &h, &size));
#define ADD(...)                                                           \
    do {                                                                   \
        if (k < sizeof buf)                                                \
            k += (size_t)snprintf(buf + k, sizeof buf - k, __VA_ARGS__);   \
    } while (0)
    /* the model by its bytes only: the same file named by another path is
     * the same job */
    ADD("model of %" PRId64 " bytes, fnv1a %016" PRIx64 "; calibration %s; ",
        size, h, c->calibration);
    ADD("normalization %s/%s; method %s; ", c->normalization ? c->normalization->mean : "model",
        c->normalization ? c->normalization->std : "model", lrc_method_name(p->method));
    ADD("speedup %.17g; ranks", p->ranks ? 0.0 : p->speedup);
    for (int64_t i = 0; p->ranks && i < p->n_ranks; i++)
        ADD(" %" PRId64, p->ranks[i]);
    ADD("; layers");
    for (int64_t i = 0; p->layers && i < p->n_layers; i++)
        ADD(" %s", p->layers[i]);
    ADD("; images %" PRId64 "; locations %" PRId64 "; seed %" PRIu64
        "; lambda %.17g x %d, %.17g x %d; spatial %.17g; precision %s",
        p->images, p->locations, p->seed, p->nl.lambda_small, p->nl.iters_small,
        p->nl.lambda_large, p->nl.iters_large, p->spatial_speedup,
        p->nl.mixed_precision ? "mixed" : "double");
    ADD("; bad images %s", c->bad_images ? c->bad_images : "error");
#undef ADD
    if (k >= sizeof buf)
        LRC_RAISE(LRC_ERR_ARG, "the job's fingerprint is too long (many layers?)");
    return lrc_strdup(out, buf);
}

/* lrc config: the YAML job description of `lrcompress run` (parsed with
 * libcyaml, schema-driven: unknown keys, wrong types and missing required
 * keys are errors naming the key and its line). Keys and defaults are
 * documented in docs/CONFIG.md. */
#ifndef LRC_CONFIG_H
#define LRC_CONFIG_H

#include <stdbool.h>

#include "lrc/compress.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lrc_config_nonlinear {
    int64_t *iters_small, *iters_large;  /* optional: NULL = default */
    double *lambda_small, *lambda_large;
    char *precision;                     /* "mixed" or "double" */
} lrc_config_nonlinear;

typedef struct lrc_config_norm {
    char *mean, *std;                    /* comma-separated, pixel units */
} lrc_config_norm;

/* Every pointer member is optional (NULL when the key is absent) except
 * model, calibration and output. Strings are owned by the config. */
typedef struct lrc_config {
    char *model;               /* ONNX file (required) */
    char *calibration;         /* data spec (required) */
    char *evaluation;          /* data spec for the final evaluation */
    int64_t *evaluation_limit; /* first N evaluation images; 0 = all */
    char *evaluation_backend;  /* "openblas" (default) or "onednn" */
    lrc_config_norm *normalization; /* default: the model's metadata */
    char *method;              /* default nonlinear-asym */
    double *speedup;           /* whole-model conv speedup (or ranks) */
    int64_t *ranks;            /* explicit d' per target layer */
    unsigned ranks_count;
    char **layers;             /* target conv layers; default all but the first */
    unsigned layers_count;
    int64_t *images, *locations, *seed, *batch;
    lrc_config_nonlinear *nonlinear;
    double *spatial_speedup;   /* 3d only */
    char *output;              /* output directory (required) */
    int64_t *memory_limit_mb;  /* per rank; 0 = no limit */
    char *scratch_dir;         /* spilled activations (default: output) */
    bool *checkpoint;          /* default true */
    int64_t *stop_after_layer; /* stop once this many layers are checkpointed */
    char *bad_images;          /* "error" (default) or "skip": image files
                                  that cannot be read or decoded */
} lrc_config;

/* Loads and checks a config file; `sets` are "key=value" overrides applied
 * after loading (nested keys with dots: nonlinear.iters_small). Not
 * Collective (every rank loads it). The caller frees with
 * lrc_config_destroy. */
lrc_status lrc_config_load(const char *path, char *const *sets, int n_sets,
                           lrc_config **cfg);
void lrc_config_destroy(lrc_config **cfg);

/* The compression parameters the config describes (pointers into cfg stay
 * valid while cfg lives). */
lrc_status lrc_config_params(const lrc_config *cfg, const char *path,
                             lrc_compress_params *p);

/* A text identifying the job for checkpoints: every key that changes the
 * result, and a checksum of the model file's bytes. The caller frees it.
 * Not Collective. */
lrc_status lrc_config_fingerprint(const lrc_config *cfg, const lrc_compress_params *p,
                                  char **out);

#ifdef __cplusplus
}
#endif
#endif

/* Private to src/data: the data set handle and the reader back ends.
 *
 * A data set is either held in memory (IDX files, Fashion-MNIST: small enough
 * to decompress once at open) or read on demand by hyperslab (HDF5). Both
 * back ends produce pixels in 0..255 units and hand them to the normalisation
 * helpers below, so every reader normalises the same way. */
#ifndef LRC_DATA_IMPL_H
#define LRC_DATA_IMPL_H

#include "lrc/data.h"

/* Labels must lie in 0..LRC_DATA_MAX_LABEL (class indices; ImageNet has
 * 1000, and the model checks its own output count at evaluation). */
#define LRC_DATA_MAX_LABEL 1000000

typedef struct lrc_idx_set lrc_idx_set; /* idx.c */
typedef struct lrc_h5_set lrc_h5_set;   /* h5data.c */
typedef struct lrc_imagelist lrc_imagelist; /* imagelist.c */

struct lrc_dataset {
    char *spec;         /* as given to lrc_dataset_open, for messages */
    int64_t n;          /* number of images */
    int64_t chw[3];     /* per-image channels, height, width */
    lrc_idx_set *idx;   /* exactly one of idx, h5 and list is set */
    lrc_h5_set *h5;
    lrc_imagelist *list;
};

/* ---- idx.c: uint8 IDX files, gzipped or plain, loaded whole at open ---- */

/* Reads an image file (magic 0x00000803, N x H x W) and a label file (magic
 * 0x00000801, N) and checks that their counts agree. On success *n and chw
 * hold the count and (1, H, W). The caller destroys *out. Not Collective. */
lrc_status lrc_idx_open(const char *images_path, const char *labels_path,
                        lrc_idx_set **out, int64_t *n, int64_t chw[3]);
/* No-op on NULL; sets *s to NULL. */
void lrc_idx_destroy(lrc_idx_set **s);
/* Copies images [start, start + count) (range already checked by the
 * caller) normalised with `norm` (already checked) into `images`, and their
 * labels into `labels` unless NULL. `what` names the set for messages. */
lrc_status lrc_idx_read(const lrc_idx_set *s, int64_t start, int64_t count,
                        const lrc_norm *norm, float *images, int32_t *labels,
                        const char *what);

/* ---- h5data.c: HDF5 files, read by hyperslab on demand ---- */

/* Opens `path` read-only and checks the "images" and "labels" datasets
 * (ranks, element types, counts). The caller destroys *out. Not Collective. */
lrc_status lrc_h5_open(const char *path, lrc_h5_set **out, int64_t *n,
                       int64_t chw[3]);
/* Closes the file; no-op on NULL; sets *s to NULL. */
void lrc_h5_destroy(lrc_h5_set **s);
/* As lrc_idx_read; also fails on non-finite float pixels (LRC_ERR_NUMERIC)
 * and on labels outside 0..LRC_DATA_MAX_LABEL (LRC_ERR_FORMAT). */
lrc_status lrc_h5_read(lrc_h5_set *s, int64_t start, int64_t count,
                       const lrc_norm *norm, float *images, int32_t *labels,
                       const char *what);

/* ---- imagelist.c: JPEG/PNG files named by a list, decoded on demand ---- */

/* Opens `rest` = "LIST.txt:ROOT[:OPTIONS]" (the spec after "imagelist:";
 * `spec` is the whole spec, for messages): reads the list; OPTIONS is a
 * comma-separated subset of size=224 (crop side), resize=256 (shorter side
 * before the crop; 0 = none), channels=3 (or 1), order=rgb (or bgr),
 * bad=error (or skip: see lrc_imagelist_read). The caller destroys *out.
 * Not Collective. */
lrc_status lrc_imagelist_open(const char *rest, const char *spec,
                              lrc_imagelist **out, int64_t *n, int64_t chw[3]);
void lrc_imagelist_destroy(lrc_imagelist **s);
/* As lrc_idx_read; decodes, resizes and crops each file (errors name it).
 * With `ok` (count flags) and bad=skip, a file that cannot be read or
 * decoded is logged with its reason, its image zeroed and its flag 0
 * instead; otherwise every flag is 1. */
lrc_status lrc_imagelist_read(lrc_imagelist *s, int64_t start, int64_t count,
                              const lrc_norm *norm, float *images,
                              int32_t *labels, uint8_t *ok, const char *what);
/* Sets (on != 0) or clears the bad=skip mode. */
void lrc_imagelist_skip_bad(lrc_imagelist *s, int on);
int lrc_imagelist_skips_bad(const lrc_imagelist *s);

/* ---- normalize.c: the one place pixels become normalised floats ---- */

/* dst[i] = (src[i] - mean[c]) / std[c] for `count` images of shape chw,
 * computed in double and stored as float; identity when norm is NULL or has
 * no channels. `norm` must have passed lrc_norm_check. A result beyond the
 * float range is LRC_ERR_NUMERIC naming `what`. */
lrc_status lrc_norm_apply_u8(const lrc_norm *norm, const uint8_t *src,
                             int64_t count, const int64_t chw[3], float *dst,
                             const char *what);
/* The same in place on float pixels; a non-finite input pixel is
 * LRC_ERR_NUMERIC naming `what` and the image (first + its index). */
lrc_status lrc_norm_apply_f32(const lrc_norm *norm, float *px, int64_t count,
                              const int64_t chw[3], const char *what,
                              int64_t first);

#endif

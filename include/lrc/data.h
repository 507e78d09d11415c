/* lrc data: labelled image sets read by range, for sharding across ranks.
 *
 * Data specs:
 *   fashion-mnist:train | fashion-mnist:test   Debian's dataset-fashion-mnist
 *        (directory /usr/share/datasets/fashion-mnist, or $LRC_FASHION_MNIST_DIR)
 *   idx:IMAGES.gz,LABELS.gz                    gzipped (or plain) IDX files
 *   h5:FILE.h5                                 datasets "images" (N x C x H x W
 *        or N x H x W, uint8 or float32, pixel units 0..255) and "labels"
 *        (N, any integer type)
 *   imagelist:LIST.txt:ROOT[:OPTIONS]          "relative/path label" lines
 *        (ILSVRC list format) naming JPEG or PNG files under ROOT, decoded
 *        when read, the shorter side resized to 256 (PIL's bilinear, as
 *        torchvision's Resize) and center-cropped to 224; OPTIONS:
 *        size=224,resize=256,channels=3|1,order=rgb|bgr,bad=error|skip
 *        (bad=skip: a file that cannot be read or decoded is skipped and
 *        counted by the stages that read the set, see lrc_dataset_read_ok)
 * Pixels are read in 0..255 units and normalised as (x - mean[c]) / std[c]. */
#ifndef LRC_DATA_H
#define LRC_DATA_H

#include "lrc/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LRC_MAX_CHANNELS 16

/* Per-channel normalisation in pixel units; channels == 0 means none. A
 * single value applies to every channel. */
typedef struct lrc_norm {
    int channels;
    double mean[LRC_MAX_CHANNELS];
    double std[LRC_MAX_CHANNELS];
} lrc_norm;

/* Parses comma-separated mean and std lists ("72.94" or "123.7,116.3,103.5").
 * Both must have the same count; std values must be > 0; `what` names the
 * source for messages (e.g. "--mean/--std" or "model metadata lrc.mean").
 * Not Collective. */
lrc_status lrc_norm_parse(const char *mean, const char *std, const char *what,
                          lrc_norm *out);
/* Checks that `norm` fits images of `channels` channels. */
lrc_status lrc_norm_check(const lrc_norm *norm, int64_t channels,
                          const char *what);

typedef struct lrc_dataset lrc_dataset;

/* Opens a data set from a spec (see above). Reads headers and checks that
 * the image and label counts agree. Not Collective: each rank opens it.
 * The caller destroys *ds. */
lrc_status lrc_dataset_open(const char *spec, lrc_dataset **ds);
/* No-op on NULL; sets *ds to NULL. */
void lrc_dataset_destroy(lrc_dataset **ds);

int64_t lrc_dataset_count(const lrc_dataset *ds);
/* Per-image shape (c, h, w). */
void lrc_dataset_shape(const lrc_dataset *ds, int64_t chw[3]);
/* The spec it was opened from, for messages. */
const char *lrc_dataset_spec(const lrc_dataset *ds);

/* Reads images [start, start + count) into `images` (count x c x h x w
 * floats, normalised with `norm`, which may be NULL) and their labels into
 * `labels` (may be NULL). A range outside the set is an error. Non-finite
 * pixel values are an error naming the image. Not Collective. */
lrc_status lrc_dataset_read(lrc_dataset *ds, int64_t start, int64_t count,
                            const lrc_norm *norm, float *images,
                            int32_t *labels);

/* As lrc_dataset_read, with a validity flag per image in `ok` (count bytes):
 * when the set skips bad images (imagelist's bad=skip, or
 * lrc_dataset_skip_bad), an image whose file cannot be read or decoded is
 * logged with the file and the reason, zeroed, and flagged 0, and the read
 * goes on; any other failure is still an error. Every other image is
 * flagged 1. Not Collective. */
lrc_status lrc_dataset_read_ok(lrc_dataset *ds, int64_t start, int64_t count,
                               const lrc_norm *norm, float *images,
                               int32_t *labels, uint8_t *ok);
/* Turns the skipping of bad image files on or off (the config's
 * `bad_images: skip`). Only image lists have files that can be bad: for
 * other sets this is an error naming the spec. Not Collective. */
lrc_status lrc_dataset_skip_bad(lrc_dataset *ds, int on);
/* Nonzero when the set skips bad image files. */
int lrc_dataset_skips_bad(const lrc_dataset *ds);

#ifdef __cplusplus
}
#endif
#endif

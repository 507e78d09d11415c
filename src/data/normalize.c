/* Per-channel normalisation: parsing the mean/std lists, checking them
 * against an image shape, and applying them to pixels. */
#include "lrc/data.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_impl.h"

static const char *skip_space(const char *p)
{
    while (*p && isspace((unsigned char)*p))
        p++;
    return p;
}

/* Parses "v1,v2,..." into vals; `name` is "mean" or "std". */
static lrc_status parse_list(const char *text, const char *name,
                             const char *what, double vals[LRC_MAX_CHANNELS],
                             int *count)
{
    *count = 0;
    if (!text)
        LRC_RAISE(LRC_ERR_ARG, "%s: no %s values given", what, name);
    const char *p = skip_space(text);
    if (*p == '\0')
        LRC_RAISE(LRC_ERR_ARG, "%s: the %s list is empty", what, name);
    int n = 0;
    for (;;) {
        p = skip_space(p);
        if (*p == ',' || *p == '\0')
            LRC_RAISE(LRC_ERR_ARG, "%s: %s list '%s' has an empty item %d",
                      what, name, text, n + 1);
        if (n == LRC_MAX_CHANNELS)
            LRC_RAISE(LRC_ERR_ARG,
                      "%s: %s list '%s' has more than %d values (the most "
                      "channels supported)", what, name, text,
                      LRC_MAX_CHANNELS);
        char *end = NULL;
        errno = 0;
        double v = strtod(p, &end);
        const char *q = end == p ? p : skip_space(end);
        if (end == p || (*q != ',' && *q != '\0'))
            LRC_RAISE(LRC_ERR_ARG, "%s: %s value %d in '%s' is not a number",
                      what, name, n + 1, text);
        if (!isfinite(v))
            LRC_RAISE(LRC_ERR_ARG, "%s: %s value %d in '%s' is not finite",
                      what, name, n + 1, text);
        vals[n++] = v;
        if (*q == '\0')
            break;
        p = q + 1;
    }
    *count = n;
    return LRC_OK;
}

lrc_status lrc_norm_parse(const char *mean, const char *std, const char *what,
                          lrc_norm *out)
{
    lrc_norm nm;
    int n_mean = 0, n_std = 0;
    if (!what)
        what = "normalisation";
    memset(&nm, 0, sizeof nm);
    memset(out, 0, sizeof *out);
    LRC_CALL(parse_list(mean, "mean", what, nm.mean, &n_mean));
    LRC_CALL(parse_list(std, "std", what, nm.std, &n_std));
    if (n_mean != n_std)
        LRC_RAISE(LRC_ERR_ARG,
                  "%s: %d mean value%s ('%s') but %d std value%s ('%s'); "
                  "give one value per channel in both", what, n_mean,
                  n_mean == 1 ? "" : "s", mean, n_std, n_std == 1 ? "" : "s",
                  std);
    for (int i = 0; i < n_std; i++)
        if (!(nm.std[i] > 0))
            LRC_RAISE(LRC_ERR_ARG, "%s: std value %d is %g; it must be > 0",
                      what, i + 1, nm.std[i]);
    nm.channels = n_mean;
    *out = nm;
    return LRC_OK;
}

lrc_status lrc_norm_check(const lrc_norm *norm, int64_t channels,
                          const char *what)
{
    if (!what)
        what = "normalisation";
    if (!norm || norm->channels == 0)
        return LRC_OK;
    if (norm->channels < 0 || norm->channels > LRC_MAX_CHANNELS)
        LRC_RAISE(LRC_ERR_ARG,
                  "%s: normalisation has %d channels; it must have 0..%d",
                  what, norm->channels, LRC_MAX_CHANNELS);
    for (int i = 0; i < norm->channels; i++)
        if (!isfinite(norm->mean[i]) || !isfinite(norm->std[i]) ||
            !(norm->std[i] > 0))
            LRC_RAISE(LRC_ERR_ARG,
                      "%s: normalisation channel %d has mean %g, std %g; both "
                      "must be finite and std > 0", what, i, norm->mean[i],
                      norm->std[i]);
    if (norm->channels != 1 && norm->channels != channels) {
        if (channels == 1)
            LRC_RAISE(LRC_ERR_ARG,
                      "%s: normalisation has %d mean/std values but the "
                      "images have 1 channel (give 1 value)", what,
                      norm->channels);
        LRC_RAISE(LRC_ERR_ARG,
                  "%s: normalisation has %d mean/std values but the images "
                  "have %" PRId64 " channels (give 1 value or %" PRId64 ")",
                  what, norm->channels, channels, channels);
    }
    return LRC_OK;
}

static int is_identity(const lrc_norm *norm)
{
    return !norm || norm->channels == 0;
}

/* Normalises one value; fails when the result does not fit a float. */
static lrc_status norm_value(double v, double mean, double sd, float *out,
                             const char *what, int64_t ch)
{
    double o = (v - mean) / sd;
    if (!(fabs(o) <= FLT_MAX))
        LRC_RAISE(LRC_ERR_NUMERIC,
                  "%s: pixel %g of channel %" PRId64 " normalised with mean "
                  "%g, std %g gives %g, beyond the float range", what, v, ch,
                  mean, sd, o);
    *out = (float)o;
    return LRC_OK;
}

lrc_status lrc_norm_apply_u8(const lrc_norm *norm, const uint8_t *src,
                             int64_t count, const int64_t chw[3], float *dst,
                             const char *what)
{
    const int64_t c = chw[0];
    const size_t plane = (size_t)chw[1] * (size_t)chw[2];
    const size_t total = (size_t)count * (size_t)c * plane;
    if (is_identity(norm)) {
        for (size_t i = 0; i < total; i++)
            dst[i] = (float)src[i];
        return LRC_OK;
    }
    /* Only 256 inputs per channel: a table computed in double gives exactly
     * the per-pixel result at a fraction of the cost. */
    float lut[LRC_MAX_CHANNELS][256];
    for (int k = 0; k < norm->channels; k++)
        for (int v = 0; v < 256; v++)
            LRC_CALL(norm_value((double)v, norm->mean[k], norm->std[k],
                                &lut[k][v], what, k));
    for (int64_t i = 0; i < count; i++) {
        for (int64_t ch = 0; ch < c; ch++) {
            const float *t = lut[norm->channels == 1 ? 0 : ch];
            const size_t off = ((size_t)i * (size_t)c + (size_t)ch) * plane;
            for (size_t p = 0; p < plane; p++)
                dst[off + p] = t[src[off + p]];
        }
    }
    return LRC_OK;
}

lrc_status lrc_norm_apply_f32(const lrc_norm *norm, float *px, int64_t count,
                              const int64_t chw[3], const char *what,
                              int64_t first)
{
    const int64_t c = chw[0], w = chw[2];
    const size_t plane = (size_t)chw[1] * (size_t)chw[2];
    const int identity = is_identity(norm);
    for (int64_t i = 0; i < count; i++) {
        for (int64_t ch = 0; ch < c; ch++) {
            const int k = identity || norm->channels == 1 ? 0 : (int)ch;
            float *row = px + ((size_t)i * (size_t)c + (size_t)ch) * plane;
            for (size_t p = 0; p < plane; p++) {
                if (!isfinite(row[p]))
                    LRC_RAISE(LRC_ERR_NUMERIC,
                              "%s: image %" PRId64 " has a non-finite pixel "
                              "(%g) at channel %" PRId64 ", row %" PRId64
                              ", column %" PRId64, what, first + i,
                              (double)row[p], ch, (int64_t)p / w,
                              (int64_t)p % w);
                if (!identity)
                    LRC_CALL(norm_value((double)row[p], norm->mean[k],
                                        norm->std[k], &row[p], what, ch));
            }
        }
    }
    return LRC_OK;
}

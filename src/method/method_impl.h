/* Private to src/method. */
#ifndef LRC_METHOD_IMPL_H
#define LRC_METHOD_IMPL_H

#include "lrc/method.h"

/* out (d x d) = sum_i (X_i - mx)(Y_i - my)^T over n samples of d values
 * (sample-major, row i at X + i*d); mx/my may be NULL for zero. chunk_x and
 * chunk_y hold chunk*d doubles of scratch. Not Collective. */
void lrc_gram_centered(int64_t n, int64_t d, const double *X, const double *mx,
                       const double *Y, const double *my, double *out,
                       double *chunk_x, double *chunk_y, int64_t chunk);

/* Samples per dgemm chunk in lrc_gram_centered. */
#define LRC_GRAM_CHUNK 2048

#endif

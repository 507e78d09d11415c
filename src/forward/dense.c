/* Fully connected layer: out (n x O) = in (n x I) * W^T + b.
 *
 * A batch of a few images is bound by reading W (VGG-16's fc6 is 411 MB):
 * sgemm packs W before using it, so at n = 1 it moves W about twice and
 * took 2x as long as one pass over it (fc6 on one core: 54 against 32 ms).
 * A single image therefore streams W once; batches use sgemm. (The same
 * loop over 2 to 4 images, one row of W dotted with each while in cache,
 * was slower than sgemm: 65-76 against 54-56 ms for fc6; two rows of W at
 * a time, 48-53 ms at 1 to 8 images, gained too little to keep.) */
#include <cblas.h>

#include "forward/forward_impl.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define LRC_DENSE_CLONES __attribute__((noinline, target_clones("avx512f", "avx2", "default")))
#elif defined(__GNUC__)
#define LRC_DENSE_CLONES __attribute__((noinline))
#else
#define LRC_DENSE_CLONES
#endif
#if defined(__GNUC__)
#define LRC_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define LRC_ALWAYS_INLINE inline
#endif

enum { LANES = 16 };

/* nb images (a constant after inlining, so the accumulators stay in
 * registers). Each output is the sum of LANES interleaved partial sums,
 * added in a fixed order, then the tail, then the bias: an image's result
 * does not depend on the batch it came in. */
static LRC_ALWAYS_INLINE void skinny_rows(const int nb, int64_t o, int64_t k,
                                          const float *x, const float *w,
                                          const float *bias, float *out)
{
    for (int64_t f = 0; f < o; f++) {
        const float *restrict wf = w + f * k;
        float acc[LRC_DENSE_SKINNY][LANES];
        for (int b = 0; b < nb; b++)
            for (int l = 0; l < LANES; l++)
                acc[b][l] = 0.0f;
        int64_t j = 0;
        for (; j + LANES <= k; j += LANES)
            for (int b = 0; b < nb; b++) {
                const float *restrict xb = x + b * k + j;
                for (int l = 0; l < LANES; l++)
                    acc[b][l] += wf[j + l] * xb[l];
            }
        for (int b = 0; b < nb; b++) {
            float s = 0.0f;
            for (int l = 0; l < LANES; l++)
                s += acc[b][l];
            for (int64_t t = j; t < k; t++)
                s += wf[t] * x[b * k + t];
            out[b * o + f] = bias[f] + s;
        }
    }
}

LRC_DENSE_CLONES static void skinny(int64_t n, int64_t o, int64_t k,
                                    const float *x, const float *w,
                                    const float *bias, float *out)
{
    if (n == 1)
        skinny_rows(1, o, k, x, w, bias, out);
}

void lrc_fw_dense(const lrc_layer *l, const float *in, int64_t n, float *out)
{
    const int64_t o = l->out_c, k = l->in_c;
    if (n <= LRC_DENSE_SKINNY) {
        if (n > 0)
            skinny(n, o, k, in, l->weight, l->bias, out);
        return;
    }
    for (int64_t b = 0; b < n; b++)
        for (int64_t f = 0; f < o; f++)
            out[b * o + f] = l->bias[f];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)o, (int)k,
                1.0f, in, (int)k, l->weight, (int)k, 1.0f, out, (int)o);
}

/* Fully connected layer: out (n x O) = in (n x I) * W^T + b, one sgemm. */
#include <cblas.h>

#include "forward/forward_impl.h"

void lrc_fw_dense(const lrc_layer *l, const float *in, int64_t n, float *out)
{
    const int64_t o = l->out_c, k = l->in_c;
    for (int64_t b = 0; b < n; b++)
        for (int64_t f = 0; f < o; f++)
            out[b * o + f] = l->bias[f];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)o, (int)k,
                1.0f, in, (int)k, l->weight, (int)k, 1.0f, out, (int)o);
}

/* Elementwise activations and softmax. */
#include <math.h>

#include "forward/forward_impl.h"

void lrc_fw_relu(const float *in, size_t count, float *out)
{
    for (size_t i = 0; i < count; i++)
        out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

void lrc_fw_softmax(const float *in, int64_t n, int64_t k, float *out)
{
    for (int64_t b = 0; b < n; b++) {
        const float *x = in + b * k;
        float *y = out + b * k;
        float m = x[0];
        for (int64_t i = 1; i < k; i++)
            if (x[i] > m)
                m = x[i];
        double s = 0.0;
        for (int64_t i = 0; i < k; i++)
            s += exp((double)x[i] - m);
        for (int64_t i = 0; i < k; i++)
            y[i] = (float)(exp((double)x[i] - m) / s);
    }
}

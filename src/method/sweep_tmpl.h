/* The solver's elementwise sweeps over the local samples, written once for
 * the two storage types of the iterations: included by solve.c with
 * SWEEP_T (double or float) and SWEEP_SUF (d or f) defined. Arithmetic is
 * in double either way; only what is read and written has type SWEEP_T.
 * No include guard: meant to be included more than once. */
#ifndef SWEEP_T
#error "define SWEEP_T and SWEEP_SUF before including sweep_tmpl.h"
#endif

#define SWEEP_CAT2(a, b) a##_##b
#define SWEEP_CAT(a, b) SWEEP_CAT2(a, b)
#define SWEEP_FN(name) SWEEP_CAT(name, SWEEP_SUF)

/* The z-step for one lambda, fused with the error sums of the prediction it
 * starts from. The prediction of element (i, j) is pred[i d + j] + bias[j].
 * Writes z and adds into the d-long per-column sums in acc: acc[0] z,
 * acc[1] relaxed objective after the z-step and, when prev is set (z holds
 * the previous iterate on entry), acc[2..5] the sums of (r(y) - r(p))^2,
 * (y - p)^2, (r(y) - r(z))^2 and (z - p)^2 for that iterate; acc[6], when
 * not NULL, the largest |z| per column. Per-column sums keep the inner
 * loops free of cross-iteration reductions, so they vectorise without
 * reordering any sum. */
LRC_NOINLINE static void SWEEP_FN(zpass)(int64_t n, int64_t d, const SWEEP_T *y,
                            const SWEEP_T *pred, const double *bias,
                            SWEEP_T *z, int prev, double lambda,
                            double *acc[7])
{
    const double inv = 1.0 / (lambda + 1.0);
    double *restrict zs = acc[0], *restrict rl = acc[1], *restrict e0 = acc[2],
           *restrict e1 = acc[3], *restrict e2 = acc[4], *restrict e3 = acc[5],
           *restrict zm = acc[6];
    const double *restrict b = bias;
    for (int64_t i = 0; i < n; i++) {
        const SWEEP_T *restrict yi = y + i * d, *restrict pi = pred + i * d;
        SWEEP_T *restrict zi = z + i * d;
        if (prev)
            for (int64_t j = 0; j < d; j++) {
                const double yv = yi[j], q = (double)pi[j] + b[j];
                const double t = RELU(yv), zo = zi[j];
                const double ea = t - RELU(q), eb = yv - q;
                const double ec = t - RELU(zo), eg = zo - q;
                e0[j] += ea * ea;
                e1[j] += eb * eb;
                e2[j] += ec * ec;
                e3[j] += eg * eg;
            }
        for (int64_t j = 0; j < d; j++) {
            const double q = (double)pi[j] + b[j], t = RELU((double)yi[j]);
            const SWEEP_T zn = (SWEEP_T)zstep(t, q, lambda, inv);
            const double a = t - RELU((double)zn), g = (double)zn - q;
            rl[j] += a * a + lambda * g * g;
            zi[j] = zn;
            zs[j] += (double)zn;
        }
        if (zm)
            for (int64_t j = 0; j < d; j++) {
                const double az = fabs((double)zi[j]);
                zm[j] = az > zm[j] ? az : zm[j];
            }
    }
}

/* out[0] = sum (r(y) - r(p))^2, out[1] = sum (y - p)^2 and, with z,
 * out[2] = sum (r(y) - r(z))^2, out[3] = sum (z - p)^2; p as in zpass. */
static void SWEEP_FN(errors)(int64_t n, int64_t d, const SWEEP_T *y,
                             const SWEEP_T *pred, const double *bias,
                             const SWEEP_T *z, double out[4])
{
    double e[4] = {0, 0, 0, 0};
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) {
            const int64_t k = i * d + j;
            const double yv = y[k], q = (double)pred[k] + bias[j], t = RELU(yv);
            const double a = t - RELU(q), b = yv - q;
            e[0] += a * a;
            e[1] += b * b;
            if (z) {
                const double c = t - RELU((double)z[k]), g = (double)z[k] - q;
                e[2] += c * c;
                e[3] += g * g;
            }
        }
    memcpy(out, e, sizeof e);
}

#undef SWEEP_FN
#undef SWEEP_CAT
#undef SWEEP_CAT2

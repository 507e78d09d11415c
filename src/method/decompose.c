/* Turning a factor (P, Qt, b) into the two conv layers that replace a conv,
 * and the data-free SVD factor. Products are formed in double. */
#include <cblas.h>
#include <inttypes.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "method/method_impl.h"

void lrc_layer_release(lrc_layer *l)
{
    if (!l)
        return;
    lrc_free(&l->name);
    lrc_free(&l->weight);
    lrc_free(&l->bias);
}

static lrc_status suffixed(char **out, const char *name, const char *suffix)
{
    size_t n = strlen(name) + strlen(suffix) + 1;
    LRC_CALL(lrc_calloc(out, n, 1, "layer name"));
    snprintf(*out, n, "%s%s", name, suffix);
    return LRC_OK;
}

lrc_status lrc_decompose_conv(const lrc_layer *conv, const lrc_lowrank *f,
                              lrc_layer *a, lrc_layer *b)
{
    lrc_status st = LRC_OK;
    const int64_t d = conv->out_c, r = f->rank;
    const int64_t K = conv->in_c * conv->kh * conv->kw;
    double *wd = NULL, *aw = NULL;
    memset(a, 0, sizeof *a);
    memset(b, 0, sizeof *b);
    if (conv->op != LRC_OP_CONV || f->d != d)
        LRC_RAISE(LRC_ERR_INTERNAL, "layer '%s': a factor of width %" PRId64
                  " does not fit", conv->name, f->d);
    *a = *conv;
    a->name = NULL;
    a->weight = NULL;
    a->bias = NULL;
    a->out_c = r;
    LRC_TRY(suffixed(&a->name, conv->name, "_lrA"));
    LRC_TRY(lrc_calloc(&a->weight, (size_t)(r * K), sizeof(float), "weights"));
    LRC_TRY(lrc_calloc(&a->bias, (size_t)r, sizeof(float), "bias"));
    /* A's weights Qt W (r x K) in double, one dgemm (the same on every
     * rank: every rank holds the same factor and weights) */
    LRC_TRY(lrc_calloc(&wd, (size_t)(d * K), sizeof *wd, "weights in double"));
    LRC_TRY(lrc_calloc(&aw, (size_t)(r * K), sizeof *aw, "weights in double"));
    for (int64_t j = 0; j < d * K; j++)
        wd[j] = conv->weight[j];
    if (d > INT32_MAX || K > INT32_MAX)
        LRC_FAIL(LRC_ERR_UNSUPPORTED, "layer '%s': too large for BLAS int sizes",
                 conv->name);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)r, (int)K,
                (int)d, 1.0, f->Qt, (int)d, wd, (int)K, 0.0, aw, (int)K);
    for (int64_t i = 0; i < r; i++) {
        const double *q = f->Qt + i * d;
        double bs = 0.0;
        for (int64_t j = 0; j < d; j++)
            bs += q[j] * conv->bias[j];
        a->bias[i] = (float)bs;
        for (int64_t k = 0; k < K; k++)
            a->weight[i * K + k] = (float)aw[i * K + k];
    }
    b->op = LRC_OP_CONV;
    b->in_c = r;
    b->out_c = d;
    b->kh = b->kw = b->sh = b->sw = 1;
    b->flatten_check = -1;
    LRC_TRY(suffixed(&b->name, conv->name, "_lrB"));
    LRC_TRY(lrc_calloc(&b->weight, (size_t)(d * r), sizeof(float), "weights"));
    LRC_TRY(lrc_calloc(&b->bias, (size_t)d, sizeof(float), "bias"));
    for (int64_t j = 0; j < d * r; j++)
        b->weight[j] = (float)f->P[j];
    for (int64_t j = 0; j < d; j++)
        b->bias[j] = (float)f->b[j];
    lrc_free(&wd);
    lrc_free(&aw);
    return LRC_OK;
cleanup:
    lrc_free(&wd);
    lrc_free(&aw);
    lrc_layer_release(a);
    lrc_layer_release(b);
    return st;
}

lrc_status lrc_svd_factor(const lrc_layer *conv, int64_t rank, lrc_lowrank *f)
{
    lrc_status st = LRC_OK;
    const int64_t d = conv->out_c, K = conv->in_c * conv->kh * conv->kw;
    double *G = NULL, *w = NULL, *V = NULL;
    memset(f, 0, sizeof *f);
    if (rank < 1 || rank > d)
        LRC_RAISE(LRC_ERR_ARG, "layer '%s': rank %" PRId64 " outside 1..%" PRId64,
                  conv->name, rank, d);
    /* The left singular vectors of W are the eigenvectors of W W^T. */
    LRC_TRY(lrc_calloc(&G, (size_t)(d * d), sizeof *G, "W W^T"));
    LRC_TRY(lrc_calloc(&w, (size_t)d, sizeof *w, "eigenvalues"));
    LRC_TRY(lrc_calloc(&V, (size_t)(d * d), sizeof *V, "eigenvectors"));
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j <= i; j++) {
            double s = 0.0;
            for (int64_t k = 0; k < K; k++)
                s += (double)conv->weight[i * K + k] * conv->weight[j * K + k];
            G[i * d + j] = G[j * d + i] = s;
        }
    LRC_TRY(lrc_eig_sym(d, G, w, V));
    LRC_TRY(lrc_lowrank_alloc(f, d, rank));
    for (int64_t i = 0; i < d; i++)
        for (int64_t r = 0; r < rank; r++) {
            f->P[i * rank + r] = V[i * d + r];
            f->Qt[r * d + i] = V[i * d + r];
        }
    /* b = (I - U U^T) b0 keeps the bias exact: y' = U U^T (W x + b0) + b. */
    for (int64_t i = 0; i < d; i++) {
        double s = 0.0;
        for (int64_t r = 0; r < rank; r++) {
            double u = 0.0;
            for (int64_t j = 0; j < d; j++)
                u += f->Qt[r * d + j] * conv->bias[j];
            s += f->P[i * rank + r] * u;
        }
        f->b[i] = conv->bias[i] - s;
    }
cleanup:
    lrc_free(&G);
    lrc_free(&w);
    lrc_free(&V);
    if (st != LRC_OK)
        lrc_lowrank_free(f);
    return st;
}

lrc_status lrc_spatial_split(const lrc_layer *conv, int64_t rank,
                             const char *h_name, lrc_layer *v, lrc_layer *h)
{
    lrc_status st = LRC_OK;
    const int64_t d = conv->out_c, c = conv->in_c, k = conv->kh;
    const int64_t m = c * k, n = d * k, mn = m < n ? m : n;
    double *A = NULL, *S = NULL, *U = NULL, *Vt = NULL, *sup = NULL;
    memset(v, 0, sizeof *v);
    memset(h, 0, sizeof *h);
    if (conv->op != LRC_OP_CONV || conv->kh != conv->kw || k < 2)
        LRC_RAISE(LRC_ERR_INTERNAL, "layer '%s': the spatial split needs a "
                  "square k x k kernel with k > 1", conv->name);
    if (rank < 1 || rank > mn)
        LRC_RAISE(LRC_ERR_ARG, "layer '%s': spatial rank %" PRId64 " outside "
                  "1..%" PRId64, conv->name, rank, mn);
    LRC_TRY(lrc_calloc(&A, (size_t)(m * n), sizeof *A, "spatial matrix"));
    LRC_TRY(lrc_calloc(&S, (size_t)mn, sizeof *S, "singular values"));
    LRC_TRY(lrc_calloc(&U, (size_t)(m * mn), sizeof *U, "singular vectors"));
    LRC_TRY(lrc_calloc(&Vt, (size_t)(mn * n), sizeof *Vt, "singular vectors"));
    LRC_TRY(lrc_calloc(&sup, (size_t)mn, sizeof *sup, "dgesvd workspace"));
    /* rows (channel, vertical tap), columns (filter, horizontal tap) */
    for (int64_t f = 0; f < d; f++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t i = 0; i < k; i++)
                for (int64_t j = 0; j < k; j++)
                    A[(ch * k + i) * n + f * k + j] =
                        conv->weight[((f * c + ch) * k + i) * k + j];
    lapack_int info = LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'S', 'S', (lapack_int)m,
                                     (lapack_int)n, A, (lapack_int)n, S, U,
                                     (lapack_int)mn, Vt, (lapack_int)n, sup);
    if (info < 0)
        LRC_FAIL(LRC_ERR_INTERNAL, "dgesvd: argument %d is invalid", (int)-info);
    if (info > 0)
        LRC_FAIL(LRC_ERR_LAPACK, "layer '%s': dgesvd did not converge (info %d)",
                 conv->name, (int)info);
    *v = *conv;
    v->name = NULL;
    v->weight = NULL;
    v->bias = NULL;
    v->out_c = rank;
    v->kw = 1;
    v->sw = 1;
    v->pl = v->pr = 0;
    LRC_TRY(suffixed(&v->name, conv->name, "_lrV"));
    LRC_TRY(lrc_calloc(&v->weight, (size_t)(rank * c * k), sizeof(float), "weights"));
    LRC_TRY(lrc_calloc(&v->bias, (size_t)rank, sizeof(float), "bias"));
    *h = *conv;
    h->name = NULL;
    h->weight = h->bias = NULL;
    h->in_c = rank;
    h->kh = 1;
    h->sh = 1;
    h->pt = h->pb = 0;
    LRC_TRY(lrc_strdup(&h->name, h_name));
    LRC_TRY(lrc_calloc(&h->weight, (size_t)(d * rank * k), sizeof(float), "weights"));
    LRC_TRY(lrc_calloc(&h->bias, (size_t)d, sizeof(float), "bias"));
    for (int64_t r = 0; r < rank; r++) {
        const double s = sqrt(S[r]);
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t i = 0; i < k; i++)
                v->weight[(r * c + ch) * k + i] = (float)(U[(ch * k + i) * mn + r] * s);
        for (int64_t f = 0; f < d; f++)
            for (int64_t j = 0; j < k; j++)
                h->weight[(f * rank + r) * k + j] = (float)(s * Vt[r * n + f * k + j]);
    }
    memcpy(h->bias, conv->bias, (size_t)d * sizeof(float));
cleanup:
    lrc_free(&A);
    lrc_free(&S);
    lrc_free(&U);
    lrc_free(&Vt);
    lrc_free(&sup);
    if (st != LRC_OK) {
        lrc_layer_release(v);
        lrc_layer_release(h);
    }
    return st;
}

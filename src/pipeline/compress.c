/* The compression schedule (see include/lrc/compress.h for the stages). */
#include "lrc/compress.h"

#include <cblas.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lrc/forward.h"
#include "pipeline/pipeline_impl.h"

void lrc_compress_defaults(lrc_compress_params *p)
{
    memset(p, 0, sizeof *p);
    p->method = LRC_METHOD_NONLINEAR_ASYM;
    p->speedup = 4.0;
    p->images = 3000;
    p->locations = 10;
    p->seed = 1;
    p->batch = 64;
    lrc_nonlinear_defaults(&p->nl);
}

void lrc_compress_result_free(lrc_compress_result *r)
{
    if (!r)
        return;
    for (int64_t i = 0; i < r->n; i++) {
        lrc_free(&r->layers[i].name);
        lrc_free(&r->layers[i].eig);
        lrc_free(&r->layers[i].mean_y);
        lrc_free(&r->layers[i].cov_y);
        lrc_free(&r->layers[i].mean_yh);
        lrc_free(&r->layers[i].cov_yh);
        lrc_free(&r->layers[i].cross);
        lrc_solve_report_free(&r->layers[i].report);
    }
    lrc_free(&r->layers);
    memset(r, 0, sizeof *r);
}

static uint64_t splitmix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* A seeded shuffle of [0, total), drawn lazily: the first `upto` entries
 * of perm are final after shuffle_to(.., upto), and drawing further never
 * changes them. */
typedef struct shuffle {
    int64_t *perm, total, drawn;
    uint64_t state;
} shuffle;

static void shuffle_to(shuffle *sh, int64_t upto)
{
    for (int64_t i = sh->drawn; i < upto; i++) {
        sh->state = splitmix(sh->state);
        int64_t j = i + (int64_t)(sh->state % (uint64_t)(sh->total - i));
        int64_t t = sh->perm[i];
        sh->perm[i] = sh->perm[j];
        sh->perm[j] = t;
    }
    sh->drawn = upto > sh->drawn ? upto : sh->drawn;
}

/* Reads candidates [lo, hi) of the shuffle, sharded over the ranks, and
 * marks in bad[] (indexed like perm) those whose files cannot be read or
 * decoded; the flags are combined over the ranks. Collective. */
static lrc_status check_candidates(MPI_Comm comm, lrc_dataset *ds,
                                   const shuffle *sh, int64_t lo, int64_t hi,
                                   uint8_t *bad)
{
    lrc_status st = LRC_OK;
    float *img = NULL;
    int64_t s = 0, m = 0, chw[3];
    int rank = 0, size = 1;
    LRC_TRY_MPI(MPI_Comm_rank(comm, &rank));
    LRC_TRY_MPI(MPI_Comm_size(comm, &size));
    lrc_dataset_shape(ds, chw);
    LRC_TRY(lrc_calloc(&img, (size_t)(chw[0] * chw[1] * chw[2]), sizeof *img,
                       "image"));
    lrc_shard_range(hi - lo, rank, size, &s, &m);
    memset(bad + lo, 0, (size_t)(hi - lo));
    for (int64_t i = lo + s; i < lo + s + m; i++) {
        uint8_t ok = 1;
        LRC_TRY(lrc_dataset_read_ok(ds, sh->perm[i], 1, NULL, img, NULL, &ok));
        bad[i] = !ok;
    }
    LRC_TRY_MPI(MPI_Allreduce(MPI_IN_PLACE, bad + lo, (int)(hi - lo),
                              MPI_UNSIGNED_CHAR, MPI_MAX, comm));
cleanup:
    lrc_free(&img);
    return st;
}

/* The first n of a seeded shuffle of [0, total), sorted (for reading
 * locality). Depends only on (total, n, seed). When the set skips bad
 * files, the candidates are decoded first (sharded over the ranks) and each
 * bad one is replaced by the next candidate of the shuffle, so the choice
 * still depends only on the seed and the files; *skipped counts them.
 * Collective. */
static lrc_status choose_images(MPI_Comm comm, lrc_dataset *ds, int64_t n,
                                uint64_t seed, int64_t *out, int64_t *skipped)
{
    lrc_status st = LRC_OK;
    const int64_t total = lrc_dataset_count(ds);
    shuffle sh = {NULL, total, 0, splitmix(seed ^ 0x5eed1ULL)};
    uint8_t *bad = NULL;
    *skipped = 0;
    LRC_TRY(lrc_calloc(&sh.perm, (size_t)total, sizeof *sh.perm,
                       "image permutation"));
    for (int64_t i = 0; i < total; i++)
        sh.perm[i] = i;
    shuffle_to(&sh, n);
    if (!lrc_dataset_skips_bad(ds)) {
        memcpy(out, sh.perm, (size_t)n * sizeof *out);
    } else {
        LRC_TRY(lrc_calloc(&bad, (size_t)total, 1, "image flags"));
        int64_t good = 0, next = 0;
        while (good < n) {
            const int64_t want = n - good;
            if (next + want > total)
                LRC_FAIL(LRC_ERR_ARG, "%s: fewer than the %" PRId64 " calibration "
                         "images asked for can be read: at least %" PRId64 " of its %"
                         PRId64 " images are bad (bad=skip)",
                         lrc_dataset_spec(ds), n, *skipped, total);
            shuffle_to(&sh, next + want);
            /* candidates in rounds of bounded size (the flags are reduced) */
            const int64_t hi = next + want, round = (int64_t)1 << 20;
            for (int64_t lo = next; lo < hi; lo += round)
                LRC_TRY(check_candidates(comm, ds, &sh, lo,
                                         hi - lo < round ? hi : lo + round, bad));
            for (int64_t i = next; i < hi; i++) {
                if (bad[i])
                    (*skipped)++;
                else
                    out[good++] = sh.perm[i];
            }
            next = hi;
        }
    }
    qsort(out, (size_t)n, sizeof *out, cmp_i64);
cleanup:
    lrc_free(&sh.perm);
    lrc_free(&bad);
    return st;
}

/* Output pixel of sample j of data-set image `img` at original layer
 * `layer`: a function of the seed and these indices only. */
static int64_t sample_location(uint64_t seed, int64_t layer, int64_t img,
                               int64_t j, int64_t hw)
{
    uint64_t h = splitmix(seed ^ 0xa5a5a5a5ULL);
    h = splitmix(h ^ (uint64_t)layer);
    h = splitmix(h ^ (uint64_t)img);
    h = splitmix(h ^ (uint64_t)j);
    return (int64_t)(h % (uint64_t)hw);
}

/* Responses y = W x + b0 of conv `l` at `nl` output pixels of one image
 * (act: c x h x w); out: nl x d. Wd is W in double (d x K); patch holds
 * nl x K doubles. */
static void sample_responses(const lrc_layer *l, const double *Wd,
                             const float *act, const int64_t *locs, int64_t nl,
                             double *patch, double *out)
{
    const int64_t c = l->in_shape[0], h = l->in_shape[1], w = l->in_shape[2];
    const int64_t wo = l->out_shape[2], d = l->out_c;
    const int64_t K = c * l->kh * l->kw;
    for (int64_t s = 0; s < nl; s++) {
        const int64_t oy = locs[s] / wo, ox = locs[s] % wo;
        double *p = patch + s * K;
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t i = 0; i < l->kh; i++)
                for (int64_t j = 0; j < l->kw; j++) {
                    const int64_t iy = oy * l->sh - l->pt + i;
                    const int64_t ix = ox * l->sw - l->pl + j;
                    *p++ = (iy >= 0 && iy < h && ix >= 0 && ix < w)
                               ? act[(ch * h + iy) * w + ix]
                               : 0.0;
                }
        for (int64_t f = 0; f < d; f++)
            out[s * d + f] = l->bias[f];
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nl, (int)d,
                (int)K, 1.0, patch, (int)K, Wd, (int)K, 1.0, out, (int)d);
}

typedef struct target {
    int64_t index;   /* in the original net */
    double *Wd;      /* weights in double */
    double *y;       /* local original responses, n_local*L x d */
    double *yh;      /* local approximated responses (asymmetric) */
    int64_t *locs;   /* n_local*L sample pixels */
} target;

typedef struct ctx {
    MPI_Comm comm;
    int rank, size;
    const lrc_net *net;
    const lrc_compress_params *p;
    lrc_nonlinear_params nl; /* p->nl, with the mixed chunk of the sharding */
    int64_t n_local, L;
    int64_t per_max;         /* the largest shard's image count */
    const int64_t *img_ids;  /* this rank's data-set indices */
    lrc_dataset *ds;         /* the calibration images, read when needed */
    const lrc_norm *norm;
    struct {
        int64_t width;       /* floats per image of the carried activations */
        int64_t batch;       /* images per micro-batch when spilled */
        int spill;           /* carried activations in the scratch file */
        const char *dir;     /* its directory */
    } plan;
    target *t;
    int64_t nt;
    double *patch;           /* L x max K scratch */
    lrc_ckpt ck;             /* finished layers (n_targets 0: no checkpoint) */
    double t_layers;         /* when the layer-by-layer stage started */
} ctx;

static lrc_status resolve_targets(ctx *c, lrc_compress_result *res)
{
    const lrc_net *net = c->net;
    const lrc_compress_params *p = c->p;
    const int64_t nl = lrc_net_num_layers(net);
    int64_t n = 0, first_conv = -1;
    for (int64_t i = 0; i < nl; i++)
        if (lrc_net_layer(net, i)->op == LRC_OP_CONV) {
            if (first_conv < 0)
                first_conv = i;
            n++;
        }
    if (p->layers) {
        n = p->n_layers;
        if (n == 0)
            LRC_RAISE(LRC_ERR_ARG, "--layers names no layer");
    } else {
        n = n > 0 ? n - 1 : 0; /* every conv but the first, as the papers do */
    }
    if (n == 0)
        LRC_RAISE(LRC_ERR_ARG, "%s: the model has no conv layer to approximate "
                  "(the first conv is kept; name layers with --layers)",
                  lrc_net_source(net));
    LRC_CALL(lrc_calloc(&c->t, (size_t)n, sizeof *c->t, "targets"));
    LRC_CALL(lrc_calloc(&res->layers, (size_t)n, sizeof *res->layers,
                        "layer results"));
    c->nt = n;
    res->n = n;
    int64_t k = 0;
    for (int64_t i = 0; i < nl && !p->layers; i++)
        if (lrc_net_layer(net, i)->op == LRC_OP_CONV && i != first_conv)
            c->t[k++].index = i;
    for (int64_t j = 0; p->layers && j < n; j++) {
        int64_t i = lrc_net_find(net, p->layers[j]);
        if (i < 0)
            LRC_RAISE(LRC_ERR_ARG, "--layers: %s has no layer named '%s' (see "
                      "lrcompress inspect)", lrc_net_source(net), p->layers[j]);
        if (lrc_net_layer(net, i)->op != LRC_OP_CONV)
            LRC_RAISE(LRC_ERR_ARG, "--layers: layer '%s' of %s is a %s, not a "
                      "Conv", p->layers[j], lrc_net_source(net),
                      lrc_op_name(lrc_net_layer(net, i)->op));
        for (int64_t q = 0; q < j; q++)
            if (c->t[q].index == i)
                LRC_RAISE(LRC_ERR_ARG, "--layers names '%s' twice",
                          p->layers[j]);
        c->t[j].index = i;
    }
    /* bottom-up order */
    for (int64_t a = 1; a < n; a++)
        for (int64_t b = a; b > 0 && c->t[b - 1].index > c->t[b].index; b--) {
            int64_t tmp = c->t[b].index;
            c->t[b].index = c->t[b - 1].index;
            c->t[b - 1].index = tmp;
        }
    if (p->ranks && p->n_ranks != n)
        LRC_RAISE(LRC_ERR_ARG, "--ranks gives %" PRId64 " ranks for %" PRId64
                  " target layers", p->n_ranks, n);
    for (int64_t j = 0; j < n; j++) {
        const lrc_layer *l = lrc_net_layer(net, c->t[j].index);
        lrc_compress_layer *r = &res->layers[j];
        LRC_CALL(lrc_strdup(&r->name, l->name));
        r->index = c->t[j].index;
        r->d = l->out_c;
        r->kkc = l->in_c * l->kh * l->kw;
        r->hw = l->out_shape[1] * l->out_shape[2];
        r->w_in = l->in_shape[2];
        r->c = l->in_c;
        r->wo = l->out_shape[2];
        r->rank = r->d;
        if (p->ranks) {
            if (p->ranks[j] < 1 || p->ranks[j] > r->d)
                LRC_RAISE(LRC_ERR_ARG, "--ranks: rank %" PRId64 " of layer '%s' "
                          "is outside 1..%" PRId64, p->ranks[j], l->name, r->d);
            r->rank = p->ranks[j];
        }
    }
    return LRC_OK;
}

/* Reads the shard's images [s, s + m) into buf (m x input size). */
static lrc_status read_images(const ctx *c, int64_t s, int64_t m, float *buf)
{
    const int64_t in_sz = lrc_net_input_size(c->net);
    for (int64_t b = 0; b < m; b++)
        LRC_CALL(lrc_dataset_read(c->ds, c->img_ids[s + b], 1, c->norm,
                                  buf + b * in_sz, NULL));
    return LRC_OK;
}

/* Images per batch of the original pass: --batch, but few enough that the
 * pass's two activation buffers stay under 256 MiB (VGG-16 at 224 x 224:
 * 10 images). Convs run image by image, so a batch only amortises dense
 * layers, which the pass does not reach (it stops at the last target). */
static int64_t pass_batch(const lrc_net *net, int64_t batch)
{
    const double per = (2.0 * (double)lrc_net_max_activation(net) +
                        (double)lrc_net_input_size(net)) * 4.0;
    int64_t cap = (int64_t)(256.0 * 1048576.0 / per);
    cap = cap < 1 ? 1 : cap;
    return batch < cap ? batch : cap;
}

/* Pass 2: the original net over the shard, batch by batch, keeping the
 * responses at the sampled pixels of every target layer. */
static lrc_status original_pass(ctx *c)
{
    lrc_status st = LRC_OK;
    const lrc_net *net = c->net;
    const int64_t last = c->t[c->nt - 1].index;
    const int64_t batch = pass_batch(net, c->p->batch);
    const int64_t in_sz = lrc_net_input_size(net);
    float *buf[2] = {NULL, NULL}, *work = NULL, *imgs = NULL;
    size_t act = (size_t)lrc_net_max_activation(net), wl = 0;
    for (int64_t i = 0; i <= last; i++) {
        size_t w = lrc_layer_workspace(lrc_net_layer(net, i));
        wl = w > wl ? w : wl;
    }
    LRC_TRY(lrc_calloc(&buf[0], (size_t)batch * act, sizeof(float), "activations"));
    LRC_TRY(lrc_calloc(&buf[1], (size_t)batch * act, sizeof(float), "activations"));
    LRC_TRY(lrc_calloc(&work, wl, sizeof(float), "im2col buffer"));
    LRC_TRY(lrc_calloc(&imgs, (size_t)(batch * in_sz), sizeof(float), "image batch"));
    lrc_progress pg;
    lrc_progress_begin(&pg, "original pass (rank 0's images)", c->n_local,
                       c->rank == 0 && !c->p->quiet);
    /* Batch by batch through the layers, a conv with the ReLU after it in
     * one pass (the same bits as two: no target is a ReLU). (Image by image
     * instead was 3% faster on VGG-16 and 13% slower on the reference
     * model, whose small layers pay the per-call set-up once per image.) */
    for (int64_t s = 0; s < c->n_local; s += batch) {
        const int64_t m = c->n_local - s < batch ? c->n_local - s : batch;
        LRC_TRY(read_images(c, s, m, imgs));
        const float *src = imgs;
        int which = 0;
        int64_t ti = 0;
        lrc_progress_update(&pg, s);
        for (int64_t i = 0; i <= last; i++) {
            const lrc_layer *l = lrc_net_layer(net, i);
            if (ti < c->nt && c->t[ti].index == i) {
                target *t = &c->t[ti];
                const int64_t isz = l->in_shape[0] * l->in_shape[1] * l->in_shape[2];
                for (int64_t b = 0; b < m; b++) {
                    const int64_t row = (s + b) * c->L;
                    sample_responses(l, t->Wd, src + b * isz, t->locs + row,
                                     c->L, c->patch, t->y + row * l->out_c);
                }
                ti++;
            }
            if (i == last)
                break;
            if (i + 1 < last && lrc_layer_fuses_relu(l, lrc_net_layer(net, i + 1))) {
                LRC_TRY(lrc_conv_relu_forward(l, src, m, buf[which], work));
                i++;
            } else {
                LRC_TRY(lrc_layer_forward(l, src, m, buf[which], work));
            }
            src = buf[which];
            which ^= 1;
        }
    }
    lrc_progress_update(&pg, c->n_local);
    lrc_progress_end(&pg);
cleanup:
    lrc_free(&buf[0]);
    lrc_free(&buf[1]);
    lrc_free(&work);
    lrc_free(&imgs);
    return st;
}

/* The spectrum of each target layer's original responses (covariance
 * eigenvalues, descending, divided by the sample count). */
static lrc_status spectra(ctx *c, lrc_compress_result *res)
{
    lrc_status st = LRC_OK;
    double *C = NULL;
    for (int64_t j = 0; j < c->nt; j++) {
        lrc_compress_layer *r = &res->layers[j];
        const int64_t d = r->d;
        lrc_samples s = {d, c->n_local * c->L, c->t[j].y, c->t[j].y};
        int64_t n = 0;
        LRC_TRY(lrc_calloc(&C, (size_t)(d * d), sizeof *C, "covariance"));
        LRC_TRY(lrc_calloc(&r->eig, (size_t)d, sizeof *r->eig, "eigenvalues"));
        if (c->p->keep_stats)
            LRC_TRY(lrc_calloc(&r->mean_y, (size_t)d, sizeof *r->mean_y, "means"));
        if (c->nl.mixed_precision) {
            /* exact, as the solver's sums: the ranks (chosen from these
             * spectra) then cannot differ between rank counts either */
            LRC_TRY(lrc_stats_reduce_exact(c->comm, &s, c->nl.mixed_chunk,
                                           r->mean_y, NULL, C, NULL, &n));
        } else {
            LRC_TRY(lrc_stats_reduce(c->comm, &s, r->mean_y, NULL, NULL, NULL, C,
                                     &n));
        }
        LRC_TRY(lrc_eig_sym(d, C, r->eig, NULL));
        for (int64_t a = 0; a < d; a++)
            r->eig[a] = r->eig[a] > 0 ? r->eig[a] / (double)n : 0.0;
        if (c->p->keep_stats) {
            for (int64_t a = 0; a < d * d; a++)
                C[a] /= (double)n;
            r->cov_y = C; /* the result owns it now */
            C = NULL;
        }
        lrc_free(&C);
    }
cleanup:
    lrc_free(&C);
    return st;
}

/* The rank-selection view of a target: for the 3d method the channel step
 * acts on the 1 x k layer (filters of k d'' values) and the k x 1 layer is a
 * rank-independent extra cost. */
static lrc_rank_layer rank_view(const lrc_compress_layer *r)
{
    lrc_rank_layer v = {r->d, r->kkc, r->hw, r->eig, 0, 0};
    if (r->spatial_rank > 0) {
        const int64_t k = (int64_t)llround(sqrt((double)r->kkc / (double)r->c));
        const int64_t ho = r->hw / r->wo;
        v.kkc = k * r->spatial_rank;
        v.orig = r->d * r->kkc * r->hw;
        v.extra = r->spatial_rank * r->c * k * ho * r->w_in;
    }
    return v;
}

/* 3d: d'' from the layer's share of the budget. The k x 1 layer costs
 * d'' c k ho w_in; it gets 1/s of the layer's original cost d k k c ho wo,
 * with s = spatial_speedup (default 2 S: half of the layer's budget at the
 * target speedup S, the other half left to the channel step). So
 * d'' = d k wo / (s w_in), within 1..min(c k, d k). Giving the split a fixed
 * speedup of its own instead (e.g. sqrt(S)) would leave no budget for the
 * channel step at 4x, and the greedy would drain every rank to 1. */
static void choose_spatial_ranks(ctx *c, lrc_compress_result *res)
{
    if (c->p->method != LRC_METHOD_3D)
        return;
    double s = c->p->spatial_speedup;
    if (!(s > 0))
        s = 2.0 * (c->p->ranks ? 4.0 : c->p->speedup);
    for (int64_t j = 0; j < c->nt; j++) {
        lrc_compress_layer *r = &res->layers[j];
        const lrc_layer *l = lrc_net_layer(c->net, c->t[j].index);
        if (l->kh != l->kw || l->kh < 2)
            continue; /* 1x1 (or non-square) convs get the channel step only */
        const int64_t k = l->kh, ci = l->in_c;
        int64_t dd = (int64_t)llround((double)(r->d * k * r->wo) /
                                      (s * (double)r->w_in));
        const int64_t mx = ci * k < r->d * k ? ci * k : r->d * k;
        r->spatial_rank = dd < 1 ? 1 : (dd > mx ? mx : dd);
    }
}

static lrc_status choose_ranks(ctx *c, lrc_compress_result *res)
{
    lrc_status st = LRC_OK;
    lrc_rank_layer *rl = NULL;
    int64_t *ranks = NULL;
    int64_t fixed = 0;
    const int64_t nl = lrc_net_num_layers(c->net);
    for (int64_t i = 0, j = 0; i < nl; i++) {
        const lrc_layer *l = lrc_net_layer(c->net, i);
        if (l->op != LRC_OP_CONV)
            continue;
        if (j < c->nt && c->t[j].index == i)
            j++;
        else
            fixed += lrc_layer_macs(l);
    }
    if (!c->p->ranks) {
        double achieved = 0;
        LRC_TRY(lrc_calloc(&rl, (size_t)c->nt, sizeof *rl, "rank layers"));
        LRC_TRY(lrc_calloc(&ranks, (size_t)c->nt, sizeof *ranks, "ranks"));
        for (int64_t j = 0; j < c->nt; j++)
            rl[j] = rank_view(&res->layers[j]);
        LRC_TRY(lrc_select_ranks(rl, c->nt, fixed, c->p->speedup, ranks,
                                 &achieved));
        for (int64_t j = 0; j < c->nt; j++)
            res->layers[j].rank = ranks[j];
    }
    res->conv_before = res->conv_after = fixed;
    for (int64_t j = 0; j < c->nt; j++) {
        lrc_compress_layer *r = &res->layers[j];
        lrc_rank_layer one = rank_view(r);
        r->cost_before = r->d * r->kkc * r->hw;
        r->cost_after = lrc_rank_cost(&one, r->rank);
        if (r->cost_after >= r->cost_before) {
            r->rank = r->d; /* kept in its original form */
            r->spatial_rank = 0;
        }
        res->conv_before += r->cost_before;
        res->conv_after += r->cost_after;
        double kept = 0, all = 0;
        for (int64_t a = 0; a < r->d; a++) {
            all += r->eig ? r->eig[a] : 0;
            kept += (r->eig && a < r->rank) ? r->eig[a] : 0;
        }
        r->energy = all > 0 ? kept / all : 1.0;
    }
    res->speedup = (double)res->conv_before / (double)res->conv_after;
cleanup:
    lrc_free(&rl);
    lrc_free(&ranks);
    return st;
}

static void progress(const ctx *c, const lrc_compress_layer *r)
{
    if (c->rank != 0 || c->p->quiet)
        return;
    {
        /* layer k of n, with the elapsed time and a naive ETA (by layers) */
        int64_t k = 0;
        while (k < c->nt && c->t[k].index != r->index)
            k++;
        const double el = lrc_wtime() - c->t_layers;
        lrc_log("layer %" PRId64 " of %" PRId64 ", elapsed %.1f s, ETA %.1f s",
                k + 1, c->nt, el, el * (double)(c->nt - k - 1) / (double)(k + 1));
    }
    if (c->p->verbose && r->report.iters > 0)
        for (int it = 0; it < r->report.iters; it++)
            lrc_log("  iteration %d: lambda %g, relaxed objective %.6g -> %.6g "
                    "after the (M,b)-step, nonlinear error %.6g", it + 1,
                    r->report.lambda[it], r->report.relaxed[it],
                    r->report.relaxed_m[it], r->report.nonlinear[it]);
    if (r->rank >= r->d) {
        lrc_log("layer %s: d=%" PRId64 " kept (a rank-%" PRId64 " pair would "
                "not be cheaper)", r->name, r->d, r->rank);
        return;
    }
    const double te = r->report.target_energy > 0 ? r->report.target_energy : 1.0;
    lrc_log("layer %s: d=%" PRId64 " -> d'=%" PRId64 " (%.1f%% PCA energy), "
            "relative error linear %.4f -> final %.4f (%d iterations, best %d), "
            "%.2f s", r->name, r->d, r->rank, 100.0 * r->energy,
            r->report.linear_error / te, r->report.final_error / te,
            r->report.iters, r->report.best_iter + 1, r->seconds);
}

/* The factor of target j: from the checkpoint when the layer is there,
 * else solved on the (y, yh) samples (svd: from the weights) and added to
 * the checkpoint. LRC_STOPPED once the checkpoint holds p->stop_after
 * layers. Collective. */
static lrc_status get_factor(ctx *c, int64_t j, const lrc_layer *conv,
                             const double *yh, lrc_compress_result *res,
                             lrc_lowrank *f)
{
    lrc_status st = LRC_OK;
    lrc_compress_layer *r = &res->layers[j];
    memset(f, 0, sizeof *f);
    if (j < c->ck.n_done) {
        const lrc_ckpt_entry *e = &c->ck.e[j];
        if (e->f.d != r->d || e->f.rank != r->rank)
            LRC_RAISE(LRC_ERR_FORMAT, "%s: layer '%s' is %" PRId64 "/%" PRId64
                      " in the checkpoint but %" PRId64 "/%" PRId64 " in this run",
                      c->ck.path, r->name, e->f.rank, e->f.d, r->rank, r->d);
        LRC_CALL(lrc_lowrank_copy(f, &e->f));
        lrc_solve_report_free(&r->report);
        LRC_TRY(lrc_report_copy(&r->report, &e->rep));
        r->seconds = e->seconds;
        return LRC_OK;
    }
    double t0 = lrc_wtime();
    if (c->p->method == LRC_METHOD_SVD) {
        LRC_TRY(lrc_svd_factor(conv, r->rank, f));
        /* measured on the same samples as the data-driven methods */
        lrc_samples s = {r->d, c->n_local * c->L, c->t[j].y, c->t[j].y};
        LRC_TRY(lrc_factor_errors(c->comm, &s, f, &r->report.final_error,
                                  &r->report.linear_lsq,
                                  &r->report.target_energy, &r->report.samples));
        r->report.linear_error = r->report.final_error;
        r->report.best_iter = -1;
    } else {
        lrc_samples s = {r->d, c->n_local * c->L, c->t[j].y, yh};
        LRC_TRY(lrc_solve_layer(c->comm, &s, r->rank,
                                lrc_method_is_nonlinear(c->p->method),
                                &c->nl, f, &r->report));
    }
    r->seconds = lrc_wtime() - t0;
    if (c->ck.n_targets > 0) {
        LRC_TRY(lrc_ckpt_add(c->comm, &c->ck, f, &r->report, r->seconds));
        if (c->p->stop_after > 0 && c->ck.n_done >= c->p->stop_after) {
            progress(c, r);
            if (c->rank == 0)
                lrc_log("stopped after %" PRId64 " layer%s as asked; the "
                        "checkpoint %s holds them: run again to resume",
                        c->ck.n_done, c->ck.n_done > 1 ? "s" : "", c->ck.path);
            st = LRC_STOPPED;
            goto cleanup;
        }
    }
    return LRC_OK;
cleanup:
    lrc_lowrank_free(f);
    return st;
}

/* Solves target j and returns its replacement pair. */
static lrc_status solve_target(ctx *c, int64_t j, const lrc_layer *conv,
                               const double *yh, lrc_compress_result *res,
                               lrc_layer pair[2])
{
    lrc_status st = LRC_OK;
    lrc_lowrank f;
    LRC_CALL(get_factor(c, j, conv, yh, res, &f));
    LRC_TRY(lrc_decompose_conv(conv, &f, &pair[0], &pair[1]));
    progress(c, &res->layers[j]);
cleanup:
    lrc_lowrank_free(&f);
    return st;
}

/* With keep_stats: the approximated responses' mean and covariance and the
 * cross-covariance with the original ones, for stats.h5. Collective. */
static lrc_status keep_asym_stats(ctx *c, int64_t j, const double *yh,
                                  lrc_compress_layer *r)
{
    const int64_t d = r->d;
    int64_t n = 0;
    if (!c->p->keep_stats)
        return LRC_OK;
    lrc_samples s = {d, c->n_local * c->L, c->t[j].y, yh};
    LRC_CALL(lrc_calloc(&r->mean_yh, (size_t)d, sizeof(double), "means"));
    LRC_CALL(lrc_calloc(&r->cov_yh, (size_t)(d * d), sizeof(double), "covariance"));
    LRC_CALL(lrc_calloc(&r->cross, (size_t)(d * d), sizeof(double), "covariance"));
    LRC_CALL(lrc_stats_reduce(c->comm, &s, NULL, r->mean_yh, r->cov_yh, r->cross,
                              NULL, &n));
    for (int64_t a = 0; a < d * d; a++) {
        r->cov_yh[a] /= (double)n;
        r->cross[a] /= (double)n;
    }
    return LRC_OK;
}

/* One image's way through the approximated layers that no pass has applied
 * yet, then the sampling of the next target's responses on the result. */
typedef struct chain {
    ctx *c;
    const lrc_net *approx;
    int64_t from, to;        /* approximated-net layers [from, to) to apply */
    float *tmp[2];           /* ping-pong, tmp_len floats each */
    float *work;             /* im2col scratch */
    const lrc_layer *pre;    /* 3d: the k x 1 layer V, applied before sampling */
    float *pre_out;          /* 3d: V's output */
    const lrc_layer *samp;   /* the layer whose responses are sampled */
    const double *Wd;        /* its weights in double */
    int64_t j;               /* the target */
    double *yh;              /* n_local*L x d: the sampled responses */
} chain;

static lrc_status chain_image(void *arg, int64_t b, const float *in,
                              const float **out)
{
    chain *ch = arg;
    const ctx *c = ch->c;
    const float *x = in;
    int w = 0;
    for (int64_t i = ch->from; i < ch->to; i++) {
        LRC_CALL(lrc_layer_forward(lrc_net_layer(ch->approx, i), x, 1,
                                   ch->tmp[w], ch->work));
        x = ch->tmp[w];
        w ^= 1;
    }
    const float *s_in = x;
    if (ch->pre) {
        LRC_CALL(lrc_layer_forward(ch->pre, x, 1, ch->pre_out, ch->work));
        s_in = ch->pre_out;
    }
    sample_responses(ch->samp, ch->Wd, s_in, c->t[ch->j].locs + b * c->L, c->L,
                     c->patch, ch->yh + b * c->L * ch->samp->out_c);
    *out = x;
    return LRC_OK;
}

static int64_t shape_len(const int64_t s[3]) { return s[0] * s[1] * s[2]; }

/* Grows *buf to hold n floats. */
static lrc_status grow(float **buf, size_t *len, size_t n, const char *what)
{
    if (n <= *len)
        return LRC_OK;
    lrc_free(buf);
    *len = 0;
    LRC_CALL(lrc_calloc(buf, n, sizeof **buf, what));
    *len = n;
    return LRC_OK;
}

/* Loads the shard's calibration images into the store, a batch at a time. */
static lrc_status fill_store(ctx *c, lrc_actstore *as)
{
    lrc_status st = LRC_OK;
    const int64_t in_sz = lrc_net_input_size(c->net), B = c->p->batch;
    float *buf = NULL;
    LRC_TRY(lrc_calloc(&buf, (size_t)(B * in_sz), sizeof *buf, "image batch"));
    for (int64_t s = 0; s < c->n_local; s += B) {
        const int64_t m = c->n_local - s < B ? c->n_local - s : B;
        LRC_TRY(read_images(c, s, m, buf));
        LRC_TRY(lrc_actstore_fill(as, s, m, in_sz, buf));
    }
    if (c->n_local == 0)
        LRC_TRY(lrc_actstore_fill(as, 0, 0, in_sz, buf));
cleanup:
    lrc_free(&buf);
    return st;
}

/* Pass 4, asymmetric: carry xhat through the approximated net, solving each
 * target on yhat sampled from xhat. One streaming pass over the shard per
 * solved target applies the layers since the previous one (the previous
 * target's replacement included) and samples this target's responses; the
 * carried activations stay in memory or spill to the scratch file, as the
 * memory plan says. */
static lrc_status approx_pass(ctx *c, lrc_net *approx, lrc_compress_result *res)
{
    lrc_status st = LRC_OK;
    lrc_actstore as;
    chain ch;
    double *yh = NULL, *wd = NULL;
    lrc_layer pair[2], vh[2], three[3];
    lrc_net *split = NULL;
    size_t tmp_len[2] = {0, 0}, work_len = 0, pre_len = 0;
    memset(&as, 0, sizeof as);
    as.file = as.dset = -1;
    memset(&ch, 0, sizeof ch);
    memset(pair, 0, sizeof pair);
    memset(vh, 0, sizeof vh);
    size_t maxd = 0;
    for (int64_t j = 0; j < c->nt; j++)
        maxd = (size_t)res->layers[j].d > maxd ? (size_t)res->layers[j].d : maxd;
    LRC_TRY(lrc_calloc(&yh, (size_t)(c->n_local * c->L) * maxd + 1, sizeof *yh,
                       "approximated responses"));
    LRC_TRY(lrc_actstore_open(&as, c->n_local, c->plan.width, c->plan.batch,
                              c->plan.spill ? c->plan.dir : NULL, c->rank));
    LRC_TRY(fill_store(c, &as));
    ch.c = c;
    ch.approx = approx;
    ch.yh = yh;
    int64_t from = 0, shift = 0; /* layers added to `approx` so far */
    for (int64_t j = 0; j < c->nt; j++) {
        lrc_compress_layer *r = &res->layers[j];
        const lrc_layer *l = lrc_net_layer(c->net, c->t[j].index);
        if (r->rank >= r->d) {
            progress(c, r); /* kept: stays in the chain of the next pass */
            continue;
        }
        const int64_t pos = c->t[j].index + shift;
        const int threed = r->spatial_rank > 0;
        ch.from = from;
        ch.to = pos;
        ch.j = j;
        ch.pre = NULL;
        ch.samp = l;
        ch.Wd = c->t[j].Wd;
        if (threed) {
            LRC_TRY(lrc_spatial_split(l, r->spatial_rank, l->name, &vh[0], &vh[1]));
            LRC_TRY(lrc_net_create(&split));
            LRC_TRY(lrc_net_append(split, &vh[0]));
            LRC_TRY(lrc_net_append(split, &vh[1]));
            LRC_TRY(lrc_net_set_input(split, l->in_shape[0], l->in_shape[1],
                                      l->in_shape[2]));
            const lrc_layer *h = lrc_net_layer(split, 1);
            const int64_t kh = h->in_c * h->kh * h->kw;
            ch.pre = lrc_net_layer(split, 0);
            ch.samp = h;
            LRC_TRY(lrc_calloc(&wd, (size_t)(r->d * kh), sizeof *wd, "weights"));
            for (int64_t q = 0; q < r->d * kh; q++)
                wd[q] = h->weight[q];
            ch.Wd = wd;
            LRC_TRY(grow(&ch.pre_out, &pre_len,
                         (size_t)shape_len(ch.pre->out_shape), "k x 1 outputs"));
        }
        /* scratch for the chain's layers */
        size_t need_tmp = 1, need_work = 1;
        for (int64_t i = from; i <= pos; i++) {
            const lrc_layer *li = i < pos ? lrc_net_layer(approx, i) : ch.pre;
            if (!li)
                continue;
            size_t o = (size_t)shape_len(li->out_shape), wk = lrc_layer_workspace(li);
            need_tmp = o > need_tmp ? o : need_tmp;
            need_work = wk > need_work ? wk : need_work;
        }
        LRC_TRY(grow(&ch.tmp[0], &tmp_len[0], need_tmp, "activations"));
        LRC_TRY(grow(&ch.tmp[1], &tmp_len[1], need_tmp, "activations"));
        LRC_TRY(grow(&ch.work, &work_len, need_work, "im2col buffer"));
        LRC_TRY(lrc_actstore_map(&as, shape_len(l->in_shape), chain_image, &ch));
        from = pos;

        LRC_TRY(keep_asym_stats(c, j, yh, r));
        if (threed) {
            lrc_lowrank f;
            LRC_TRY(get_factor(c, j, ch.samp, yh, res, &f));
            st = lrc_decompose_conv(ch.samp, &f, &pair[0], &pair[1]);
            lrc_lowrank_free(&f);
            if (st != LRC_OK)
                goto cleanup;
            progress(c, r);
            three[0] = *ch.pre;
            three[1] = pair[0];
            three[2] = pair[1];
            LRC_TRY(lrc_net_replace(approx, pos, three, 3));
            shift += 2;
            ch.pre = NULL;
            ch.samp = NULL;
            lrc_net_destroy(&split);
            lrc_layer_release(&vh[0]);
            lrc_layer_release(&vh[1]);
            lrc_free(&wd);
        } else {
            LRC_TRY(solve_target(c, j, l, yh, res, pair));
            LRC_TRY(lrc_net_replace(approx, pos, pair, 2));
            shift++;
        }
        lrc_layer_release(&pair[0]);
        lrc_layer_release(&pair[1]);
    }
    res->scratch_io_mb = as.io_bytes / 1048576.0;
cleanup:
    lrc_actstore_close(&as);
    lrc_layer_release(&pair[0]);
    lrc_layer_release(&pair[1]);
    lrc_layer_release(&vh[0]);
    lrc_layer_release(&vh[1]);
    lrc_net_destroy(&split);
    lrc_free(&ch.tmp[0]);
    lrc_free(&ch.tmp[1]);
    lrc_free(&ch.work);
    lrc_free(&ch.pre_out);
    lrc_free(&yh);
    lrc_free(&wd);
    return st;
}

/* Symmetric methods and svd: each layer on its own original responses. */
static lrc_status symmetric_pass(ctx *c, lrc_net *approx, lrc_compress_result *res)
{
    lrc_status st = LRC_OK;
    lrc_layer pair[2];
    memset(pair, 0, sizeof pair);
    int64_t shift = 0;
    for (int64_t j = 0; j < c->nt; j++) {
        lrc_compress_layer *r = &res->layers[j];
        const lrc_layer *l = lrc_net_layer(c->net, c->t[j].index);
        if (r->rank >= r->d) {
            progress(c, r);
            continue;
        }
        LRC_TRY(solve_target(c, j, l, c->t[j].y, res, pair));
        LRC_TRY(lrc_net_replace(approx, c->t[j].index + shift, pair, 2));
        shift++;
        lrc_layer_release(&pair[0]);
        lrc_layer_release(&pair[1]);
    }
cleanup:
    lrc_layer_release(&pair[0]);
    lrc_layer_release(&pair[1]);
    return st;
}

static lrc_status prepare_targets(ctx *c)
{
    size_t maxk = 0;
    for (int64_t j = 0; j < c->nt; j++) {
        target *t = &c->t[j];
        const lrc_layer *l = lrc_net_layer(c->net, t->index);
        const int64_t K = l->in_c * l->kh * l->kw, d = l->out_c;
        const int64_t hw = l->out_shape[1] * l->out_shape[2];
        maxk = (size_t)K > maxk ? (size_t)K : maxk;
        LRC_CALL(lrc_calloc(&t->Wd, (size_t)(d * K), sizeof *t->Wd, "weights"));
        for (int64_t q = 0; q < d * K; q++)
            t->Wd[q] = l->weight[q];
        LRC_CALL(lrc_calloc(&t->y, (size_t)(c->n_local * c->L * d),
                            sizeof *t->y, "original responses"));
        LRC_CALL(lrc_calloc(&t->locs, (size_t)(c->n_local * c->L),
                            sizeof *t->locs, "sample pixels"));
        for (int64_t b = 0; b < c->n_local; b++)
            for (int64_t q = 0; q < c->L; q++)
                t->locs[b * c->L + q] = sample_location(c->p->seed, t->index,
                                                        c->img_ids[b], q, hw);
    }
    LRC_CALL(lrc_calloc(&c->patch, (size_t)c->L * maxk, sizeof *c->patch,
                        "patch buffer"));
    return LRC_OK;
}

/* The memory plan of the largest shard under p->memory_limit_mb: the
 * responses of every target (double), the original pass's batch buffers,
 * the solver's working set, and the carried activations of the
 * approximated pass, in memory when they fit, else spilled to a per-rank
 * scratch HDF5 file and streamed in micro-batches sized to the limit.
 * Every rank makes the same choice. */
static lrc_status plan_memory(ctx *c, lrc_compress_result *res)
{
    const lrc_compress_params *p = c->p;
    const lrc_net *net = c->net;
    const double MiB = 1048576.0, L = (double)p->locations;
    const int64_t per = c->per_max;
    const int64_t in_sz = lrc_net_input_size(net), last = c->t[c->nt - 1].index;
    int64_t width = in_sz;
    for (int64_t i = 0; i <= last; i++) {
        const int64_t o = shape_len(lrc_net_layer(net, i)->out_shape);
        width = o > width ? o : width;
    }
    double resp = 0, maxd = 0;
    for (int64_t j = 0; j < c->nt; j++) {
        resp += (double)res->layers[j].d;
        maxd = (double)res->layers[j].d > maxd ? (double)res->layers[j].d : maxd;
    }
    const double y = (double)per * L * resp * 8.0;
    const double yh = (double)per * L * maxd * 8.0;
    /* the solver: samples' centred copy, predictions, z, scratch; d x d
     * matrices */
    const double solver = (double)per * L * maxd * 8.0 * 4.0 + 8.0 * maxd * maxd * 8.0;
    const int64_t pb = pass_batch(net, p->batch);
    const int64_t batch = pb < per ? pb : (per > 0 ? per : 1);
    const double orig = (double)batch *
                        ((double)in_sz + 2.0 * (double)lrc_net_max_activation(net)) * 4.0;
    /* only the asymmetric methods carry activations */
    const double store = lrc_method_is_asym(p->method)
                             ? (double)per * (double)width * 4.0 : 0.0;
    /* the weights, twice (the original net and the one being approximated) */
    double model = 0;
    for (int64_t i = 0; i < lrc_net_num_layers(net); i++) {
        const lrc_layer *l = lrc_net_layer(net, i);
        const int64_t k = l->op == LRC_OP_CONV ? l->kh * l->kw : 1;
        if (l->op == LRC_OP_CONV || l->op == LRC_OP_DENSE)
            model += 2.0 * 4.0 * (double)(l->out_c * l->in_c * k + l->out_c);
    }
    const double rest = yh + solver;
    const double need = model + y + (orig > store + rest ? orig : store + rest);
    const double limit = (double)p->memory_limit_mb * MiB;
    const int talk = c->rank == 0 && !p->quiet;
    c->plan.width = width;
    c->plan.dir = p->scratch_dir ? p->scratch_dir : ".";
    c->plan.spill = 0;
    c->plan.batch = per;
    if (p->memory_limit_mb <= 0 || need <= limit) {
        if (talk)
            lrc_log("memory: about %.0f MiB per rank for %" PRId64 " images; "
                    "the carried activations (%.0f MiB) stay in memory",
                    need / MiB, per, store / MiB);
    } else {
        const double floor_need = model + y + (orig > rest + 2.0 * (double)width * 4.0
                                                   ? orig : rest + 2.0 * (double)width * 4.0);
        if (floor_need > limit)
            LRC_RAISE(LRC_ERR_ARG, "this run needs at least %.0f MiB per rank even "
                      "with the activations spilled to scratch files (responses "
                      "%.0f MiB, solver %.0f MiB, one image's activations %.1f MiB),"
                      " over memory_limit_mb %" PRId64 ": use more ranks, fewer "
                      "images or fewer locations", floor_need / MiB, y / MiB,
                      rest / MiB, 2.0 * (double)width * 4.0 / MiB,
                      p->memory_limit_mb);
        int64_t m = (int64_t)((limit - model - y - rest) / (2.0 * (double)width * 4.0));
        m = m < per ? m : per;
        c->plan.spill = 1;
        c->plan.batch = m < 1 ? 1 : m;
        if (talk)
            lrc_log("memory: the carried activations of %" PRId64 " images need "
                    "%.0f MiB per rank, %.0f MiB in all, over memory_limit_mb "
                    "%" PRId64 ": spilling them to per-rank scratch HDF5 files "
                    "in %s, %" PRId64 " images per micro-batch", per,
                    store / MiB, need / MiB, p->memory_limit_mb, c->plan.dir,
                    c->plan.batch);
    }
    res->spilled = c->plan.spill;
    res->micro_batch = c->plan.batch;
    res->memory_planned_mb = c->plan.spill
        ? (model + y + rest + 2.0 * (double)c->plan.batch * (double)width * 4.0) / MiB
        : need / MiB;
    return LRC_OK;
}

lrc_status lrc_compress(MPI_Comm comm, const lrc_net *net, lrc_dataset *ds,
                        const lrc_norm *norm, const lrc_compress_params *p,
                        lrc_net **out, lrc_compress_result *res)
{
    lrc_status st = LRC_OK;
    ctx c;
    int64_t *chosen = NULL;
    lrc_net *approx = NULL;
    memset(&c, 0, sizeof c);
    memset(res, 0, sizeof *res);
    *out = NULL;
    const double t_start = lrc_wtime();
    c.comm = comm;
    c.net = net;
    c.p = p;
    c.L = p->locations;
    LRC_TRY_MPI(MPI_Comm_rank(comm, &c.rank));
    LRC_TRY_MPI(MPI_Comm_size(comm, &c.size));
    res->nranks = c.size;

    const int64_t total = lrc_dataset_count(ds);
    if (p->images < 1)
        LRC_FAIL(LRC_ERR_ARG, "--images must be at least 1");
    if (p->images > total)
        LRC_FAIL(LRC_ERR_ARG, "--images %" PRId64 " exceeds the %" PRId64
                 " images of %s", p->images, total, lrc_dataset_spec(ds));
    if (p->locations < 1)
        LRC_FAIL(LRC_ERR_ARG, "--locations must be at least 1");
    if (p->batch < 1)
        LRC_FAIL(LRC_ERR_ARG, "--batch must be at least 1");
    if (!p->ranks && !(p->speedup > 1.0))
        LRC_FAIL(LRC_ERR_ARG, "--speedup %g must be greater than 1", p->speedup);
    LRC_TRY(resolve_targets(&c, res));

    /* 1. calibration images, sharded */
    int64_t start = 0;
    LRC_TRY(lrc_calloc(&chosen, (size_t)p->images, sizeof *chosen, "image list"));
    LRC_TRY(choose_images(comm, ds, p->images, p->seed, chosen,
                          &res->images_skipped));
    if (res->images_skipped > 0 && c.rank == 0 && !p->quiet)
        lrc_log("%s: %" PRId64 " bad image files skipped; %" PRId64 " others "
                "took their place", lrc_dataset_spec(ds), res->images_skipped,
                res->images_skipped);
    c.nl = p->nl;
    /* Mixed precision sums its products over chunks of samples aligned to
     * the global sample index and adds the chunks exactly; the solver moves
     * the samples of a chunk that straddles two shards to one rank, so the
     * images are sharded evenly either way. The chunk is the library's
     * (512 samples): each one's d x d product is converted to fixed point,
     * so smaller chunks cost more conversions. */
    lrc_shard_range(p->images, c.rank, c.size, &start, &c.n_local);
    c.per_max = (p->images + c.size - 1) / c.size;
    c.img_ids = chosen + start;
    res->images = p->images;
    res->samples = p->images * p->locations;
    c.ds = ds;
    c.norm = norm;
    LRC_TRY(prepare_targets(&c));
    LRC_TRY(plan_memory(&c, res));

    /* 2. original responses; 3. ranks */
    double t0 = lrc_wtime();
    LRC_TRY(original_pass(&c));
    res->t_original = lrc_wtime() - t0;
    t0 = lrc_wtime();
    LRC_TRY(spectra(&c, res));
    choose_spatial_ranks(&c, res);
    LRC_TRY(choose_ranks(&c, res));
    res->t_ranks = lrc_wtime() - t0;
    if (c.rank == 0 && !p->quiet)
        lrc_log("%s on %" PRId64 " layers, %" PRId64 " images x %" PRId64
                " locations on %d rank%s: theoretical conv speedup %.2fx",
                lrc_method_name(p->method), c.nt, p->images, p->locations,
                c.size, c.size > 1 ? "s" : "", res->speedup);

    /* 4. solve, layer by layer (resuming from a checkpoint) */
    if (p->checkpoint) {
        LRC_TRY(lrc_ckpt_open(comm, p->checkpoint,
                              p->fingerprint ? p->fingerprint : "", c.nt, &c.ck));
        if (c.ck.n_done > 0 && c.rank == 0 && !p->quiet)
            lrc_log("resuming: %" PRId64 " of %" PRId64 " layers come from the "
                    "checkpoint %s", c.ck.n_done, c.nt, p->checkpoint);
    }
    t0 = lrc_wtime();
    c.t_layers = t0;
    LRC_TRY(lrc_net_clone(net, &approx));
    if (lrc_method_is_asym(p->method))
        LRC_TRY(approx_pass(&c, approx, res));
    else
        LRC_TRY(symmetric_pass(&c, approx, res));
    res->t_approx = lrc_wtime() - t0;
    res->t_total = lrc_wtime() - t_start;
    *out = approx;
    approx = NULL;
cleanup:
    for (int64_t j = 0; c.t && j < c.nt; j++) {
        lrc_free(&c.t[j].Wd);
        lrc_free(&c.t[j].y);
        lrc_free(&c.t[j].yh);
        lrc_free(&c.t[j].locs);
    }
    lrc_free(&c.t);
    lrc_free(&c.patch);
    lrc_ckpt_free(&c.ck);
    lrc_free(&chosen);
    lrc_net_destroy(&approx);
    if (st != LRC_OK)
        lrc_compress_result_free(res);
    return st;
}

void lrc_compress_print(const lrc_compress_result *r, FILE *out)
{
    fprintf(out, "%-28s %6s %6s %9s %14s %14s %9s %10s\n", "layer", "d", "d'",
            "energy", "MACs before", "MACs after", "speedup", "rel. error");
    for (int64_t j = 0; j < r->n; j++) {
        const lrc_compress_layer *l = &r->layers[j];
        char err[32] = "kept";
        if (l->rank < l->d)
            snprintf(err, sizeof err, "%.4f", l->report.target_energy > 0
                         ? l->report.final_error / l->report.target_energy
                         : l->report.final_error);
        fprintf(out, "%-28s %6" PRId64 " %6" PRId64 " %8.1f%% %14" PRId64
                " %14" PRId64 " %8.2fx %10s\n", l->name, l->d, l->rank,
                100.0 * l->energy, l->cost_before, l->cost_after,
                (double)l->cost_before / (double)l->cost_after, err);
    }
    fprintf(out, "whole model (conv): %" PRId64 " -> %" PRId64 " MACs/image, "
            "theoretical speedup %.2fx\n", r->conv_before, r->conv_after,
            r->speedup);
    fprintf(out, "time: original pass %.2f s, spectra+ranks %.2f s, "
            "approximated pass + solves %.2f s, total %.2f s on %d rank%s\n",
            r->t_original, r->t_ranks, r->t_approx, r->t_total, r->nranks,
            r->nranks > 1 ? "s" : "");
}

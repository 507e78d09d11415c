/* Winograd convolution F(4x4, 3x3) (Lavin and Gray, "Fast Algorithms for
 * Convolutional Neural Networks", CVPR 2016) for 3x3 stride-1 convs, and
 * F(2x2, 3x3) for outputs of fewer than 49 tiles of 4 x 4 (what follows
 * with 2, 4 and 16 in place of 4, 6 and 36).
 *
 * Each 4 x 4 block of outputs ("tile") of an output channel f is
 *   Y = A^T [ sum_ch U[f][ch] (.) V[ch] ] A,
 * with U[f][ch] = G g G^T the 6 x 6 transform of the 3 x 3 filter (f, ch)
 * and V[ch] = B^T x B that of the 6 x 6 input patch under the tile; (.) is
 * the elementwise product. For each of the 36 elements xi of a 6 x 6
 * transform, the sum over channels of all tiles is one matrix product,
 *   M[xi] (d x tiles) = U[xi] (d x c) V[xi] (c x tiles),
 * run by our own AVX-512 kernel (below; OpenBLAS sgemm on other CPUs):
 * 36 products of d c tiles multiply-adds replace
 * 9 d c (16 tiles) of the direct convolution, 4x fewer. The transforms cost
 * O(c + d) per tile, against O(c d) for the products, so the algorithm
 * pays on convs whose c and d are both large (the rule is in conv.c).
 *
 * U is computed once per layer by the forward plan that holds it
 * (lrc_fw_wino_weights, in double, rounded to float once). Per image,
 * for blocks of whole tile rows (about WINO_BLOCK_TILES tiles, fixed by
 * the layer's shape), the input transform fills V from the input's rows
 * (zero-padded to a whole number of tiles plus the 2-pixel overlap, as it
 * reads them), the 36 products fill M, and the output transform
 * writes the block's outputs with the bias (and the ReLU when fused).
 * F(4x4, 3x3)'s transforms work on groups of 16 tiles in vectors: the
 * input's along each padded row once, then down; the output's both ways
 * in registers, storing whole output rows (docs/BENCHMARKS.md, section
 * 17).
 *
 * Numbers: the transforms and products are in float. The transform
 * matrices have entries up to 8 (A^T) and 5 (B^T), so the rounding error
 * is larger than the direct conv's, about 1e-6 to 1e-5 of the outputs'
 * magnitude on VGG-16's layers (test_forward_winograd bounds it at
 * 1e-4 against a double reference); oneDNN's Winograd is the same
 * algorithm. An image's blocks depend on the layer's shape only: the
 * same bits for an image alone or in any batch, and on every run. */
#include <cblas.h>
#include <stdint.h>
#include <string.h>

#include "forward/forward_impl.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define WINO_MK_X86 1
#include <immintrin.h>
#endif

/* Tiles per block (rounded to whole tile rows, at least one): 36 products
 * of d x c x WINO_BLOCK_TILES each. Measured with bench_conv on VGG-16's
 * shapes (docs/BENCHMARKS.md, section 11). */
#define WINO_BLOCK_TILES 96

int lrc_fw_wino_shape_ok(const lrc_layer *l)
{
    return l->op == LRC_OP_CONV && l->kh == 3 && l->kw == 3 && l->sh == 1 &&
           l->sw == 1 && l->pt >= 0 && l->pl >= 0 && l->pb >= 0 &&
           l->pr >= 0 && l->in_c >= 1 && l->out_c >= 1 &&
           l->out_shape[1] >= 1 && l->out_shape[2] >= 1 &&
           l->out_shape[1] == l->in_shape[1] + l->pt + l->pb - 2 &&
           l->out_shape[2] == l->in_shape[2] + l->pl + l->pr - 2;
}

int64_t lrc_fw_wino_tiles(const lrc_layer *l, int m)
{
    return ((l->out_shape[1] + m - 1) / m) * ((l->out_shape[2] + m - 1) / m);
}

int lrc_fw_wino_tile(const lrc_layer *l)
{
    return lrc_fw_wino_tiles(l, 4) >= LRC_WINO_F4_MIN_TILES ? 4 : 2;
}

/* The tiling of layer l: tiles of m x m outputs (F(m x m, 3 x 3), each
 * from an a x a input patch, a = m + 2), th x tw of them, in blocks of rb
 * tile rows; the padded image hp x wp, each of its rows stored as m phases
 * of tw + 1 columns (column x at [x % m][x / m]), rs = m (tw + 1) floats. */
typedef struct {
    int m, a;
    int64_t th, tw, rb, hp, wp, rs;
} wino_tiling;

static void tiling_of(const lrc_layer *l, wino_tiling *t)
{
    t->m = lrc_fw_wino_tile(l);
    t->a = t->m + 2;
    t->th = (l->out_shape[1] + t->m - 1) / t->m;
    t->tw = (l->out_shape[2] + t->m - 1) / t->m;
    t->rb = (WINO_BLOCK_TILES + t->tw - 1) / t->tw;
    if (t->rb > t->th)
        t->rb = t->th;
    t->hp = t->m * t->th + 2;
    t->wp = t->m * t->tw + 2;
    t->rs = t->m * (t->tw + 1);
}

size_t lrc_fw_wino_weights_size(const lrc_layer *l)
{
    /* the packed layout's blocks of 8 channels, rounded up: the larger */
    const size_t a = (size_t)lrc_fw_wino_tile(l) + 2;
    return a * a * (size_t)((l->out_c + 7) / 8 * 8) * (size_t)l->in_c;
}

/* G (a x 3) of F(4, 3), interpolation points 0, 1, -1, 2, -2 and infinity,
 * and of F(2, 3), points 0, 1, -1 and infinity */
static const double G4[6][3] = {{1.0 / 4, 0, 0},
                               {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                               {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                               {1.0 / 24, 1.0 / 12, 1.0 / 6},
                               {1.0 / 24, -1.0 / 12, 1.0 / 6},
                               {0, 0, 1}};
static const double G2[4][3] = {
    {1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};

/* Where U[xi][f][ch] is kept: packed for our product kernel (blocks of 8
 * output channels, each c x 8: [xi][f / 8][ch][f % 8], zero past d), or
 * d x c per xi for sgemm. */
static int64_t wino_u_index(int64_t xi, int64_t f, int64_t ch, int64_t d,
                            int64_t c, int packed)
{
    if (!packed)
        return (xi * d + f) * c + ch;
    const int64_t dp = (d + 7) / 8 * 8;
    return ((xi * dp + f / 8 * 8) * c + ch * 8) + f % 8;
}

void lrc_fw_wino_weights(const lrc_layer *l, float *u)
{
    lrc_fw_wino_weights_with(l, lrc_fw_wino_packed(), u);
}

void lrc_fw_wino_weights_with(const lrc_layer *l, int packed, float *u)
{
    memset(u, 0, lrc_fw_wino_weights_size(l) * sizeof(float));
    const int64_t d = l->out_c, c = l->in_c;
    const int a = lrc_fw_wino_tile(l) + 2;
    const double(*G)[3] = a == 6 ? G4 : G2;
    for (int64_t f = 0; f < d; f++)
        for (int64_t ch = 0; ch < c; ch++) {
            const float *g = l->weight + (f * c + ch) * 9;
            double gg[6][3]; /* G g */
            for (int i = 0; i < a; i++)
                for (int q = 0; q < 3; q++)
                    gg[i][q] = G[i][0] * g[q] + G[i][1] * g[3 + q] +
                               G[i][2] * g[6 + q];
            for (int i = 0; i < a; i++)
                for (int j = 0; j < a; j++)
                    u[wino_u_index(i * a + j, f, ch, d, c, packed)] =
                        (float)(gg[i][0] * G[j][0] + gg[i][1] * G[j][1] +
                                gg[i][2] * G[j][2]);
        }
}

/* Workspace layout, in floats, 64-byte aligned pieces. F(4x4, 3x3): the
 * block's padded rows transformed along (T: 4 rb + 2 rows of 6 x tw), an
 * edge scratch (WINO_EDGE), V (36 x c x block tiles), M (36 x d x block
 * tiles) and WINO_SLACK floats after it. F(2x2, 3x3): the input
 * transform's window of padded rows (4 x rs) and one plain padded row
 * (wp), V, M, WINO_SLACK, the input transform's rows (4 x rs) and the
 * output transform's (2 x 4 x tw, then one row of 2 tw). The reads of up
 * to 15 floats past V's end (the product kernel's) land in M, and those
 * past M's end (the output transform's last, partial group of tiles) in
 * the slack: neither is used. */
#define WINO_EDGE 80  /* >= 4 x 16 + 2: one group of 16 tiles' row */
#define WINO_SLACK 16

/* The floats from one of V's (or M's) a a matrices to the next: rows x bt
 * plus one cache line. Without it, the matrices of VGG-16's shapes lay a
 * multiple of 4 KiB apart, so the 36 runs that a transform reads or writes
 * fell into the same few sets of L1 (the transforms ran 2-3x slower). */
static int64_t wino_plane(int64_t rows, int64_t bt)
{
    return rows * bt + 16;
}

typedef struct {
    int64_t tb, edge, win, plain, v, m, trow, orow, total;
} wino_layout;

static int64_t align16(int64_t x)
{
    return (x + 15) / 16 * 16;
}

static void layout_of(const lrc_layer *l, const wino_tiling *t, wino_layout *g)
{
    const int64_t bt = t->rb * t->tw, aa = (int64_t)t->a * t->a;
    memset(g, 0, sizeof *g);
    if (t->a == 6) {
        g->tb = 0;
        g->edge = align16(g->tb + (4 * t->rb + 2) * 6 * t->tw);
        g->v = align16(g->edge + WINO_EDGE);
        g->m = align16(g->v + aa * wino_plane(l->in_c, bt));
        g->total = g->m + aa * wino_plane(l->out_c, bt) + WINO_SLACK;
        return;
    }
    g->win = 0;
    g->plain = g->win + t->a * t->rs;
    g->v = align16(g->plain + t->wp);
    g->m = align16(g->v + aa * wino_plane(l->in_c, bt));
    g->trow = g->m + aa * wino_plane(l->out_c, bt) + WINO_SLACK;
    g->orow = g->trow + t->a * t->rs;
    g->total = g->orow + t->m * t->a * t->tw + t->m * t->tw;
}

size_t lrc_fw_wino_workspace(const lrc_layer *l)
{
    wino_tiling t;
    wino_layout g;
    tiling_of(l, &t);
    layout_of(l, &t, &g);
    return (size_t)g.total;
}

/* The transforms are built for AVX-512, AVX2 and the base ISA where the
 * toolchain can choose at load time; the same values from each (no FMA:
 * ISO C mode keeps -ffp-contract=off). Their helpers are inlined into each
 * build (out of line, GCC keeps one copy, for the base ISA). With GCC,
 * groups of 16 tiles are done with its vector extensions: the same
 * operations in the same order on each value as the scalar code that
 * other compilers get. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__)
#define WINO_CLONES \
    __attribute__((noinline, target_clones("avx512f", "avx2", "default")))
#else
#define WINO_CLONES
#endif
#if defined(__GNUC__)
#define WINO_INLINE static inline __attribute__((always_inline))
#else
#define WINO_INLINE static inline
#endif
#if defined(__GNUC__) && !defined(__clang__)
#define WINO_VEC16 1
typedef float wino_v16 __attribute__((vector_size(64)));
typedef int32_t wino_i16 __attribute__((vector_size(64)));

/* Shuffle indices into two vectors a, b (lanes 0-15 of a, then of b):
 * their even and odd elements (splitting 4 phases in two rounds); a moved
 * down one lane with b's first lane last; the first (lo) or second (hi)
 * halves of a and b interleaved; pairs of a, then of b (interleaving 4
 * values in two rounds). */
static const wino_i16 wino_even = {0, 2, 4, 6, 8, 10, 12, 14,
                                   16, 18, 20, 22, 24, 26, 28, 30};
static const wino_i16 wino_odd = {1, 3, 5, 7, 9, 11, 13, 15,
                                  17, 19, 21, 23, 25, 27, 29, 31};
static const wino_i16 wino_next = {1, 2, 3, 4, 5, 6, 7, 8,
                                   9, 10, 11, 12, 13, 14, 15, 16};
static const wino_i16 wino_lo = {0, 16, 1, 17, 2, 18, 3, 19,
                                 4, 20, 5, 21, 6, 22, 7, 23};
static const wino_i16 wino_hi = {8, 24, 9, 25, 10, 26, 11, 27,
                                 12, 28, 13, 29, 14, 30, 15, 31};
static const wino_i16 wino_lo2 = {0, 1, 16, 17, 2, 3, 18, 19,
                                  4, 5, 20, 21, 6, 7, 22, 23};
static const wino_i16 wino_hi2 = {8, 9, 24, 25, 10, 11, 26, 27,
                                  12, 13, 28, 29, 14, 15, 30, 31};
#endif

/* B^T of the six values x[0], x[s], ..., x[5 s] (of type T: float, or a
 * vector of floats), into y[0], y[ys], ..., y[5 ys] */
#define BT6T(T, x, s, y, ys)                                                 \
    do {                                                                     \
        const T x0_ = (x)[0], x1_ = (x)[(s)], x2_ = (x)[2 * (s)];            \
        const T x3_ = (x)[3 * (s)], x4_ = (x)[4 * (s)];                      \
        const T x5_ = (x)[5 * (s)];                                          \
        (y)[0] = 4.0f * x0_ - 5.0f * x2_ + x4_;                              \
        (y)[(ys)] = -4.0f * x1_ - 4.0f * x2_ + x3_ + x4_;                    \
        (y)[2 * (ys)] = 4.0f * x1_ - 4.0f * x2_ - x3_ + x4_;                 \
        (y)[3 * (ys)] = -2.0f * x1_ - x2_ + 2.0f * x3_ + x4_;                \
        (y)[4 * (ys)] = 2.0f * x1_ - x2_ - 2.0f * x3_ + x4_;                 \
        (y)[5 * (ys)] = 4.0f * x1_ - 5.0f * x3_ + x5_;                       \
    } while (0)

/* A^T of the six values m[0], m[s], ..., m[5 s] into y[0], ..., y[3 ys] */
#define AT6T(T, m, s, y, ys)                                                 \
    do {                                                                     \
        const T m0_ = (m)[0], m1_ = (m)[(s)], m2_ = (m)[2 * (s)];            \
        const T m3_ = (m)[3 * (s)], m4_ = (m)[4 * (s)];                      \
        const T m5_ = (m)[5 * (s)];                                          \
        const T p12_ = m1_ + m2_, d12_ = m1_ - m2_;                          \
        const T p34_ = m3_ + m4_, d34_ = m3_ - m4_;                          \
        (y)[0] = m0_ + p12_ + p34_;                                          \
        (y)[(ys)] = d12_ + 2.0f * d34_;                                      \
        (y)[2 * (ys)] = p12_ + 4.0f * p34_;                                  \
        (y)[3 * (ys)] = d12_ + 8.0f * d34_ + m5_;                            \
    } while (0)

/* ---- F(4x4, 3x3) ----
 *
 * The input transform B^T X B of a tile is done along its rows first, then
 * down its columns. Along: each row of the padded image, once (the 2 rows
 * that two tile rows share are not done twice), gives 6 values per tile,
 * 6 rows of tw in T. Down: the 6 rows of T under a tile row give, for each
 * of the 6 along-values, the 6 down-values of all its tiles, stored as
 * rows of V. The output transform A^T M A takes a group of 16 tiles
 * through both of its steps in registers and stores whole output rows. */

/* B^T along one padded row: for each tile tx, the 6 values s[4 tx + k]
 * give t[j tw + tx], j = 0..5. The padded row s is `row` (wr floats of the
 * image) after pl zeros, then zeros. A group of 16 tiles reads 66 values:
 * in place when they lie in the image row, else from `edge`, filled with
 * the part of the row that the group covers and zeros. */
WINO_INLINE void bt_along_row(const float *restrict row, int64_t pl,
                              int64_t wr, int64_t tw, float *restrict t,
                              float *restrict edge)
{
    for (int64_t tx0 = 0; tx0 < tw; tx0 += 16) {
        const int64_t x0 = 4 * tx0 - pl; /* the group's first value */
        const int64_t nt = tw - tx0 < 16 ? tw - tx0 : 16;
        const float *s = row + x0;
        if (x0 < 0 || x0 + 66 > wr) {
            /* all WINO_EDGE values, each read only inside the row: masked
             * vector loads (a memset and a memcpy of variable length, both
             * library calls, had doubled the cost of a 224-wide row) */
            for (int64_t k = 0; k < WINO_EDGE; k++) {
                const int64_t i = x0 + k;
                edge[k] = i >= 0 && i < wr ? row[i] : 0.0f;
            }
            s = edge;
        }
#ifdef WINO_VEC16
        wino_v16 a[4], x[6], y[6];
        memcpy(a, s, sizeof a);
        const wino_v16 p = __builtin_shuffle(a[0], a[1], wino_even);
        const wino_v16 q = __builtin_shuffle(a[0], a[1], wino_odd);
        const wino_v16 p2 = __builtin_shuffle(a[2], a[3], wino_even);
        const wino_v16 q2 = __builtin_shuffle(a[2], a[3], wino_odd);
        const wino_v16 e4 = {s[64]}, e5 = {s[65]};
        x[0] = __builtin_shuffle(p, p2, wino_even); /* s[4 t] */
        x[1] = __builtin_shuffle(q, q2, wino_even); /* s[4 t + 1] */
        x[2] = __builtin_shuffle(p, p2, wino_odd);
        x[3] = __builtin_shuffle(q, q2, wino_odd);
        x[4] = __builtin_shuffle(x[0], e4, wino_next); /* s[4 t + 4] */
        x[5] = __builtin_shuffle(x[1], e5, wino_next);
        BT6T(wino_v16, x, 1, y, 1);
        /* (a copy of variable size would be a string move even for 16) */
        if (nt == 16)
            for (int j = 0; j < 6; j++)
                memcpy(t + j * tw + tx0, &y[j], sizeof y[j]);
        else
            for (int j = 0; j < 6; j++)
                memcpy(t + j * tw + tx0, &y[j], (size_t)nt * sizeof(float));
#else
        for (int64_t k = 0; k < nt; k++)
            BT6T(float, s + 4 * k, 1, t + tx0 + k, tw);
#endif
    }
}

/* B^T down the 6 rows (xs apart) of x for each of n columns, into the 6
 * rows (ys apart) of y. (In two loops of three rows each: GCC 12 does not
 * vectorise the loop that writes all six.) */
WINO_INLINE void bt_down(const float *restrict x, int64_t xs, int64_t n,
                         float *restrict y, int64_t ys)
{
    const float *restrict x0 = x, *restrict x1 = x + xs;
    const float *restrict x2 = x + 2 * xs, *restrict x3 = x + 3 * xs;
    const float *restrict x4 = x + 4 * xs, *restrict x5 = x + 5 * xs;
    for (int64_t q = 0; q < n; q++) {
        y[q] = 4.0f * x0[q] - 5.0f * x2[q] + x4[q];
        y[ys + q] = -4.0f * x1[q] - 4.0f * x2[q] + x3[q] + x4[q];
        y[2 * ys + q] = 4.0f * x1[q] - 4.0f * x2[q] - x3[q] + x4[q];
    }
    for (int64_t q = 0; q < n; q++) {
        y[3 * ys + q] = -2.0f * x1[q] - x2[q] + 2.0f * x3[q] + x4[q];
        y[4 * ys + q] = 2.0f * x1[q] - x2[q] - 2.0f * x3[q] + x4[q];
        y[5 * ys + q] = 4.0f * x1[q] - 5.0f * x3[q] + x5[q];
    }
}

/* The input transform of tile rows [r0, r0 + nr) of every channel of
 * image `img` into V ([36][c][nr tw]): per channel, the 4 nr + 2 padded
 * rows along into T (rows outside the image are zeros), then down. */
WINO_CLONES static void input_transform4(const lrc_layer *l,
                                         const wino_tiling *t,
                                         const float *img, int64_t r0,
                                         int64_t nr, float *v, float *tb,
                                         float *edge)
{
    const int64_t c = l->in_c, tw = t->tw, bt = nr * tw;
    const int64_t h = l->in_shape[1], w = l->in_shape[2], hw = h * w;
    /* rows and columns of the image inside the padded image (pb and pr
     * may exceed what the tiles read, never the reverse) */
    const int64_t hr = h < t->hp - l->pt ? h : t->hp - l->pt;
    const int64_t wr = w < t->wp - l->pl ? w : t->wp - l->pl;
    const int64_t rows = 4 * nr + 2, ts = 6 * tw, vs = wino_plane(c, bt);
    for (int64_t ch = 0; ch < c; ch++) {
        const float *src = img + ch * hw;
        for (int64_t q = 0; q < rows; q++) {
            const int64_t y = 4 * r0 + q - l->pt;
            if (y < 0 || y >= hr) {
                memset(tb + q * ts, 0, (size_t)ts * sizeof(float));
                continue;
            }
            /* the same row of the next channel, a plane away: too far for
             * the hardware's prefetcher to guess */
            if (ch + 1 < c)
                for (int64_t x = 0; x < wr; x += 16)
                    __builtin_prefetch(src + hw + y * w + x);
            bt_along_row(src + y * w, l->pl, wr, tw, tb + q * ts, edge);
        }
        for (int64_t r = 0; r < nr; r++)
            for (int j = 0; j < 6; j++)
                bt_down(tb + 4 * r * ts + j * tw, ts, tw,
                        v + j * vs + ch * bt + r * tw, 6 * vs);
    }
}

#ifdef WINO_VEC16
/* The 4 values of each of 16 tiles (y[b], b = 0..3) as 64 consecutive
 * ones, tile by tile: o[0..3] */
WINO_INLINE void interleave4(const wino_v16 y[4], wino_v16 o[4])
{
    const wino_v16 p01 = __builtin_shuffle(y[0], y[1], wino_lo);
    const wino_v16 q01 = __builtin_shuffle(y[0], y[1], wino_hi);
    const wino_v16 p23 = __builtin_shuffle(y[2], y[3], wino_lo);
    const wino_v16 q23 = __builtin_shuffle(y[2], y[3], wino_hi);
    o[0] = __builtin_shuffle(p01, p23, wino_lo2);
    o[1] = __builtin_shuffle(p01, p23, wino_hi2);
    o[2] = __builtin_shuffle(q01, q23, wino_lo2);
    o[3] = __builtin_shuffle(q01, q23, wino_hi2);
}
#endif


/* The output transform of tile rows [r0, r0 + nr) from M ([36][d][nr tw])
 * into the output planes (ho x wo each), plus the bias, then the ReLU when
 * relu is set; every output streamed when stream is set (rows of whole
 * vectors: lrc_fw_conv_winograd_with decides; streaming only the whole
 * groups of 64, and storing a row's last, shorter group plainly, is the
 * mix that ran the direct kernel slower, docs/BENCHMARKS.md, section 18).
 * Per channel, tile row and group of
 * 16 tiles: A^T down the 6 rows of each of the 6 columns of M's 6 x 6,
 * then A^T along each of the 4 rows, whose 4 values per tile are
 * interleaved into 64 values of an output row (interleave4: GCC stored
 * each interleaved value alone). The last group's reads past its tile
 * row are not used. */
WINO_CLONES static void output_transform4(const lrc_layer *l,
                                          const wino_tiling *t,
                                          const float *m, int64_t r0,
                                          int64_t nr, float *out, int relu,
                                          int stream)
{
    const int64_t d = l->out_c, tw = t->tw, bt = nr * tw;
    const int64_t xs = wino_plane(d, bt);
    const int64_t ho = l->out_shape[1], wo = l->out_shape[2];
#ifdef WINO_VEC16
    const wino_v16 zero = {0};
#else
    (void)stream; /* streaming is the vector path's */
#endif
    for (int64_t f = 0; f < d; f++) {
        float *o = out + f * ho * wo;
        const float bias = l->bias[f];
        for (int64_t r = 0; r < nr; r++) {
            const float *mf = m + f * bt + r * tw;
            const int64_t y0 = 4 * (r0 + r);
            const int rows = ho - y0 < 4 ? (int)(ho - y0) : 4;
            for (int64_t tx0 = 0; tx0 < tw; tx0 += 16) {
                const int64_t x0 = 4 * tx0;
                const int64_t nx = wo - x0 < 64 ? wo - x0 : 64;
#ifdef WINO_VEC16
                wino_v16 s[4][6];
                for (int j = 0; j < 6; j++) {
                    wino_v16 mm[6];
                    for (int i = 0; i < 6; i++)
                        memcpy(&mm[i], mf + (i * 6 + j) * xs + tx0,
                               sizeof mm[i]);
                    AT6T(wino_v16, mm, 1, &s[0][j], 6);
                }
                for (int a = 0; a < rows; a++) {
                    wino_v16 y[4];
                    AT6T(wino_v16, s[a], 1, y, 1);
                    for (int b = 0; b < 4; b++) {
                        y[b] = y[b] + bias;
                        if (relu)
                            y[b] = (wino_v16)((wino_i16)y[b] &
                                              (y[b] > zero));
                    }
                    wino_v16 ov[4];
                    interleave4(y, ov);
                    float *dst = o + (y0 + a) * wo + x0;
#ifdef WINO_MK_X86
                    if (stream) /* nx a multiple of 16 (wo is) */
                        lrc_fw_stream_copy(dst, (const float *)ov, nx);
                    else
#endif
                    if (nx == 64) {
                        memcpy(dst, ov, sizeof ov);
                    } else { /* whole vectors, then the rest */
                        int64_t k = 0;
                        for (; k + 16 <= nx; k += 16)
                            memcpy(dst + k, (const float *)ov + k,
                                   16 * sizeof(float));
                        for (; k < nx; k++)
                            dst[k] = ((const float *)ov)[k];
                    }
                }
#else
                const int64_t nt = tw - tx0 < 16 ? tw - tx0 : 16;
                for (int64_t k = 0; k < nt; k++) {
                    float s[4][6];
                    for (int j = 0; j < 6; j++)
                        AT6T(float, mf + j * xs + tx0 + k, 6 * xs, &s[0][j],
                             6);
                    for (int a = 0; a < rows; a++) {
                        float y[4];
                        AT6T(float, s[a], 1, y, 1);
                        for (int b = 0; b < 4 && 4 * k + b < nx; b++) {
                            const float z = y[b] + bias;
                            o[(y0 + a) * wo + x0 + 4 * k + b] =
                                relu ? (z > 0.0f ? z : 0.0f) : z;
                        }
                    }
                }
#endif
            }
        }
    }
}

/* ---- F(2x2, 3x3) ---- */

/* Row s (2 tw + 2 columns) as 2 phases of tw + 1: ph[k][tx] = s[2 tx + k] */
WINO_INLINE void split_phases2(const float *restrict s, int64_t tw,
                               float *restrict ph)
{
    const int64_t pl = tw + 1;
    for (int64_t tx = 0; tx < tw; tx++) {
        ph[tx] = s[2 * tx];
        ph[pl + tx] = s[2 * tx + 1];
    }
    ph[tw] = s[2 * tw];
    ph[pl + tw] = s[2 * tw + 1];
}

/* B^T down the 4 rows (rs apart) of x for each of rs columns, into the 4
 * rows of y; then along each tile's 4 columns, ph[0..1][tx] and
 * ph[0..1][tx + 1], into the 4 rows (ds apart) of dst. */
WINO_INLINE void bt2_down(const float *restrict x, int64_t rs,
                          float *restrict y)
{
    const float *restrict x0 = x, *restrict x1 = x + rs;
    const float *restrict x2 = x + 2 * rs, *restrict x3 = x + 3 * rs;
    for (int64_t q = 0; q < rs; q++) {
        y[q] = x0[q] - x2[q];
        y[rs + q] = x1[q] + x2[q];
        y[2 * rs + q] = x2[q] - x1[q];
        y[3 * rs + q] = x1[q] - x3[q];
    }
}

WINO_INLINE void bt2_along(const float *restrict ph, int64_t tw,
                           float *restrict dst, int64_t ds)
{
    const int64_t pl = tw + 1;
    const float *restrict p0 = ph, *restrict p1 = ph + pl;
    for (int64_t tx = 0; tx < tw; tx++) {
        const float x0 = p0[tx], x1 = p1[tx], x2 = p0[tx + 1];
        const float x3 = p1[tx + 1];
        dst[tx] = x0 - x2;
        dst[ds + tx] = x1 + x2;
        dst[2 * ds + tx] = x2 - x1;
        dst[3 * ds + tx] = x1 - x3;
    }
}

/* Row yp of the padded image (pt rows and pl columns of zeros before the
 * image, zeros after it up to hp x wp: the tiles past the output's edge
 * read them, and their outputs are dropped), in phases, into dst (rs
 * floats). `plain` is one plain padded row (wp floats) whose borders are
 * zero. */
WINO_INLINE void phase_row2(const lrc_layer *l, const wino_tiling *t,
                            const float *src, int64_t yp,
                            float *restrict plain, float *restrict dst)
{
    const int64_t h = l->in_shape[1], w = l->in_shape[2];
    const int64_t hr = h < t->hp - l->pt ? h : t->hp - l->pt;
    const int64_t wr = w < t->wp - l->pl ? w : t->wp - l->pl;
    const int64_t y = yp - l->pt;
    if (y < 0 || y >= hr) {
        memset(dst, 0, (size_t)t->rs * sizeof(float));
        return;
    }
    memcpy(plain + l->pl, src + y * w, (size_t)wr * sizeof(float));
    split_phases2(plain, t->tw, dst);
}

/* The input transform of tile rows [r0, r0 + nr) of every channel of
 * image `img` into V ([16][c][nr tw]). Per channel and tile row: the 4
 * padded rows under it, in phases (column 2 tx + k of a row at ph[k][tx],
 * so that the columns of tile tx are ph[0..1][tx] and ph[0..1][tx + 1]),
 * in `win` (4 x rs; the last 2 rows of a tile row are the first 2 of the
 * next, so each image row is split once per block, plus 2 rows), then B^T
 * down the 4 rows for every column, then along each tile's 4 columns.
 * `plain`: wp floats of scratch. */
WINO_CLONES static void input_transform2(const lrc_layer *l,
                                         const wino_tiling *t,
                                         const float *img, int64_t r0,
                                         int64_t nr, float *v, float *win,
                                         float *plain, float *trow)
{
    const int64_t c = l->in_c, rs = t->rs, tw = t->tw, bt = nr * tw;
    const int64_t hw = l->in_shape[1] * l->in_shape[2];
    const int64_t vs = wino_plane(c, bt);
    memset(plain, 0, (size_t)t->wp * sizeof(float));
    for (int64_t ch = 0; ch < c; ch++) {
        const float *src = img + ch * hw;
        for (int64_t r = 0; r < nr; r++) {
            const int64_t yp = 2 * (r0 + r);
            int first = 0;
            if (r > 0) { /* rows 2, 3 of the last tile row */
                memcpy(win, win + 2 * rs, (size_t)(2 * rs) * sizeof(float));
                first = 2;
            }
            for (int i = first; i < 4; i++)
                phase_row2(l, t, src, yp + i, plain, win + i * rs);
            bt2_down(win, rs, trow);
            for (int i = 0; i < 4; i++)
                bt2_along(trow + i * rs, tw, v + 4 * i * vs + ch * bt + r * tw,
                          vs);
        }
    }
}

/* A^T of m[0], m[s], ..., m[3 s] into y[0] and y[ys]. */
#define AT4(m, s, y, ys)                                                     \
    do {                                                                     \
        const float m0_ = (m)[0], m1_ = (m)[(s)], m2_ = (m)[2 * (s)];        \
        const float m3_ = (m)[3 * (s)];                                      \
        (y)[0] = m0_ + m1_ + m2_;                                            \
        (y)[(ys)] = m1_ - m2_ - m3_;                                         \
    } while (0)

WINO_INLINE void at2_down(const float *restrict m, int64_t ms, int64_t tw,
                          float *restrict s, int64_t ss)
{
    for (int64_t tx = 0; tx < tw; tx++)
        AT4(m + tx, ms, s + tx, ss);
}

WINO_INLINE void at2_along(const float *restrict s, int64_t tw, float bias,
                           float *restrict row)
{
    for (int64_t tx = 0; tx < tw; tx++) {
        float y[2];
        AT4(s + tx, tw, y, 1);
        row[2 * tx] = y[0] + bias;
        row[2 * tx + 1] = y[1] + bias;
    }
}

/* The output transform of tile rows [r0, r0 + nr) from M ([16][d][nr tw])
 * into the output planes (ho x wo each), plus the bias, then the ReLU when
 * relu is set. Per channel and tile row: A^T down the 4 rows of every
 * tile, then A^T along each of the 2 rows, both over the tiles'
 * contiguous runs, into an output row (2 tw wide, of which the first wo
 * are stored). */
WINO_CLONES static void output_transform2(const lrc_layer *l,
                                          const wino_tiling *t,
                                          const float *m, int64_t r0,
                                          int64_t nr, float *out,
                                          float *orow, int relu)
{
    const int64_t d = l->out_c, tw = t->tw, bt = nr * tw;
    const int64_t ho = l->out_shape[1], wo = l->out_shape[2];
    const int64_t ms = wino_plane(d, bt);
    float *s = orow;              /* [2][4][tw] */
    float *row = orow + 8 * tw;   /* [2 tw] */
    for (int64_t f = 0; f < d; f++) {
        float *o = out + f * ho * wo;
        for (int64_t r = 0; r < nr; r++) {
            const float *mf = m + f * bt + r * tw;
            for (int j = 0; j < 4; j++)
                at2_down(mf + j * ms, 4 * ms, tw,
                         s + j * tw, 4 * tw);
            const int64_t y0 = 2 * (r0 + r);
            for (int a = 0; a < 2 && y0 + a < ho; a++) {
                at2_along(s + a * 4 * tw, tw, l->bias[f], row);
                float *dst = o + (y0 + a) * wo;
                if (relu)
                    for (int64_t x = 0; x < wo; x++)
                        dst[x] = row[x] > 0.0f ? row[x] : 0.0f;
                else
                    memcpy(dst, row, (size_t)wo * sizeof(float));
            }
        }
    }
}

/* ---- The products M[xi] = U[xi] V[xi] ----
 *
 * With AVX-512 the products run on our own kernel rather than sgemm, on U
 * packed by the plan in blocks of 8 output channels (c x 8 each,
 * wino_u_index): a block of ND <= 8 output channels x NV <= 3 vectors of
 * 16 tiles in 24 zmm accumulators; per input channel, NV loads of V's row
 * and ND broadcasts from the block's 8 weights (32 contiguous bytes) feed
 * ND x NV fused multiply-adds. (U as c x d, the same 8 weights 2 KiB
 * apart from one channel to the next at d = 512, ran conv4_x 2x slower:
 * the reads fell into a few L1 sets.) sgemm packs U[xi] and V[xi] on each
 * of the 36 calls per block; this kernel reads V where it lies and U as
 * the plan packed it once (1.2-1.6x sgemm's speed from c = d = 128 on,
 * docs/BENCHMARKS.md, section 13).
 *
 * A block's last NT <= 2 columns past its whole vectors (49 tiles = 48 +
 * 1 on 28 x 28 and 14 x 14 maps, 98 = 96 + 2 on 56 x 56) ride along in the
 * same pass over U: per input channel, the ND weights as one 8-lane vector
 * times the column's broadcast V value, into NT 8-lane accumulators (as a
 * vector of 16 they would cost what 16 columns cost). Other remainders
 * take a masked vector.
 *
 * Every M element is one chain of fused multiply-adds over the input
 * channels in order, from zero, whichever kernel and lane computes it: the
 * same bits whatever block an element falls in. Other CPUs run sgemm. */
#ifdef WINO_MK_X86
#define MK_DB 8
#define MK_NV 3
#define MK_NT 2
/* U is read 256 floats (1 KiB, 32 channels of a block) ahead: a block of
 * U runs sequentially, but at d = 512 the 36 matrices of U (36 MB) come
 * from L3 on every block of tiles, and the hardware's prefetcher alone
 * did not keep up (conv4_x and conv5_x ran 10-20% slower at batch 1). */
#define MK_PF 256

/* ND rows of M (ldm apart) at columns [0, 16 (NV - 1) + popcount(last))
 * and, when NT > 0, the NT columns from 16 NV on: a packed block of U
 * (c x 8, the first ND used) times V's c rows (ldv apart). Reads 16 NV +
 * NT columns of V's rows. */
__attribute__((target("avx512f,fma"), always_inline)) static inline void
mk_body(const int ND, const int NV, const int NT, const float *u,
        const float *v, int64_t ldv, int64_t c, float *m, int64_t ldm,
        __mmask16 last)
{
    __m512 acc[MK_DB][MK_NV];
    __m256 tacc[MK_NT];
    if (c < 1) /* (else GCC 12 zeroes all 24 accumulators on the stack too) */
        return;
    for (int o = 0; o < ND; o++)
        for (int q = 0; q < NV; q++)
            acc[o][q] = _mm512_setzero_ps();
    for (int j = 0; j < NT; j++)
        tacc[j] = _mm256_setzero_ps();
    for (int64_t k = 0; k < c; k++, v += ldv, u += MK_DB) {
        /* whole vectors even where the last is masked: its lanes past the
         * block are never stored. (A masked load here made GCC 12 store
         * all 24 accumulators to the stack on every channel.) */
        __m512 x[MK_NV];
        _mm_prefetch((const char *)(u + MK_PF), _MM_HINT_T0);
        for (int q = 0; q < NV; q++)
            x[q] = _mm512_loadu_ps(v + 16 * q);
        for (int o = 0; o < ND; o++) {
            const __m512 w = _mm512_set1_ps(u[o]);
            for (int q = 0; q < NV; q++)
                acc[o][q] = _mm512_fmadd_ps(w, x[q], acc[o][q]);
        }
        if (NT > 0) {
            const __m256 w8 = _mm256_loadu_ps(u);
            for (int j = 0; j < NT; j++)
                tacc[j] = _mm256_fmadd_ps(
                    w8, _mm256_set1_ps(v[16 * NV + j]), tacc[j]);
        }
    }
    for (int o = 0; o < ND; o++)
        for (int q = 0; q < NV; q++)
            if (q == NV - 1)
                _mm512_mask_storeu_ps(m + o * ldm + 16 * q, last, acc[o][q]);
            else
                _mm512_storeu_ps(m + o * ldm + 16 * q, acc[o][q]);
    for (int j = 0; j < NT; j++) {
        float t[8];
        _mm256_storeu_ps(t, tacc[j]);
        for (int o = 0; o < ND; o++)
            m[o * ldm + 16 * NV + j] = t[o];
    }
}

typedef void (*mk_fn)(const float *u, const float *v, int64_t ldv,
                      int64_t c, float *m, int64_t ldm, __mmask16 last);
#define MK_INSTANCE(ND, NV, NT)                                               \
    __attribute__((target("avx512f,fma"))) static void mk_##ND##_##NV##_##NT(     \
        const float *u, const float *v, int64_t ldv, int64_t c, float *m,     \
        int64_t ldm, __mmask16 last)                                          \
    {                                                                         \
        mk_body(ND, NV, NT, u, v, ldv, c, m, ldm, last);                      \
    }
#define MK_INSTANCES_NV(ND, NT)                                               \
    MK_INSTANCE(ND, 1, NT) MK_INSTANCE(ND, 2, NT) MK_INSTANCE(ND, 3, NT)
#define MK_INSTANCES(ND)                                                      \
    MK_INSTANCES_NV(ND, 0) MK_INSTANCES_NV(ND, 1) MK_INSTANCES_NV(ND, 2)
MK_INSTANCES(1)
MK_INSTANCES(2)
MK_INSTANCES(3)
MK_INSTANCES(4)
MK_INSTANCES(5)
MK_INSTANCES(6)
MK_INSTANCES(7)
MK_INSTANCES(8)
#undef MK_INSTANCES
#undef MK_INSTANCES_NV
#undef MK_INSTANCE
#define MK_ROW_NT(ND, NT) {mk_##ND##_1_##NT, mk_##ND##_2_##NT, mk_##ND##_3_##NT}
#define MK_ROW(ND) {MK_ROW_NT(ND, 0), MK_ROW_NT(ND, 1), MK_ROW_NT(ND, 2)}
/* [nd - 1][nt][nv - 1] */
static const mk_fn mk_table[MK_DB][MK_NT + 1][MK_NV] = {
    MK_ROW(1), MK_ROW(2), MK_ROW(3), MK_ROW(4),
    MK_ROW(5), MK_ROW(6), MK_ROW(7), MK_ROW(8)};
#undef MK_ROW
#undef MK_ROW_NT

/* M (d x bt) = U (packed) V (c x bt, row-major, dense). Channels in the
 * blocks of 8 of the packing (the last one partial), columns in blocks of
 * up to 3 vectors. Channel blocks outermost, so that a block of U stays in
 * L1 across the columns of M. */
static void mk_product(const float *u, const float *v, float *m, int64_t d,
                       int64_t c, int64_t bt)
{
    /* the columns past whole vectors ride along when they are few and
     * there are whole vectors to ride with; the vectors go in balanced
     * blocks of at most MK_NV (7 as 3 + 2 + 2: a block of 1 vector is
     * bound by its broadcasts), the last vector masked when partial */
    const int tail = bt >= 16 && bt % 16 <= MK_NT ? (int)(bt % 16) : 0;
    const int64_t cols = bt - tail, nvec = (cols + 15) / 16;
    const int64_t nblk = (nvec + MK_NV - 1) / MK_NV;
    const int64_t base = nvec / nblk, extra = nvec % nblk;
    const int rem = (int)(cols - 16 * (nvec - 1));
    const __mmask16 partial = (__mmask16)(rem == 16 ? 0xFFFFu
                                                    : (1u << rem) - 1u);
    for (int64_t f0 = 0; f0 < d; f0 += MK_DB) {
        const int nd = (int)(d - f0 < MK_DB ? d - f0 : MK_DB);
        for (int64_t bl = 0, t0 = 0; bl < nblk; bl++) {
            const int nv = (int)(base + (bl < extra));
            const int lastb = bl == nblk - 1;
            mk_table[nd - 1][lastb ? tail : 0][nv - 1](
                u + f0 * c, v + t0, bt, c, m + f0 * bt + t0, bt,
                lastb ? partial : (__mmask16)0xFFFFu);
            t0 += 16 * nv;
        }
    }
}
#endif

/* The a a products of a block: on our kernel with U packed, or on sgemm
 * with U as d x c per xi (lrc_fw_wino_weights_with lays U out so). */
static void wino_products(const float *u, int packed, const float *v,
                          float *m, int a, int64_t d, int64_t c, int64_t bt)
{
#ifdef WINO_MK_X86
    if (packed) {
        const int64_t dp = (d + MK_DB - 1) / MK_DB * MK_DB;
        for (int64_t xi = 0; xi < (int64_t)a * a; xi++)
            mk_product(u + xi * dp * c, v + xi * wino_plane(c, bt),
                       m + xi * wino_plane(d, bt), d,
                       c, bt);
        return;
    }
#else
    (void)packed;
#endif
    for (int64_t xi = 0; xi < (int64_t)a * a; xi++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d,
                    (int)bt, (int)c, 1.0f, u + xi * d * c, (int)c,
                    v + xi * wino_plane(c, bt), (int)bt, 0.0f,
                    m + xi * wino_plane(d, bt), (int)bt);
}

int lrc_fw_wino_packed(void)
{
#ifdef WINO_MK_X86
    /* 0 or 1: libgcc returns the feature's bit, not 1 */
    return __builtin_cpu_supports("avx512f") != 0;
#else
    return 0;
#endif
}

lrc_status lrc_fw_conv_winograd(const lrc_layer *l, const float *u,
                                const float *in, int64_t n, float *out,
                                float *work, int relu)
{
    return lrc_fw_conv_winograd_with(l, u, lrc_fw_wino_packed(), in, n, out,
                                     work, relu);
}

lrc_status lrc_fw_conv_winograd_with(const lrc_layer *l, const float *u,
                                     int packed, const float *in, int64_t n,
                                     float *out, float *work, int relu)
{
    if (packed && !lrc_fw_wino_packed())
        LRC_RAISE(LRC_ERR_INTERNAL, "layer '%s': this CPU has no AVX-512 for "
                  "the packed Winograd products", l->name);
    if (!lrc_fw_wino_shape_ok(l))
        LRC_RAISE(LRC_ERR_INTERNAL, "layer '%s': the Winograd conv needs a "
                  "3x3 stride-1 conv", l->name);
    const int64_t c = l->in_c, d = l->out_c;
    wino_tiling t;
    wino_layout g;
    tiling_of(l, &t);
    layout_of(l, &t, &g);
    if (d > INT32_MAX || c > INT32_MAX || t.rb * t.tw > INT32_MAX)
        LRC_RAISE(LRC_ERR_UNSUPPORTED, "layer '%s': matrix too large for BLAS "
                  "int sizes", l->name);
    const int64_t in_sz = c * l->in_shape[1] * l->in_shape[2];
    const int64_t out_sz = d * l->out_shape[1] * l->out_shape[2];
    float *v = work + g.v, *m = work + g.m;
    /* streamed: a large output whose rows all start on a cache line */
    const int stream = t.a == 6 && lrc_fw_wino_packed() &&
                       (uintptr_t)out % 64 == 0 && out_sz % 16 == 0 &&
                       l->out_shape[2] % 16 == 0 &&
                       lrc_fw_stream_pays(n, out_sz * (int64_t)sizeof(float));
    for (int64_t b = 0; b < n; b++) {
        for (int64_t r0 = 0; r0 < t.th; r0 += t.rb) {
            const int64_t nr = t.th - r0 < t.rb ? t.th - r0 : t.rb;
            const int64_t bt = nr * t.tw;
            if (t.a == 6)
                input_transform4(l, &t, in + b * in_sz, r0, nr, v,
                                 work + g.tb, work + g.edge);
            else
                input_transform2(l, &t, in + b * in_sz, r0, nr, v,
                                 work + g.win, work + g.plain, work + g.trow);
            wino_products(u, packed, v, m, t.a, d, c, bt);
            if (t.a == 6)
                output_transform4(l, &t, m, r0, nr, out + b * out_sz, relu,
                                  stream);
            else
                output_transform2(l, &t, m, r0, nr, out + b * out_sz,
                                  work + g.orow, relu);
        }
    }
#ifdef WINO_MK_X86
    if (stream) /* the streamed stores before any later load of them */
        _mm_sfence();
#endif
    return LRC_OK;
}

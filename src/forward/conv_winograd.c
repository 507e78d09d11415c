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
 *
 * Numbers: the transforms and products are in float. The transform
 * matrices have entries up to 8 (A^T) and 5 (B^T), so the rounding error
 * is larger than the direct conv's, about 1e-6 to 1e-5 of the outputs'
 * magnitude on VGG-16's layers (test_forward_winograd bounds it at
 * 1e-4 against a double reference); oneDNN's Winograd is the same
 * algorithm. An image's blocks depend on the layer's shape only: the
 * same bits for an image alone or in any batch, and on every run. */
#include <cblas.h>
#include <string.h>

#include "forward/forward_impl.h"

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

/* Workspace layout, in floats: the input transform's window of padded
 * rows (a x rs) and one plain padded row (wp), V (a a x c x block tiles;
 * the product kernel's reads of up to 15 floats past its end land in M,
 * and are not used), M (a a x d x block tiles), the input transform's rows
 * (a x rs) and the output transform's (m x a x tw, then one row of m tw). */
typedef struct {
    int64_t win, plain, v, m, trow, orow, total;
} wino_layout;

static void layout_of(const lrc_layer *l, const wino_tiling *t, wino_layout *g)
{
    const int64_t bt = t->rb * t->tw;
    g->win = 0;
    g->plain = g->win + t->a * t->rs;
    g->v = g->plain + t->wp;
    g->m = g->v + t->a * t->a * l->in_c * bt;
    g->trow = g->m + t->a * t->a * l->out_c * bt;
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
 * build (out of line, GCC keeps one copy, for the base ISA). */
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

/* B^T down the 6 rows (rs apart) of x for each of rs columns, into the 6
 * rows (rs apart) of y. (In two loops of three rows each: GCC 12 does not
 * vectorise the loop that writes all six.) */
WINO_INLINE void bt_down(const float *restrict x, int64_t rs,
                         float *restrict y)
{
    const float *restrict x0 = x, *restrict x1 = x + rs;
    const float *restrict x2 = x + 2 * rs, *restrict x3 = x + 3 * rs;
    const float *restrict x4 = x + 4 * rs, *restrict x5 = x + 5 * rs;
    for (int64_t q = 0; q < rs; q++) {
        y[q] = 4.0f * x0[q] - 5.0f * x2[q] + x4[q];
        y[rs + q] = -4.0f * x1[q] - 4.0f * x2[q] + x3[q] + x4[q];
        y[2 * rs + q] = 4.0f * x1[q] - 4.0f * x2[q] - x3[q] + x4[q];
    }
    for (int64_t q = 0; q < rs; q++) {
        y[3 * rs + q] = -2.0f * x1[q] - x2[q] + 2.0f * x3[q] + x4[q];
        y[4 * rs + q] = 2.0f * x1[q] - x2[q] - 2.0f * x3[q] + x4[q];
        y[5 * rs + q] = 4.0f * x1[q] - 5.0f * x3[q] + x5[q];
    }
}

/* Row s (m tw + 2 columns) as m phases of tw + 1: ph[k][tx] = s[m tx + k]
 * (phases 0 and 1 reach tx = tw, the last tile's last two columns). */
WINO_INLINE void split_phases(const float *restrict s, int m, int64_t tw,
                              float *restrict ph)
{
    const int64_t pl = tw + 1;
    if (m == 4)
        for (int64_t tx = 0; tx < tw; tx++) {
            ph[tx] = s[4 * tx];
            ph[pl + tx] = s[4 * tx + 1];
            ph[2 * pl + tx] = s[4 * tx + 2];
            ph[3 * pl + tx] = s[4 * tx + 3];
        }
    else
        for (int64_t tx = 0; tx < tw; tx++) {
            ph[tx] = s[2 * tx];
            ph[pl + tx] = s[2 * tx + 1];
        }
    ph[tw] = s[m * tw];
    ph[pl + tw] = s[m * tw + 1];
}

/* F(2, 3): B^T down the 4 rows (rs apart) of x for each of rs columns,
 * into the 4 rows of y; then along each tile's 4 columns, ph[0..1][tx]
 * and ph[0..1][tx + 1], into the 4 rows (ds apart) of dst. */
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

/* B^T along each tile's 6 columns, ph[0..3][tx] and ph[0..1][tx + 1],
 * into the 6 rows (ds apart) of dst, one value per tile (two loops, as in
 * bt_down). */
WINO_INLINE void bt_along(const float *restrict ph, int64_t tw,
                          float *restrict dst, int64_t ds)
{
    const int64_t pl = tw + 1;
    const float *restrict p0 = ph, *restrict p1 = ph + pl;
    const float *restrict p2 = ph + 2 * pl, *restrict p3 = ph + 3 * pl;
    for (int64_t tx = 0; tx < tw; tx++) {
        const float x0 = p0[tx], x1 = p1[tx], x2 = p2[tx];
        const float x3 = p3[tx], x4 = p0[tx + 1];
        dst[tx] = 4.0f * x0 - 5.0f * x2 + x4;
        dst[ds + tx] = -4.0f * x1 - 4.0f * x2 + x3 + x4;
        dst[2 * ds + tx] = 4.0f * x1 - 4.0f * x2 - x3 + x4;
    }
    for (int64_t tx = 0; tx < tw; tx++) {
        const float x1 = p1[tx], x2 = p2[tx], x3 = p3[tx];
        const float x4 = p0[tx + 1], x5 = p1[tx + 1];
        dst[3 * ds + tx] = -2.0f * x1 - x2 + 2.0f * x3 + x4;
        dst[4 * ds + tx] = 2.0f * x1 - x2 - 2.0f * x3 + x4;
        dst[5 * ds + tx] = 4.0f * x1 - 5.0f * x3 + x5;
    }
}

/* Row yp of the padded image (pt rows and pl columns of zeros before the
 * image, zeros after it up to hp x wp: the tiles past the output's edge
 * read them, and their outputs are dropped), in phases, into dst (rs
 * floats). `plain` is one plain padded row (wp floats) whose borders are
 * zero. */
WINO_INLINE void phase_row(const lrc_layer *l, const wino_tiling *t,
                           const float *src, int64_t yp,
                           float *restrict plain, float *restrict dst)
{
    const int64_t h = l->in_shape[1], w = l->in_shape[2];
    /* rows and columns of the image that fall inside the padded image (pb
     * and pr may exceed what the tiles read, never the reverse) */
    const int64_t hr = h < t->hp - l->pt ? h : t->hp - l->pt;
    const int64_t wr = w < t->wp - l->pl ? w : t->wp - l->pl;
    const int64_t y = yp - l->pt;
    if (y < 0 || y >= hr) {
        memset(dst, 0, (size_t)t->rs * sizeof(float));
        return;
    }
    memcpy(plain + l->pl, src + y * w, (size_t)wr * sizeof(float));
    split_phases(plain, t->m, t->tw, dst);
}

/* The input transform of tile rows [r0, r0 + nr) of every channel of
 * image `img` into V ([36][c][nr tw]). Per channel and tile row: the 6
 * padded rows under it, in phases (column 4 tx + k of a row at ph[k][tx],
 * so that the columns of tile tx are ph[0..3][tx] and ph[0..1][tx + 1]),
 * in `win` (6 x rs; the last 2 rows of a tile row are the first 2 of the
 * next, so each image row is split once per block, plus 2 rows), then B^T
 * down the 6 rows for every column, then along each tile's 6 columns:
 * every loop reads and writes contiguous runs and vectorises over columns
 * or tiles. The padded image is never stored whole: its rows are made as
 * the transform needs them, while they are in cache. `plain`: wp floats
 * of scratch. */
WINO_CLONES static void input_transform(const lrc_layer *l,
                                        const wino_tiling *t,
                                        const float *img, int64_t r0,
                                        int64_t nr, float *v, float *win,
                                        float *plain, float *trow)
{
    const int64_t c = l->in_c, rs = t->rs, tw = t->tw, bt = nr * tw;
    const int64_t hw = l->in_shape[1] * l->in_shape[2];
    const int a = t->a, tm = t->m;
    memset(plain, 0, (size_t)t->wp * sizeof(float));
    for (int64_t ch = 0; ch < c; ch++) {
        const float *src = img + ch * hw;
        for (int64_t r = 0; r < nr; r++) {
            const int64_t yp = tm * (r0 + r);
            int first = 0;
            if (r > 0) { /* rows m, m + 1 of the last tile row */
                memcpy(win, win + tm * rs, (size_t)(2 * rs) * sizeof(float));
                first = 2;
            }
            for (int i = first; i < a; i++)
                phase_row(l, t, src, yp + i, plain, win + i * rs);
            if (a == 6)
                bt_down(win, rs, trow);
            else
                bt2_down(win, rs, trow);
            for (int i = 0; i < a; i++) {
                float *dst = v + ((int64_t)(i * a) * c + ch) * bt + r * tw;
                if (a == 6)
                    bt_along(trow + i * rs, tw, dst, c * bt);
                else
                    bt2_along(trow + i * rs, tw, dst, c * bt);
            }
        }
    }
}

/* A^T m for the six values m[0], m[s], ..., m[5 s], into y[0], ..., y[3 ys] */
#define AT6(m, s, y, ys) AT6T(float, m, s, y, ys)
/* ... with values of type T (float, or a vector of floats) */
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

/* F(2, 3): A^T of m[0], m[s], ..., m[3 s] into y[0] and y[ys]. */
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

/* A^T down the 6 rows (ms apart) of m for each of tw tiles, into the 4
 * rows (ss apart) of s. */
WINO_INLINE void at_down(const float *restrict m, int64_t ms, int64_t tw,
                           float *restrict s, int64_t ss)
{
    for (int64_t tx = 0; tx < tw; tx++)
        AT6(m + tx, ms, s + tx, ss);
}

/* A^T along the 6 rows (tw apart) of s for each tile, plus the bias,
 * interleaved into one output row: row[4 tx + b]. GCC vectorises the
 * arithmetic but not the interleaving (it stored each value alone: a
 * quarter of the output transform's time at c = d = 64), so 16 tiles at a
 * time are done with GCC's vector extensions: the same operations in the
 * same order on each value, then two rounds of two-vector shuffles. */
#if defined(__GNUC__) && !defined(__clang__)
#define WINO_VEC16 1
typedef float wino_v16 __attribute__((vector_size(64)));
typedef int32_t wino_i16 __attribute__((vector_size(64)));
#endif

WINO_INLINE void at_along(const float *restrict s, int64_t tw, float bias,
                            float *restrict row)
{
    int64_t tx0 = 0;
#ifdef WINO_VEC16
    /* a b interleaves the first (lo) or second (hi) halves of a and b */
    const wino_i16 lo = {0, 16, 1, 17, 2, 18, 3, 19,
                         4, 20, 5, 21, 6, 22, 7, 23};
    const wino_i16 hi = {8, 24, 9, 25, 10, 26, 11, 27,
                         12, 28, 13, 29, 14, 30, 15, 31};
    /* pairs of a, then of b */
    const wino_i16 lo2 = {0, 1, 16, 17, 2, 3, 18, 19,
                          4, 5, 20, 21, 6, 7, 22, 23};
    const wino_i16 hi2 = {8, 9, 24, 25, 10, 11, 26, 27,
                          12, 13, 28, 29, 14, 15, 30, 31};
    for (; tx0 + 16 <= tw; tx0 += 16) {
        wino_v16 m[6], y[4];
        for (int j = 0; j < 6; j++)
            memcpy(&m[j], s + j * tw + tx0, sizeof m[j]);
        AT6T(wino_v16, m, 1, y, 1);
        for (int b = 0; b < 4; b++)
            y[b] = y[b] + bias;
        const wino_v16 p01 = __builtin_shuffle(y[0], y[1], lo);
        const wino_v16 q01 = __builtin_shuffle(y[0], y[1], hi);
        const wino_v16 p23 = __builtin_shuffle(y[2], y[3], lo);
        const wino_v16 q23 = __builtin_shuffle(y[2], y[3], hi);
        const wino_v16 o[4] = {__builtin_shuffle(p01, p23, lo2),
                               __builtin_shuffle(p01, p23, hi2),
                               __builtin_shuffle(q01, q23, lo2),
                               __builtin_shuffle(q01, q23, hi2)};
        memcpy(row + 4 * tx0, o, sizeof o);
    }
#endif
    for (int64_t tx = tx0; tx < tw; tx++) {
        float y[4];
        AT6(s + tx, tw, y, 1);
        row[4 * tx] = y[0] + bias;
        row[4 * tx + 1] = y[1] + bias;
        row[4 * tx + 2] = y[2] + bias;
        row[4 * tx + 3] = y[3] + bias;
    }
}

/* The output transform of tile rows [r0, r0 + nr) from M ([36][d][nr tw])
 * into the output planes (ho x wo each), plus the bias, then the ReLU when
 * relu is set. Per channel and tile row: A^T down the 6 rows of every
 * tile, then A^T along each of the 4 rows, both over the tiles' contiguous
 * runs; the 4 results of a tile row are interleaved into the output row
 * (4 tw wide, of which the first wo are stored). */
WINO_CLONES static void output_transform(const lrc_layer *l,
                                         const wino_tiling *t, const float *m,
                                         int64_t r0, int64_t nr, float *out,
                                         float *orow, int relu)
{
    const int64_t d = l->out_c, tw = t->tw, bt = nr * tw;
    const int64_t ho = l->out_shape[1], wo = l->out_shape[2];
    const int tm = t->m, ta = t->a;
    float *s = orow;                   /* [m][a][tw] */
    float *row = orow + tm * ta * tw;  /* [m tw] */
    for (int64_t f = 0; f < d; f++) {
        float *o = out + f * ho * wo;
        for (int64_t r = 0; r < nr; r++) {
            const float *mf = m + f * bt + r * tw;
            for (int j = 0; j < ta; j++) {
                if (ta == 6)
                    at_down(mf + (int64_t)j * d * bt, 6 * d * bt, tw,
                            s + j * tw, 6 * tw);
                else
                    at2_down(mf + (int64_t)j * d * bt, 4 * d * bt, tw,
                             s + j * tw, 4 * tw);
            }
            const int64_t y0 = tm * (r0 + r);
            for (int a = 0; a < tm && y0 + a < ho; a++) {
                if (ta == 6)
                    at_along(s + a * 6 * tw, tw, l->bias[f], row);
                else
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
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define WINO_MK_X86 1
#include <immintrin.h>

#define MK_DB 8
#define MK_NV 3
#define MK_NT 2

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
            mk_product(u + xi * dp * c, v + xi * c * bt, m + xi * d * bt, d,
                       c, bt);
        return;
    }
#else
    (void)packed;
#endif
    for (int64_t xi = 0; xi < (int64_t)a * a; xi++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d,
                    (int)bt, (int)c, 1.0f, u + xi * d * c, (int)c,
                    v + xi * c * bt, (int)bt, 0.0f, m + xi * d * bt, (int)bt);
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
    for (int64_t b = 0; b < n; b++) {
        for (int64_t r0 = 0; r0 < t.th; r0 += t.rb) {
            const int64_t nr = t.th - r0 < t.rb ? t.th - r0 : t.rb;
            const int64_t bt = nr * t.tw;
            input_transform(l, &t, in + b * in_sz, r0, nr, v, work + g.win,
                            work + g.plain, work + g.trow);
            wino_products(u, packed, v, m, t.a, d, c, bt);
            output_transform(l, &t, m, r0, nr, out + b * out_sz,
                             work + g.orow, relu);
        }
    }
    return LRC_OK;
}

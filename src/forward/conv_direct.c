/* Direct convolution for stride-1 convs: no im2col, no packing.
 *
 * Each image is copied once into a zero-padded c x hp x wp buffer (a
 * pointwise conv, 1 x 1 without pads, reads its input in place). Outputs
 * are computed on a grid as wide as the padded image (wp columns, of which
 * the first wo are real; wider for some streamed outputs, stream_width),
 * so that grid position q = y wp + x reads tap
 * (i, j) of every channel at q + i wp + j: a constant offset per tap. A
 * block of DB output channels x QB consecutive grid positions lives in
 * vector registers; for each input channel and tap the kernel loads the
 * QB shifted inputs and DB broadcast weights and does DB x QB fused
 * multiply-adds. The k k c multiply-adds of an output thus need no lowered
 * matrix, and each loaded input serves DB output channels from registers,
 * which is what im2col + sgemm loses on convs with few output channels
 * (docs/BENCHMARKS.md, sections 3, 5 and 6; the rule for when it is used
 * is in conv.c).
 *
 * Position blocks run outermost, in groups (of one to 64 blocks, fewer
 * the more input channels), so that a group's input rows stay in cache
 * across the channel blocks. The weights are re-laid out as
 * [channel block][c][kh][kw][DB] (zero past d), so the kernel reads them
 * in order: once by a forward plan (lrc_fw_conv_direct_weights), else on
 * every call, d c kh kw copies against ho wo times as many multiply-adds
 * per image.
 *
 * The RGB conv (c = 3, 3 x 3, one column of pads at each side) runs on
 * the output's own grid instead, its rows' ends masked (rgbm512),
 * and so, with the AVX-512 kernel, does every other 3 x 3 conv with one
 * pad on each side (VGG's), reading its input where it lies, with no
 * padded copy at all (inplace512_body): the copy, 13 MB for 64 x 224 x
 * 224, cost 6-8% of a thin conv's time and the padded grid 1-7% more
 * positions (docs/BENCHMARKS.md, section 23). Its blocks without a row's
 * end inside take no masks at all (inplace_plain: with the masks in
 * registers, GCC 12 spilled them for 7-channel blocks and the loop ran
 * at the front end's limit), and a thin conv on a small map runs its
 * input channels in chunks there too (chunk_channels).
 *
 * A forward plan runs a chain of layers in one pass on the same kernel
 * (lrc_fw_conv_direct_chain): a 3 x 3 conv run in place, the 1 x 1 conv
 * of a low-rank pair on its outputs while they are in cache, their ReLU,
 * and a 2 x 2 max pooling from a ring of rows, so that neither the pair's
 * middle activations nor the pooled map's full size pass through memory.
 *
 * Every output is summed in the same order (bias, then channels, then taps
 * row by row, one fused multiply-add each) whatever the block it falls in,
 * the vector width and the batch: the result is the same bits on every
 * run, for an image alone or in any batch, with either kernel. */
#include <stdint.h>
#include <string.h>

#include "forward/forward_impl.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LRC_DIRECT_X86 1
#include <immintrin.h>
#endif

/* One block: bias + the conv of nd channels' weights `w` (DB apart per
 * tap) over QB grid positions starting at `x` (the padded image, channel
 * 0, position q0); stores nd rows, QB floats each, `ldd` floats apart at
 * `dst`. With `part`, the sums start from the partial sums there (nd
 * rows, pld floats apart: those of the channels before x's) instead of
 * the bias. nd is fixed per instance (direct_kernel.block[nd]). flags:
 * DIRECT_RELU fuses the ReLU; DIRECT_STREAM stores past the caches (the
 * AVX-512 kernel; dst and ldd then on whole cache lines). */
typedef void (*direct_block_fn)(const float *x, int64_t cs, int64_t c,
                                int64_t kh, int64_t kw, int64_t wp,
                                const float *w, const float *bias, float *dst,
                                int64_t ldd, int flags, const float *part,
                                int64_t pld);
#define DIRECT_RELU 1
#define DIRECT_STREAM 2

typedef struct {
    int db, qb; /* output channels and grid positions per block */
    const direct_block_fn *block; /* [nd], 1 <= nd <= db: nd channels */
    const direct_block_fn *part;  /* the same from partial sums (or NULL) */
} direct_kernel;

/* Block shapes of the kernels (defined here also where the kernels are
 * not built, so that the workspace size is the same on every machine). */
#define A512_DB 8
#define A512_NV 3
#define A256_DB 4
#define A256_NV 3
/* Largest DB x QB of the two: the stack buffer of a block whose positions
 * straddle a row end. */
#define DIRECT_MAX_BLOCK (A512_DB * 16 * A512_NV > A256_DB * 8 * A256_NV \
                              ? A512_DB * 16 * A512_NV                    \
                              : A256_DB * 8 * A256_NV)

#ifdef LRC_DIRECT_X86
/* Stores a block's ND x A512_NV accumulators, ldd floats apart from one
 * channel to the next: the ReLU under a mask rather than a branch (the
 * same bits as a ReLU, and GCC 12 keeps the accumulators in registers;
 * with a branch it stored all 24 to the stack and loaded them back), and
 * streamed with DIRECT_STREAM. */
__attribute__((target("avx512f"), always_inline)) static inline void
block512_store(const int ND, __m512 acc[][A512_NV], float *dst, int64_t ldd,
               int flags)
{
    const __mmask16 rm = (flags & DIRECT_RELU) ? (__mmask16)0xFFFF : 0;
    for (int o = 0; o < ND; o++)
        for (int v = 0; v < A512_NV; v++) {
            const __m512 r = _mm512_mask_max_ps(acc[o][v], rm, acc[o][v],
                                                _mm512_setzero_ps());
            if (flags & DIRECT_STREAM)
                _mm512_stream_ps(dst + o * ldd + 16 * v, r);
            else
                _mm512_storeu_ps(dst + o * ldd + 16 * v, r);
        }
}

/* AVX-512: 8 channels x 3 vectors of 16 positions = 24 of the 32 zmm
 * registers as accumulators; per tap 3 loads and 8 broadcasts feed 24
 * fused multiply-adds. (Measured with bench_conv on an AVX-512 Xeon: 8 x 3
 * ran the thin convs 5-15% faster than the prototype's 8 x 2, and 6 x 4
 * and 12 x 2 were slower than 8 x 3.) ND, a constant in each instance
 * below, is the number of channels computed: 8, or fewer when d is not a
 * multiple of 8 (lrc_fw_conv_direct balances the blocks: d' = 17 computed
 * 24 channels before, now 6 + 6 + 5); the weights keep their stride of 8
 * per tap. Each channel's sums are the same whatever ND. */
__attribute__((target("avx512f"), always_inline)) static inline void
block512_body(const int ND, const int PART, const float *x, int64_t cs,
              int64_t c, int64_t kh, int64_t kw, int64_t wp, const float *w,
              const float *bias, float *dst, int64_t ldd, int flags,
              const float *part, int64_t pld)
{
    __m512 acc[A512_DB][A512_NV];
    /* (lrc_fw_conv_direct_shape_ok: else GCC 12 also keeps a copy of the
     * accumulators on the stack for loops that run zero times) */
    if (c < 1 || kh < 1 || kw < 1)
        __builtin_unreachable();
    for (int o = 0; o < ND; o++)
        for (int v = 0; v < A512_NV; v++)
            acc[o][v] = PART ? _mm512_loadu_ps(part + o * pld + 16 * v)
                             : _mm512_set1_ps(bias[o]);
    for (int64_t ch = 0; ch < c; ch++, x += cs)
        for (int64_t i = 0; i < kh; i++) {
            const float *xr = x + i * wp;
            /* the next channel's row, a line past the block's reach: its
             * rows are cs floats (a plane) apart, too far for the
             * hardware's stride prefetcher, and the group's input is in
             * L2, not L1 */
            for (int v = 0; v <= A512_NV; v++)
                _mm_prefetch((const char *)(xr + cs + 16 * v), _MM_HINT_T0);
            for (int64_t j = 0; j < kw; j++, w += A512_DB) {
                __m512 xv[A512_NV];
                for (int v = 0; v < A512_NV; v++)
                    xv[v] = _mm512_loadu_ps(xr + j + 16 * v);
                for (int o = 0; o < ND; o++) {
                    const __m512 wv = _mm512_set1_ps(w[o]);
                    for (int v = 0; v < A512_NV; v++)
                        acc[o][v] = _mm512_fmadd_ps(wv, xv[v], acc[o][v]);
                }
            }
        }
    block512_store(ND, acc, dst, ldd, flags);
}

/* AVX2 + FMA: 4 channels x 3 vectors of 8 positions = 12 of the 16 ymm
 * registers; per tap 3 loads and 4 broadcasts feed 12 fused multiply-adds.
 * ND as above, at most 4. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
block256_body(const int ND, const int PART, const float *x, int64_t cs,
              int64_t c, int64_t kh, int64_t kw, int64_t wp, const float *w,
              const float *bias, float *dst, int64_t ldd, int flags,
              const float *part, int64_t pld)
{
    __m256 acc[A256_DB][A256_NV];
    for (int o = 0; o < ND; o++)
        for (int v = 0; v < A256_NV; v++)
            acc[o][v] = PART ? _mm256_loadu_ps(part + o * pld + 8 * v)
                             : _mm256_set1_ps(bias[o]);
    for (int64_t ch = 0; ch < c; ch++, x += cs)
        for (int64_t i = 0; i < kh; i++) {
            const float *xr = x + i * wp;
            for (int v = 0; v <= A256_NV / 2; v++)
                _mm_prefetch((const char *)(xr + cs + 16 * v), _MM_HINT_T0);
            for (int64_t j = 0; j < kw; j++, w += A256_DB) {
                __m256 xv[A256_NV];
                for (int v = 0; v < A256_NV; v++)
                    xv[v] = _mm256_loadu_ps(xr + j + 8 * v);
                for (int o = 0; o < ND; o++) {
                    const __m256 wv = _mm256_set1_ps(w[o]);
                    for (int v = 0; v < A256_NV; v++)
                        acc[o][v] = _mm256_fmadd_ps(wv, xv[v], acc[o][v]);
                }
            }
        }
    if (flags & DIRECT_RELU) /* (DIRECT_STREAM: plain stores here) */
        for (int o = 0; o < ND; o++)
            for (int v = 0; v < A256_NV; v++)
                acc[o][v] = _mm256_max_ps(acc[o][v], _mm256_setzero_ps());
    for (int o = 0; o < ND; o++)
        for (int v = 0; v < A256_NV; v++)
            _mm256_storeu_ps(dst + o * ldd + 8 * v, acc[o][v]);
}

/* Instances: PRE_ISA_ND computes ND channels with c, kh and kw taken from
 * C, KH and KW (the arguments themselves, or constants), from the bias
 * (PART 0: `part` unused) or from partial sums (PART 1). (With PART a
 * run-time test, the pointwise convs ran 1-8% slower.) */
#define DIRECT_INSTANCE(PRE, ISA, TARGET, ND, PART, C, KH, KW)                \
    __attribute__((target(TARGET))) static void PRE##_##ISA##_##ND(           \
        const float *x, int64_t cs, int64_t c, int64_t kh, int64_t kw,        \
        int64_t wp, const float *w, const float *bias, float *dst,            \
        int64_t ldd, int flags, const float *part, int64_t pld)               \
    {                                                                         \
        (void)c, (void)kh, (void)kw, (void)part, (void)pld;                   \
        ISA##_body(ND, PART, x, cs, C, KH, KW, wp, w, bias, dst, ldd, flags,  \
                   part, pld);                                                \
    }
#define DIRECT_INSTANCES4(PRE, ISA, TARGET, A, B, C, D, CH, KH, KW)           \
    DIRECT_INSTANCE(PRE, ISA, TARGET, A, 0, CH, KH, KW)                       \
    DIRECT_INSTANCE(PRE, ISA, TARGET, B, 0, CH, KH, KW)                       \
    DIRECT_INSTANCE(PRE, ISA, TARGET, C, 0, CH, KH, KW)                       \
    DIRECT_INSTANCE(PRE, ISA, TARGET, D, 0, CH, KH, KW)
/* and PREp_ISA_ND, from partial sums: where a conv runs its input
 * channels in chunks (chunk_channels), the generic and 3 x 3 kernels */
#define PART_INSTANCES4(PRE, ISA, TARGET, A, B, C, D, CH, KH, KW)             \
    DIRECT_INSTANCE(PRE##p, ISA, TARGET, A, 1, CH, KH, KW)                    \
    DIRECT_INSTANCE(PRE##p, ISA, TARGET, B, 1, CH, KH, KW)                    \
    DIRECT_INSTANCE(PRE##p, ISA, TARGET, C, 1, CH, KH, KW)                    \
    DIRECT_INSTANCE(PRE##p, ISA, TARGET, D, 1, CH, KH, KW)
DIRECT_INSTANCES4(block, block512, "avx512f", 1, 2, 3, 4, c, kh, kw)
DIRECT_INSTANCES4(block, block512, "avx512f", 5, 6, 7, 8, c, kh, kw)
DIRECT_INSTANCES4(block, block256, "avx2,fma", 1, 2, 3, 4, c, kh, kw)
PART_INSTANCES4(block, block512, "avx512f", 1, 2, 3, 4, c, kh, kw)
PART_INSTANCES4(block, block512, "avx512f", 5, 6, 7, 8, c, kh, kw)
PART_INSTANCES4(block, block256, "avx2,fma", 1, 2, 3, 4, c, kh, kw)

/* The same kernels with c = 3 and a 3 x 3 kernel as constants: the first
 * conv of most image networks (RGB input). With only 27 taps per block,
 * the generic instances spent as long on their loop control, and on
 * spilling the accumulators before loops that might run zero times, as on
 * the multiply-adds; here the 27 taps are unrolled. The same sums in the
 * same order: the same bits. */
DIRECT_INSTANCES4(rgb, block512, "avx512f", 1, 2, 3, 4, 3, 3, 3)
DIRECT_INSTANCES4(rgb, block512, "avx512f", 5, 6, 7, 8, 3, 3, 3)
DIRECT_INSTANCES4(rgb, block256, "avx2,fma", 1, 2, 3, 4, 3, 3, 3)
/* With 3 x 3 taps as constants (any c): VGG's convs and the first halves
 * of the low-rank pairs, their nine taps per channel unrolled (with the
 * tap loops' bounds unknown, GCC 12 kept their counters and tests in the
 * inner loop). The 4x model's conv1_2_lrA (64 -> 20 channels, 224 x 224)
 * ran 6% faster in the plan, the whole 4x model 5-9% (docs/BENCHMARKS.md,
 * section 19). The same sums in the same order: the same bits. */
DIRECT_INSTANCES4(k3, block512, "avx512f", 1, 2, 3, 4, c, 3, 3)
DIRECT_INSTANCES4(k3, block512, "avx512f", 5, 6, 7, 8, c, 3, 3)
DIRECT_INSTANCES4(k3, block256, "avx2,fma", 1, 2, 3, 4, c, 3, 3)
PART_INSTANCES4(k3, block512, "avx512f", 1, 2, 3, 4, c, 3, 3)
PART_INSTANCES4(k3, block512, "avx512f", 5, 6, 7, 8, c, 3, 3)
PART_INSTANCES4(k3, block256, "avx2,fma", 1, 2, 3, 4, c, 3, 3)
/* And with a 1 x 1 kernel: the second halves of the low-rank pairs (the
 * tap loops, which would run once per channel, vanish). */
DIRECT_INSTANCES4(pw, block512, "avx512f", 1, 2, 3, 4, c, 1, 1)
DIRECT_INSTANCES4(pw, block512, "avx512f", 5, 6, 7, 8, c, 1, 1)
DIRECT_INSTANCES4(pw, block256, "avx2,fma", 1, 2, 3, 4, c, 1, 1)
#undef PART_INSTANCES4
#undef DIRECT_INSTANCES4
#undef DIRECT_INSTANCE

/* [nd]: the instance computing nd channels */
#define TABLE512(NAME, PRE)                                                   \
    static const direct_block_fn NAME[A512_DB + 1] = {                        \
        NULL,              PRE##_block512_1, PRE##_block512_2,                \
        PRE##_block512_3, PRE##_block512_4, PRE##_block512_5,                 \
        PRE##_block512_6, PRE##_block512_7, PRE##_block512_8};
#define TABLE256(NAME, PRE)                                                   \
    static const direct_block_fn NAME[A256_DB + 1] = {                        \
        NULL, PRE##_block256_1, PRE##_block256_2, PRE##_block256_3,           \
        PRE##_block256_4};
TABLE512(blocks512, block)
TABLE256(blocks256, block)
TABLE512(rgb512, rgb)
TABLE256(rgb256, rgb)
TABLE512(k3512, k3)
TABLE256(k3256, k3)
TABLE512(pw512, pw)
TABLE256(pw256, pw)
TABLE512(blocksp512, blockp)
TABLE256(blocksp256, blockp)
TABLE512(k3p512, k3p)
TABLE256(k3p256, k3p)
#undef TABLE256
#undef TABLE512

#endif

#ifdef LRC_DIRECT_X86
/* A 3 x 3 conv with one pad on every side (VGG's), any c, read where its
 * input lies, with no copy at all (the RGB conv, rgbm512, runs on it
 * too). The grid is the output's own (rows of w positions); position q reads tap
 * (i, j) at q + (i - 1) w + j - 1, and lanes whose reads fall outside the
 * image (a row's first or last column; with EDGE, also the first or last
 * row, or past the plane) load zeros instead: where a padded copy holds
 * zeros. Interior blocks (EDGE 0) take the column masks m[0..2] (j = 0)
 * and m[3..5] (j = 2), held in mask registers; edge blocks (EDGE 1, the
 * few that touch the first or last row) a mask per tap and vector,
 * m[(3 i + j) A512_NV + v], read from memory. The same sums in the same
 * order as the padded kernel: the same bits. */
__attribute__((target("avx512f"), always_inline)) static inline void
inplace512_body(const int ND, const int EDGE, const int PART, const float *x,
                int64_t cs, int64_t c, int64_t w, const float *wt,
                const float *bias, float *dst, int64_t ldd, int flags,
                const __mmask16 *m, const float *part, int64_t pld)
{
    __m512 acc[A512_DB][A512_NV];
    __mmask16 ml[A512_NV], mr[A512_NV];
    for (int v = 0; v < A512_NV; v++) {
        ml[v] = EDGE ? 0 : m[v];
        mr[v] = EDGE ? 0 : m[A512_NV + v];
    }
    if (c < 1)
        __builtin_unreachable();
    for (int o = 0; o < ND; o++)
        for (int v = 0; v < A512_NV; v++)
            acc[o][v] = PART ? _mm512_loadu_ps(part + o * pld + 16 * v)
                             : _mm512_set1_ps(bias[o]);
    for (int64_t ch = 0; ch < c; ch++, x += cs)
        for (int i = 0; i < 3; i++) {
            const float *xr = x + (i - 1) * w;
            for (int v = 0; v <= A512_NV; v++)
                _mm_prefetch((const char *)(xr + cs + 16 * v), _MM_HINT_T0);
            for (int j = 0; j < 3; j++, wt += A512_DB) {
                __m512 xv[A512_NV];
                for (int v = 0; v < A512_NV; v++) {
                    const float *px = xr + 16 * v + j - 1;
                    if (EDGE == 2)
                        xv[v] = _mm512_loadu_ps(px);
                    else if (EDGE)
                        xv[v] = _mm512_maskz_loadu_ps(m[(3 * i + j) * A512_NV + v], px);
                    else
                        xv[v] = j == 0   ? _mm512_maskz_loadu_ps(ml[v], px)
                                : j == 1 ? _mm512_loadu_ps(px)
                                         : _mm512_maskz_loadu_ps(mr[v], px);
                }
                for (int o = 0; o < ND; o++) {
                    const __m512 wv = _mm512_set1_ps(wt[o]);
                    for (int v = 0; v < A512_NV; v++)
                        acc[o][v] = _mm512_fmadd_ps(wv, xv[v], acc[o][v]);
                }
            }
        }
    block512_store(ND, acc, dst, ldd, flags);
}

typedef void (*inplace_block_fn)(const float *x, int64_t cs, int64_t c,
                                 int64_t w, const float *wt,
                                 const float *bias, float *dst, int64_t ldd,
                                 int flags, const __mmask16 *m,
                                 const float *part, int64_t pld);
/* NAME_ND: ND channels, EDGE as above, from the bias or (PART) from the
 * partial sums at `part` (a conv run in chunks of input channels) */
#define INPLACE_INSTANCE(ND, EDGE, PART, NAME)                                \
    __attribute__((target("avx512f"))) static void NAME##_##ND(               \
        const float *x, int64_t cs, int64_t c, int64_t w, const float *wt,    \
        const float *bias, float *dst, int64_t ldd, int flags,                \
        const __mmask16 *m, const float *part, int64_t pld)                   \
    {                                                                         \
        inplace512_body(ND, EDGE, PART, x, cs, c, w, wt, bias, dst, ldd,      \
                        flags, m, part, pld);                                 \
    }
#define INPLACE_INSTANCES(ND)                                                 \
    INPLACE_INSTANCE(ND, 0, 0, inplace)                                       \
    INPLACE_INSTANCE(ND, 1, 0, inplace_edge)                                  \
    INPLACE_INSTANCE(ND, 2, 0, inplace_plain)                                 \
    INPLACE_INSTANCE(ND, 0, 1, inplacep)                                      \
    INPLACE_INSTANCE(ND, 1, 1, inplacep_edge)                                 \
    INPLACE_INSTANCE(ND, 2, 1, inplacep_plain)
INPLACE_INSTANCES(1)
INPLACE_INSTANCES(2)
INPLACE_INSTANCES(3)
INPLACE_INSTANCES(4)
INPLACE_INSTANCES(5)
INPLACE_INSTANCES(6)
INPLACE_INSTANCES(7)
INPLACE_INSTANCES(8)
#undef INPLACE_INSTANCES
#undef INPLACE_INSTANCE
/* [part][kind][nd]: kind 0 column masks, 1 edge, 2 plain */
#define INPLACE_ROW(NAME)                                                     \
    {NULL,     NAME##_1, NAME##_2, NAME##_3, NAME##_4,                        \
     NAME##_5, NAME##_6, NAME##_7, NAME##_8}
static const inplace_block_fn inplace512[2][3][A512_DB + 1] = {
    {INPLACE_ROW(inplace), INPLACE_ROW(inplace_edge), INPLACE_ROW(inplace_plain)},
    {INPLACE_ROW(inplacep), INPLACE_ROW(inplacep_edge),
     INPLACE_ROW(inplacep_plain)}};
#undef INPLACE_ROW

/* The RGB conv (c = 3, 3 x 3) with one column of pads left and right, on
 * the output's own grid: rows of w positions rather than w + 2 (or the
 * 240 of a streamed 224 x 224 output, 7% more multiply-adds), so that no
 * position is computed for the pads and every block lies in the output
 * where it is stored (a block of 48 spans rows freely). x is the image
 * with its rows of pads above and below but none at the sides, so that
 * the in-place kernel's column masks (m[0..2] and m[3..5]) are all it
 * needs: inplace512_body with c = 3 as a constant (its 27 taps unrolled)
 * from the row below x's first. The same sums in the same order as the
 * padded grid: the same bits. */
typedef void (*rgbm_block_fn)(const float *x, int64_t cs, int64_t w,
                              const float *wt, const float *bias, float *dst,
                              int64_t ldd, int flags, const __mmask16 *m);
#define RGBM_INSTANCE(ND)                                                     \
    __attribute__((target("avx512f"))) static void rgbm_##ND(                 \
        const float *x, int64_t cs, int64_t w, const float *wt,               \
        const float *bias, float *dst, int64_t ldd, int flags,                \
        const __mmask16 *m)                                                   \
    {                                                                         \
        inplace512_body(ND, 0, 0, x + w, cs, 3, w, wt, bias, dst, ldd, flags, \
                        m, NULL, 0);                                          \
    }
RGBM_INSTANCE(1)
RGBM_INSTANCE(2)
RGBM_INSTANCE(3)
RGBM_INSTANCE(4)
RGBM_INSTANCE(5)
RGBM_INSTANCE(6)
RGBM_INSTANCE(7)
RGBM_INSTANCE(8)
#undef RGBM_INSTANCE
static const rgbm_block_fn rgbm512[A512_DB + 1] = {
    NULL, rgbm_1, rgbm_2, rgbm_3, rgbm_4, rgbm_5, rgbm_6, rgbm_7, rgbm_8};
#endif

/* The kernel of algorithm a for layer l (its instances unrolled for c = 3
 * and 3 x 3 taps when l has that shape); 0 when a is not a direct one or
 * this build has no kernel for it. */
static int direct_kernel_of(lrc_conv_algo a, const lrc_layer *l,
                            direct_kernel *k)
{
#ifdef LRC_DIRECT_X86
    const int rgb = l && l->in_c == 3 && l->kh == 3 && l->kw == 3;
    const int one = l && l->kh == 1 && l->kw == 1;
    const int k3 = l && l->kh == 3 && l->kw == 3;
    if (a == LRC_CONV_DIRECT_AVX512) {
        k->db = A512_DB;
        k->qb = 16 * A512_NV;
        k->block = rgb ? rgb512 : one ? pw512 : k3 ? k3512 : blocks512;
        k->part = rgb || one ? NULL : k3 ? k3p512 : blocksp512;
        return 1;
    }
    if (a == LRC_CONV_DIRECT_AVX2) {
        k->db = A256_DB;
        k->qb = 8 * A256_NV;
        k->block = rgb ? rgb256 : one ? pw256 : k3 ? k3256 : blocks256;
        k->part = rgb || one ? NULL : k3 ? k3p256 : blocksp256;
        return 1;
    }
#else
    (void)a;
    (void)l;
    (void)k;
#endif
    return 0;
}

int lrc_fw_conv_cpu_has(lrc_conv_algo a)
{
    switch (a) {
    case LRC_CONV_LOWERED:
        return 1;
#ifdef LRC_DIRECT_X86
    case LRC_CONV_DIRECT_AVX512:
    case LRC_CONV_ROWS_AVX512:
        /* libgcc's check includes the OS saving the zmm state (XCR0) */
        return __builtin_cpu_supports("avx512f") != 0; /* 0 or 1 */
    case LRC_CONV_DIRECT_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    case LRC_CONV_DIRECT_AVX512:
    case LRC_CONV_DIRECT_AVX2:
    case LRC_CONV_ROWS_AVX512:
        return 0;
#endif
    }
    return 0;
}

int lrc_fw_conv_direct_shape_ok(const lrc_layer *l)
{
    return l->op == LRC_OP_CONV && l->sh == 1 && l->sw == 1 && l->pt >= 0 &&
           l->pl >= 0 && l->pb >= 0 && l->pr >= 0 && l->kh >= 1 &&
           l->kw >= 1 && l->in_c >= 1 && l->out_c >= 1 &&
           l->out_shape[1] == l->in_shape[1] + l->pt + l->pb - l->kh + 1 &&
           l->out_shape[2] == l->in_shape[2] + l->pl + l->pr - l->kw + 1;
}

/* Workspace layout of the direct path, in floats: weights (dpad x c x kh x
 * kw), bias (dpad), padded image (c x hp x wp) and its slack. The slack
 * covers the last block's reads past the grid: they reach at most
 * QB + kw - 3 floats past the padded image (the grid is ho wp = (hp - kh
 * + 1) wp positions, rounded up to QB, plus the last tap's offset). A
 * pointwise conv (1 x 1, no pads) reads its input where it lies, and
 * needs in place of the padded image only the inputs of its last block
 * when that is partial (c x QB: its reads would pass the input's end).
 * Then, for a conv run in chunks of input channels (chunk_channels), the
 * partial sums: dpad x the grid rounded up to QB. */
typedef struct {
    int64_t dpad, wt, bias, pad, slack, part, total;
    int64_t cc; /* input channels per chunk (chunk_channels; c: one) */
} direct_layout;

/* The grid's row width when the output is streamed (lrc_fw_conv_direct):
 * for a conv with few taps per output (c kh kw <= 27, such as an RGB
 * input's 3 x 3), whose time goes to storing its outputs, and rows of
 * whole vectors (wo % 16 == 0), the padded width rounded up to a multiple
 * of QB, so that every block stored in place starts on a cache line and
 * is streamed (224 x 224: 240 columns, 7% more multiply-adds); else the
 * padded width. (The AVX-512 kernel runs an RGB input's 3 x 3 with one
 * column of pads at each side on the output's own grid instead,
 * rgb_unpadded_run; the layout still sizes the workspace.) */
static int64_t stream_width(const lrc_layer *l, int64_t qb)
{
    const int64_t wp = l->in_shape[2] + l->pl + l->pr;
    if (lrc_fw_conv_is_pointwise(l) || l->in_c * l->kh * l->kw > 27 ||
        l->out_shape[2] % 16 != 0)
        return wp;
    return (wp + qb - 1) / qb * qb;
}

/* Output rows per stripe of a padded conv (the AVX2 kernel's, and the
 * AVX-512 kernel's on convs it cannot run in place: inplace_ok). An image
 * whose padded copy would pass DIRECT_STRIPE_WHOLE bytes is padded and
 * convolved a stripe of rows at a time, so that the padded copy of a
 * stripe (c x (rows + kh - 1) x wp floats, about DIRECT_STRIPE_BYTES) is
 * still in L2 when the kernel reads it: padded whole, VGG-16's 224 x 224 images of 64 channels
 * made a 13 MB copy, written out to memory and read back. Smaller images
 * (conv3_x's 3.4 MB) ran 3-5% slower in stripes, so they are padded
 * whole (docs/BENCHMARKS.md, section 22). At least 8 rows, so that
 * copying a stripe's kh - 1 rows of overlap twice stays cheap. */
#define DIRECT_STRIPE_BYTES (1 << 20)
#define DIRECT_STRIPE_WHOLE (4 << 20)
static int64_t stripe_rows(const lrc_layer *l, int64_t wp)
{
    const int64_t row = l->in_c * wp * (int64_t)sizeof(float);
    const int64_t hp = l->in_shape[1] + l->pt + l->pb;
    if (row * hp <= DIRECT_STRIPE_WHOLE)
        return l->out_shape[1];
    int64_t r = DIRECT_STRIPE_BYTES / row - (l->kh - 1);
    r = r < 8 ? 8 : r;
    return r < l->out_shape[1] ? r : l->out_shape[1];
}

/* Input channels per chunk. A thin conv (d rounded up to its blocks,
 * dpad, at most DIRECT_CHUNK_MAX_D) on a map small enough to be padded
 * whole, whose padded image and weights would pass DIRECT_CHUNK_MIN bytes
 * (more than L2 holds with the output), runs its input channels in chunks
 * of about DIRECT_CHUNK_BYTES of input and weights: the chunk's padded
 * planes and weights stay in L2 over all its blocks, which keep their
 * sums between chunks in a partial buffer (dpad x the grid rounded up to
 * QB floats, at most DIRECT_CHUNK_PART bytes). The 4x model's
 * conv4_2_lrA (512 -> 72 channels, 28 x 28: 1.8 MB of padded input, 1.5
 * MB of weights, more than L2 holds together) ran 5-6% faster so, in
 * four chunks; its conv3_x lrA (256 -> 45-48 channels, 56 x 56, a
 * partial buffer of 627 KB) 2-3% slower, so they are not chunked
 * (docs/BENCHMARKS.md, section 22). The sums run over the channels in
 * the same order, kept in float between chunks: the same bits. c when
 * the conv runs unchunked. */
#define DIRECT_CHUNK_MAX_D 128
#define DIRECT_CHUNK_MIN (2 << 20)
#define DIRECT_CHUNK_BYTES (1 << 20)
#define DIRECT_CHUNK_PART (512 << 10)
static int64_t chunk_grid(const lrc_layer *l, int64_t wp, int64_t qb)
{
    return (l->out_shape[1] * wp + qb - 1) / qb * qb;
}

static int64_t chunk_channels(const lrc_layer *l, int64_t dpad, int64_t qb)
{
    const int64_t c = l->in_c, kk = l->kh * l->kw;
    const int64_t hp = l->in_shape[1] + l->pt + l->pb;
    const int64_t wp = l->in_shape[2] + l->pl + l->pr;
    const int64_t per = (hp * wp + kk * dpad) * (int64_t)sizeof(float);
    if (lrc_fw_conv_is_pointwise(l) || c * kk <= 27 || /* (rgb: no part) */
        stripe_rows(l, wp) < l->out_shape[1] ||
        dpad > DIRECT_CHUNK_MAX_D || c * per <= DIRECT_CHUNK_MIN ||
        dpad * chunk_grid(l, wp, qb) * (int64_t)sizeof(float) > DIRECT_CHUNK_PART)
        return c;
    const int64_t n = (c * per + DIRECT_CHUNK_BYTES - 1) / DIRECT_CHUNK_BYTES;
    return (c + n - 1) / n;
}

static void direct_layout_of(const lrc_layer *l, const direct_kernel *k,
                             direct_layout *g)
{
    const int64_t c = l->in_c, kk = l->kh * l->kw;
    const int64_t hp = l->in_shape[1] + l->pt + l->pb;
    const int64_t wp = stream_width(l, k->qb); /* >= the padded width */
    g->dpad = (l->out_c + k->db - 1) / k->db * k->db;
    g->wt = 0;
    g->bias = g->dpad * c * kk;
    g->pad = g->bias + g->dpad;
    g->slack = g->pad + (lrc_fw_conv_is_pointwise(l) ? c * k->qb : c * hp * wp);
    g->part = g->slack + k->qb + l->kw;
    g->cc = chunk_channels(l, g->dpad, k->qb);
    g->total = g->part + (g->cc < c ? g->dpad * chunk_grid(l, wp, k->qb) : 0);
}

size_t lrc_fw_conv_direct_workspace(const lrc_layer *l)
{
    /* the most that either kernel needs, whichever the CPU has, so that
     * the size does not depend on the CPU */
    const direct_kernel shapes[2] = {{A512_DB, 16 * A512_NV, NULL, NULL},
                                     {A256_DB, 8 * A256_NV, NULL, NULL}};
    int64_t most = 0;
    for (int i = 0; i < 2; i++) {
        direct_layout g;
        direct_layout_of(l, &shapes[i], &g);
        if (g.total > most)
            most = g.total;
    }
    return (size_t)most;
}

/* Copies rows [r0, r0 + nr) of image `img` (c x h x w) padded into `pad`
 * (c planes of nr x wp): the image's rows where they fall, zeros for the
 * pads' rows and columns. All of it is written: the workspace is shared,
 * so nothing there is zero from an earlier call. */
void lrc_fw_pad_rows(const lrc_layer *l, const float *img, int64_t wp,
                     int64_t r0, int64_t nr, float *pad)
{
    const int64_t c = l->in_c, h = l->in_shape[1], w = l->in_shape[2];
    const int64_t pr = wp - w - l->pl;
    for (int64_t ch = 0; ch < c; ch++) {
        float *p = pad + ch * nr * wp;
        const float *s = img + ch * h * w;
        for (int64_t r = r0; r < r0 + nr; r++) {
            float *row = p + (r - r0) * wp;
            const int64_t y = r - l->pt;
            if (y < 0 || y >= h) {
                memset(row, 0, (size_t)wp * sizeof(float));
                continue;
            }
            memset(row, 0, (size_t)l->pl * sizeof(float));
            memcpy(row + l->pl, s + y * w, (size_t)w * sizeof(float));
            memset(row + l->pl + w, 0, (size_t)pr * sizeof(float));
        }
    }
}

void lrc_fw_pad_image(const lrc_layer *l, const float *img, int64_t wp,
                      float *pad)
{
    lrc_fw_pad_rows(l, img, wp, 0, l->in_shape[1] + l->pt + l->pb, pad);
}

#ifdef LRC_DIRECT_X86
__attribute__((target("avx512f"))) void lrc_fw_stream_copy(float *dst,
                                                           const float *src,
                                                           int64_t n)
{
    for (int64_t i = 0; i < n; i += 16)
        _mm512_stream_ps(dst + i, _mm512_loadu_ps(src + i));
}
#endif

/* Copies the real outputs of a block computed into `blk` (nd rows, qb
 * apart; grid positions q0 to q0 + len) to `out` (d planes of ho x wo):
 * the block straddles a row end or the grid's end, so it holds pad
 * columns (x >= wo), positions past the grid, or parts of several rows.
 * stream: runs of whole cache lines are streamed (AVX-512). */
static void scatter_block(const float *blk, int64_t qb, int nd, int64_t q0,
                          int64_t len, int64_t wp, int64_t wo, int64_t plane,
                          float *out, int stream)
{
    for (int64_t q = q0; q < q0 + len;) {
        const int64_t y = q / wp, x = q - y * wp;
        int64_t run = wp - x;
        if (run > q0 + len - q)
            run = q0 + len - q;
        const int64_t keep = x < wo ? (wo - x < run ? wo - x : run) : 0;
        for (int o = 0; o < nd && keep > 0; o++) {
            float *dst = out + o * plane + y * wo + x;
#ifdef LRC_DIRECT_X86
            if (stream && keep % 16 == 0 && (uintptr_t)dst % 64 == 0) {
                lrc_fw_stream_copy(dst, blk + o * qb + (q - q0), keep);
                continue;
            }
#else
            (void)stream;
#endif
            memcpy(dst, blk + o * qb + (q - q0), (size_t)keep * sizeof(float));
        }
        q += run;
    }
}

/* The d channels in nb = ceil(d / db) blocks of balanced sizes (the
 * first d % nb one larger): d' = 17 runs as 6 + 6 + 5 channels, each
 * block bound by its multiply-adds, rather than 8 + 8 + 1, whose last
 * block is bound by its loads. Weights as [nb][c][kh kw][db] (the first
 * `size` of each db used, zero past it), then the bias by channel (dpad):
 * the first g.pad floats of the workspace's layout. */
static void direct_pack(const lrc_layer *l, const direct_kernel *k,
                        const direct_layout *g, float *pk)
{
    const int64_t c = l->in_c, d = l->out_c, kk = l->kh * l->kw, db = k->db;
    const int64_t nb = (d + db - 1) / db, base = d / nb, extra = d % nb;
    float *wt = pk + g->wt, *bias = pk + g->bias;
    for (int64_t f = 0; f < g->dpad; f++)
        bias[f] = f < d ? l->bias[f] : 0.0f;
    memset(wt, 0, (size_t)(g->dpad * c * kk) * sizeof *wt);
    /* a channel at a time, its c kk weights read in order; the block's
     * writes, db floats apart, stay within its db c kk floats */
    for (int64_t bl = 0, f0 = 0; bl < nb; f0 += base + (bl < extra), bl++)
        for (int64_t f = f0; f < f0 + base + (bl < extra); f++) {
            const float *src = l->weight + f * c * kk;
            float *dst = wt + bl * c * kk * db + (f - f0);
            for (int64_t q = 0; q < c * kk; q++)
                dst[q * db] = src[q];
        }
}

size_t lrc_fw_conv_direct_weights_size(const lrc_layer *l, lrc_conv_algo a)
{
    direct_kernel k;
    if (!direct_kernel_of(a, l, &k))
        return 0;
    direct_layout g;
    direct_layout_of(l, &k, &g);
    return (size_t)g.pad;
}

void lrc_fw_conv_direct_weights(const lrc_layer *l, lrc_conv_algo a,
                                float *packed)
{
    direct_kernel k;
    if (!direct_kernel_of(a, l, &k))
        return;
    direct_layout g;
    direct_layout_of(l, &k, &g);
    direct_pack(l, &k, &g, packed);
}

#ifdef LRC_DIRECT_X86
/* Whether l runs on rgbm512: the AVX-512 kernel, c = 3, 3 x 3, one
 * column of pads at each side (so wo = w), rows of at least 16. */
static int rgb_unpadded(const lrc_layer *l, lrc_conv_algo a)
{
    return a == LRC_CONV_DIRECT_AVX512 && l->in_c == 3 && l->kh == 3 &&
           l->kw == 3 && l->pl == 1 && l->pr == 1 && l->in_shape[2] >= 16;
}

/* rgbm512's masks for the block of 48 positions from q0 on rows of w:
 * m[v] clears the lanes of vector v at a row's first column, m[3 + v]
 * those at its last. */
static void rgb_masks(int64_t q0, int64_t w, __mmask16 m[2 * A512_NV])
{
    const int64_t qb = 16 * A512_NV, x0 = q0 % w;
    uint64_t left = ~(uint64_t)0, right = ~(uint64_t)0;
    for (int64_t t = (w - x0) % w; t < qb; t += w)
        left &= ~((uint64_t)1 << t);
    for (int64_t t = w - 1 - x0; t < qb; t += w)
        right &= ~((uint64_t)1 << t);
    for (int v = 0; v < A512_NV; v++) {
        m[v] = (__mmask16)(left >> (16 * v));
        m[A512_NV + v] = (__mmask16)(right >> (16 * v));
    }
}

/* l (rgb_unpadded) on n images with the weights packed as for the
 * AVX-512 kernel (wt, bias), `pad` the workspace's image area: 16 floats
 * of zeros (the first block's reads before the image), the image with its
 * rows of pads (3 planes of hp x w, hp = ho + 2), 48 floats of zeros (the
 * last block's reads past it, up to 47 floats): 16 + 3 hp w + 48 floats,
 * which the area's 3 hp (w + 2) + 51 holds as hp >= 3. Positions in
 * groups and channels in balanced blocks as in lrc_fw_conv_direct; every
 * block stored where it lies, streamed when `stream` (48 positions, 192
 * bytes: on a line when the plane is), but the grid's last block when
 * partial (through a stack buffer). */
static void rgb_unpadded_run(const lrc_layer *l, const float *wt,
                             const float *bias, const float *in, int64_t n,
                             float *out, float *pad, int relu, int stream)
{
    const int64_t h = l->in_shape[1], w = l->in_shape[2];
    const int64_t hp = h + l->pt + l->pb, ho = l->out_shape[1];
    const int64_t plane = ho * w, cs = hp * w, d = l->out_c;
    const int64_t db = A512_DB, qb = 16 * A512_NV, kk = 9;
    const int64_t nb = (d + db - 1) / db, base = d / nb, extra = d % nb;
    enum { group = 64 }; /* blocks: 3 x 64 x 48 floats, 36 KiB */
    float *img = pad + 16;
    memset(pad, 0, 16 * sizeof(float));
    memset(img + 3 * cs, 0, (size_t)qb * sizeof(float));
    const int flags = relu ? DIRECT_RELU : 0;
    float blk[DIRECT_MAX_BLOCK];
    __mmask16 m[group][2 * A512_NV]; /* a group's blocks' masks */
    for (int64_t b = 0; b < n; b++) {
        const float *src = in + b * 3 * h * w;
        for (int64_t ch = 0; ch < 3; ch++) {
            float *p = img + ch * cs;
            memset(p, 0, (size_t)(l->pt * w) * sizeof(float));
            memcpy(p + l->pt * w, src + ch * h * w,
                   (size_t)(h * w) * sizeof(float));
            memset(p + (l->pt + h) * w, 0, (size_t)(l->pb * w) * sizeof(float));
        }
        float *o = out + b * d * plane;
        for (int64_t q1 = 0; q1 < plane; q1 += group * qb) {
            const int64_t qe = q1 + group * qb < plane ? q1 + group * qb : plane;
            for (int64_t q0 = q1; q0 < qe; q0 += qb)
                rgb_masks(q0, w, m[(q0 - q1) / qb]);
            for (int64_t bl = 0, ob = 0; bl < nb; ob += base + (bl < extra), bl++) {
                const int nd = (int)(base + (bl < extra));
                const float *wb = wt + bl * db * 3 * kk;
                for (int64_t q0 = q1; q0 < qe; q0 += qb) {
                    const __mmask16 *mq = m[(q0 - q1) / qb];
                    if (plane - q0 >= qb) {
                        rgbm512[nd](img + q0, cs, w, wb, bias + ob,
                                    o + ob * plane + q0, plane,
                                    stream ? flags | DIRECT_STREAM : flags, mq);
                        continue;
                    }
                    rgbm512[nd](img + q0, cs, w, wb, bias + ob, blk, qb,
                                flags, mq);
                    for (int f = 0; f < nd; f++)
                        memcpy(o + (ob + f) * plane + q0, blk + f * qb,
                               (size_t)(plane - q0) * sizeof(float));
                }
            }
        }
    }
}
#endif

#ifdef LRC_DIRECT_X86
/* Whether l runs in place (inplace512): the AVX-512 kernel, 3 x 3 with
 * one pad on every side, c > 3 (the RGB conv has its own). */
static int inplace_ok(const lrc_layer *l, lrc_conv_algo a)
{
    return a == LRC_CONV_DIRECT_AVX512 && l->in_c > 3 && l->kh == 3 &&
           l->kw == 3 && l->pt == 1 && l->pb == 1 && l->pl == 1 && l->pr == 1;
}

/* inplace_edge512's masks for the block of 48 positions from q0 on an h x
 * w plane: lane t of vector v, position q = q0 + 16 v + t at (y, x),
 * reads tap (i, j) when y + i - 1 and x + j - 1 fall in the image and q
 * in the plane. */
static void inplace_edge_masks(int64_t q0, int64_t h, int64_t w,
                               __mmask16 m[9 * A512_NV])
{
    memset(m, 0, 9 * A512_NV * sizeof *m);
    for (int t = 0; t < 16 * A512_NV; t++) {
        const int64_t q = q0 + t, y = q / w, x = q - y * w;
        if (q >= h * w)
            break;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                if (y + i - 1 >= 0 && y + i - 1 < h && x + j - 1 >= 0 &&
                    x + j - 1 < w)
                    m[(3 * i + j) * A512_NV + t / 16] |= (__mmask16)(1u << (t % 16));
    }
}

enum { INPLACE_GROUP_MOST = 64 }; /* position blocks per group */

/* Position blocks per group for a conv of c input channels: a group's
 * input, c x group x 48 floats, about 128 KiB, stays in L2 across the
 * channel blocks. */
static int64_t inplace_group_of(int64_t c)
{
    const int64_t g = (int64_t)(131072 / ((size_t)c * 16 * A512_NV * sizeof(float)));
    return g < 1 ? 1 : g > INPLACE_GROUP_MOST ? INPLACE_GROUP_MOST : g;
}

/* The masks of the group's blocks from q1 to qe (9 A512_NV each, of
 * which the interior blocks use the first 2 A512_NV) and each one's
 * kind: 1 an edge block (a lane on the first or last row), 2 a plain one
 * (no row's end inside: no masks), 0 the others (the column masks). */
static void inplace_masks(int64_t q1, int64_t qe, int64_t h, int64_t w,
                          __mmask16 m[][9 * A512_NV], int *edge)
{
    const int64_t qb = 16 * A512_NV;
    for (int64_t q0 = q1; q0 < qe; q0 += qb) {
        const int64_t g = (q0 - q1) / qb;
        const int64_t x0 = q0 % w;
        edge[g] = q0 < w || q0 + qb > h * w - w ? 1
                  : x0 >= 1 && x0 + qb < w    ? 2 /* no row's end inside */
                                              : 0;
        if (edge[g] == 1)
            inplace_edge_masks(q0, h, w, m[g]);
        else
            rgb_masks(q0, w, m[g]);
    }
}

/* l (inplace_ok) on the group of positions [q1, qe) of image `img`, all
 * its channel blocks (weights packed as for the AVX-512 kernel: wt, bias):
 * channel f of position q stored at dst[f ldd + q - dq], or with `ring`
 * at dst[f ldd + q % ring] (a multiple of the block: no block wraps). A
 * block past the plane's end is stored whole with `whole` (dst holds it),
 * else its positions in the plane alone (through a stack buffer). With
 * `part`, the input channels [ch0, ch0 + nc) alone: the sums start from
 * the partial sums there (channel f of position q at part[f pld + q])
 * when ch0 > 0 and are stored back there unless the chunk is the last. */
static void inplace_group(const lrc_layer *l, const float *wt,
                          const float *bias, const float *img, int64_t q1,
                          int64_t qe, __mmask16 m[][9 * A512_NV],
                          const int *edge, float *dst, int64_t dq,
                          int64_t ldd, int flags, int whole, int64_t ring,
                          int64_t ch0, int64_t nc, float *part, int64_t pld)
{
    const int64_t c = l->in_c, w = l->in_shape[2];
    const int64_t plane = l->in_shape[1] * w, d = l->out_c;
    const int64_t db = A512_DB, qb = 16 * A512_NV, kk = 9;
    const int64_t nb = (d + db - 1) / db, base = d / nb, extra = d % nb;
    const int from = ch0 > 0, last = ch0 + nc == c;
    float blk[DIRECT_MAX_BLOCK];
    for (int64_t bl = 0, ob = 0; bl < nb; ob += base + (bl < extra), bl++) {
        const int nd = (int)(base + (bl < extra));
        const float *wb = wt + bl * db * c * kk + ch0 * kk * db;
        float *pb = part ? part + ob * pld : NULL;
        for (int64_t q0 = q1; q0 < qe; q0 += qb) {
            const int64_t g = (q0 - q1) / qb;
            const inplace_block_fn fn = inplace512[from][edge[g]][nd];
            const float *x = img + ch0 * plane + q0, *pin = from ? pb + q0 : NULL;
            if (!last) { /* whole blocks into the partial sums */
                fn(x, plane, nc, w, wb, bias + ob, pb + q0, pld, 0, m[g], pin, pld);
                continue;
            }
            float *o = dst + ob * ldd + (ring ? q0 % ring : q0 - dq);
            if (whole || plane - q0 >= qb) {
                fn(x, plane, nc, w, wb, bias + ob, o, ldd, flags, m[g], pin, pld);
                continue;
            }
            fn(x, plane, nc, w, wb, bias + ob, blk, qb, flags & ~DIRECT_STREAM,
               m[g], pin, pld);
            for (int f = 0; f < nd; f++)
                memcpy(o + f * ldd, blk + f * qb,
                       (size_t)(plane - q0) * sizeof(float));
        }
    }
}

/* l (inplace_ok) on n images with the weights packed as for the AVX-512
 * kernel (wt, bias): its input channels in chunks of cc (chunk_channels:
 * the chunk's input and weights stay in L2 over all its groups; the sums
 * between chunks in `part`, the grid rounded up to blocks per channel),
 * positions in groups, channels in balanced blocks as in
 * lrc_fw_conv_direct; every whole block stored where it lies, streamed
 * when `stream`; the grid's last block, when partial, through a stack
 * buffer. */
static void inplace_run(const lrc_layer *l, const float *wt, const float *bias,
                        const float *in, int64_t n, float *out, int relu,
                        int stream, int64_t cc, float *part)
{
    const int64_t c = l->in_c, h = l->in_shape[1], w = l->in_shape[2];
    const int64_t plane = h * w, d = l->out_c, qb = 16 * A512_NV;
    const int64_t group = inplace_group_of(cc), pld = (plane + qb - 1) / qb * qb;
    const int flags = (relu ? DIRECT_RELU : 0) | (stream ? DIRECT_STREAM : 0);
    __mmask16 m[INPLACE_GROUP_MOST][9 * A512_NV];
    int edge[INPLACE_GROUP_MOST];
    for (int64_t b = 0; b < n; b++)
        for (int64_t ch0 = 0; ch0 < c; ch0 += cc)
            for (int64_t q1 = 0; q1 < plane; q1 += group * qb) {
                const int64_t qe = q1 + group * qb < plane ? q1 + group * qb : plane;
                inplace_masks(q1, qe, h, w, m, edge);
                inplace_group(l, wt, bias, in + b * c * plane, q1, qe, m, edge,
                              out + b * d * plane, 0, plane, flags, 0, 0, ch0,
                              c - ch0 < cc ? c - ch0 : cc, cc < c ? part : NULL,
                              pld);
            }
}
#endif

#ifdef LRC_DIRECT_X86
/* A chain's pooling ring: rows of the last conv's outputs, ring floats per
 * channel, a multiple of both the block (48) and two rows (2 w), so that
 * neither a block nor a window's two rows wrap, and at least a group and
 * two rows, so that a group overwrites only rows already pooled. */
static int64_t chain_ring(const lrc_layer *a)
{
    const int64_t w = a->in_shape[2], qb = 16 * A512_NV;
    int64_t x = 2 * w, y = qb; /* lcm(2 w, qb) */
    while (y != 0) {
        const int64_t t = x % y;
        x = y;
        y = t;
    }
    const int64_t lcm = 2 * w / x * qb, need = inplace_group_of(a->in_c) * qb + 2 * w;
    return (need + lcm - 1) / lcm * lcm;
}
#endif

int lrc_fw_conv_direct_chain_ok(const lrc_layer *a, const lrc_layer *b,
                                const lrc_layer *pool)
{
#ifdef LRC_DIRECT_X86
    const direct_kernel k = {A512_DB, 16 * A512_NV, NULL, NULL};
    if (!lrc_fw_conv_cpu_has(LRC_CONV_DIRECT_AVX512) ||
        !lrc_fw_conv_direct_shape_ok(a))
        return 0;
    direct_layout g;
    direct_layout_of(a, &k, &g);
    if (!inplace_ok(a, LRC_CONV_DIRECT_AVX512) || g.cc < a->in_c)
        return 0;
    if (b && (!lrc_fw_conv_direct_shape_ok(b) || !lrc_fw_conv_is_pointwise(b) ||
              b->in_c != a->out_c || b->in_shape[1] != a->out_shape[1] ||
              b->in_shape[2] != a->out_shape[2]))
        return 0;
    const lrc_layer *last = b ? b : a;
    if (pool && (pool->op != LRC_OP_MAXPOOL || pool->kh != 2 || pool->kw != 2 ||
                 pool->sh != 2 || pool->sw != 2 || pool->pt != 0 ||
                 pool->pl != 0 || pool->pb != 0 || pool->pr != 0 ||
                 pool->in_shape[0] != last->out_c ||
                 pool->in_shape[1] != a->out_shape[1] ||
                 pool->in_shape[2] != a->out_shape[2] ||
                 a->out_shape[1] % 2 != 0 || a->out_shape[2] % 2 != 0 ||
                 pool->out_shape[1] != a->out_shape[1] / 2 ||
                 pool->out_shape[2] != a->out_shape[2] / 2))
        return 0;
    return b != NULL || pool != NULL;
#else
    (void)a;
    (void)b;
    (void)pool;
    return 0;
#endif
}

size_t lrc_fw_conv_direct_chain_workspace(const lrc_layer *a,
                                          const lrc_layer *b,
                                          const lrc_layer *pool)
{
#ifdef LRC_DIRECT_X86
    const int64_t qb = 16 * A512_NV, group = inplace_group_of(a->in_c);
    const int64_t t = b ? (a->out_c + A512_DB - 1) / A512_DB * A512_DB * group * qb : 0;
    const int64_t u = pool ? (b ? b : a)->out_c * chain_ring(a) : 0;
    return (size_t)(t + u + 16);
#else
    (void)a, (void)b, (void)pool;
    return 0;
#endif
}

lrc_status lrc_fw_conv_direct_chain(const lrc_layer *a, const float *pa,
                                    const lrc_layer *b, const float *pb,
                                    int relu, const lrc_layer *pool,
                                    const float *in, int64_t n, float *out,
                                    float *work)
{
    if (!lrc_fw_conv_direct_chain_ok(a, b, pool) || !pa || (b && !pb))
        LRC_RAISE(LRC_ERR_INTERNAL, "layer '%s': the direct kernel cannot "
                  "run it%s%s%s as one chain here", a->name,
                  b ? " with " : "", b ? b->name : "",
                  pool ? " and the pooling after it" : "");
#ifdef LRC_DIRECT_X86
    const direct_kernel k = {A512_DB, 16 * A512_NV, NULL, NULL};
    direct_layout ga, gb;
    direct_layout_of(a, &k, &ga);
    if (b)
        direct_layout_of(b, &k, &gb);
    const int64_t c = a->in_c, h = a->in_shape[1], w = a->in_shape[2];
    const int64_t plane = h * w, dm = a->out_c, d = b ? b->out_c : dm;
    const int64_t db = A512_DB, qb = 16 * A512_NV;
    const int64_t nb = (d + db - 1) / db, base = d / nb, extra = d % nb;
    const int64_t group = inplace_group_of(c), tld = group * qb;
    const int64_t ring = pool ? chain_ring(a) : 0, ho = h / 2, wo = w / 2;
    const int large = !pool && plane % 16 == 0 && (uintptr_t)out % 64 == 0 &&
                      lrc_fw_stream_pays(n, d * plane * (int64_t)sizeof(float));
    const int flags = (relu ? DIRECT_RELU : 0) | (large ? DIRECT_STREAM : 0);
    /* the workspace: a's outputs of a group (dm x tld, with b), then the
     * ring of the last conv's outputs (d x ring, with the pooling) */
    float *t = work, *u = work + (b ? (dm + db - 1) / db * db * tld : 0);
    float blk[DIRECT_MAX_BLOCK];
    __mmask16 m[INPLACE_GROUP_MOST][9 * A512_NV];
    int edge[INPLACE_GROUP_MOST];
    for (int64_t im = 0; im < n; im++) {
        float *o = out + im * d * (pool ? ho * wo : plane);
        int64_t py = 0; /* the next pooled row */
        for (int64_t q1 = 0; q1 < plane; q1 += tld) {
            const int64_t qe = q1 + tld < plane ? q1 + tld : plane;
            const float *img = in + im * c * plane;
            inplace_masks(q1, qe, h, w, m, edge);
            if (!b) /* a alone, into the ring */
                inplace_group(a, pa + ga.wt, pa + ga.bias, img, q1, qe, m, edge,
                              u, 0, ring, flags, 1, ring, 0, c, NULL, 0);
            else {
                inplace_group(a, pa + ga.wt, pa + ga.bias, img, q1, qe, m,
                              edge, t, q1, tld, 0, 1, 0, 0, c, NULL, 0);
                for (int64_t bl = 0, ob = 0; bl < nb; ob += base + (bl < extra), bl++) {
                    const int nd = (int)(base + (bl < extra));
                    const float *wb = pb + gb.wt + bl * db * dm;
                    const float *bb = pb + gb.bias + ob;
                    for (int64_t q0 = q1; q0 < qe; q0 += qb) {
                        const float *x = t + (q0 - q1);
                        if (pool) {
                            pw512[nd](x, tld, dm, 1, 1, w, wb, bb,
                                      u + ob * ring + q0 % ring, ring, flags,
                                      NULL, 0);
                            continue;
                        }
                        if (plane - q0 >= qb) {
                            pw512[nd](x, tld, dm, 1, 1, w, wb, bb,
                                      o + ob * plane + q0, plane, flags, NULL, 0);
                            continue;
                        }
                        pw512[nd](x, tld, dm, 1, 1, w, wb, bb, blk, qb,
                                  flags & ~DIRECT_STREAM, NULL, 0);
                        for (int f = 0; f < nd; f++)
                            memcpy(o + (ob + f) * plane + q0, blk + f * qb,
                                   (size_t)(plane - q0) * sizeof(float));
                    }
                }
            }
            /* the windows whose two rows are done */
            for (; pool && py < ho && (2 * py + 2) * w <= qe; py++)
                for (int64_t f = 0; f < d; f++) {
                    const float *r0 = u + f * ring + (2 * py * w) % ring;
                    lrc_fw_max2x2_row(r0, r0 + w, wo, o + (f * ho + py) * wo);
                }
        }
    }
    if (large) /* the streamed stores before any later load of them */
        _mm_sfence();
    return LRC_OK;
#else
    (void)in, (void)n, (void)out, (void)work, (void)relu;
    return LRC_OK;
#endif
}

lrc_status lrc_fw_conv_direct(const lrc_layer *l, lrc_conv_algo a,
                              const float *packed, const float *in, int64_t n,
                              float *out, float *work, int relu)
{
    direct_kernel k;
    if (!direct_kernel_of(a, l, &k) || !lrc_fw_conv_cpu_has(a) ||
        !lrc_fw_conv_direct_shape_ok(l))
        LRC_RAISE(LRC_ERR_INTERNAL, "layer '%s': the direct conv kernel "
                  "(algorithm %d) cannot run it here", l->name, (int)a);
    direct_layout g;
    direct_layout_of(l, &k, &g);
    const int64_t c = l->in_c, d = l->out_c, kk = l->kh * l->kw;
    const int64_t h = l->in_shape[1], w = l->in_shape[2];
    const int64_t ho = l->out_shape[1], wo = l->out_shape[2];
    const int64_t plane = ho * wo, db = k.db, qb = k.qb;
    /* A large output (lrc_fw_stream_pays) on whole cache lines is
     * streamed by the AVX-512 kernel where every block stored in place
     * starts on a line: a pointwise conv's (its grid is the output), or
     * one that stream_width widens. Streaming only some of the blocks (on
     * a padded grid, the rows where a block falls on a line) ran slower
     * than storing all plainly. */
    const int64_t swp = stream_width(l, qb);
    const int large = a == LRC_CONV_DIRECT_AVX512 && plane % 16 == 0 &&
                      (uintptr_t)out % 64 == 0 &&
                      lrc_fw_stream_pays(n, d * plane * (int64_t)sizeof(float));
    const int stream = large && (lrc_fw_conv_is_pointwise(l) ||
                                 (swp % qb == 0 && wo % 16 == 0));
    const int64_t wp = stream ? swp : w + l->pl + l->pr;
    const int64_t cs = (h + l->pt + l->pb) * wp;
    /* the weights packed by the caller (a plan, once), else here */
    if (!packed) {
        direct_pack(l, &k, &g, work);
        packed = work;
    }
    const float *wt = packed + g.wt, *bias = packed + g.bias;
    float *pad = work + g.pad;
#ifdef LRC_DIRECT_X86
    if (rgb_unpadded(l, a)) { /* every whole block on a line: streamed */
        rgb_unpadded_run(l, wt, bias, in, n, out, pad, relu, large);
        if (large) /* the streamed stores before any later load of them */
            _mm_sfence();
        return LRC_OK;
    }
#endif
#ifdef LRC_DIRECT_X86
    if (inplace_ok(l, a)) { /* every whole block on a line */
        inplace_run(l, wt, bias, in, n, out, relu, large, g.cc, work + g.part);
        if (large)
            _mm_sfence();
        return LRC_OK;
    }
#endif
    const int64_t nb = (d + db - 1) / db, base = d / nb, extra = d % nb;
    memset(work + g.slack, 0, (size_t)(g.part - g.slack) * sizeof(float));

    float blk[DIRECT_MAX_BLOCK];
    /* Position blocks in groups: each channel block runs over a group's
     * position blocks before the next channel block, so that it writes
     * its channels' planes in runs of group x qb positions rather than
     * qb. With d = 64 channels of 224 x 224, one position block at a time
     * wrote 64 planes (each 200,704 bytes, a multiple of 4 KiB, apart) in
     * 192-byte pieces, and the stores, not the multiply-adds, set conv1_1's
     * pace. A group's input, c x group x qb floats, is kept to about 128
     * KiB (in L2) so that it is still in cache for the next channel block:
     * c = 3 takes 64 blocks per group, c = 64 ten, c >= 512 one (the
     * order of before; c counts a chunk's channels). Each output's sum is
     * the same whatever the order: the same bits. Measured in
     * docs/BENCHMARKS.md, section 12. */
    const int64_t cc = g.cc;
    int64_t group = (int64_t)(131072 / ((size_t)cc * (size_t)qb * sizeof(float)));
    group = group < 1 ? 1 : group > 64 ? 64 : group;
    /* A pointwise conv (1 x 1, no pads) reads its input where it lies (its
     * grid is the image); only its last block, when partial, reads a copy
     * of its inputs (`tail`, c x qb, zero past the image's end: its reads
     * would pass the input's end). Where the grid's rows are the output's
     * (wp = wo), every whole block is stored in place, within a row or
     * across rows. */
    const int pointwise = lrc_fw_conv_is_pointwise(l);
    float *tail = pad;
    float *part = work + g.part;
    const int64_t pld = chunk_grid(l, wp, qb);
    const int flags = relu ? DIRECT_RELU : 0;
    const int64_t rows = pointwise ? ho : stripe_rows(l, wp);
    for (int64_t b = 0; b < n; b++) {
        const float *img = in + b * c * h * w;
        float *o = out + b * d * plane;
        int tail_ready = 0;
        for (int64_t y0 = 0; y0 < ho; y0 += rows) {
            /* output rows [y0, y0 + sr): the grid's positions from y0 wp
             * on, q counted from there */
            const int64_t sr = ho - y0 < rows ? ho - y0 : rows;
            const int64_t grid = sr * wp;
            const float *src = img;
            int64_t scs = cs;
            if (!pointwise) {
                scs = (sr + l->kh - 1) * wp;
                lrc_fw_pad_rows(l, img, wp, y0, sr + l->kh - 1, pad);
                /* the last block's reads past the stripe (they feed only
                 * positions past its grid: zeros rather than stale floats) */
                memset(pad + c * scs, 0, (size_t)(qb + l->kw) * sizeof(float));
                src = pad;
            }
            float *os = o + y0 * wo;
            /* the input channels in chunks of cc (one chunk: all c) */
            for (int64_t ch0 = 0; ch0 < c; ch0 += cc) {
                const int64_t nc = c - ch0 < cc ? c - ch0 : cc;
                const int last = ch0 + nc == c;
                const float *sc = src + ch0 * scs;
                for (int64_t q1 = 0; q1 < grid; q1 += group * qb) {
                    const int64_t qe = q1 + group * qb < grid ? q1 + group * qb : grid;
                    for (int64_t bl = 0, ob = 0; bl < nb; ob += base + (bl < extra), bl++) {
                        const int nd = (int)(base + (bl < extra));
                        const float *wb = wt + bl * db * c * kk + ch0 * kk * db;
                        float *pb = part + ob * pld; /* its partial sums */
                        for (int64_t q0 = q1; q0 < qe; q0 += qb) {
                            const float *pin = ch0 > 0 ? pb + q0 : NULL;
                            const direct_block_fn fn = ch0 > 0 ? k.part[nd] : k.block[nd];
                            if (!last) { /* whole blocks, in the grid's order */
                                fn(sc + q0, scs, nc, l->kh, l->kw, wp, wb, bias + ob,
                                   pb + q0, pld, 0, pin, pld);
                                continue;
                            }
                            const int64_t y = q0 / wp, x = q0 - y * wp;
                            const int64_t len = grid - q0 < qb ? grid - q0 : qb;
                            if (x + qb <= wo || (wp == wo && len == qb)) {
                                float *dst = os + ob * plane + y * wo + x;
                                fn(sc + q0, scs, nc, l->kh, l->kw, wp, wb, bias + ob,
                                   dst, plane,
                                   stream && (uintptr_t)dst % 64 == 0
                                       ? flags | DIRECT_STREAM
                                       : flags,
                                   pin, pld);
                                continue;
                            }
                            const float *xs = sc + q0;
                            int64_t xcs = scs;
                            if (pointwise && len < qb) { /* (one chunk) */
                                if (!tail_ready) {
                                    for (int64_t ch = 0; ch < c; ch++) {
                                        memcpy(tail + ch * qb, src + ch * scs + q0,
                                               (size_t)len * sizeof(float));
                                        memset(tail + ch * qb + len, 0,
                                               (size_t)(qb - len) * sizeof(float));
                                    }
                                    tail_ready = 1;
                                }
                                xs = tail;
                                xcs = qb;
                            }
                            fn(xs, xcs, nc, l->kh, l->kw, wp, wb, bias + ob, blk, qb,
                               flags, pin, pld);
                            scatter_block(blk, qb, nd, q0, len, wp, wo, plane,
                                          os + ob * plane, stream);
                        }
                    }
                }
            }
        }
    }
#ifdef LRC_DIRECT_X86
    if (stream) /* the streamed stores before any later load of them */
        _mm_sfence();
#endif
    return LRC_OK;
}

/* Private to src/forward: one function per layer kind. */
#ifndef LRC_FORWARD_IMPL_H
#define LRC_FORWARD_IMPL_H

#include "lrc/forward.h"

/* relu != 0: max(x, 0) applied to the outputs as they are stored (the
 * same bits as a separate ReLU layer). */
lrc_status lrc_fw_conv(const lrc_layer *l, const float *in, int64_t n,
                       float *out, float *work, int relu);
void lrc_fw_maxpool(const lrc_layer *l, const float *in, int64_t n, float *out);
/* One output row of a 2 x 2, stride 2 max pooling without pads: the xf
 * outputs whose windows lie in rows r0 and r1 (NULL: r0 alone). */
void lrc_fw_max2x2_row(const float *restrict r0, const float *restrict r1,
                       int64_t xf, float *restrict dst);
void lrc_fw_avgpool(const lrc_layer *l, const float *in, int64_t n, float *out);
void lrc_fw_globalavgpool(const lrc_layer *l, const float *in, int64_t n,
                          float *out);
/* Batches of up to LRC_DENSE_FEW images read only the rows of W^T (`wt`,
 * laid out once by lrc_fw_dense_pack, lrc_fw_dense_packed_size floats)
 * whose input is nonzero in some image, or, with wt NULL, run a plain loop
 * over W with the same bits; larger batches run one sgemm (dense.c). */
#define LRC_DENSE_FEW 8
size_t lrc_fw_dense_packed_size(const lrc_layer *l);
void lrc_fw_dense_pack(const lrc_layer *l, float *wt);
void lrc_fw_dense(const lrc_layer *l, const float *wt, const float *in,
                  int64_t n, float *out);
/* The plain loops alone (on W^T, or on W with wt NULL), any batch: what
 * lrc_fw_dense runs up to LRC_DENSE_FEW images without AVX-512. */
void lrc_fw_dense_plain(const lrc_layer *l, const float *wt, const float *in,
                        int64_t n, float *out);
void lrc_fw_relu(const float *in, size_t count, float *out);
void lrc_fw_softmax(const float *in, int64_t n, int64_t k, float *out);

/* Whether a conv needs no im2col (1x1, stride 1, no padding). */
int lrc_fw_conv_is_pointwise(const lrc_layer *l);

/* ---- conv algorithms (conv.c: choice and lowering; conv_direct.c) ---- */

typedef enum lrc_conv_algo {
    LRC_CONV_LOWERED,       /* im2col + OpenBLAS sgemm: any conv, any CPU */
    LRC_CONV_DIRECT_AVX512, /* direct kernel, 16 floats a vector; stride 1 */
    LRC_CONV_DIRECT_AVX2,   /* the same with AVX2 + FMA, 8 floats a vector */
    LRC_CONV_ROWS_AVX512    /* row kernel (conv_rows.c): channels in the
                             * lanes, for small maps; stride 1 */
} lrc_conv_algo;

/* The algorithm lrc_fw_conv runs on layer l on this CPU (the rule and the
 * measurements behind it are in conv.c). Depends on l's shapes and the
 * CPU only, never on the batch, so that an image's output does not depend
 * on the batch it is in. */
lrc_conv_algo lrc_fw_conv_choose(const lrc_layer *l);
/* Whether algorithm a can run layer l on this CPU (the CPU is asked on
 * every call: __builtin_cpu_supports reads a table libgcc filled at
 * startup). */
int lrc_fw_conv_can_run(const lrc_layer *l, lrc_conv_algo a);
/* Scratch floats algorithm a needs for layer l. */
size_t lrc_fw_conv_workspace(const lrc_layer *l, lrc_conv_algo a);
/* lrc_layer_workspace of a conv: the most that the lowering and, where the
 * rule may choose them, the direct and row kernels need, on any CPU. */
size_t lrc_fw_conv_layer_workspace(const lrc_layer *l);
/* Runs layer l with algorithm a; LRC_ERR_INTERNAL if a cannot run it.
 * lrc_fw_conv is this with lrc_fw_conv_choose(l). */
lrc_status lrc_fw_conv_with(const lrc_layer *l, lrc_conv_algo a,
                            const float *in, int64_t n, float *out,
                            float *work, int relu);
/* The weights algorithm a lays out for itself (the direct and row
 * kernels: 0 floats for the lowering, whose sgemm packs its own), laid
 * out once by a forward plan; and l run with them (packed NULL: laid out
 * in `work` on this call). The same bits either way. */
size_t lrc_fw_conv_packed_size(const lrc_layer *l, lrc_conv_algo a);
void lrc_fw_conv_pack(const lrc_layer *l, lrc_conv_algo a, float *packed);
lrc_status lrc_fw_conv_packed(const lrc_layer *l, lrc_conv_algo a,
                              const float *packed, const float *in,
                              int64_t n, float *out, float *work, int relu);

/* Outputs from LRC_FW_STREAM_BYTES on (a batch's, in all) are stored past
 * the caches where the kernel stores whole cache lines (AVX-512 streaming
 * stores: the Winograd output transform, the direct kernel's blocks that
 * start on a line): such an output does not stay in cache for the next
 * layer anyway, and plain stores first read each line they write. Below
 * it, the next layer's reads from cache are worth more. Measured in
 * docs/BENCHMARKS.md, sections 17 and 18; section 21 tried it from 8 MB an
 * image too (a plan's first layers run image by image): VGG-16's conv1_1
 * ran faster, the 4x model's first 1 x 1 conv and the layers that read
 * such outputs slower. */
#define LRC_FW_STREAM_BYTES ((int64_t)32 << 20)
/* Whether n outputs of image_bytes each are large enough to stream. */
static inline int lrc_fw_stream_pays(int64_t n, int64_t image_bytes)
{
    return n * image_bytes >= LRC_FW_STREAM_BYTES;
}
/* conv_direct.c: n floats (a multiple of 16) from src to dst (on a cache
 * line) with those stores; x86-64 builds only, called on AVX-512 CPUs. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
void lrc_fw_stream_copy(float *dst, const float *src, int64_t n);
#endif

/* conv_direct.c: whether this build and CPU have the kernel of a (1 for
 * LRC_CONV_LOWERED), whether l has a shape the direct kernels can run
 * (stride 1, non-negative pads), the scratch floats they need (the same
 * for both kernels), and the direct conv itself. */
int lrc_fw_conv_cpu_has(lrc_conv_algo a);
int lrc_fw_conv_direct_shape_ok(const lrc_layer *l);
size_t lrc_fw_conv_direct_workspace(const lrc_layer *l);
lrc_status lrc_fw_conv_direct(const lrc_layer *l, lrc_conv_algo a,
                              const float *packed, const float *in, int64_t n,
                              float *out, float *work, int relu);
/* A chain of layers in one pass on the AVX-512 kernel, group of positions
 * by group of positions, so that the activations between them never pass
 * through memory: a 3 x 3 conv `a` run in place; optionally the 1 x 1
 * conv `b` on a's outputs (a low-rank pair: a's outputs of a group go to
 * the workspace and b runs on them while they are in cache); the ReLU
 * (relu != 0) of the last conv; optionally a 2 x 2, stride 2 max pooling
 * without pads (`pool`) of its outputs (kept in a ring of rows in the
 * workspace until both rows of a window are done). lrc_fw_conv_direct_
 * chain_ok says whether it can run (this CPU, shapes that fit); pa, pb
 * are the convs' weights packed for LRC_CONV_DIRECT_AVX512; `work` holds
 * lrc_fw_conv_direct_chain_workspace floats. The same bits as the layers
 * one after the other. */
int lrc_fw_conv_direct_chain_ok(const lrc_layer *a, const lrc_layer *b,
                                const lrc_layer *pool);
size_t lrc_fw_conv_direct_chain_workspace(const lrc_layer *a,
                                          const lrc_layer *b,
                                          const lrc_layer *pool);
lrc_status lrc_fw_conv_direct_chain(const lrc_layer *a, const float *pa,
                                    const lrc_layer *b, const float *pb,
                                    int relu, const lrc_layer *pool,
                                    const float *in, int64_t n, float *out,
                                    float *work);
/* forward.c: the steps of a plan that run such chains, and the pairs and
 * poolings among them. */
void lrc_fw_plan_chains(const lrc_forward *fw, int64_t *chains, int64_t *pairs,
                        int64_t *pools);
/* The direct kernel's weights laid out for algorithm a (packed, above:
 * NULL lays them out in the workspace on every call); 0 floats when a is
 * not a direct kernel of this build. */
size_t lrc_fw_conv_direct_weights_size(const lrc_layer *l, lrc_conv_algo a);
void lrc_fw_conv_direct_weights(const lrc_layer *l, lrc_conv_algo a,
                                float *packed);
/* Copies image `img` (c x h x w) into a zero-padded c x hp x wp buffer
 * (wp >= w + pl + pr: columns past the right pad are zero too). */
void lrc_fw_pad_image(const lrc_layer *l, const float *img, int64_t wp,
                      float *pad);
/* The same for the padded image's rows [r0, r0 + nr) alone (0 <= r0,
 * r0 + nr <= hp): c planes of nr x wp. */
void lrc_fw_pad_rows(const lrc_layer *l, const float *img, int64_t wp,
                     int64_t r0, int64_t nr, float *pad);

/* ---- conv_rows.c: the row kernel (LRC_CONV_ROWS_AVX512) ---- */

/* Its weights packed for it (floats), and packing them: a forward plan
 * does it once; lrc_fw_conv_rows packs them on every call given NULL. */
size_t lrc_fw_conv_rows_weights_size(const lrc_layer *l);
void lrc_fw_conv_rows_weights(const lrc_layer *l, float *packed);
/* The scratch floats it needs (packed weights included); it runs the
 * shapes the direct kernels run (lrc_fw_conv_direct_shape_ok). */
size_t lrc_fw_conv_rows_workspace(const lrc_layer *l);
/* l on n images; packed: its packed weights, or NULL; relu as in
 * lrc_fw_conv. The same bits as LRC_CONV_DIRECT_AVX512. */
lrc_status lrc_fw_conv_rows(const lrc_layer *l, const float *packed,
                            const float *in, int64_t n, float *out,
                            float *work, int relu);

/* ---- conv_winograd.c: Winograd F(4x4, 3x3), the winograd backend ---- */

/* Whether l is a conv Winograd F(4x4, 3x3) can run (3x3, stride 1,
 * non-negative pads), and whether the winograd backend runs it so (the
 * rule and the figures behind it are in conv.c). */
int lrc_fw_wino_shape_ok(const lrc_layer *l);
int lrc_fw_wino_pays(const lrc_layer *l);
/* The tile F(m x m, 3 x 3) runs l with: m = 4 when l's output has at
 * least LRC_WINO_F4_MIN_TILES tiles of 4 x 4 (28 x 28), else m = 2 (the
 * transformed weights are (m + 2)^2 / 9 the size of the weights, read
 * once per image: 4x for m = 4, 1.8x for m = 2). And l's tile count for
 * tile m. */
#define LRC_WINO_F4_MIN_TILES 49
int lrc_fw_wino_tile(const lrc_layer *l);
int64_t lrc_fw_wino_tiles(const lrc_layer *l, int m);
/* The transformed weights of l: (m + 2)^2 matrices U[xi] of d x c, laid
 * out for this CPU's product kernel (conv_winograd.c; d rounded up to a
 * multiple of 8 in the size), computed once (in double, rounded to float)
 * by whoever holds them. */
size_t lrc_fw_wino_weights_size(const lrc_layer *l);
void lrc_fw_wino_weights(const lrc_layer *l, float *u);
/* Whether this CPU runs the products on our AVX-512 kernel, on U packed
 * for it (else on sgemm, U as d x c). The _with functions take that
 * choice as an argument (packed = 1 needs such a CPU), so that tests cover
 * both paths on one machine. */
int lrc_fw_wino_packed(void);
void lrc_fw_wino_weights_with(const lrc_layer *l, int packed, float *u);
/* Scratch floats the Winograd conv needs for l. */
size_t lrc_fw_wino_workspace(const lrc_layer *l);
/* Runs l on n images with the transformed weights u; relu as in
 * lrc_fw_conv. Agrees with the other paths to about 1e-5 of the outputs'
 * magnitude, not bitwise; the same bits for an image in any batch. */
lrc_status lrc_fw_conv_winograd(const lrc_layer *l, const float *u,
                                const float *in, int64_t n, float *out,
                                float *work, int relu);
lrc_status lrc_fw_conv_winograd_with(const lrc_layer *l, const float *u,
                                     int packed, const float *in, int64_t n,
                                     float *out, float *work, int relu);

/* ---- dnnl.c: the oneDNN backend (only with cmake -DLRC_WITH_DNNL=ON) ---- */

#ifdef LRC_HAVE_DNNL
/* Layers [first, last) run as one chain of oneDNN primitives, NCHW in and
 * out, activations in oneDNN's layouts in between. */
typedef struct lrc_dnnl_seg lrc_dnnl_seg;

/* Whether layer l can be part of a segment (convs, ReLUs, and poolings whose
 * pads oneDNN can express). */
int lrc_dnnl_runs(const lrc_layer *l);
/* Builds the primitives for `batch` images (every layer must pass
 * lrc_dnnl_runs); LRC_ERR_UNSUPPORTED naming the layer when oneDNN has no
 * implementation for it. */
lrc_status lrc_dnnl_seg_create(const lrc_net *net, int64_t first, int64_t last,
                               int64_t batch, lrc_dnnl_seg **seg);
void lrc_dnnl_seg_destroy(lrc_dnnl_seg **seg);
/* n images (rebuilds the primitives when n differs from the last call's). */
lrc_status lrc_dnnl_seg_run(lrc_dnnl_seg *seg, const float *in, int64_t n,
                            float *out);
size_t lrc_dnnl_seg_bytes(const lrc_dnnl_seg *seg);
/* oneDNN's names of the conv implementations, space-separated. */
const char *lrc_dnnl_seg_impl(const lrc_dnnl_seg *seg);
#endif

#endif

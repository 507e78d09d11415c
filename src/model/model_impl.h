/* Private to src/model: the network container. */
#ifndef LRC_MODEL_IMPL_H
#define LRC_MODEL_IMPL_H

#include "lrc/model.h"

typedef struct lrc_meta_entry {
    char *key, *value;
} lrc_meta_entry;

struct lrc_net {
    char *source;                 /* path or "<memory>", for messages */
    char *input_name, *output_name;
    lrc_layer *layers;
    int64_t n_layers, cap_layers;
    lrc_meta_entry *meta;
    int64_t n_meta, cap_meta;
    int64_t declared[3];          /* model's input c, h, w; 0 = dynamic */
    int64_t input[3];             /* set by lrc_net_set_input */
    int shaped;
};

/* As lrc_net_append, but the weight and bias arrays (allocated with
 * lrc_calloc) are moved from *l into the net, not copied, and set to NULL in
 * *l. On failure an array still in *l remains the caller's to free. */
lrc_status lrc_net_append_owned(lrc_net *net, lrc_layer *l);

/* Grows a zero-filled array to hold `need` elements. */
lrc_status lrc_model_grow(void *pptr, int64_t *cap, int64_t need, size_t elem,
                          const char *what);

#endif

/* The one allocation wrapper: zeroed memory, overflow-checked sizes, and a
 * message naming the bytes that could not be had. */
#include "lrc/core.h"

#include <stdlib.h>
#include <string.h>

lrc_status lrc_mul_size(size_t a, size_t b, size_t *out, const char *what)
{
    if (a != 0 && b > SIZE_MAX / a)
        LRC_RAISE(LRC_ERR_ARG, "size of %s overflows (%zu x %zu)", what, a, b);
    *out = a * b;
    return LRC_OK;
}

lrc_status lrc_calloc(void *pptr, size_t count, size_t size, const char *what)
{
    void *p = NULL;
    memcpy(pptr, &p, sizeof p);
    if (count != 0 && size > SIZE_MAX / count)
        LRC_RAISE(LRC_ERR_NOMEM, "cannot allocate %s: %zu x %zu bytes overflows",
                  what, count, size);
    if (count == 0 || size == 0)
        count = size = 1; /* a valid, freeable pointer for empty arrays */
    p = calloc(count, size);
    if (!p)
        LRC_RAISE(LRC_ERR_NOMEM, "cannot allocate %zu bytes for %s",
                  count * size, what);
    memcpy(pptr, &p, sizeof p);
    return LRC_OK;
}

lrc_status lrc_calloc_aligned(void *pptr, size_t count, size_t size,
                              size_t align, const char *what)
{
    void *p = NULL;
    memcpy(pptr, &p, sizeof p);
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        LRC_RAISE(LRC_ERR_ARG, "cannot allocate %s: alignment %zu is not a "
                  "power of two of at least %zu", what, align, sizeof(void *));
    if (count != 0 && size > SIZE_MAX / count)
        LRC_RAISE(LRC_ERR_NOMEM, "cannot allocate %s: %zu x %zu bytes overflows",
                  what, count, size);
    size_t bytes = count * size == 0 ? 1 : count * size;
    if (bytes > SIZE_MAX - align)
        LRC_RAISE(LRC_ERR_NOMEM, "cannot allocate %s: %zu bytes overflows",
                  what, bytes);
    bytes = (bytes + align - 1) / align * align; /* C11 wants a multiple */
    p = aligned_alloc(align, bytes);
    if (!p)
        LRC_RAISE(LRC_ERR_NOMEM, "cannot allocate %zu bytes for %s", bytes,
                  what);
    memset(p, 0, bytes);
    memcpy(pptr, &p, sizeof p);
    return LRC_OK;
}

void lrc_free(void *pptr)
{
    void *p;
    if (!pptr)
        return;
    memcpy(&p, pptr, sizeof p);
    free(p);
    p = NULL;
    memcpy(pptr, &p, sizeof p);
}

lrc_status lrc_strdup(char **out, const char *s)
{
    *out = NULL;
    if (!s)
        return LRC_OK;
    size_t n = strlen(s) + 1;
    LRC_CALL(lrc_calloc(out, n, 1, "string"));
    memcpy(*out, s, n);
    return LRC_OK;
}

void lrc_shard_range(int64_t total, int rank, int size, int64_t *start,
                     int64_t *count)
{
    int64_t a = total * rank / size, b = total * (rank + 1) / size;
    *start = a;
    *count = b - a;
}

void lrc_shard_blocks(int64_t total, int64_t block, int rank, int size,
                      int64_t *start, int64_t *count)
{
    if (block < 1)
        block = 1;
    const int64_t nb = (total + block - 1) / block;
    int64_t a = nb * rank / size * block, b = nb * (rank + 1) / size * block;
    a = a < total ? a : total;
    b = b < total ? b : total;
    *start = a;
    *count = b - a;
}

/* Fuzzes the IDX reader through the public data API (idx:IMAGES,LABELS).
 * Input: 2 bytes (little-endian) giving the image file's length, the image
 * file, then the label file. Opening and reading every image must succeed
 * or fail with a status. */
#include "fuzz_common.h"
#include "lrc/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t n1 = (size_t)data[0] | (size_t)data[1] << 8;
    data += 2;
    size -= 2;
    n1 = n1 < size ? n1 : size;
    const char *img = fuzz_file(0, "images.idx", data, n1);
    const char *lab = fuzz_file(1, "labels.idx", data + n1, size - n1);
    char spec[1300];
    snprintf(spec, sizeof spec, "idx:%s,%s", img, lab);
    lrc_dataset *ds = NULL;
    if (lrc_dataset_open(spec, &ds) == LRC_OK) {
        int64_t chw[3], n = lrc_dataset_count(ds);
        lrc_dataset_shape(ds, chw);
        const int64_t per = chw[0] * chw[1] * chw[2];
        float *px = per > 0 && per < (1 << 20) ? malloc((size_t)per * sizeof *px) : NULL;
        int32_t label;
        for (int64_t i = 0; px && i < n && i < 64; i++)
            (void)lrc_dataset_read(ds, i, 1, NULL, px, &label);
        free(px);
    }
    lrc_dataset_destroy(&ds);
    return 0;
}

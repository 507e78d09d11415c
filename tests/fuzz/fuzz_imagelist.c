/* Fuzzes the JPEG/PNG list reader: the input is the one image file of a
 * list; opening the list and decoding, resizing and cropping the image
 * must succeed or fail with a status. Small crop and resize sizes keep the
 * executions fast. */
#include "fuzz_common.h"
#include "lrc/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t line[] = "img 3\n";
    const char *list = fuzz_file(1, "list.txt", line, sizeof line - 1);
    (void)fuzz_file(0, "img", data, size);
    char spec[1400];
    snprintf(spec, sizeof spec, "imagelist:%s:%s:size=8,resize=10", list, fuzz_dir());
    lrc_dataset *ds = NULL;
    if (lrc_dataset_open(spec, &ds) == LRC_OK) {
        float px[3 * 8 * 8];
        int32_t label;
        (void)lrc_dataset_read(ds, 0, 1, NULL, px, &label);
    }
    lrc_dataset_destroy(&ds);
    return 0;
}

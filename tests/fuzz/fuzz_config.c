/* Fuzzes the YAML config reader (libcyaml schema + our checks): any bytes
 * must give a config and parameters, or an error status naming the file. */
#include "fuzz_common.h"
#include "lrc/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lrc_config *cfg = NULL;
    lrc_compress_params p;
    const char *path = fuzz_file(0, "job.yaml", data, size);
    if (lrc_config_load(path, NULL, 0, &cfg) == LRC_OK)
        (void)lrc_config_params(cfg, path, &p);
    lrc_config_destroy(&cfg);
    return 0;
}

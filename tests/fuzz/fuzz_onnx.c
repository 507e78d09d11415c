/* Fuzzes the ONNX reader (lrc_onnx_load and shape inference): any bytes
 * must give a model or an error status, never a crash or a leak. */
#include "fuzz_common.h"
#include "lrc/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lrc_net *net = NULL;
    const char *path = fuzz_file(0, "model.onnx", data, size);
    if (lrc_onnx_load(path, &net) == LRC_OK) {
        int64_t chw[3];
        lrc_net_declared_input(net, chw);
        if (chw[0] > 0 && chw[1] > 0 && chw[2] > 0 && chw[0] * chw[1] * chw[2] < (1 << 22))
            (void)lrc_net_set_input(net, chw[0], chw[1], chw[2]);
    }
    lrc_net_destroy(&net);
    return 0;
}

/* OpenBLAS's kernel set, checked against the CPU.
 *
 * Debian's OpenBLAS is built DYNAMIC_ARCH: when the library loads, before
 * main(), it picks a kernel set for the CPU, or the one the environment
 * variable OPENBLAS_CORETYPE names. A cluster's environment module, a
 * container image or a shell profile that sets OPENBLAS_CORETYPE=Haswell
 * (seen on this project's own machines) gives an AVX-512 CPU the AVX2
 * kernels: half its sgemm rate, and so a slower solver, slower dense layers
 * and lowered convs, and a benchmark "peak" at half the machine's. Nothing
 * fails, so it is said out loud. */
#define _POSIX_C_SOURCE 200809L
#include "lrc/core.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* OpenBLAS 0.3.21's x86-64 kernel sets that use AVX-512. */
static const char *const avx512_cores[] = {"skylakex", "cooperlake",
                                           "sapphirerapids"};

int lrc_blas_core_fallback(const char *corename, int cpu_avx512)
{
    if (!cpu_avx512 || !corename || !corename[0])
        return 0;
    for (size_t i = 0; i < sizeof avx512_cores / sizeof avx512_cores[0]; i++)
        if (strcasecmp(corename, avx512_cores[i]) == 0)
            return 0;
    return 1;
}

int lrc_cpu_avx512(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    /* libgcc's table also checks that the OS saves the ZMM registers. */
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

int lrc_blas_note(char *note, size_t len)
{
    if (note && len)
        note[0] = '\0';
    const char *core = openblas_get_corename();
    if (!lrc_blas_core_fallback(core, lrc_cpu_avx512()))
        return 0;
    const char *env = getenv("OPENBLAS_CORETYPE");
    if (note && len) {
        if (env && env[0])
            snprintf(note, len,
                     "OpenBLAS runs its %s kernels, as OPENBLAS_CORETYPE=%s "
                     "asks, on a CPU that runs AVX-512: about half the sgemm "
                     "rate of its AVX-512 kernels (slower solves, dense "
                     "layers and lowered convs); unset OPENBLAS_CORETYPE, or "
                     "set it to SkylakeX, unless that is meant",
                     core, env);
        else
            snprintf(note, len,
                     "OpenBLAS chose its %s kernels for a CPU that runs "
                     "AVX-512: about half the sgemm rate of its AVX-512 "
                     "kernels; OPENBLAS_CORETYPE=SkylakeX selects them",
                     core);
    }
    return 1;
}

/* Shared by the fuzz harnesses: the readers under test take file paths, so
 * each input is written to a per-process scratch file first (under
 * $TMPDIR, /dev/shm when there). A harness defines
 * LLVMFuzzerTestOneInput; built with clang -fsanitize=fuzzer it is a
 * libFuzzer target, built with replay.c it runs a corpus once. */
#ifndef LRC_FUZZ_COMMON_H
#define LRC_FUZZ_COMMON_H

#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A scratch directory of this process, made once. */
static inline const char *fuzz_dir(void)
{
    static char dir[512];
    if (!dir[0]) {
        struct stat sb;
        const char *base = stat("/dev/shm", &sb) == 0 ? "/dev/shm" : NULL;
        if (!base)
            base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(dir, sizeof dir, "%s/lrc_fuzz.%ld", base, (long)getpid());
        mkdir(dir, 0700);
    }
    return dir;
}

/* Writes data to dir/name and returns the path (static storage per name
 * slot: k = 0..3). */
static inline const char *fuzz_file(int k, const char *name, const uint8_t *data,
                                    size_t size)
{
    static char paths[4][600];
    snprintf(paths[k], sizeof paths[k], "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(paths[k], "wb");
    if (!f)
        abort(); /* the harness itself cannot run: not a finding */
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    return paths[k];
}

#endif

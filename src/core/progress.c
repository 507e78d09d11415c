/* Progress lines for long stages (rank 0). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <unistd.h>

#include "lrc/core.h"

void lrc_progress_begin(lrc_progress *p, const char *stage, int64_t total,
                        int enabled)
{
    p->stage = stage;
    p->total = total > 0 ? total : 1;
    p->t0 = p->last = lrc_wtime();
    p->enabled = enabled;
    p->tty = isatty(STDERR_FILENO);
    p->last_tenth = 0;
}

void lrc_progress_update(lrc_progress *p, int64_t done)
{
    if (!p->enabled)
        return;
    const double now = lrc_wtime(), el = now - p->t0;
    const int tenth = (int)(10 * done / p->total);
    if (p->tty ? now - p->last < 0.25 && done < p->total : tenth <= p->last_tenth)
        return;
    p->last = now;
    p->last_tenth = tenth;
    const double eta = done > 0 ? el * (double)(p->total - done) / (double)done : 0.0;
    fprintf(stderr, "%slrcompress: %s: %lld/%lld (%3.0f%%), elapsed %.1f s, ETA %.1f s%s",
            p->tty ? "\r" : "", p->stage, (long long)done, (long long)p->total,
            100.0 * (double)done / (double)p->total, el, eta, p->tty ? "\033[K" : "\n");
    fflush(stderr);
}

void lrc_progress_end(lrc_progress *p)
{
    if (!p->enabled)
        return;
    if (p->tty)
        fprintf(stderr, "\rlrcompress: %s: done in %.1f s\033[K\n", p->stage,
                lrc_wtime() - p->t0);
    fflush(stderr);
}

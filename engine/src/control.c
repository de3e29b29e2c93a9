/*
 * control.c — how rates are held over time ([control]): windows of a day or
 * of N declarations with their counts per tier (crest_engine_windows); in
 * adaptive mode a multiplier of each tier's risk part moved toward the target
 * window by window; in systematic mode a running sum of p per tier and window
 * with a keyed offset. Windows follow the input order, so they are kept only
 * when rows are decided in order (no parallel deciders).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crest/crest_keyhash.h"
#include "engine_internal.h"

COLD static void open_window(crest_engine *e, int64_t key)
{
    e->window_open = 1;
    e->window_key = key;
    memset(e->wacc, 0, sizeof e->wacc);
    for (size_t t = 0; t < e->policy->n_tiers; t++) {
        e->sys_cum[t] = 0.0;
        uint64_t msg[2] = {(uint64_t)key, (uint64_t)t};
        e->sys_offset[t] = crest_keyhash_to_unit(
            crest_keyhash_siphash24(e->policy->seed, CREST_KEYHASH_KEY(SYSTEMATIC), msg, sizeof msg));
    }
}

/* Record the window's counts and, in adaptive mode, move each tier's
 * multiplier toward target by at most a factor 1 + max_step. */
COLD static int close_window(crest_engine *e)
{
    const crest_policy *p = e->policy;
    for (size_t t = 0; t < p->n_tiers; t++) {
        const window_acc *wa = &e->wacc[t];
        if (!wa->rows)
            continue;
        if (e->n_windows == e->windows_cap) {
            size_t c = e->windows_cap ? 2 * e->windows_cap : 256;
            crest_window_stats *w = realloc(e->windows, c * sizeof *w);
            if (!w) {
                crest_engine_set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s",
                                       "out of memory recording control windows");
                return 1;
            }
            e->windows = w;
            e->windows_cap = c;
        }
        crest_window_stats *w = &e->windows[e->n_windows++];
        w->key = e->window_key;
        w->tier = t;
        w->rows = wa->rows;
        w->inspected = wa->inspected;
        w->forced = wa->forced;
        w->deferred = wa->deferred;
        w->expected = wa->expected;
        w->multiplier = e->multiplier[t];
        if (p->control_mode == CONTROL_ADAPTIVE && wa->expected > 0) {
            const double target = p->tiers[t].draw_rate; /* a floor tier: its margin rate */
            double step = target / (wa->expected / (double)wa->rows);
            const double hi = 1.0 + p->max_step;
            step = fmin(fmax(step, 1.0 / hi), hi);
            e->multiplier[t] = fmin(fmax(e->multiplier[t] * step, 1e-4), 1e4);
        }
    }
    e->window_open = 0;
    return 0;
}

const crest_window_stats *crest_engine_windows(const crest_engine *e, size_t *n)
{
    *n = e->n_windows;
    return e->windows;
}

int crest_control_next_window(crest_engine *e, int64_t key)
{
    if (e->window_open && close_window(e) != 0)
        return 1;
    open_window(e, key);
    return 0;
}

int crest_control_close(crest_engine *e)
{
    return e->window_open ? close_window(e) : 0;
}

/*
 * workload.c — the counts per office, day and tier behind the workload view
 * (crest_workload.h): each decided row adds to its cell, and the capacity
 * cap moves a deferred selection out of its cell's inspections at the day's
 * end. Cells are found through an open-addressing hash of (office, day,
 * tier); office names are interned once. Only kept when the run asks for it
 * (CREST_WINDOWS_WORKLOAD), which also keeps the rows in order (one deciding
 * thread), so the counts need no merging. Rendering is workload_report.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "fnv.h"

struct workload {
    char **names; /* interned office names */
    uint64_t *name_hash;
    size_t n_names, names_cap;
    uint32_t *name_slots; /* 1 + index into names; 0 empty */
    size_t name_slots_cap;
    crest_workload_cell *cells;
    uint32_t *cell_office; /* each cell's office index */
    size_t n_cells, cells_cap;
    uint32_t *slots; /* 1 + index into cells; 0 empty */
    size_t slots_cap;
    uint32_t last_office; /* the previous row's office (feeds come grouped) */
    int has_last;
    uint32_t last_cell; /* the cell of the row counted last */
};

crest_status crest_workload_init(crest_engine *e)
{
    workload *wl = calloc(1, sizeof *wl);
    if (!wl)
        return CREST_ERR_NOMEM;
    wl->name_slots_cap = 64;
    wl->slots_cap = 1024;
    wl->name_slots = calloc(wl->name_slots_cap, sizeof *wl->name_slots);
    wl->slots = calloc(wl->slots_cap, sizeof *wl->slots);
    e->work = wl;
    return wl->name_slots && wl->slots ? CREST_OK : CREST_ERR_NOMEM;
}

void crest_workload_free(crest_engine *e)
{
    workload *wl = e->work;
    if (!wl)
        return;
    for (size_t i = 0; i < wl->n_names; i++)
        free(wl->names[i]);
    free(wl->names);
    free(wl->name_hash);
    free(wl->name_slots);
    free(wl->cells);
    free(wl->cell_office);
    free(wl->slots);
    free(wl);
    e->work = NULL;
}

/* Double an open-addressing table of 1-based indices, rehashed by hash_of. */
static int grow_slots(uint32_t **slots, size_t *cap, uint64_t (*hash_of)(const workload *, uint32_t),
                      const workload *wl)
{
    const size_t nc = *cap * 2;
    uint32_t *ns = calloc(nc, sizeof *ns);
    if (!ns)
        return 1;
    for (size_t i = 0; i < *cap; i++) {
        if (!(*slots)[i])
            continue;
        size_t k = (size_t)hash_of(wl, (*slots)[i] - 1) & (nc - 1);
        while (ns[k])
            k = (k + 1) & (nc - 1);
        ns[k] = (*slots)[i];
    }
    free(*slots);
    *slots = ns;
    *cap = nc;
    return 0;
}

static uint64_t name_hash_of(const workload *wl, uint32_t i)
{
    return wl->name_hash[i];
}

static uint64_t cell_key(uint32_t office, int32_t day, uint32_t tier)
{
    return crest_mix64(((uint64_t)office << 40) ^ ((uint64_t)(uint32_t)day << 8) ^ tier);
}

static uint64_t cell_hash_of(const workload *wl, uint32_t i)
{
    const crest_workload_cell *c = &wl->cells[i];
    return cell_key(wl->cell_office[i], c->day, c->tier);
}

/* The index of an office name, interned on first sight; UINT32_MAX when out of memory. */
static uint32_t intern(workload *wl, crest_str office)
{
    const char *p = office.ptr ? office.ptr : "";
    if (wl->has_last) {
        const char *l = wl->names[wl->last_office];
        if (strlen(l) == office.len && memcmp(l, p, office.len) == 0)
            return wl->last_office;
    }
    const uint64_t h = crest_fnv1a(p, office.len);
    size_t k = (size_t)h & (wl->name_slots_cap - 1);
    for (; wl->name_slots[k]; k = (k + 1) & (wl->name_slots_cap - 1)) {
        const uint32_t i = wl->name_slots[k] - 1;
        if (wl->name_hash[i] == h && strlen(wl->names[i]) == office.len &&
            !memcmp(wl->names[i], p, office.len))
            return wl->has_last = 1, wl->last_office = i;
    }
    if (wl->n_names == wl->names_cap) {
        const size_t c = wl->names_cap ? 2 * wl->names_cap : 32;
        char **nn = realloc(wl->names, c * sizeof *nn);
        if (nn)
            wl->names = nn;
        uint64_t *nh = realloc(wl->name_hash, c * sizeof *nh);
        if (nh)
            wl->name_hash = nh;
        if (!nn || !nh)
            return UINT32_MAX;
        wl->names_cap = c;
    }
    char *copy = malloc(office.len + 1);
    if (!copy)
        return UINT32_MAX;
    memcpy(copy, p, office.len);
    copy[office.len] = '\0';
    const uint32_t i = (uint32_t)wl->n_names++;
    wl->names[i] = copy;
    wl->name_hash[i] = h;
    wl->name_slots[k] = i + 1;
    if (2 * wl->n_names > wl->name_slots_cap &&
        grow_slots(&wl->name_slots, &wl->name_slots_cap, name_hash_of, wl) != 0)
        return UINT32_MAX;
    wl->has_last = 1;
    wl->last_office = i;
    return i;
}

/* The cell of (office, day, tier), made on first sight; UINT32_MAX when out of memory. */
static uint32_t find_cell(workload *wl, uint32_t office, int32_t day, uint32_t tier)
{
    size_t k = (size_t)cell_key(office, day, tier) & (wl->slots_cap - 1);
    for (; wl->slots[k]; k = (k + 1) & (wl->slots_cap - 1)) {
        const crest_workload_cell *c = &wl->cells[wl->slots[k] - 1];
        if (wl->cell_office[wl->slots[k] - 1] == office && c->day == day && c->tier == tier)
            return wl->slots[k] - 1;
    }
    if (wl->n_cells == wl->cells_cap) {
        const size_t c = wl->cells_cap ? 2 * wl->cells_cap : 256;
        crest_workload_cell *nc = realloc(wl->cells, c * sizeof *nc);
        if (nc)
            wl->cells = nc;
        uint32_t *no = realloc(wl->cell_office, c * sizeof *no);
        if (no)
            wl->cell_office = no;
        if (!nc || !no)
            return UINT32_MAX;
        wl->cells_cap = c;
    }
    const uint32_t i = (uint32_t)wl->n_cells++;
    crest_workload_cell *c = &wl->cells[i];
    memset(c, 0, sizeof *c);
    c->office = wl->names[office];
    c->day = day;
    c->tier = tier;
    wl->cell_office[i] = office;
    wl->slots[k] = i + 1;
    if (2 * wl->n_cells > wl->slots_cap && grow_slots(&wl->slots, &wl->slots_cap, cell_hash_of, wl) != 0)
        return UINT32_MAX;
    return i;
}

int crest_workload_add(crest_engine *e, const crest_decl *d, size_t tier, const crest_selection *s)
{
    workload *wl = e->work;
    const uint32_t office = intern(wl, d->field[CREST_FIELD_OFFICE]);
    const uint32_t i =
        office == UINT32_MAX ? UINT32_MAX : find_cell(wl, office, d->date_days, (uint32_t)tier);
    if (i == UINT32_MAX) {
        crest_engine_set_fatal(e, CREST_ERR_NOMEM, 0, 0, "%s", "out of memory counting the workload");
        return 1;
    }
    crest_workload_cell *c = &wl->cells[i];
    c->rows++;
    c->inspected += (uint64_t)s->dec.inspect;
    c->red += (uint64_t)(s->dec.inspect && s->dec.lane == CREST_LANE_RED);
    c->forced += (uint64_t)(s->dec.inspect && s->dec.forced);
    c->expected += s->p_inspect;
    wl->last_cell = i;
    return 0;
}

uint32_t crest_workload_last_cell(const crest_engine *e)
{
    return e->work->last_cell;
}

void crest_workload_capacity(crest_engine *e, uint32_t cell, int outcome)
{
    crest_workload_cell *c = &e->work->cells[cell];
    if (outcome == CREST_CAPACITY_DEFERRED) {
        c->deferred++;
        c->inspected--;
        c->red--;
    } else if (outcome == CREST_CAPACITY_OVERFLOW) {
        c->overflow++;
    }
}

const crest_workload_cell *crest_engine_workload(const crest_engine *e, size_t *n)
{
    *n = e->work ? e->work->n_cells : 0;
    return e->work ? e->work->cells : NULL;
}


/*
 * Copyright (C) ngx_pyroscope developers
 *
 * The last two querier.v1.QuerierService queries, over the scanner of
 * pyro_engine.c: SelectHeatmap (upstream v2's pkg/model/heatmap) and
 * AnalyzeQuery (what a query would read from our segment files).
 *
 * Memory: the heatmap keeps one small point per profile (or per span)
 * until the histogram is built, AnalyzeQuery one hash per series; the
 * results are malloc'ed and owned by the caller.  Runs in one query
 * thread with its own state.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyro.h"


/* One heatmap point: a profile's total or a span's value at a time. */
typedef struct {
    int64_t                ts;
    uint64_t               span;
    uint64_t               value;
} pyro_hpoint_t;

/* The points of one series, keyed by its group_by pairs (name NUL
 * value NUL ...). */
typedef struct {
    char                  *key;
    size_t                 klen;
    pyro_hpoint_t         *p;
    size_t                 n;
    size_t                 cap;
} pyro_hacc_t;

typedef struct {
    const pyro_heatmap_opts_t  *o;
    int64_t                     start_ms;
    int64_t                     end_ms;
    pyro_hacc_t                *series;
    size_t                      nseries;
    size_t                      series_cap;
    uint32_t                   *slots;      /* series index + 1 */
    size_t                      mask;
    pyro_buf_t                  key;
} pyro_hm_ctx_t;

/* The value buckets shared by every series and slot. */
typedef struct {
    uint64_t               min[PYRO_HEATMAP_BUCKETS];
    uint64_t               max[PYRO_HEATMAP_BUCKETS];
    int64_t                nt;              /* time slots */
} pyro_hgrid_t;

/* A finished series and its number of points, to apply "limit". */
typedef struct {
    int64_t                sum;
    pyro_hseries_t         s;
} pyro_hsort_t;


static int
pyro_xnomem(pyro_err_t *err)
{
    pyro_err_internal(err, "out of memory");

    return PYRO_ERROR;
}


static uint64_t
pyro_fnv(uint64_t h, const char *p, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        h ^= (unsigned char) p[i];
        h *= UINT64_C(1099511628211);
    }

    return h;
}


static int
pyro_hm_wants(const pyro_heatmap_opts_t *o, const char *name)
{
    size_t  i;

    for (i = 0; i < o->ngroup_by; i++) {
        if (strcmp(o->group_by[i], name) == 0) {
            return 1;
        }
    }

    return 0;
}


/* The series key: the group_by labels present, in name order (the
 * profile's labels are sorted), as upstream's Labels.WithLabels. */
static void
pyro_hm_key(pyro_hm_ctx_t *ctx, const pyro_prof_t *p)
{
    size_t              i;
    const pyro_label_t  *l;

    ctx->key.len = 0;

    for (i = 0; i < p->nlabels; i++) {
        l = &p->labels[i];

        if (*l->value != '\0' && pyro_hm_wants(ctx->o, l->name)) {
            pyro_buf_append(&ctx->key, l->name, strlen(l->name) + 1);
            pyro_buf_append(&ctx->key, l->value, strlen(l->value) + 1);
        }
    }
}


static int
pyro_hm_rehash(pyro_hm_ctx_t *ctx)
{
    size_t     i, j, size;
    uint32_t  *slots;
    uint64_t   h;

    size = ctx->slots ? (ctx->mask + 1) * 2 : 64;

    slots = calloc(size, sizeof(uint32_t));
    if (slots == NULL) {
        return PYRO_ERROR;
    }

    for (i = 0; i < ctx->nseries; i++) {
        h = pyro_fnv(UINT64_C(14695981039346656037), ctx->series[i].key,
                     ctx->series[i].klen);

        for (j = h & (size - 1); slots[j]; j = (j + 1) & (size - 1)) {
            /* void */
        }

        slots[j] = (uint32_t) i + 1;
    }

    free(ctx->slots);
    ctx->slots = slots;
    ctx->mask = size - 1;

    return PYRO_OK;
}


/* The series of the key in ctx->key, created when new; NULL on ENOMEM. */
static pyro_hacc_t *
pyro_hm_series(pyro_hm_ctx_t *ctx)
{
    size_t        j;
    uint64_t      h;
    const char   *k;
    pyro_hacc_t  *a;

    if (ctx->key.failed
        || ((ctx->nseries + 1) * 2 > ctx->mask + 1
            && pyro_hm_rehash(ctx) != PYRO_OK))
    {
        return NULL;
    }

    k = ctx->key.len ? ctx->key.data : "";
    h = pyro_fnv(UINT64_C(14695981039346656037), k, ctx->key.len);

    for (j = h & ctx->mask; ctx->slots[j]; j = (j + 1) & ctx->mask) {
        a = &ctx->series[ctx->slots[j] - 1];

        if (a->klen == ctx->key.len && memcmp(a->key, k, a->klen) == 0) {
            return a;
        }
    }

    if (pyro_array_reserve((void **) &ctx->series, &ctx->series_cap,
                           ctx->nseries + 1, sizeof(pyro_hacc_t))
        != PYRO_OK)
    {
        return NULL;
    }

    a = &ctx->series[ctx->nseries];
    memset(a, 0, sizeof(pyro_hacc_t));

    a->key = malloc(ctx->key.len + 1);
    if (a->key == NULL) {
        return NULL;
    }

    memcpy(a->key, k, ctx->key.len);
    a->klen = ctx->key.len;
    ctx->slots[j] = (uint32_t) ++ctx->nseries;

    return a;
}


static int
pyro_hm_add(pyro_hacc_t *a, int64_t ts, uint64_t span, uint64_t value)
{
    if (pyro_array_reserve((void **) &a->p, &a->cap, a->n + 1,
                           sizeof(pyro_hpoint_t))
        != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    a->p[a->n].ts = ts;
    a->p[a->n].span = span;
    a->p[a->n].value = value;
    a->n++;

    return PYRO_OK;
}


/*
 * INDIVIDUAL: one point per profile (upstream keys them by profile ID,
 * which is unique); SPAN: one per sample with a span ID, merged by
 * (time, span) when the series is finished.  The series exists only
 * once it has a point, as upstream's builder.
 */
static int
pyro_hm_profile(void *data, const pyro_scan_item_t *it, pyro_err_t *err)
{
    size_t              i;
    int64_t             ts;
    pyro_hacc_t        *a;
    pyro_hm_ctx_t      *ctx = data;
    const pyro_prof_t  *p = it->prof;

    /* Go's model.TimeFromUnixNano: truncated to ms */
    ts = p->time_ns / 1000000;
    a = NULL;

    if (ctx->o->type == PYRO_HEATMAP_INDIVIDUAL) {
        pyro_hm_key(ctx, p);
        a = pyro_hm_series(ctx);

        /* upstream reads TotalValue as an int64 */
        if (a == NULL
            || pyro_hm_add(a, ts, 0, (uint64_t) (int64_t) p->total)
               != PYRO_OK)
        {
            return pyro_xnomem(err);
        }

        return PYRO_OK;
    }

    for (i = 0; i < p->nsamples; i++) {
        if (p->samples[i].span == 0) {
            continue;
        }

        if (a == NULL) {
            pyro_hm_key(ctx, p);

            a = pyro_hm_series(ctx);
            if (a == NULL) {
                return pyro_xnomem(err);
            }
        }

        if (pyro_hm_add(a, ts, p->samples[i].span, p->samples[i].value)
            != PYRO_OK)
        {
            return pyro_xnomem(err);
        }
    }

    return PYRO_OK;
}


static int
pyro_hpoint_cmp(const void *x, const void *y)
{
    const pyro_hpoint_t  *a = x, *b = y;

    if (a->ts != b->ts) {
        return a->ts < b->ts ? -1 : 1;
    }

    return (a->span > b->span) - (a->span < b->span);
}


/* Sorts a series' points by (time, span), summing equal span points. */
static void
pyro_hm_sort(pyro_hacc_t *a, int merge)
{
    size_t  i, n;

    if (a->n > 1) {
        qsort(a->p, a->n, sizeof(pyro_hpoint_t), pyro_hpoint_cmp);
    }

    if (!merge || a->n == 0) {
        return;
    }

    n = 1;

    for (i = 1; i < a->n; i++) {
        if (pyro_hpoint_cmp(&a->p[n - 1], &a->p[i]) == 0) {
            a->p[n - 1].value += a->p[i].value;
        } else {
            a->p[n++] = a->p[i];
        }
    }

    a->n = n;
}


/*
 * createYAxisBuckets: PYRO_HEATMAP_BUCKETS even buckets over the global
 * [min, max] of every point (max = min + 1 when they are equal), bounds
 * truncated to integers, the last one closed at max.
 */
static void
pyro_hm_grid(pyro_hm_ctx_t *ctx, pyro_hgrid_t *g, double *y_min)
{
    int       i;
    size_t    s, j;
    double    size;
    uint64_t  lo, hi, v;

    lo = UINT64_MAX;
    hi = 0;

    for (s = 0; s < ctx->nseries; s++) {
        for (j = 0; j < ctx->series[s].n; j++) {
            v = ctx->series[s].p[j].value;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
    }

    if (lo == hi) {
        hi = lo + 1;
    }

    size = (double) (hi - lo) / PYRO_HEATMAP_BUCKETS;

    for (i = 0; i < PYRO_HEATMAP_BUCKETS; i++) {
        g->min[i] = lo + (uint64_t) ((double) i * size);
        g->max[i] = lo + (uint64_t) ((double) (i + 1) * size);
        y_min[i] = (double) g->min[i];
    }

    g->max[PYRO_HEATMAP_BUCKETS - 1] = hi;

    /* createTimeBuckets: start, start + step, ... <= end */
    g->nt = (ctx->end_ms < ctx->start_ms) ? 0
            : (ctx->end_ms - ctx->start_ms) / ctx->o->step_ms + 1;
}


/* findValueBucket: [min, max), the last bucket taking the rest. */
static int
pyro_hm_ybucket(const pyro_hgrid_t *g, uint64_t v)
{
    int  i;

    for (i = 0; i < PYRO_HEATMAP_BUCKETS; i++) {
        if (v >= g->min[i] && v < g->max[i]) {
            return i;
        }
    }

    return (v >= g->min[PYRO_HEATMAP_BUCKETS - 1])
           ? PYRO_HEATMAP_BUCKETS - 1 : -1;
}


/* findTimeBucket: the first edge >= ts, later points in the last. */
static int64_t
pyro_hm_tbucket(const pyro_hm_ctx_t *ctx, const pyro_hgrid_t *g, int64_t ts)
{
    int64_t  d, k;

    if (ts <= ctx->start_ms) {
        return 0;
    }

    d = ts - ctx->start_ms;
    k = d / ctx->o->step_ms + (d % ctx->o->step_ms != 0);

    return k < g->nt ? k : g->nt - 1;
}


/* Counts series a's points into slots (ascending, as points are). */
static int
pyro_hm_finish_one(pyro_hm_ctx_t *ctx, const pyro_hgrid_t *g,
    const pyro_hacc_t *a, pyro_hsort_t *out)
{
    int            y;
    size_t         j, cap;
    int64_t        t;
    const char    *k, *v, *end;
    pyro_hslot_t  *sl;

    memset(out, 0, sizeof(pyro_hsort_t));

    for (k = a->key, end = a->key + a->klen; k < end; k = v + strlen(v) + 1)
    {
        v = k + strlen(k) + 1;

        if (pyro_labels_set(&out->s.labels, k, strlen(k), v, strlen(v))
            != PYRO_OK)
        {
            return PYRO_ERROR;
        }
    }

    cap = 0;

    for (j = 0; j < a->n && g->nt > 0; j++) {
        y = pyro_hm_ybucket(g, a->p[j].value);
        if (y < 0) {
            continue;
        }

        t = ctx->start_ms + pyro_hm_tbucket(ctx, g, a->p[j].ts)
                            * ctx->o->step_ms;
        sl = out->s.nslots ? &out->s.slots[out->s.nslots - 1] : NULL;

        if (sl == NULL || sl->ts_ms != t) {
            if (pyro_array_reserve((void **) &out->s.slots, &cap,
                                   out->s.nslots + 1, sizeof(pyro_hslot_t))
                != PYRO_OK)
            {
                return PYRO_ERROR;
            }

            sl = &out->s.slots[out->s.nslots++];
            memset(sl, 0, sizeof(pyro_hslot_t));
            sl->ts_ms = t;
        }

        if (sl->counts[y] < INT32_MAX) {
            sl->counts[y]++;
        }

        out->sum++;
    }

    return PYRO_OK;
}


static void
pyro_hseries_free(pyro_hseries_t *s)
{
    pyro_labels_free(&s->labels);
    free(s->slots);
}


static int
pyro_hsort_labels_cmp(const void *x, const void *y)
{
    const pyro_hsort_t  *a = x, *b = y;

    return pyro_labels_cmp(&a->s.labels, &b->s.labels);
}


/* TopSeries: the sum of counts descending, then labels. */
static int
pyro_hsort_top_cmp(const void *x, const void *y)
{
    const pyro_hsort_t  *a = x, *b = y;

    if (a->sum != b->sum) {
        return a->sum > b->sum ? -1 : 1;
    }

    return pyro_labels_cmp(&a->s.labels, &b->s.labels);
}


static int
pyro_hm_result(pyro_hm_ctx_t *ctx, pyro_heatmap_t *out, pyro_err_t *err)
{
    int            rc;
    size_t         i, n, keep;
    pyro_hgrid_t   g;
    pyro_hsort_t  *all;

    n = ctx->nseries;

    if (n == 0) {
        return PYRO_OK;
    }

    for (i = 0; i < n; i++) {
        pyro_hm_sort(&ctx->series[i], ctx->o->type == PYRO_HEATMAP_SPAN);
    }

    pyro_hm_grid(ctx, &g, out->y_min);

    all = calloc(n, sizeof(pyro_hsort_t));
    out->v = calloc(n, sizeof(pyro_hseries_t));

    rc = (all && out->v) ? PYRO_OK : PYRO_ERROR;

    for (i = 0; rc == PYRO_OK && i < n; i++) {
        rc = pyro_hm_finish_one(ctx, &g, &ctx->series[i], &all[i]);
    }

    if (rc != PYRO_OK) {
        for (i = 0; all && i < n; i++) {
            pyro_hseries_free(&all[i].s);
        }

        free(all);
        return pyro_xnomem(err);
    }

    /* the builder's order (series keys), then TopSeries for a limit */
    qsort(all, n, sizeof(pyro_hsort_t),
          (ctx->o->limit > 0 && (uint64_t) ctx->o->limit < n)
          ? pyro_hsort_top_cmp : pyro_hsort_labels_cmp);

    keep = (ctx->o->limit > 0 && (uint64_t) ctx->o->limit < n)
           ? (size_t) ctx->o->limit : n;

    for (i = 0; i < n; i++) {
        if (i < keep) {
            out->v[out->n++] = all[i].s;
        } else {
            pyro_hseries_free(&all[i].s);
        }
    }

    free(all);

    return PYRO_OK;
}


int
pyro_engine_heatmap(const pyro_scan_t *s, const pyro_heatmap_opts_t *o,
    pyro_heatmap_t *out, pyro_err_t *err)
{
    int            rc;
    size_t         i;
    int64_t        fetch;
    pyro_hm_ctx_t  ctx;

    memset(out, 0, sizeof(pyro_heatmap_t));

    if (o->step_ms < 1) {
        pyro_err_invalid(err, "step must be >= 1ms");
        return PYRO_ERROR;
    }

    memset(&ctx, 0, sizeof(pyro_hm_ctx_t));
    ctx.o = o;
    ctx.start_ms = s->start_ms;
    ctx.end_ms = s->end_ms;

    /* the frontend fetches one step before the start */
    if (__builtin_sub_overflow(s->start_ms, o->step_ms, &fetch)) {
        fetch = INT64_MIN;
    }

    rc = pyro_scan(s, pyro_ms_to_ns(fetch), pyro_ms_to_ns(s->end_ms), 1,
                   pyro_hm_profile, &ctx, err);

    if (rc == PYRO_OK) {
        rc = pyro_hm_result(&ctx, out, err);
    }

    for (i = 0; i < ctx.nseries; i++) {
        free(ctx.series[i].key);
        free(ctx.series[i].p);
    }

    free(ctx.series);
    free(ctx.slots);
    pyro_buf_free(&ctx.key);

    if (rc != PYRO_OK) {
        pyro_heatmap_free(out);
    }

    return rc;
}


void
pyro_heatmap_free(pyro_heatmap_t *h)
{
    size_t  i;

    for (i = 0; i < h->n; i++) {
        pyro_hseries_free(&h->v[i]);
    }

    free(h->v);
    h->v = NULL;
    h->n = 0;
}


/* Distinct series of one scope, as 64-bit hashes of their labels: a
 * collision could undercount by one, which an estimate can afford. */
typedef struct {
    pyro_qscope_t         *out;
    uint64_t              *h;
    size_t                 n;
    size_t                 cap;
    int                    hit;         /* a tenant had such a file */
} pyro_an_scope_t;

typedef struct {
    pyro_an_scope_t        scope[2];    /* short term, long term */
    pyro_an_scope_t       *cur;
    int                    file_hit;
    int                    failed;
} pyro_an_ctx_t;


static int
pyro_u64_cmp(const void *x, const void *y)
{
    const uint64_t  *a = x, *b = y;

    return (*a > *b) - (*a < *b);
}


static void
pyro_an_unique(pyro_an_scope_t *sc)
{
    size_t  i, n;

    if (sc->n < 2) {
        return;
    }

    qsort(sc->h, sc->n, sizeof(uint64_t), pyro_u64_cmp);

    for (i = 1, n = 1; i < sc->n; i++) {
        if (sc->h[i] != sc->h[n - 1]) {
            sc->h[n++] = sc->h[i];
        }
    }

    sc->n = n;
}


/* Full arrays are deduplicated first, so they grow with series only. */
static int
pyro_an_series(pyro_an_scope_t *sc, uint64_t h)
{
    if (sc->n == sc->cap) {
        pyro_an_unique(sc);
    }

    if (sc->n * 2 >= sc->cap
        && pyro_array_reserve((void **) &sc->h, &sc->cap, sc->n + 1,
                              sizeof(uint64_t))
           != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    sc->h[sc->n++] = h;

    return PYRO_OK;
}


/* A record overlapping the range: counted whole, from its meta. */
static int
pyro_an_record(void *data, const pyro_rec_hdr_t *h, const char *buf,
    size_t len)
{
    size_t              i, j;
    uint64_t            hash;
    pyro_err_t          err;
    pyro_record_t       rec;
    pyro_an_ctx_t      *ctx = data;
    pyro_qscope_t      *q = ctx->cur->out;
    const pyro_prof_t  *p;

    if (pyro_record_decode_meta(buf, len, &rec, &err) != PYRO_OK) {
        return PYRO_OK;
    }

    ctx->file_hit = 1;
    q->index_bytes += PYRO_REC_HDR_SIZE + h->meta_len;
    q->profile_bytes += h->body_len;
    q->profiles += rec.nprofs;

    for (i = 0; i < rec.nprofs && !ctx->failed; i++) {
        p = &rec.profs[i];
        q->samples += p->nsamples;
        hash = UINT64_C(14695981039346656037);

        for (j = 0; j < p->nlabels; j++) {
            hash = pyro_fnv(hash, p->labels[j].name,
                            strlen(p->labels[j].name) + 1);
            hash = pyro_fnv(hash, p->labels[j].value,
                            strlen(p->labels[j].value) + 1);
        }

        ctx->failed = (pyro_an_series(ctx->cur, hash) != PYRO_OK);
    }

    pyro_record_free(&rec);

    return ctx->failed ? PYRO_ERROR : PYRO_OK;
}


/* One file; an .open file may have been sealed since the listing. */
static void
pyro_an_file(pyro_an_ctx_t *ctx, const char *dir, const char *name,
    int64_t min_ns, int64_t max_ns)
{
    char        *path;
    size_t       len;
    pyro_err_t   err;

    len = strlen(dir) + strlen(name) + 1;

    path = malloc(len + 1);
    if (path == NULL) {
        ctx->failed = 1;
        return;
    }

    snprintf(path, len + 1, "%s/%s", dir, name);

    ctx->file_hit = 0;
    ctx->cur = &ctx->scope[strcmp(path + len - 4, ".seg") == 0];

    if (pyro_segment_scan(path, min_ns, max_ns, pyro_an_record, ctx, &err)
        != PYRO_OK
        && !ctx->failed && !ctx->file_hit && ctx->cur == &ctx->scope[0])
    {
        memcpy(path + len - 4, "seg", 4);
        ctx->cur = &ctx->scope[1];
        (void) pyro_segment_scan(path, min_ns, max_ns, pyro_an_record, ctx,
                                 &err);
    }

    if (ctx->file_hit) {
        ctx->cur->out->blocks++;
        ctx->cur->hit = 1;
    }

    free(path);
}


static int
pyro_an_tenant(pyro_an_ctx_t *ctx, const char *root, const char *tenant,
    int64_t min_ns, int64_t max_ns, pyro_err_t *err)
{
    int     listed;
    char    dir[4096], **names;
    size_t  i, n;

    snprintf(dir, sizeof(dir), "%s/%.*s", root, PYRO_TENANT_MAX, tenant);

    /* a failed listing still hands back the names read so far */
    listed = pyro_list_segments(dir, &names, &n);

    ctx->scope[0].hit = 0;
    ctx->scope[1].hit = 0;

    for (i = 0; i < n; i++) {
        if (listed == PYRO_OK && !ctx->failed) {
            pyro_an_file(ctx, dir, names[i], min_ns, max_ns);
        }

        free(names[i]);
    }

    free(names);

    if (listed != PYRO_OK) {
        pyro_err_internal(err, "cannot list \"%s\"", dir);
        return PYRO_ERROR;
    }

    if (ctx->failed) {
        return pyro_xnomem(err);
    }

    for (i = 0; i < 2; i++) {
        ctx->scope[i].out->components += ctx->scope[i].hit;
    }

    return PYRO_OK;
}


/* The series the selectors match in range, as the Series query. */
static int
pyro_an_queried(const pyro_scan_t *s, pyro_analysis_t *out, pyro_err_t *err)
{
    int               rc;
    pyro_labelsets_t  sets;

    memset(&sets, 0, sizeof(pyro_labelsets_t));

    rc = pyro_engine_series(s, NULL, 0, 0, &sets, err);
    out->queried_series = sets.n;
    pyro_labelsets_free(&sets);

    return rc;
}


int
pyro_engine_analyze(const pyro_scan_t *s, pyro_analysis_t *out,
    pyro_err_t *err)
{
    int            rc;
    size_t         i;
    int64_t        min_ns, max_ns;
    pyro_an_ctx_t  ctx;

    memset(out, 0, sizeof(pyro_analysis_t));
    memset(&ctx, 0, sizeof(pyro_an_ctx_t));
    ctx.scope[0].out = &out->short_term;
    ctx.scope[1].out = &out->long_term;

    min_ns = pyro_ms_to_ns(s->start_ms);
    max_ns = pyro_ms_to_ns(s->end_ms);
    rc = PYRO_OK;

    for (i = 0; i < s->tenants->n && rc == PYRO_OK; i++) {
        rc = pyro_an_tenant(&ctx, s->root, s->tenants->id[i], min_ns, max_ns,
                            err);
    }

    for (i = 0; i < 2; i++) {
        pyro_an_unique(&ctx.scope[i]);
        ctx.scope[i].out->series = ctx.scope[i].n;
        free(ctx.scope[i].h);
    }

    if (rc == PYRO_OK) {
        rc = pyro_an_queried(s, out, err);
    }

    return rc;
}

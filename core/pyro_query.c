
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * The render query: select a tenant's files by time, series by the
 * selector, aggregate stacks into a name tree and points into the
 * timeline, and write upstream's flamebearer JSON.  Runs in a query
 * thread; it only reads files, so it never blocks ingestion.
 */


#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyro.h"


typedef struct {
    char           *key;            /* the group-by value, or "*" */
    pyro_points_t   pts;
} pyro_group_t;

typedef struct {
    pyro_selector_t   *sel;
    const char        *group_by;    /* NULL: no grouping */
    int64_t            start_ns;    /* flame graph range, inclusive */
    int64_t            end_ns;
    int64_t            fetch_ns;    /* series start: start - step */
    pyro_tree_t       *tree;
    pyro_group_t      *groups;
    size_t             ngroups;
    size_t             groups_cap;
    uint32_t          *memo;        /* record node -> tree node */
    size_t             memo_cap;
    uint32_t          *stack;
    size_t             stack_cap;
    unsigned           corrupt;
    int                nomem;
} pyro_render_ctx_t;


static int
pyro_reserve(void **p, size_t *cap, size_t n, size_t sz)
{
    void  *np;

    if (n <= *cap) {
        return PYRO_OK;
    }

    np = realloc(*p, n * sz);
    if (np == NULL) {
        return PYRO_ERROR;
    }

    *p = np;
    *cap = n;

    return PYRO_OK;
}


/* Maps a record's stack node to a tree node, walking up to the first
 * ancestor already mapped; memo is reset per record. */
static uint32_t
pyro_render_map_node(pyro_render_ctx_t *ctx, const pyro_record_t *rec,
    uint32_t node)
{
    size_t              n;
    int64_t             t;
    uint32_t            parent;
    const pyro_str_t   *name;

    n = 0;

    while (node != PYRO_NODE_NONE && ctx->memo[node] == UINT32_MAX) {
        ctx->stack[n++] = node;
        node = rec->nodes[node].parent;
    }

    parent = (node == PYRO_NODE_NONE) ? 0 : ctx->memo[node];

    while (n > 0) {
        node = ctx->stack[--n];
        name = &rec->strings[rec->funcs[rec->nodes[node].fn].name];

        t = pyro_tree_child(ctx->tree, parent, name->data, name->len);
        if (t < 0) {
            ctx->nomem = 1;
            return 0;
        }

        parent = (uint32_t) t;
        ctx->memo[node] = parent;
    }

    return parent;
}


static pyro_group_t *
pyro_render_group(pyro_render_ctx_t *ctx, const pyro_label_t *v, size_t n)
{
    size_t         i;
    const char    *key;
    pyro_group_t  *g;

    key = "*";

    for (i = 0; ctx->group_by && i < n; i++) {
        if (strcmp(v[i].name, ctx->group_by) == 0) {
            key = v[i].value;
            break;
        }
    }

    if (ctx->group_by == NULL) {
        key = "";
    }

    for (i = 0; i < ctx->ngroups; i++) {
        if (strcmp(ctx->groups[i].key, key) == 0) {
            return &ctx->groups[i];
        }
    }

    if (ctx->ngroups == ctx->groups_cap
        && pyro_reserve((void **) &ctx->groups, &ctx->groups_cap,
                        ctx->groups_cap * 2 + 4, sizeof(pyro_group_t))
           != PYRO_OK)
    {
        return NULL;
    }

    g = &ctx->groups[ctx->ngroups];
    memset(g, 0, sizeof(pyro_group_t));

    g->key = strdup(key);
    if (g->key == NULL) {
        return NULL;
    }

    ctx->ngroups++;

    return g;
}


/* Selects a profile by its series labels and time (meta only). */
static int
pyro_render_wants(pyro_render_ctx_t *ctx, const pyro_prof_t *p)
{
    if (p->time_ns < ctx->fetch_ns || p->time_ns > ctx->end_ns) {
        return 0;
    }

    return pyro_selector_match(ctx->sel, p->labels, p->nlabels);
}


static void
pyro_render_profile(pyro_render_ctx_t *ctx, const pyro_record_t *rec,
    const pyro_prof_t *p)
{
    size_t         i;
    uint32_t       node;
    pyro_group_t  *g;

    g = pyro_render_group(ctx, p->labels, p->nlabels);

    if (g == NULL || pyro_points_add(&g->pts, p->time_ns / 1000000,
                                     (double) p->total) != PYRO_OK)
    {
        ctx->nomem = 1;
        return;
    }

    if (p->time_ns < ctx->start_ns) {
        return;
    }

    for (i = 0; i < p->nsamples && !ctx->nomem; i++) {
        node = pyro_render_map_node(ctx, rec, p->samples[i].node);
        pyro_tree_add(ctx->tree, node, (int64_t) p->samples[i].value);
    }
}


/*
 * A record's body is inflated and decoded only when one of its profiles
 * is selected: the series labels are in the uncompressed meta section.
 */
static int
pyro_render_record(void *data, const pyro_rec_hdr_t *h, const char *buf,
    size_t len)
{
    size_t              i, want;
    pyro_err_t          err;
    pyro_record_t       rec;
    pyro_render_ctx_t  *ctx = data;

    if (pyro_record_decode_meta(buf, len, &rec, &err) != PYRO_OK) {
        ctx->corrupt++;
        return PYRO_OK;
    }

    want = 0;

    for (i = 0; i < rec.nprofs; i++) {
        want += pyro_render_wants(ctx, &rec.profs[i]);
    }

    if (want == 0) {
        pyro_record_free(&rec);
        return PYRO_OK;
    }

    if (pyro_record_decode_body(&rec, &err) != PYRO_OK) {
        pyro_record_free(&rec);
        ctx->corrupt++;
        return PYRO_OK;
    }

    if (pyro_reserve((void **) &ctx->memo, &ctx->memo_cap, rec.nnodes,
                     sizeof(uint32_t)) != PYRO_OK
        || pyro_reserve((void **) &ctx->stack, &ctx->stack_cap, rec.nnodes,
                        sizeof(uint32_t)) != PYRO_OK)
    {
        pyro_record_free(&rec);
        ctx->nomem = 1;
        return PYRO_ERROR;
    }

    if (rec.nnodes) {
        memset(ctx->memo, 0xff, rec.nnodes * sizeof(uint32_t));
    }

    for (i = 0; i < rec.nprofs && !ctx->nomem; i++) {
        if (pyro_render_wants(ctx, &rec.profs[i])) {
            pyro_render_profile(ctx, &rec, &rec.profs[i]);
        }
    }

    pyro_record_free(&rec);

    return ctx->nomem ? PYRO_ERROR : PYRO_OK;
}


static int
pyro_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}


/*
 * Lists a tenant directory's segment files in name order (so every
 * worker reads them alike).  A missing directory is an empty list.
 */
static int
pyro_list_segments(const char *dir, char ***names, size_t *n)
{
    DIR            *d;
    size_t          cap, len;
    char          **v, **nv;
    struct dirent  *de;

    *names = NULL;
    *n = 0;

    d = opendir(dir);
    if (d == NULL) {
        return errno == ENOENT ? PYRO_OK : PYRO_ERROR;
    }

    v = NULL;
    cap = 0;

    while ((de = readdir(d)) != NULL) {
        len = strlen(de->d_name);

        if (len < 5 || (strcmp(de->d_name + len - 5, ".open") != 0
                        && strcmp(de->d_name + len - 4, ".seg") != 0))
        {
            continue;
        }

        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            nv = realloc(v, cap * sizeof(char *));
            if (nv == NULL) {
                break;
            }
            v = nv;
        }

        v[*n] = strdup(de->d_name);
        if (v[*n] == NULL) {
            break;
        }

        (*n)++;
    }

    closedir(d);

    if (*n > 1) {
        qsort(v, *n, sizeof(char *), pyro_name_cmp);
    }

    *names = v;

    return de == NULL ? PYRO_OK : PYRO_ERROR;
}


/* Scans one file; an .open file may have been sealed since the listing. */
static void
pyro_render_file(pyro_render_ctx_t *ctx, const char *dir, const char *name)
{
    char        *path;
    size_t       len;
    pyro_err_t   err;

    len = strlen(dir) + strlen(name) + 1;

    path = malloc(len + 1);
    if (path == NULL) {
        ctx->nomem = 1;
        return;
    }

    snprintf(path, len + 1, "%s/%s", dir, name);

    /* the series range starts one step before the flame graph range */
    if (pyro_segment_scan(path, ctx->fetch_ns, ctx->end_ns,
                          pyro_render_record, ctx, &err)
        != PYRO_OK
        && !ctx->nomem && len > 5 && strcmp(path + len - 5, ".open") == 0)
    {
        /* only a failure to open (no record seen yet) gets here */
        memcpy(path + len - 4, "seg", 4);
        (void) pyro_segment_scan(path, ctx->fetch_ns, ctx->end_ns,
                                 pyro_render_record, ctx, &err);
    }

    free(path);
}


static int
pyro_render_scan(pyro_render_ctx_t *ctx, const char *dir, pyro_err_t *err)
{
    size_t   i, n;
    char   **names;

    if (pyro_list_segments(dir, &names, &n) != PYRO_OK) {
        pyro_err_internal(err, "cannot list \"%s\"", dir);
        for (i = 0; i < n; i++) {
            free(names[i]);
        }
        free(names);
        return PYRO_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (!ctx->nomem) {
            pyro_render_file(ctx, dir, names[i]);
        }
        free(names[i]);
    }

    free(names);

    if (ctx->nomem) {
        pyro_err_internal(err, "out of memory");
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


/* The flamebearer metadata for a profile type ID (ExportToFlamebearer). */
static void
pyro_render_metadata(const char *ptype, pyro_buf_t *out)
{
    char         type[256], unit[256];
    const char  *p, *q, *units;
    long         rate;

    type[0] = '\0';
    unit[0] = '\0';

    p = strchr(ptype, ':');
    q = p ? strchr(p + 1, ':') : NULL;

    if (p && q) {
        snprintf(type, sizeof(type), "%.*s", (int) (q - p - 1), p + 1);
        p = strchr(q + 1, ':');
        snprintf(unit, sizeof(unit), "%.*s",
                 (int) (p ? p - q - 1 : (long) strlen(q + 1)), q + 1);
    }

    rate = 100;
    units = unit;

    if (strcmp(type, "cpu") == 0) {
        units = "samples";
        rate = 1000000000;

    } else if (strcmp(type, "inuse_objects") == 0
               || strcmp(type, "alloc_objects") == 0
               || strcmp(type, "goroutine") == 0
               || strcmp(type, "samples") == 0)
    {
        units = "objects";
    }

    pyro_buf_printf(out, "\"metadata\":{\"format\":\"single\",\"spyName\":\"\","
                    "\"sampleRate\":%ld,\"units\":", rate);
    pyro_buf_put_json_str(out, units, strlen(units));
    pyro_buf_puts(out, ",\"name\":");
    pyro_buf_put_json_str(out, type, strlen(type));
    pyro_buf_putc(out, '}');
}


static int
pyro_group_cmp(const void *a, const void *b)
{
    return strcmp(((const pyro_group_t *) a)->key,
                  ((const pyro_group_t *) b)->key);
}


static void
pyro_render_timelines(pyro_render_ctx_t *ctx, const pyro_render_req_t *req,
    pyro_buf_t *out)
{
    size_t   i;
    int64_t  step;

    step = pyro_render_step_sec(req->from_ms, req->until_ms);

    /* upstream uses the series only when exactly one came back */
    pyro_buf_puts(out, ",\"timeline\":");
    pyro_timeline_json(ctx->ngroups == 1 ? &ctx->groups[0].pts : NULL,
                       req->from_ms, req->until_ms, step, out);

    if (ctx->group_by == NULL) {
        pyro_buf_puts(out, ",\"groups\":null");
        return;
    }

    if (ctx->ngroups > 1) {
        qsort(ctx->groups, ctx->ngroups, sizeof(pyro_group_t),
              pyro_group_cmp);
    }

    pyro_buf_puts(out, ",\"groups\":{");

    for (i = 0; i < ctx->ngroups; i++) {
        if (i) {
            pyro_buf_putc(out, ',');
        }
        pyro_buf_put_json_str(out, ctx->groups[i].key,
                              strlen(ctx->groups[i].key));
        pyro_buf_putc(out, ':');
        pyro_timeline_json(&ctx->groups[i].pts, req->from_ms, req->until_ms,
                           step, out);
    }

    pyro_buf_putc(out, '}');
}


static void
pyro_render_ctx_free(pyro_render_ctx_t *ctx)
{
    size_t  i;

    for (i = 0; i < ctx->ngroups; i++) {
        free(ctx->groups[i].key);
        pyro_points_free(&ctx->groups[i].pts);
    }

    free(ctx->groups);
    free(ctx->memo);
    free(ctx->stack);
    pyro_tree_free(ctx->tree);
    pyro_selector_free(ctx->sel);
}


int
pyro_query_render(const char *root, const pyro_tenants_t *tenants,
    const pyro_render_req_t *req, pyro_buf_t *out, pyro_err_t *err)
{
    int                 rc;
    char                group_by[1024], *dir;
    size_t              i;
    int64_t             step;
    pyro_render_ctx_t   ctx;

    memset(&ctx, 0, sizeof(pyro_render_ctx_t));

    if (req->from_ms > req->until_ms) {
        pyro_err_invalid(err, "query start time is after end time");
        return PYRO_ERROR;
    }

    ctx.sel = pyro_selector_parse_query(req->query.data, req->query.len, err);
    if (ctx.sel == NULL) {
        return PYRO_ERROR;
    }

    ctx.tree = pyro_tree_new();
    if (ctx.tree == NULL) {
        pyro_render_ctx_free(&ctx);
        pyro_err_internal(err, "out of memory");
        return PYRO_ERROR;
    }

    if (req->group_by.len) {
        snprintf(group_by, sizeof(group_by), "%.*s", (int) req->group_by.len,
                 req->group_by.data);
        ctx.group_by = group_by;
    }

    step = pyro_render_step_sec(req->from_ms, req->until_ms);

    ctx.start_ns = req->from_ms * 1000000;
    ctx.end_ns = req->until_ms * 1000000 + 999999;
    ctx.fetch_ns = (req->from_ms - step * 1000) * 1000000;

    for (i = 0; i < tenants->n; i++) {
        dir = malloc(strlen(root) + PYRO_TENANT_MAX + 2);
        if (dir == NULL) {
            pyro_render_ctx_free(&ctx);
            pyro_err_internal(err, "out of memory");
            return PYRO_ERROR;
        }

        sprintf(dir, "%s/%s", root, tenants->id[i]);

        rc = pyro_render_scan(&ctx, dir, err);
        free(dir);

        if (rc != PYRO_OK) {
            pyro_render_ctx_free(&ctx);
            return rc;
        }
    }

    pyro_tree_finish(ctx.tree);

    pyro_buf_puts(out, "{\"version\":1,\"flamebearer\":");
    pyro_tree_flamebearer_json(ctx.tree, req->max_nodes, out);
    pyro_buf_putc(out, ',');
    pyro_render_metadata(pyro_selector_profile_type(ctx.sel), out);
    pyro_render_timelines(&ctx, req, out);
    pyro_buf_puts(out, ",\"heatmap\":null}\n");

    pyro_render_ctx_free(&ctx);

    if (out->failed) {
        pyro_err_internal(err, "out of memory");
        return PYRO_ERROR;
    }

    return PYRO_OK;
}

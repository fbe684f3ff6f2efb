
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * The render query: select profiles by time and by the selector with
 * the engine's scanner (pyro_engine.c), aggregate stacks into a name
 * tree and totals into the timeline, and write upstream's flamebearer
 * JSON.  Runs in a query thread; it only reads files, so it never
 * blocks ingestion.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyro.h"


typedef struct {
    char           *key;            /* the group-by value, or "*" */
    pyro_points_t   pts;
} pyro_group_t;

typedef struct {
    const char        *group_by;    /* NULL: no grouping */
    int64_t            start_ns;    /* flame graph range, inclusive */
    pyro_tree_t       *tree;
    pyro_stackmap_t    map;
    pyro_group_t      *groups;
    size_t             ngroups;
    size_t             groups_cap;
} pyro_render_ctx_t;


static pyro_group_t *
pyro_render_group(pyro_render_ctx_t *ctx, const pyro_label_t *v, size_t n)
{
    size_t         i, cap;
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

    if (ctx->ngroups == ctx->groups_cap) {
        cap = ctx->groups_cap * 2 + 4;

        g = realloc(ctx->groups, cap * sizeof(pyro_group_t));
        if (g == NULL) {
            return NULL;
        }

        ctx->groups = g;
        ctx->groups_cap = cap;
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


/* A selected profile: its total goes to its group's timeline, its
 * samples (when in the flame graph range) into the tree. */
static int
pyro_render_profile(void *data, const pyro_scan_item_t *it, pyro_err_t *err)
{
    size_t              i;
    int64_t             node;
    pyro_group_t       *g;
    pyro_render_ctx_t  *ctx = data;
    const pyro_prof_t  *p = it->prof;

    g = pyro_render_group(ctx, p->labels, p->nlabels);

    if (g == NULL || pyro_points_add(&g->pts, p->time_ns / 1000000,
                                     (double) p->total) != PYRO_OK)
    {
        pyro_err_internal(err, "out of memory");
        return PYRO_ERROR;
    }

    if (p->time_ns < ctx->start_ns) {
        return PYRO_OK;
    }

    for (i = 0; i < p->nsamples; i++) {
        node = pyro_stackmap_node(&ctx->map, it, p->samples[i].node);
        if (node < 0) {
            pyro_err_internal(err, "out of memory");
            return PYRO_ERROR;
        }

        pyro_tree_add(ctx->tree, (uint32_t) node,
                      (int64_t) p->samples[i].value);
    }

    return PYRO_OK;
}


void
pyro_render_metadata(const char *ptype, const char *format, pyro_buf_t *out)
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

    pyro_buf_printf(out, "\"metadata\":{\"format\":\"%s\",\"spyName\":\"\","
                    "\"sampleRate\":%ld,\"units\":", format, rate);
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
    pyro_stackmap_free(&ctx->map);
    pyro_tree_free(ctx->tree);
}


int
pyro_query_render(const char *root, const pyro_tenants_t *tenants,
    const pyro_render_req_t *req, pyro_buf_t *out, pyro_err_t *err)
{
    int                 rc;
    char                group_by[1024];
    int64_t             step;
    pyro_scan_t         scan;
    pyro_selector_t    *sel;
    pyro_render_ctx_t   ctx;

    memset(&ctx, 0, sizeof(pyro_render_ctx_t));

    if (req->from_ms > req->until_ms) {
        pyro_err_invalid(err, "query start time is after end time");
        return PYRO_ERROR;
    }

    sel = pyro_selector_parse_query(req->query.data, req->query.len, err);
    if (sel == NULL) {
        return PYRO_ERROR;
    }

    ctx.tree = pyro_tree_new();
    if (ctx.tree == NULL) {
        pyro_selector_free(sel);
        pyro_err_internal(err, "out of memory");
        return PYRO_ERROR;
    }

    ctx.map.tree = ctx.tree;

    if (req->group_by.len) {
        snprintf(group_by, sizeof(group_by), "%.*s", (int) req->group_by.len,
                 req->group_by.data);
        ctx.group_by = group_by;
    }

    step = pyro_render_step_sec(req->from_ms, req->until_ms);

    memset(&scan, 0, sizeof(pyro_scan_t));
    scan.root = root;
    scan.tenants = tenants;
    scan.sels = &sel;
    scan.nsels = 1;

    ctx.start_ns = req->from_ms * 1000000;

    /* the series range starts one step before the flame graph range,
     * and the end takes the whole last millisecond */
    rc = pyro_scan(&scan, (req->from_ms - step * 1000) * 1000000,
                   req->until_ms * 1000000 + 999999, 1, pyro_render_profile,
                   &ctx, err);

    if (rc != PYRO_OK) {
        pyro_render_ctx_free(&ctx);
        pyro_selector_free(sel);
        return rc;
    }

    pyro_tree_finish(ctx.tree);

    pyro_buf_puts(out, "{\"version\":1,\"flamebearer\":");
    pyro_tree_flamebearer_json(ctx.tree, req->max_nodes, out);
    pyro_buf_putc(out, ',');
    pyro_render_metadata(pyro_selector_profile_type(sel), "single", out);
    pyro_render_timelines(&ctx, req, out);
    pyro_buf_puts(out, ",\"heatmap\":null}\n");

    pyro_render_ctx_free(&ctx);
    pyro_selector_free(sel);

    if (out->failed) {
        pyro_err_internal(err, "out of memory");
        return PYRO_ERROR;
    }

    return PYRO_OK;
}

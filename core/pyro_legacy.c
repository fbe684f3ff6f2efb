
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * The legacy query routes besides /pyroscope/render: render-diff (a
 * "double" flamebearer) and label-values.  Runs in a query thread.
 */


#include <stdlib.h>
#include <string.h>

#include "pyro.h"


/* The flamebearer object of a flame graph or a diff (7 values a node). */
static void
pyro_flamebearer_arrays(const pyro_flamegraph_t *fg, pyro_buf_t *out)
{
    size_t  i, j;

    pyro_buf_puts(out, "{\"names\":[");

    for (i = 0; i < fg->nnames; i++) {
        if (i) {
            pyro_buf_putc(out, ',');
        }
        pyro_buf_put_json_str(out, fg->names[i].data, fg->names[i].len);
    }

    pyro_buf_puts(out, "],\"levels\":[");

    for (i = 0; i < fg->nlevels; i++) {
        pyro_buf_puts(out, i ? ",[" : "[");

        for (j = fg->levels[i]; j < fg->levels[i + 1]; j++) {
            pyro_buf_printf(out, "%s%lld", j > fg->levels[i] ? "," : "",
                            (long long) fg->values[j]);
        }

        pyro_buf_putc(out, ']');
    }

    pyro_buf_printf(out, "],\"numTicks\":%lld,\"maxSelf\":%lld}",
                    (long long) fg->total, (long long) fg->max_self);
}


/* One side of a diff: the render query's selector over its own range. */
static int
pyro_legacy_side(const char *root, const pyro_tenants_t *tenants,
    const pyro_render_req_t *req, pyro_tree_t *tree, pyro_selector_t **sel,
    pyro_err_t *err)
{
    int                 rc;
    pyro_scan_t         s;
    pyro_merge_opts_t   o;

    if (req->from_ms > req->until_ms) {
        pyro_err_invalid(err, "query start time is after end time");
        return PYRO_ERROR;
    }

    *sel = pyro_selector_parse_query(req->query.data, req->query.len, err);
    if (*sel == NULL) {
        return PYRO_ERROR;
    }

    memset(&s, 0, sizeof(pyro_scan_t));
    s.root = root;
    s.tenants = tenants;
    s.start_ms = req->from_ms;
    s.end_ms = req->until_ms;
    s.sels = sel;
    s.nsels = 1;

    memset(&o, 0, sizeof(pyro_merge_opts_t));

    rc = pyro_engine_merge(&s, &o, tree, err);
    pyro_tree_finish(tree);

    return rc;
}


int
pyro_query_render_diff(const char *root, const pyro_tenants_t *tenants,
    const pyro_render_req_t *left, const pyro_render_req_t *right,
    int64_t max_nodes, pyro_buf_t *out, pyro_err_t *err)
{
    int                 rc;
    pyro_tree_t        *lt, *rt;
    pyro_selector_t    *ls, *rs;
    pyro_flamegraph_t   fg;

    lt = pyro_tree_new();
    rt = pyro_tree_new();
    ls = NULL;
    rs = NULL;
    memset(&fg, 0, sizeof(pyro_flamegraph_t));

    rc = (lt && rt) ? PYRO_OK : PYRO_ERROR;

    if (rc == PYRO_OK) {
        rc = pyro_legacy_side(root, tenants, left, lt, &ls, err);
    }

    if (rc == PYRO_OK) {
        rc = pyro_legacy_side(root, tenants, right, rt, &rs, err);
    }

    if (rc == PYRO_OK
        && strcmp(pyro_selector_profile_type(ls),
                  pyro_selector_profile_type(rs)) != 0)
    {
        pyro_err_invalid(err, "profile types must match");
        rc = PYRO_ERROR;
    }

    if (rc == PYRO_OK) {
        rc = pyro_tree_diff(lt, rt, max_nodes, &fg, err);
    }

    if (rc == PYRO_OK) {
        pyro_buf_puts(out, "{\"version\":1,\"flamebearer\":");
        pyro_flamebearer_arrays(&fg, out);
        pyro_buf_putc(out, ',');
        pyro_render_metadata(pyro_selector_profile_type(ls), "double", out);
        pyro_buf_printf(out, ",\"timeline\":null,\"groups\":null,"
                        "\"heatmap\":null,\"leftTicks\":%lld,"
                        "\"rightTicks\":%lld}\n",
                        (long long) fg.left_ticks, (long long) fg.right_ticks);
    }

    if (rc == PYRO_OK && out->failed) {
        pyro_err_internal(err, "out of memory");
        rc = PYRO_ERROR;
    }

    pyro_flamegraph_free(&fg);
    pyro_selector_free(ls);
    pyro_selector_free(rs);
    pyro_tree_free(lt);
    pyro_tree_free(rt);

    return rc;
}


/*
 * /pyroscope/render?format=dot (query-output-formats 1.1): the merged
 * pprof of the query at srcN = max(512, dotN), drawn with dotN nodes.
 * groupBy and the timeline play no part.
 */
int
pyro_query_render_dot(const char *root, const pyro_tenants_t *tenants,
    const pyro_render_req_t *req, pyro_buf_t *out, pyro_err_t *err)
{
    int                 rc;
    int64_t             dot_n;
    pyro_buf_t          pprof;
    pyro_scan_t         s;
    pyro_selector_t    *sel;

    if (req->from_ms > req->until_ms) {
        pyro_err_invalid(err, "query start time is after end time");
        return PYRO_ERROR;
    }

    sel = pyro_selector_parse_query(req->query.data, req->query.len, err);
    if (sel == NULL) {
        return PYRO_ERROR;
    }

    memset(&s, 0, sizeof(pyro_scan_t));
    s.root = root;
    s.tenants = tenants;
    s.start_ms = req->from_ms;
    s.end_ms = req->until_ms;
    s.sels = &sel;
    s.nsels = 1;

    dot_n = req->max_nodes > 0 ? req->max_nodes : 100;
    memset(&pprof, 0, sizeof(pyro_buf_t));

    rc = pyro_engine_merge_pprof(&s, NULL, pyro_selector_profile_type(sel),
                                 dot_n > 512 ? dot_n : 512, &pprof, err);

    if (rc == PYRO_OK && pprof.failed) {
        pyro_err_internal(err, "out of memory");
        rc = PYRO_ERROR;
    }

    if (rc == PYRO_OK) {
        rc = pyro_dot_render(pprof.data, pprof.len, dot_n, out, err);
    }

    pyro_buf_free(&pprof);
    pyro_selector_free(sel);

    return rc;
}


/*
 * /pyroscope/label-values?label=X: a JSON array of strings; __name__
 * lists the profile type IDs, as upstream answers it.
 */
int
pyro_query_label_values(const char *root, const pyro_tenants_t *tenants,
    const char *label, int64_t from_ms, int64_t until_ms, pyro_buf_t *out,
    pyro_err_t *err)
{
    int            rc;
    size_t         i;
    pyro_scan_t    s;
    pyro_strs_t    values;
    pyro_ptypes_t  pt;

    memset(&s, 0, sizeof(pyro_scan_t));
    s.root = root;
    s.tenants = tenants;
    s.start_ms = from_ms;
    s.end_ms = until_ms;

    memset(&values, 0, sizeof(pyro_strs_t));
    memset(&pt, 0, sizeof(pyro_ptypes_t));

    if (strcmp(label, "__name__") == 0) {
        rc = pyro_engine_profile_types(&s, &pt, err);

    } else {
        rc = pyro_engine_label_values(&s, label, &values, err);
    }

    if (rc == PYRO_OK) {
        pyro_buf_putc(out, '[');

        for (i = 0; i < pt.n; i++) {
            pyro_buf_puts(out, i ? "," : "");
            pyro_buf_put_json_str(out, pt.v[i].id, strlen(pt.v[i].id));
        }

        for (i = 0; i < values.n; i++) {
            pyro_buf_puts(out, i ? "," : "");
            pyro_buf_put_json_str(out, values.v[i], strlen(values.v[i]));
        }

        pyro_buf_puts(out, "]\n");
    }

    pyro_ptypes_free(&pt);
    pyro_strs_free(&values);

    return rc;
}

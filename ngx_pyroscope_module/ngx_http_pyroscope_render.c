
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * GET /pyroscope/render (also /render): parameters are read on the
 * loop, the query runs in a pool thread, the loop sends the JSON.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pyroscope_module.h"


static ngx_int_t ngx_http_pyroscope_render_route(ngx_http_request_t *r,
    ngx_http_pyroscope_ctx_t *ctx);
static ngx_uint_t ngx_http_pyroscope_uri_ends(ngx_http_request_t *r,
    const char *suffix);
static ngx_int_t ngx_http_pyroscope_render_args(ngx_http_request_t *r,
    ngx_http_pyroscope_ctx_t *ctx);
static ngx_int_t ngx_http_pyroscope_diff_args(ngx_http_request_t *r,
    ngx_http_pyroscope_ctx_t *ctx);
static ngx_int_t ngx_http_pyroscope_side_args(ngx_http_request_t *r,
    const char *side, int64_t now, pyro_render_req_t *req, pyro_err_t *err);
static ngx_int_t ngx_http_pyroscope_label_values_args(ngx_http_request_t *r,
    ngx_http_pyroscope_ctx_t *ctx);
static ngx_int_t ngx_http_pyroscope_render_max_nodes(ngx_http_request_t *r,
    ngx_http_pyroscope_ctx_t *ctx);
static void ngx_http_pyroscope_dot_nodes(ngx_http_request_t *r,
    ngx_http_pyroscope_ctx_t *ctx);
static ngx_int_t ngx_http_pyroscope_render_time(ngx_http_request_t *r,
    const char *name, int64_t now, int64_t *ms);
static void ngx_http_pyroscope_render_query(void *data, ngx_log_t *log);
static void ngx_http_pyroscope_render_done(ngx_event_t *ev);


ngx_int_t
ngx_http_pyroscope_render_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_http_pyroscope_ctx_t  *ctx;

    ctx = ngx_http_pyroscope_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_HEAD) {
        pyro_err_set(&ctx->err, 405, "unknown", "method not allowed");
        return ngx_http_pyroscope_send_error(r, &ctx->err);
    }

    rc = ngx_http_pyroscope_tenant(r, ctx, 0, &ctx->err);

    if (rc == NGX_OK) {
        rc = ngx_http_pyroscope_render_route(r, ctx);
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_pyroscope_send_error(r, &ctx->err);
    }

    if (ngx_http_pyroscope_post(r, ngx_http_pyroscope_render_query,
                                ngx_http_pyroscope_render_done)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->main->count++;

    return NGX_DONE;
}


/*
 * The routes one pyroscope_render location serves, by the end of the
 * URI: .../render, .../render-diff, .../label-values.
 */
static ngx_int_t
ngx_http_pyroscope_render_route(ngx_http_request_t *r,
    ngx_http_pyroscope_ctx_t *ctx)
{
    if (ngx_http_pyroscope_uri_ends(r, "/render")) {
        ctx->route = NGX_HTTP_PYROSCOPE_ROUTE_RENDER;
        return ngx_http_pyroscope_render_args(r, ctx);
    }

    if (ngx_http_pyroscope_uri_ends(r, "/render-diff")) {
        ctx->route = NGX_HTTP_PYROSCOPE_ROUTE_DIFF;
        return ngx_http_pyroscope_diff_args(r, ctx);
    }

    if (ngx_http_pyroscope_uri_ends(r, "/label-values")) {
        ctx->route = NGX_HTTP_PYROSCOPE_ROUTE_LABEL_VALUES;
        return ngx_http_pyroscope_label_values_args(r, ctx);
    }

    pyro_err_set(&ctx->err, 404, "unimplemented", "not found");

    return NGX_DECLINED;
}


static ngx_uint_t
ngx_http_pyroscope_uri_ends(ngx_http_request_t *r, const char *suffix)
{
    size_t  n;

    n = ngx_strlen(suffix);

    return r->uri.len >= n
           && ngx_strncmp(r->uri.data + r->uri.len - n, suffix, n) == 0;
}


/* leftQuery, leftFrom, leftUntil and the same for "right". */
static ngx_int_t
ngx_http_pyroscope_side_args(ngx_http_request_t *r, const char *side,
    int64_t now, pyro_render_req_t *req, pyro_err_t *err)
{
    u_char     name[32];
    ngx_str_t  v;

    ngx_sprintf(name, "%sQuery%Z", side);

    if (ngx_http_pyroscope_arg(r, (char *) name, &v) != NGX_OK || v.len == 0)
    {
        pyro_err_invalid(err, "\"%s\" is required", name);
        return NGX_DECLINED;
    }

    req->query.data = (const char *) v.data;
    req->query.len = v.len;

    ngx_sprintf(name, "%sFrom%Z", side);
    (void) ngx_http_pyroscope_render_time(r, (char *) name, now,
                                          &req->from_ms);

    ngx_sprintf(name, "%sUntil%Z", side);
    (void) ngx_http_pyroscope_render_time(r, (char *) name, now,
                                          &req->until_ms);

    return NGX_OK;
}


static ngx_int_t
ngx_http_pyroscope_diff_args(ngx_http_request_t *r,
    ngx_http_pyroscope_ctx_t *ctx)
{
    int64_t    now;
    ngx_int_t  rc;

    now = ngx_http_pyroscope_now_ns();

    rc = ngx_http_pyroscope_side_args(r, "left", now, &ctx->render,
                                      &ctx->err);

    if (rc == NGX_OK) {
        rc = ngx_http_pyroscope_side_args(r, "right", now, &ctx->right,
                                          &ctx->err);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_pyroscope_render_max_nodes(r, ctx);
}


/* label is required; the range defaults to the last hour. */
static ngx_int_t
ngx_http_pyroscope_label_values_args(ngx_http_request_t *r,
    ngx_http_pyroscope_ctx_t *ctx)
{
    int64_t    now;
    ngx_str_t  v;

    if (ngx_http_pyroscope_arg(r, "label", &v) != NGX_OK || v.len == 0) {
        pyro_err_invalid(&ctx->err, "\"label\" is required");
        return NGX_DECLINED;
    }

    ctx->label = ngx_pnalloc(r->pool, v.len + 1);
    if (ctx->label == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ctx->label, v.data, v.len);
    ctx->label[v.len] = '\0';

    now = ngx_http_pyroscope_now_ns();

    (void) ngx_http_pyroscope_render_time(r, "from",
                                          now - 3600 * 1000000000LL,
                                          &ctx->render.from_ms);
    (void) ngx_http_pyroscope_render_time(r, "until", now,
                                          &ctx->render.until_ms);

    return NGX_OK;
}


static ngx_int_t
ngx_http_pyroscope_render_args(ngx_http_request_t *r,
    ngx_http_pyroscope_ctx_t *ctx)
{
    int64_t             now;
    ngx_str_t           v;
    pyro_render_req_t  *req;

    req = &ctx->render;

    if (ngx_http_pyroscope_arg(r, "query", &v) != NGX_OK || v.len == 0) {
        pyro_err_invalid(&ctx->err, "\"query\" is required");
        return NGX_DECLINED;
    }

    req->query.data = (const char *) v.data;
    req->query.len = v.len;

    if (ngx_http_pyroscope_arg(r, "format", &v) == NGX_OK
        && v.len == 3 && ngx_strncmp(v.data, "dot", 3) == 0)
    {
        ctx->route = NGX_HTTP_PYROSCOPE_ROUTE_DOT;
    }

    now = ngx_http_pyroscope_now_ns();

    if (ngx_http_pyroscope_render_time(r, "from", now, &req->from_ms)
        != NGX_OK
        || ngx_http_pyroscope_render_time(r, "until", now, &req->until_ms)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_pyroscope_arg(r, "groupBy", &v) == NGX_OK) {
        req->group_by.data = (const char *) v.data;
        req->group_by.len = v.len;
    }

    if (ctx->route == NGX_HTTP_PYROSCOPE_ROUTE_DOT) {
        ngx_http_pyroscope_dot_nodes(r, ctx);
        return NGX_OK;
    }

    return ngx_http_pyroscope_render_max_nodes(r, ctx);
}


/*
 * format=dot validates nothing (query-output-formats 6): a positive
 * maxNodes is dotN, anything else 0 (the default, 100).
 */
static void
ngx_http_pyroscope_dot_nodes(ngx_http_request_t *r,
    ngx_http_pyroscope_ctx_t *ctx)
{
    off_t      n;
    ngx_str_t  v;

    ctx->render.max_nodes = 0;

    if (ngx_http_pyroscope_arg(r, "maxNodes", &v) != NGX_OK
        && ngx_http_pyroscope_arg(r, "max-nodes", &v) != NGX_OK)
    {
        return;
    }

    n = v.len ? ngx_atoof(v.data, v.len) : 0;

    if (n > 0) {
        ctx->render.max_nodes = n;
    }
}


/* maxNodes wins over max-nodes; 0 is the default; validated as upstream. */
static ngx_int_t
ngx_http_pyroscope_render_max_nodes(ngx_http_request_t *r,
    ngx_http_pyroscope_ctx_t *ctx)
{
    int64_t     n;
    ngx_str_t   v;

    if (ngx_http_pyroscope_arg(r, "maxNodes", &v) != NGX_OK
        && ngx_http_pyroscope_arg(r, "max-nodes", &v) != NGX_OK)
    {
        ngx_str_null(&v);
    }

    n = 0;

    if (v.len) {
        if (v.data[0] == '-') {
            n = -1;

        } else {
            n = ngx_atoof(v.data, v.len);
            if (n == NGX_ERROR) {
                pyro_err_invalid(&ctx->err, "invalid maxNodes \"%.*s\"",
                                 (int) v.len, v.data);
                return NGX_DECLINED;
            }
        }
    }

    if (n < 0) {
        pyro_err_invalid(&ctx->err, "max flamegraph nodes limit must be set "
                         "(max allowed %d)", PYRO_MAX_NODES_MAX);
        return NGX_DECLINED;
    }

    if (n > PYRO_MAX_NODES_MAX) {
        pyro_err_invalid(&ctx->err, "max flamegraph nodes limit %lld is "
                         "greater than allowed %d", (long long) n,
                         PYRO_MAX_NODES_MAX);
        return NGX_DECLINED;
    }

    ctx->render.max_nodes = n ? n : PYRO_MAX_NODES_DEFAULT;

    return NGX_OK;
}


static ngx_int_t
ngx_http_pyroscope_render_time(ngx_http_request_t *r, const char *name,
    int64_t now, int64_t *ms)
{
    int64_t    ns;
    ngx_str_t  v;

    ns = now;

    if (ngx_http_pyroscope_arg(r, name, &v) == NGX_OK && v.len) {
        (void) pyro_attime_parse((const char *) v.data, v.len, now, &ns);
    }

    *ms = ns / 1000000;

    return NGX_OK;
}


/*
 * Runs in a pool thread: reads files only, writes ctx->out.  The main
 * conf (the storage path) is read-only for the life of the cycle.
 */
static void
ngx_http_pyroscope_render_query(void *data, ngx_log_t *log)
{
    ngx_http_pyroscope_ctx_t *ctx = data;

    const char                      *root;
    ngx_http_pyroscope_main_conf_t  *pmcf;

    pmcf = ngx_http_get_module_main_conf(ctx->request,
                                         ngx_http_pyroscope_module);

    root = (const char *) pmcf->storage.data;

    switch (ctx->route) {

    case NGX_HTTP_PYROSCOPE_ROUTE_DIFF:
        ctx->rc = pyro_query_render_diff(root, &ctx->tenants, &ctx->render,
                                         &ctx->right, ctx->render.max_nodes,
                                         &ctx->out, &ctx->err);
        break;

    case NGX_HTTP_PYROSCOPE_ROUTE_DOT:
        ctx->rc = pyro_query_render_dot(root, &ctx->tenants, &ctx->render,
                                        &ctx->out, &ctx->err);
        break;

    case NGX_HTTP_PYROSCOPE_ROUTE_LABEL_VALUES:
        ctx->rc = pyro_query_label_values(root, &ctx->tenants, ctx->label,
                                          ctx->render.from_ms,
                                          ctx->render.until_ms, &ctx->out,
                                          &ctx->err);
        break;

    default:
        ctx->rc = pyro_query_render(root, &ctx->tenants, &ctx->render,
                                    &ctx->out, &ctx->err);
    }
}


static void
ngx_http_pyroscope_render_done(ngx_event_t *ev)
{
    ngx_http_request_t  *r = ev->data;

    ngx_int_t                  rc;
    ngx_http_pyroscope_ctx_t  *ctx;
    static ngx_str_t           json = ngx_string("application/json");
    static ngx_str_t           text =
                                   ngx_string("text/plain; charset=utf-8");

    ngx_http_pyroscope_task_done(r);

    ctx = ngx_http_get_module_ctx(r, ngx_http_pyroscope_module);

    if (ctx->rc != PYRO_OK) {
        rc = ngx_http_pyroscope_send_error(r, &ctx->err);

    } else {
        /* ctx->out is freed by the request pool's cleanup */
        rc = ngx_http_pyroscope_send(r, NGX_HTTP_OK,
                                     ctx->route == NGX_HTTP_PYROSCOPE_ROUTE_DOT
                                     ? &text : &json,
                                     (u_char *) ctx->out.data, ctx->out.len);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(r->connection);
}

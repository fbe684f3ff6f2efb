
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * Connect unary RPCs: /push.v1.PusherService/Push and
 * /querier.v1.QuerierService/<Method>.  The protocol checks run on the
 * loop; decoding, queries and encoding run in thread tasks; a push is
 * acknowledged after its group commit, as on /ingest.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pyroscope_module.h"


static ngx_int_t ngx_http_pyroscope_connect_check(ngx_http_request_t *r,
    ngx_http_pyroscope_ctx_t *ctx);
static void ngx_http_pyroscope_query_body(ngx_http_request_t *r);
static void ngx_http_pyroscope_query_run(void *data, ngx_log_t *log);
static void ngx_http_pyroscope_query_done(ngx_event_t *ev);


ngx_int_t
ngx_http_pyroscope_connect_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                  v;
    ngx_http_pyroscope_ctx_t  *ctx;
    static ngx_str_t           push =
                                   ngx_string("/push.v1.PusherService/Push");
    static ngx_str_t           querier =
                                   ngx_string("/querier.v1.QuerierService/");

    ctx = ngx_http_pyroscope_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->uri.len > querier.len
        && ngx_strncmp(r->uri.data, querier.data, querier.len) == 0)
    {
        ctx->rpc.data = (const char *) r->uri.data + querier.len;
        ctx->rpc.len = r->uri.len - querier.len;

    } else if (r->uri.len != push.len
               || ngx_strncmp(r->uri.data, push.data, push.len) != 0)
    {
        pyro_err_set(&ctx->err, 404, "unimplemented", "%.*s is not "
                     "implemented", (int) r->uri.len, r->uri.data);
        return ngx_http_pyroscope_reject(r, &ctx->err);
    }

    if (r->method != NGX_HTTP_POST) {
        if (ngx_http_pyroscope_set_header(r, "Allow", "POST") != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        pyro_err_set(&ctx->err, 405, "unknown", "method not allowed");
        return ngx_http_pyroscope_reject(r, &ctx->err);
    }

    rc = ngx_http_pyroscope_connect_check(r, ctx);

    if (rc == NGX_OK) {
        /* only writes need a single tenant: reads may federate "a|b" */
        rc = ngx_http_pyroscope_tenant(r, ctx, ctx->rpc.len == 0, &ctx->err);
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_pyroscope_reject(r, &ctx->err);
    }

    ctx->connect = 1;
    ctx->meta.from_ns = ngx_http_pyroscope_now_ns();

    /* connect-go: a gzip request gets a gzip response; otherwise the
     * first supported name in Accept-Encoding (no q-values) decides */
    if (ctx->rpc.len
        && (ctx->gzip
            || (ngx_http_pyroscope_header(r, "Accept-Encoding", &v) == NGX_OK
                && ngx_strlcasestrn(v.data, v.data + v.len,
                                    (u_char *) "gzip", 4 - 1) != NULL)))
    {
        ctx->gzip_out = 1;
    }

    rc = ngx_http_read_client_request_body(r, ctx->rpc.len
                                           ? ngx_http_pyroscope_query_body
                                           : ngx_http_pyroscope_ingest_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * The unary Connect protocol as connect-go serves it: application/proto
 * or application/json (any parameters), identity or gzip request
 * encoding, and an optional Connect-Protocol-Version that must be 1.
 */
static ngx_int_t
ngx_http_pyroscope_connect_check(ngx_http_request_t *r,
    ngx_http_pyroscope_ctx_t *ctx)
{
    u_char           *semi;
    ngx_str_t         ct, v;

    ngx_str_null(&ct);

    if (r->headers_in.content_type) {
        ct = r->headers_in.content_type->value;
        semi = ngx_strlchr(ct.data, ct.data + ct.len, ';');
        if (semi) {
            ct.len = semi - ct.data;
        }
    }

    if (ngx_http_pyroscope_is_ci(&ct, "application/proto")) {
        ngx_str_set(&ctx->content_type_out, "application/proto");

    } else if (ngx_http_pyroscope_is_ci(&ct, "application/json")) {
        ngx_str_set(&ctx->content_type_out, "application/json");
        ctx->json = 1;

    } else {
        if (ngx_http_pyroscope_set_header(r, "Accept-Post",
                                          "application/json, "
                                          "application/proto")
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        pyro_err_set(&ctx->err, 415, "unknown", "invalid content-type: "
                     "\"%.*s\"; expecting \"application/proto\" or "
                     "\"application/json\"", (int) ct.len, ct.data);
        return NGX_DECLINED;
    }

    if (ngx_http_pyroscope_header(r, "Content-Encoding", &v) == NGX_OK
        && !ngx_http_pyroscope_is_ci(&v, "identity"))
    {
        if (!ngx_http_pyroscope_is_ci(&v, "gzip")) {
            pyro_err_set(&ctx->err, 501, "unimplemented", "unknown "
                         "compression \"%.*s\": supported encodings are "
                         "gzip", (int) v.len, v.data);
            return NGX_DECLINED;
        }

        ctx->gzip = 1;
    }

    /* the deadline itself is nginx's (send and read timeouts) */
    if (ngx_http_pyroscope_header(r, "Connect-Timeout-Ms", &v) == NGX_OK
        && (v.len == 0 || v.len > 10 || ngx_atoi(v.data, v.len) == NGX_ERROR))
    {
        pyro_err_invalid(&ctx->err, "protocol error: invalid timeout \"%.*s\"",
                         (int) v.len, v.data);
        return NGX_DECLINED;
    }

    if (ngx_http_pyroscope_header(r, "Connect-Protocol-Version", &v)
        == NGX_OK
        && !ngx_http_pyroscope_is(&v, "1"))
    {
        pyro_err_invalid(&ctx->err, "connect-protocol-version must be \"1\": "
                         "got \"%.*s\"", (int) v.len, v.data);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Runs in the ingest thread task: the body (gunzipped when it came with
 * Content-Encoding: gzip, bounded) into the batch.
 */
ngx_int_t
ngx_http_pyroscope_connect_push(ngx_http_pyroscope_ctx_t *ctx,
    pyro_batch_t *b)
{
    int                             rc;
    const char                     *body;
    size_t                          len;
    pyro_buf_t                      plain;
    ngx_http_pyroscope_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(ctx->request,
                                        ngx_http_pyroscope_module);

    ngx_memzero(&plain, sizeof(pyro_buf_t));
    body = ctx->body;
    len = ctx->body_len;

    if (ctx->gzip) {
        rc = pyro_gunzip(body, len, plcf->push_body_limit, &plain, &ctx->err);

        if (rc == PYRO_DECLINED) {
            pyro_err_invalid(&ctx->err, "request body is not gzip");
        }

        if (rc != PYRO_OK) {
            pyro_buf_free(&plain);
            return PYRO_ERROR;
        }

        body = plain.data;
        len = plain.len;
    }

    rc = pyro_ingest_push(b, body, len, ctx->json,
                          ctx->meta.from_ns,
                          &plcf->limits, &ctx->err);

    pyro_buf_free(&plain);

    return rc;
}


/* The body of a query RPC is read: the query runs in a pool thread. */
static void
ngx_http_pyroscope_query_body(ngx_http_request_t *r)
{
    if (ngx_http_pyroscope_post(r, ngx_http_pyroscope_query_run,
                                ngx_http_pyroscope_query_done)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }
}


/*
 * Runs in a pool thread: decodes the request, runs the query over the
 * tenants' files and encodes the response into ctx->out; the main conf
 * and location conf are read-only for the life of the cycle.
 */
static void
ngx_http_pyroscope_query_run(void *data, ngx_log_t *log)
{
    ngx_http_pyroscope_ctx_t *ctx = data;

    int                              rc;
    const char                      *body;
    size_t                           len;
    pyro_buf_t                       plain;
    pyro_rpc_t                       rpc;
    ngx_http_pyroscope_loc_conf_t   *plcf;
    ngx_http_pyroscope_main_conf_t  *pmcf;

    pmcf = ngx_http_get_module_main_conf(ctx->request,
                                         ngx_http_pyroscope_module);
    plcf = ngx_http_get_module_loc_conf(ctx->request,
                                        ngx_http_pyroscope_module);

    ngx_memzero(&plain, sizeof(pyro_buf_t));
    ctx->rc = PYRO_ERROR;

    if (ngx_http_pyroscope_collect_body(ctx, log) != NGX_OK) {
        pyro_err_internal(&ctx->err, "cannot read the request body");
        return;
    }

    body = ctx->body;
    len = ctx->body_len;

    if (ctx->gzip) {
        rc = pyro_gunzip(body, len, plcf->push_body_limit, &plain, &ctx->err);

        if (rc == PYRO_DECLINED) {
            pyro_err_invalid(&ctx->err, "request body is not gzip");
        }

        if (rc != PYRO_OK) {
            pyro_buf_free(&plain);
            return;
        }

        body = plain.data;
        len = plain.len;
    }

    rpc.method = ctx->rpc;
    rpc.root = (const char *) pmcf->storage.data;
    rpc.tenants = &ctx->tenants;
    rpc.json = ctx->json;
    rpc.now_ms = ctx->meta.from_ns / 1000000;
    rpc.max_query_length_ms = (int64_t) plcf->max_query_length;

    ctx->rc = pyro_rpc_call(&rpc, body, len, &ctx->out, &ctx->err);

    pyro_buf_free(&plain);

    /* gzip was negotiated on the loop (a gzip request, or Accept-Encoding) */
    if (ctx->rc == PYRO_OK && ctx->gzip_out) {
        ngx_memzero(&plain, sizeof(pyro_buf_t));

        if (pyro_gzip(ctx->out.data ? ctx->out.data : "", ctx->out.len,
                      &plain) != PYRO_OK)
        {
            pyro_buf_free(&plain);
            pyro_err_internal(&ctx->err, "cannot compress the response");
            ctx->rc = PYRO_ERROR;
            return;
        }

        pyro_buf_free(&ctx->out);
        ctx->out = plain;
    }
}


static void
ngx_http_pyroscope_query_done(ngx_event_t *ev)
{
    ngx_http_request_t  *r = ev->data;

    ngx_int_t                  rc;
    ngx_http_pyroscope_ctx_t  *ctx;

    ngx_http_pyroscope_task_done(r);

    ctx = ngx_http_get_module_ctx(r, ngx_http_pyroscope_module);

    if (ctx->rc != PYRO_OK) {
        rc = ngx_http_pyroscope_send_error(r, &ctx->err);

    } else if (ctx->gzip_out
               && ngx_http_pyroscope_set_header(r, "Content-Encoding", "gzip")
                  != NGX_OK)
    {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

    } else {
        /* ctx->out is freed by the request pool's cleanup */
        rc = ngx_http_pyroscope_send(r, NGX_HTTP_OK, &ctx->content_type_out,
                                     (u_char *) ctx->out.data, ctx->out.len);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(r->connection);
}

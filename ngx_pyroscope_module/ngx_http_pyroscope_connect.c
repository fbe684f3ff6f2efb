
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * Connect unary RPCs: /push.v1.PusherService/Push for now (the query
 * service follows).  The protocol checks run on the loop; decoding runs
 * in the ingest thread task; a push is acknowledged after its group
 * commit, as on /ingest.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pyroscope_module.h"


static ngx_int_t ngx_http_pyroscope_connect_check(ngx_http_request_t *r,
    ngx_http_pyroscope_ctx_t *ctx);


ngx_int_t
ngx_http_pyroscope_connect_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_table_elt_t           *h;
    ngx_http_pyroscope_ctx_t  *ctx;
    static ngx_str_t           push =
                                   ngx_string("/push.v1.PusherService/Push");

    ctx = ngx_http_pyroscope_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->uri.len != push.len
        || ngx_strncmp(r->uri.data, push.data, push.len) != 0)
    {
        pyro_err_set(&ctx->err, 404, "unimplemented", "%.*s is not "
                     "implemented", (int) r->uri.len, r->uri.data);
        return ngx_http_pyroscope_reject(r, &ctx->err);
    }

    if (r->method != NGX_HTTP_POST) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "POST");

        pyro_err_set(&ctx->err, 405, "unknown", "method not allowed");
        return ngx_http_pyroscope_reject(r, &ctx->err);
    }

    rc = ngx_http_pyroscope_connect_check(r, ctx);

    if (rc == NGX_OK) {
        rc = ngx_http_pyroscope_tenant(r, ctx, 1, &ctx->err);
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_pyroscope_reject(r, &ctx->err);
    }

    ctx->connect = 1;
    ctx->meta.from_ns = ngx_http_pyroscope_now_ns();

    rc = ngx_http_read_client_request_body(r, ngx_http_pyroscope_ingest_body);

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
    ngx_table_elt_t  *h;

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
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Accept-Post");
        ngx_str_set(&h->value, "application/json, application/proto");

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

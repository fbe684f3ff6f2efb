
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * POST /ingest: read the body, parse and encode it in a thread, then
 * wait (without blocking the loop) for this worker's group commit to
 * make it durable, and only then answer 200.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pyroscope_module.h"


static ngx_int_t ngx_http_pyroscope_ingest_meta(ngx_http_request_t *r,
    ngx_http_pyroscope_ctx_t *ctx);
static ngx_int_t ngx_http_pyroscope_ingest_format(ngx_http_request_t *r,
    ngx_http_pyroscope_ctx_t *ctx);
static void ngx_http_pyroscope_ingest_parse(void *data, ngx_log_t *log);
static void ngx_http_pyroscope_ingest_parsed(ngx_event_t *ev);
static void ngx_http_pyroscope_ingest_finish(ngx_http_request_t *r,
    ngx_http_pyroscope_ctx_t *ctx);
static void ngx_http_pyroscope_commit(void *data, ngx_log_t *log);
static void ngx_http_pyroscope_committed(ngx_event_t *ev);
static void ngx_http_pyroscope_seal_timer(ngx_event_t *ev);
static void ngx_http_pyroscope_hold_timer(ngx_event_t *ev);


/* The commit task's context; lives in the cycle pool for the worker. */
typedef struct {
    ngx_http_pyroscope_store_t     *store;
    ngx_msec_t                      seal_age;
    pyro_err_t                      err;
    ngx_int_t                       rc;
} ngx_http_pyroscope_commit_t;


ngx_int_t
ngx_http_pyroscope_ingest_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_http_pyroscope_ctx_t  *ctx;

    ctx = ngx_http_pyroscope_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method != NGX_HTTP_POST) {
        pyro_err_set(&ctx->err, 405, "unknown", "method not allowed");
        return ngx_http_pyroscope_reject(r, &ctx->err);
    }

    rc = ngx_http_pyroscope_tenant(r, ctx, 1, &ctx->err);

    if (rc == NGX_OK) {
        rc = ngx_http_pyroscope_ingest_meta(r, ctx);
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_pyroscope_reject(r, &ctx->err);
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_pyroscope_ingest_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * Reads the query parameters as upstream's ingest handler: "name" is
 * checked later with the body (it is part of the series), "from" and
 * "until" default to now, a bad sampleRate falls back to 100.
 */
static ngx_int_t
ngx_http_pyroscope_ingest_meta(ngx_http_request_t *r,
    ngx_http_pyroscope_ctx_t *ctx)
{
    int64_t                         now, rate;
    ngx_int_t                       n;
    ngx_str_t                       v;
    pyro_ingest_meta_t             *m;
    ngx_http_pyroscope_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_pyroscope_module);
    m = &ctx->meta;
    now = ngx_http_pyroscope_now_ns();

    m->from_ns = now;
    m->until_ns = now;
    m->sample_rate = 100;

    if (ngx_http_pyroscope_arg(r, "name", &v) == NGX_OK) {
        m->name.data = (const char *) v.data;
        m->name.len = v.len;
    }

    if (ngx_http_pyroscope_arg(r, "spyName", &v) == NGX_OK) {
        m->spy_name.data = (const char *) v.data;
        m->spy_name.len = v.len;
    }

    if (ngx_http_pyroscope_arg(r, "from", &v) == NGX_OK && v.len) {
        (void) pyro_attime_parse((const char *) v.data, v.len, now,
                                 &m->from_ns);
    }

    if (ngx_http_pyroscope_arg(r, "until", &v) == NGX_OK && v.len) {
        (void) pyro_attime_parse((const char *) v.data, v.len, now,
                                 &m->until_ns);
    }

    m->limits = &plcf->limits;

    /* one ID per request, shared by every profile it yields, as
     * upstream's /ingest does */
    if (pyro_uuid_v4(m->profile_id) != PYRO_OK) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                      "pyroscope: no randomness for a profile ID");
        return NGX_ERROR;
    }

    if (ngx_http_pyroscope_arg(r, "sampleRate", &v) == NGX_OK && v.len) {
        rate = 100;

        if (v.data[0] != '-') {
            n = ngx_atoi(v.data, v.len);
            if (n != NGX_ERROR) {
                rate = n;
            }
        }

        m->sample_rate = rate;
    }

    return ngx_http_pyroscope_ingest_format(r, ctx);
}


/*
 * Format selection in upstream's order (spec 3.2).  trie, tree, JFR and
 * speedscope are answered with 422 until their decoders land.
 */
static ngx_int_t
ngx_http_pyroscope_ingest_format(ngx_http_request_t *r,
    ngx_http_pyroscope_ctx_t *ctx)
{
    ngx_str_t          v, ct;
    static ngx_str_t   trie = ngx_string("binary/octet-stream+trie");
    static ngx_str_t   tree = ngx_string("binary/octet-stream+tree");

    if (ngx_http_pyroscope_arg(r, "format", &v) != NGX_OK) {
        ngx_str_null(&v);
    }

    ngx_str_null(&ct);

    if (r->headers_in.content_type) {
        ct = r->headers_in.content_type->value;
    }

    ctx->content_type.data = (const char *) ct.data;
    ctx->content_type.len = ct.len;

    if (ngx_http_pyroscope_is(&v, "trie")
        || ngx_http_pyroscope_is(&ct, (char *) trie.data))
    {
        ngx_str_set(&v, "trie");
        goto unsupported;
    }

    if (ngx_http_pyroscope_is(&v, "tree")
        || ngx_http_pyroscope_is(&ct, (char *) tree.data))
    {
        ngx_str_set(&v, "tree");
        goto unsupported;
    }

    if (ngx_http_pyroscope_is(&v, "lines")) {
        ctx->format = PYRO_FMT_LINES;
        return NGX_OK;
    }

    if (ngx_http_pyroscope_is(&v, "jfr")) {
        ctx->format = PYRO_FMT_JFR;
        return NGX_OK;
    }

    if (ngx_http_pyroscope_is(&v, "speedscope")) {
        goto unsupported;
    }

    if (ngx_http_pyroscope_is(&v, "pprof")) {
        ctx->format = PYRO_FMT_PPROF;
        return NGX_OK;
    }

    if (ct.len && ngx_strlcasestrn(ct.data, ct.data + ct.len,
                                   (u_char *) "multipart/form-data", 19 - 1)
                  != NULL)
    {
        ctx->format = PYRO_FMT_MULTIPART;
        return NGX_OK;
    }

    ctx->format = PYRO_FMT_FOLDED;

    return NGX_OK;

unsupported:

    pyro_err_set(&ctx->err, 422, "unknown",
                 "parsing IngestInput-%.*s failed: format not supported yet",
                 (int) v.len, v.data);

    return NGX_DECLINED;
}


void
ngx_http_pyroscope_ingest_body(ngx_http_request_t *r)
{
    if (ngx_http_pyroscope_post(r, ngx_http_pyroscope_ingest_parse,
                                ngx_http_pyroscope_ingest_parsed)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }
}


/*
 * Runs in a pool thread: only ctx and the request body (which the loop
 * does not touch while the request is blocked) are used here.
 */
static void
ngx_http_pyroscope_ingest_parse(void *data, ngx_log_t *log)
{
    ngx_http_pyroscope_ctx_t *ctx = data;

    pyro_batch_t  *b;

    if (ngx_http_pyroscope_collect_body(ctx, log) != NGX_OK) {
        pyro_err_internal(&ctx->err, "cannot read the request body");
        ctx->rc = PYRO_ERROR;
        return;
    }

    b = pyro_batch_new();
    if (b == NULL) {
        pyro_err_internal(&ctx->err, "out of memory");
        ctx->rc = PYRO_ERROR;
        return;
    }

    if (ctx->connect) {
        ctx->rc = ngx_http_pyroscope_connect_push(ctx, b);

    } else {
        ctx->rc = pyro_ingest_body(b, &ctx->meta, ctx->format,
                                   ctx->content_type, ctx->body,
                                   ctx->body_len, &ctx->err);
    }

    if (ctx->rc == PYRO_OK && pyro_batch_encode(b, &ctx->record) != PYRO_OK)
    {
        pyro_err_internal(&ctx->err, "cannot encode the profile");
        ctx->rc = PYRO_ERROR;
    }

    pyro_batch_free(b);
}


/*
 * Makes the body one malloc'ed buffer, reading spilled parts from file.
 * Runs in a pool thread while the request is blocked.
 */
ngx_int_t
ngx_http_pyroscope_collect_body(ngx_http_pyroscope_ctx_t *ctx,
    ngx_log_t *log)
{
    off_t         size;
    u_char       *p;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl, *bufs;

    bufs = ctx->request->request_body ? ctx->request->request_body->bufs
                                      : NULL;
    size = 0;

    for (cl = bufs; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    ctx->body = malloc(size + 1);
    if (ctx->body == NULL) {
        return NGX_ERROR;
    }

    p = (u_char *) ctx->body;

    for (cl = bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                          b->file_pos);
        if (n != b->file_last - b->file_pos) {
            return NGX_ERROR;
        }

        p += n;
    }

    ctx->body_len = p - (u_char *) ctx->body;

    return NGX_OK;
}


static void
ngx_http_pyroscope_ingest_parsed(ngx_event_t *ev)
{
    ngx_http_request_t              *r = ev->data;

    ngx_http_pyroscope_ctx_t        *ctx;
    ngx_http_pyroscope_main_conf_t  *pmcf;

    ngx_http_pyroscope_task_done(r);

    ctx = ngx_http_get_module_ctx(r, ngx_http_pyroscope_module);
    pmcf = ngx_http_get_module_main_conf(r, ngx_http_pyroscope_module);

    free(ctx->body);
    ctx->body = NULL;

    if (ctx->rc != PYRO_OK || pmcf->store == NULL) {
        if (ctx->rc == PYRO_OK) {
            pyro_err_set(&ctx->err, 503, "unavailable",
                         "storage is not available in this process");
            ctx->rc = PYRO_ERROR;
        }

        ngx_http_pyroscope_ingest_finish(r, ctx);
        return;
    }

    /* the request stays blocked until its commit completes */
    r->main->blocked++;

    ngx_queue_insert_tail(&pmcf->store->pending, &ctx->queue);
    ngx_http_pyroscope_store_kick(pmcf->store);
}


static void
ngx_http_pyroscope_ingest_finish(ngx_http_request_t *r,
    ngx_http_pyroscope_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (ctx->rc != PYRO_OK && ctx->rc != PYRO_DECLINED) {
        rc = ngx_http_pyroscope_send_error(r, &ctx->err);

    } else if (ctx->connect) {
        /* an empty PushResponse in the request's codec */
        rc = ngx_http_pyroscope_send(r, NGX_HTTP_OK, &ctx->content_type_out,
                                     ctx->json ? (u_char *) "{}" : NULL,
                                     ctx->json ? 2 : 0);

    } else {
        rc = ngx_http_pyroscope_send(r, NGX_HTTP_OK, NULL, NULL, 0);
    }

    pyro_buf_free(&ctx->record);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(r->connection);
}


ngx_int_t
ngx_http_pyroscope_store_init(ngx_cycle_t *cycle,
    ngx_http_pyroscope_main_conf_t *pmcf)
{
    ngx_http_pyroscope_store_t   *st;
    ngx_http_pyroscope_commit_t  *cc;

    st = ngx_pcalloc(cycle->pool, sizeof(ngx_http_pyroscope_store_t));
    if (st == NULL) {
        return NGX_ERROR;
    }

    st->writer = pyro_writer_new((const char *) pmcf->storage.data,
                                 pmcf->seal_size,
                                 (int64_t) pmcf->seal_age * 1000000);
    if (st->writer == NULL) {
        return NGX_ERROR;
    }

    st->task = ngx_thread_task_alloc(cycle->pool,
                                     sizeof(ngx_http_pyroscope_commit_t));
    if (st->task == NULL) {
        return NGX_ERROR;
    }

    cc = st->task->ctx;
    cc->store = st;
    cc->seal_age = pmcf->seal_age;

    st->task->handler = ngx_http_pyroscope_commit;
    st->task->event.handler = ngx_http_pyroscope_committed;
    st->task->event.data = pmcf;
    st->task->event.log = cycle->log;

    ngx_queue_init(&st->pending);
    ngx_queue_init(&st->inflight);

    st->seal_timer.handler = ngx_http_pyroscope_seal_timer;
    st->seal_timer.data = pmcf;
    st->seal_timer.log = cycle->log;
    st->seal_timer.cancelable = 1;

    st->hold_timer.handler = ngx_http_pyroscope_hold_timer;
    st->hold_timer.data = pmcf;
    st->hold_timer.log = cycle->log;

    pmcf->store = st;

    ngx_add_timer(&st->seal_timer, 1000 + ngx_random() % 1000);

    return NGX_OK;
}


/*
 * Starts a commit when pushes are pending and none is in flight.  The
 * hold timer (not cancelable) keeps a gracefully exiting worker alive
 * until the commit has answered its requests.
 */
void
ngx_http_pyroscope_store_kick(ngx_http_pyroscope_store_t *st)
{
    ngx_http_pyroscope_main_conf_t  *pmcf;

    if (st->busy || ngx_queue_empty(&st->pending)) {
        return;
    }

    pmcf = st->task->event.data;

    ngx_queue_add(&st->inflight, &st->pending);
    ngx_queue_init(&st->pending);

    if (ngx_thread_task_post(pmcf->thread_pool, st->task) != NGX_OK) {
        ngx_queue_add(&st->pending, &st->inflight);
        ngx_queue_init(&st->inflight);
        ngx_add_timer(&st->hold_timer, 10);
        return;
    }

    st->busy = 1;
    ngx_http_pyroscope_store_hold(st);
}


/*
 * A worker that is shutting down gracefully exits once only cancelable
 * timers are left; this timer (not cancelable) is kept armed while a
 * commit or a request's thread task is in flight, so that every request
 * gets its answer first.
 */
void
ngx_http_pyroscope_store_hold(ngx_http_pyroscope_store_t *st)
{
    if (!st->hold_timer.timer_set) {
        ngx_add_timer(&st->hold_timer, 1000);
    }
}


/*
 * Runs in a pool thread.  The inflight queue and the writer belong to
 * this task until it completes; each push's record was encoded by its
 * own parse task and is only read here.
 */
static void
ngx_http_pyroscope_commit(void *data, ngx_log_t *log)
{
    ngx_http_pyroscope_commit_t *cc = data;

    ngx_queue_t                 *q;
    pyro_err_t                   err;
    ngx_http_pyroscope_ctx_t    *ctx;
    ngx_http_pyroscope_store_t  *st;

    st = cc->store;
    cc->rc = PYRO_OK;

    for (q = ngx_queue_head(&st->inflight);
         q != ngx_queue_sentinel(&st->inflight);
         q = ngx_queue_next(q))
    {
        ctx = ngx_queue_data(q, ngx_http_pyroscope_ctx_t, queue);

        ctx->rc = pyro_writer_append(st->writer, ctx->tenants.id[0],
                                     ctx->record.data, ctx->record.len,
                                     &ctx->err);
    }

    if (pyro_writer_commit(st->writer, &cc->err) != PYRO_OK) {
        cc->rc = PYRO_ERROR;
        ngx_log_error(NGX_LOG_ALERT, log, 0, "pyroscope: %s", cc->err.msg);
    }

    if (pyro_writer_seal(st->writer, pyro_now_ns(), 0, &err)
        != PYRO_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, log, 0, "pyroscope: %s", err.msg);
    }
}


static void
ngx_http_pyroscope_committed(ngx_event_t *ev)
{
    ngx_http_pyroscope_main_conf_t  *pmcf = ev->data;

    ngx_queue_t                  *q;
    ngx_http_request_t           *r;
    ngx_http_pyroscope_ctx_t     *ctx;
    ngx_http_pyroscope_store_t   *st;
    ngx_http_pyroscope_commit_t  *cc;

    st = pmcf->store;
    cc = st->task->ctx;
    st->busy = 0;

    while (!ngx_queue_empty(&st->inflight)) {
        q = ngx_queue_head(&st->inflight);
        ngx_queue_remove(q);

        ctx = ngx_queue_data(q, ngx_http_pyroscope_ctx_t, queue);
        r = ctx->request;

        /* a failed commit rolled back every record of the batch */
        if (cc->rc != PYRO_OK && ctx->rc == PYRO_OK) {
            ctx->err = cc->err;
            ctx->rc = PYRO_ERROR;
        }

        r->main->blocked--;
        ngx_http_pyroscope_ingest_finish(r, ctx);
    }

    ngx_http_pyroscope_store_kick(st);
}


/* Seals idle segments: an empty commit seals what is past its age. */
static void
ngx_http_pyroscope_seal_timer(ngx_event_t *ev)
{
    ngx_http_pyroscope_main_conf_t  *pmcf = ev->data;

    ngx_http_pyroscope_store_t  *st;

    st = pmcf->store;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    if (!st->busy
        && ngx_thread_task_post(pmcf->thread_pool, st->task) == NGX_OK)
    {
        st->busy = 1;
        ngx_http_pyroscope_store_hold(st);
    }

    ngx_add_timer(&st->seal_timer, 1000);
}


static void
ngx_http_pyroscope_hold_timer(ngx_event_t *ev)
{
    ngx_http_pyroscope_main_conf_t  *pmcf = ev->data;

    ngx_http_pyroscope_store_t  *st;

    st = pmcf->store;

    /* a commit post that failed (queue overflow) is retried from here */
    ngx_http_pyroscope_store_kick(st);

    if (st->busy || st->tasks || !ngx_queue_empty(&st->pending)) {
        ngx_add_timer(&st->hold_timer, st->busy || st->tasks ? 1000 : 10);
    }
}


/*
 * The thread pool has already been stopped (its exit_process runs
 * before ours), so the last seal runs here, synchronously.
 */
void
ngx_http_pyroscope_store_exit(ngx_cycle_t *cycle,
    ngx_http_pyroscope_main_conf_t *pmcf)
{
    pyro_err_t                   err;
    ngx_http_pyroscope_store_t  *st;

    st = pmcf->store;

    if (pyro_writer_seal(st->writer, 0, 1, &err) != PYRO_OK) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0, "pyroscope: %s",
                      err.msg);
    }

    pyro_writer_free(st->writer);
    pmcf->store = NULL;
}


/*
 * Copyright (C) ngx_pyroscope developers
 */


#ifndef _NGX_HTTP_PYROSCOPE_MODULE_H_INCLUDED_
#define _NGX_HTTP_PYROSCOPE_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <pyro.h>


#if !(NGX_THREADS)
#error ngx_http_pyroscope_module needs nginx built --with-threads
#endif


#define NGX_HTTP_PYROSCOPE_INGEST   0x01
#define NGX_HTTP_PYROSCOPE_RENDER   0x02
#define NGX_HTTP_PYROSCOPE_CONNECT  0x04

#define NGX_HTTP_PYROSCOPE_ROUTE_RENDER        0
#define NGX_HTTP_PYROSCOPE_ROUTE_DIFF          1
#define NGX_HTTP_PYROSCOPE_ROUTE_LABEL_VALUES  2
#define NGX_HTTP_PYROSCOPE_ROUTE_DOT           3


/*
 * One per worker: the segment writer and its group-commit queues.
 * Only the event loop touches the queues; the writer itself is used by
 * the one commit task in flight, or by the loop when none is ("busy").
 */
typedef struct {
    pyro_writer_t              *writer;
    ngx_queue_t                 pending;     /* pushes waiting for a commit */
    ngx_queue_t                 inflight;    /* pushes in the running commit */
    ngx_thread_task_t          *task;
    ngx_event_t                 seal_timer;  /* cancelable, periodic */
    ngx_event_t                 hold_timer;  /* keeps an exiting worker alive */
    ngx_uint_t                  busy;        /* a commit task is in flight */
    ngx_uint_t                  tasks;       /* request tasks in flight */
} ngx_http_pyroscope_store_t;


typedef struct {
    ngx_str_t                   storage;
    size_t                      seal_size;
    ngx_msec_t                  seal_age;
    ngx_str_t                   thread_pool_name;
    ngx_thread_pool_t          *thread_pool;
    ngx_http_pyroscope_store_t *store;       /* this worker's, or NULL */
} ngx_http_pyroscope_main_conf_t;


typedef struct {
    ngx_uint_t                  handlers;
    ngx_http_complex_value_t   *tenant;
    ngx_flag_t                  tenant_required;
    size_t                      push_body_limit; /* after gunzip */
    ngx_msec_t                  max_query_length;
    pyro_limits_t               limits;
} ngx_http_pyroscope_loc_conf_t;


/*
 * A request's state from the handler to the final response.  The body
 * and record buffers are malloc'ed by thread tasks and freed by a pool
 * cleanup; while a thread task runs, only that thread touches them.
 */
typedef struct {
    ngx_http_request_t         *request;
    ngx_queue_t                 queue;
    pyro_tenants_t              tenants;     /* sorted, deduplicated */
    ngx_uint_t                  own_response;
    ngx_str_t                   error_body;

    /* ingest */
    pyro_ingest_meta_t          meta;
    pyro_text_format_e          format;
    pyro_str_t                  content_type;
    ngx_uint_t                  connect;     /* a Connect Push request */
    ngx_uint_t                  json;        /* ... in application/json */
    ngx_uint_t                  gzip;        /* ... with a gzip body */
    ngx_uint_t                  gzip_out;    /* a gzip response */
    ngx_str_t                   content_type_out;
    pyro_str_t                  rpc;         /* a QuerierService method */
    char                       *body;
    size_t                      body_len;
    pyro_buf_t                  record;
    ngx_int_t                   rc;
    pyro_err_t                  err;

    /* render, render-diff (render is the left side), label-values */
    ngx_uint_t                  route;
    pyro_render_req_t           render;
    pyro_render_req_t           right;
    char                       *label;
    pyro_buf_t                  out;
} ngx_http_pyroscope_ctx_t;


ngx_int_t ngx_http_pyroscope_ingest_handler(ngx_http_request_t *r);
void ngx_http_pyroscope_ingest_body(ngx_http_request_t *r);
ngx_int_t ngx_http_pyroscope_connect_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_pyroscope_connect_push(ngx_http_pyroscope_ctx_t *ctx,
    pyro_batch_t *b);
ngx_int_t ngx_http_pyroscope_set_header(ngx_http_request_t *r,
    const char *key, const char *value);
ngx_int_t ngx_http_pyroscope_collect_body(ngx_http_pyroscope_ctx_t *ctx,
    ngx_log_t *log);
ngx_uint_t ngx_http_pyroscope_is(ngx_str_t *s, const char *lit);
ngx_uint_t ngx_http_pyroscope_is_ci(ngx_str_t *s, const char *lit);
ngx_int_t ngx_http_pyroscope_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);
ngx_int_t ngx_http_pyroscope_render_handler(ngx_http_request_t *r);
void ngx_http_pyroscope_store_kick(ngx_http_pyroscope_store_t *st);
void ngx_http_pyroscope_store_hold(ngx_http_pyroscope_store_t *st);
ngx_int_t ngx_http_pyroscope_store_init(ngx_cycle_t *cycle,
    ngx_http_pyroscope_main_conf_t *pmcf);
void ngx_http_pyroscope_store_exit(ngx_cycle_t *cycle,
    ngx_http_pyroscope_main_conf_t *pmcf);

ngx_http_pyroscope_ctx_t *ngx_http_pyroscope_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_pyroscope_tenant(ngx_http_request_t *r,
    ngx_http_pyroscope_ctx_t *ctx, ngx_uint_t write, pyro_err_t *err);
ngx_int_t ngx_http_pyroscope_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);
int64_t ngx_http_pyroscope_now_ns(void);
ngx_int_t ngx_http_pyroscope_send_error(ngx_http_request_t *r,
    const pyro_err_t *err);
ngx_int_t ngx_http_pyroscope_reject(ngx_http_request_t *r,
    const pyro_err_t *err);
ngx_int_t ngx_http_pyroscope_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *data, size_t len);
ngx_int_t ngx_http_pyroscope_post(ngx_http_request_t *r,
    void (*handler)(void *data, ngx_log_t *log),
    ngx_event_handler_pt done);
void ngx_http_pyroscope_task_done(ngx_http_request_t *r);


extern ngx_module_t  ngx_http_pyroscope_module;


#endif /* _NGX_HTTP_PYROSCOPE_MODULE_H_INCLUDED_ */

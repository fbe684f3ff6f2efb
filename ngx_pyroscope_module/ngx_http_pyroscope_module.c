
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * Directives, configuration, worker lifecycle and the helpers shared by
 * the ingest and query handlers.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pyroscope_module.h"


typedef struct {
    ngx_http_request_t         *request;
    void                      (*handler)(void *data, ngx_log_t *log);
} ngx_http_pyroscope_task_ctx_t;


static char *ngx_http_pyroscope_storage(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_pyroscope_handler_slot(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static void *ngx_http_pyroscope_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_pyroscope_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_pyroscope_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_pyroscope_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_pyroscope_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_pyroscope_init_process(ngx_cycle_t *cycle);
static void ngx_http_pyroscope_exit_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_pyroscope_content_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_pyroscope_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_pyroscope_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static void ngx_http_pyroscope_cleanup(void *data);
static ngx_uint_t ngx_http_pyroscope_escapes_valid(u_char *p, u_char *end);
static ngx_int_t ngx_http_pyroscope_nosniff(ngx_http_request_t *r);
static void ngx_http_pyroscope_task_handler(void *data, ngx_log_t *log);
static u_char *ngx_http_pyroscope_error_json(ngx_pool_t *pool,
    const pyro_err_t *err, size_t *len);
static const char *ngx_http_pyroscope_status_code(ngx_uint_t status);
static const char *ngx_http_pyroscope_reason(ngx_uint_t status);


static ngx_command_t  ngx_http_pyroscope_commands[] = {

    { ngx_string("pyroscope_storage"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_pyroscope_storage,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("pyroscope_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_pyroscope_main_conf_t, thread_pool_name),
      NULL },

    { ngx_string("pyroscope_tenant"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pyroscope_loc_conf_t, tenant),
      NULL },

    { ngx_string("pyroscope_tenant_required"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pyroscope_loc_conf_t, tenant_required),
      NULL },

    { ngx_string("pyroscope_ingest"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_pyroscope_handler_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_PYROSCOPE_INGEST,
      NULL },

    { ngx_string("pyroscope_render"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_pyroscope_handler_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_PYROSCOPE_RENDER,
      NULL },

    { ngx_string("pyroscope_connect"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_pyroscope_handler_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_PYROSCOPE_CONNECT,
      NULL },

    { ngx_string("pyroscope_max_profile_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pyroscope_loc_conf_t, limits.max_profile_size),
      NULL },

    { ngx_string("pyroscope_max_push_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pyroscope_loc_conf_t, push_body_limit),
      NULL },

    { ngx_string("pyroscope_max_query_length"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pyroscope_loc_conf_t, max_query_length),
      NULL },

    { ngx_string("pyroscope_max_samples"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pyroscope_loc_conf_t, limits.max_samples),
      NULL },

    { ngx_string("pyroscope_max_stack_depth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pyroscope_loc_conf_t, limits.max_depth),
      NULL },

    { ngx_string("pyroscope_max_symbol_length"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pyroscope_loc_conf_t, limits.max_symbol_len),
      NULL },

    { ngx_string("pyroscope_max_sample_labels"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pyroscope_loc_conf_t, limits.max_sample_labels),
      NULL },

    { ngx_string("pyroscope_max_label_names"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pyroscope_loc_conf_t, limits.max_label_names),
      NULL },

    { ngx_string("pyroscope_max_label_name_length"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pyroscope_loc_conf_t, limits.max_label_name_len),
      NULL },

    { ngx_string("pyroscope_max_label_value_length"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pyroscope_loc_conf_t, limits.max_label_value_len),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_pyroscope_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_pyroscope_init,               /* postconfiguration */

    ngx_http_pyroscope_create_main_conf,   /* create main configuration */
    ngx_http_pyroscope_init_main_conf,     /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_pyroscope_create_loc_conf,    /* create location configuration */
    ngx_http_pyroscope_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_http_pyroscope_module = {
    NGX_MODULE_V1,
    &ngx_http_pyroscope_module_ctx,        /* module context */
    ngx_http_pyroscope_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_pyroscope_init_process,       /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_pyroscope_exit_process,       /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


/*
 * pyroscope_storage <dir> [seal_size=<size>] [seal_age=<time>];
 */
static char *
ngx_http_pyroscope_storage(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_pyroscope_main_conf_t *pmcf = conf;

    ssize_t      size;
    ngx_str_t   *value, s;
    ngx_msec_t   msec;
    ngx_uint_t   i;
    ngx_path_t  *path;

    if (pmcf->storage.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    pmcf->storage = value[1];

    if (ngx_conf_full_name(cf->cycle, &pmcf->storage, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* created by the master and given to the worker user, as temp paths */
    path = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
    if (path == NULL) {
        return NGX_CONF_ERROR;
    }

    path->name = pmcf->storage;
    path->conf_file = cf->conf_file->file.name.data;
    path->line = cf->conf_file->line;

    if (ngx_add_path(cf, &path) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "seal_size=", 10) == 0) {
            s.data = value[i].data + 10;
            s.len = value[i].len - 10;

            size = ngx_parse_size(&s);
            if (size <= 0) {
                goto invalid;
            }

            pmcf->seal_size = (size_t) size;
            continue;
        }

        if (ngx_strncmp(value[i].data, "seal_age=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            msec = ngx_parse_time(&s, 0);
            if (msec == (ngx_msec_t) NGX_ERROR || msec == 0) {
                goto invalid;
            }

            pmcf->seal_age = msec;
            continue;
        }

        goto invalid;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_pyroscope_handler_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_pyroscope_loc_conf_t *plcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (plcf->handlers & cmd->offset) {
        return "is duplicate";
    }

    plcf->handlers |= cmd->offset;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_pyroscope_content_handler;

    return NGX_CONF_OK;
}


static void *
ngx_http_pyroscope_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_pyroscope_main_conf_t  *pmcf;

    pmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_pyroscope_main_conf_t));
    if (pmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     pmcf->storage = { 0, NULL };
     *     pmcf->thread_pool_name = { 0, NULL };
     *     pmcf->thread_pool = NULL;
     *     pmcf->store = NULL;
     */

    pmcf->seal_size = NGX_CONF_UNSET_SIZE;
    pmcf->seal_age = NGX_CONF_UNSET_MSEC;

    return pmcf;
}


static char *
ngx_http_pyroscope_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_pyroscope_main_conf_t *pmcf = conf;

    ngx_conf_init_size_value(pmcf->seal_size, 64 * 1024 * 1024);
    ngx_conf_init_msec_value(pmcf->seal_age, 10000);

    pmcf->thread_pool = ngx_thread_pool_add(cf,
                                pmcf->thread_pool_name.len
                                ? &pmcf->thread_pool_name : NULL);
    if (pmcf->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_pyroscope_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_pyroscope_loc_conf_t  *plcf;

    plcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_pyroscope_loc_conf_t));
    if (plcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     plcf->handlers = 0;
     */

    plcf->tenant = NGX_CONF_UNSET_PTR;
    plcf->tenant_required = NGX_CONF_UNSET;
    plcf->push_body_limit = NGX_CONF_UNSET_SIZE;
    plcf->max_query_length = NGX_CONF_UNSET_MSEC;
    plcf->limits.max_profile_size = NGX_CONF_UNSET_SIZE;
    plcf->limits.max_samples = NGX_CONF_UNSET_SIZE;
    plcf->limits.max_depth = NGX_CONF_UNSET_SIZE;
    plcf->limits.max_symbol_len = NGX_CONF_UNSET_SIZE;
    plcf->limits.max_sample_labels = NGX_CONF_UNSET_SIZE;
    plcf->limits.max_label_names = NGX_CONF_UNSET_SIZE;
    plcf->limits.max_label_name_len = NGX_CONF_UNSET_SIZE;
    plcf->limits.max_label_value_len = NGX_CONF_UNSET_SIZE;

    return plcf;
}


static char *
ngx_http_pyroscope_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_pyroscope_loc_conf_t *prev = parent;
    ngx_http_pyroscope_loc_conf_t *conf = child;

    pyro_limits_t                    def;
    ngx_http_pyroscope_main_conf_t  *pmcf;

    ngx_conf_merge_ptr_value(conf->tenant, prev->tenant, NULL);
    ngx_conf_merge_value(conf->tenant_required, prev->tenant_required, 0);

    /* upstream's defaults (pkg/validation/limits.go) */
    pyro_limits_default(&def);

    ngx_conf_merge_size_value(conf->push_body_limit, prev->push_body_limit,
                              256 * 1024 * 1024);
    ngx_conf_merge_msec_value(conf->max_query_length,
                              prev->max_query_length, 24 * 60 * 60 * 1000);
    ngx_conf_merge_size_value(conf->limits.max_profile_size,
                              prev->limits.max_profile_size,
                              def.max_profile_size);
    ngx_conf_merge_size_value(conf->limits.max_samples,
                              prev->limits.max_samples, def.max_samples);
    ngx_conf_merge_size_value(conf->limits.max_depth,
                              prev->limits.max_depth, def.max_depth);
    ngx_conf_merge_size_value(conf->limits.max_symbol_len,
                              prev->limits.max_symbol_len,
                              def.max_symbol_len);
    ngx_conf_merge_size_value(conf->limits.max_sample_labels,
                              prev->limits.max_sample_labels,
                              def.max_sample_labels);
    ngx_conf_merge_size_value(conf->limits.max_label_names,
                              prev->limits.max_label_names,
                              def.max_label_names);
    ngx_conf_merge_size_value(conf->limits.max_label_name_len,
                              prev->limits.max_label_name_len,
                              def.max_label_name_len);
    ngx_conf_merge_size_value(conf->limits.max_label_value_len,
                              prev->limits.max_label_value_len,
                              def.max_label_value_len);

    if (conf->handlers == 0) {
        return NGX_CONF_OK;
    }

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_pyroscope_module);

    if (pmcf->storage.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"pyroscope_ingest\", \"pyroscope_render\" and "
                           "\"pyroscope_connect\" require "
                           "\"pyroscope_storage\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_pyroscope_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_pyroscope_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_pyroscope_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_pyroscope_init_process(ngx_cycle_t *cycle)
{
    ngx_http_pyroscope_main_conf_t  *pmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    pmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_pyroscope_module);
    if (pmcf == NULL || pmcf->storage.data == NULL) {
        return NGX_OK;
    }

    pyro_init();

    return ngx_http_pyroscope_store_init(cycle, pmcf);
}


static void
ngx_http_pyroscope_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_pyroscope_main_conf_t  *pmcf;

    pmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_pyroscope_module);
    if (pmcf == NULL || pmcf->store == NULL) {
        return;
    }

    ngx_http_pyroscope_store_exit(cycle, pmcf);
}


static ngx_int_t
ngx_http_pyroscope_content_handler(ngx_http_request_t *r)
{
    ngx_http_pyroscope_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_pyroscope_module);

    if (plcf->handlers & NGX_HTTP_PYROSCOPE_INGEST) {
        return ngx_http_pyroscope_ingest_handler(r);
    }

    if (plcf->handlers & NGX_HTTP_PYROSCOPE_CONNECT) {
        return ngx_http_pyroscope_connect_handler(r);
    }

    return ngx_http_pyroscope_render_handler(r);
}


ngx_http_pyroscope_ctx_t *
ngx_http_pyroscope_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t        *cln;
    ngx_http_pyroscope_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_pyroscope_module);
    if (ctx) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_pyroscope_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_pyroscope_cleanup;
    cln->data = ctx;

    ctx->request = r;
    ngx_http_set_ctx(r, ctx, ngx_http_pyroscope_module);

    return ctx;
}


/* Frees what thread tasks malloc'ed for the request. */
static void
ngx_http_pyroscope_cleanup(void *data)
{
    ngx_http_pyroscope_ctx_t  *ctx = data;

    free(ctx->body);
    pyro_buf_free(&ctx->record);
    pyro_buf_free(&ctx->out);
}


/*
 * Resolves the tenants as upstream does with multitenancy: no
 * pyroscope_tenant means "anonymous"; an empty value is "anonymous"
 * unless pyroscope_tenant_required is on; "a|b" names several tenants,
 * which only reads accept.  IDs are validated before they touch a path.
 */
ngx_int_t
ngx_http_pyroscope_tenant(ngx_http_request_t *r,
    ngx_http_pyroscope_ctx_t *ctx, ngx_uint_t write, pyro_err_t *err)
{
    ngx_str_t                       v;
    ngx_http_pyroscope_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_pyroscope_module);

    ngx_str_null(&v);

    if (plcf->tenant
        && ngx_http_complex_value(r, plcf->tenant, &v) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (v.len == 0) {
        if (plcf->tenant_required) {
            pyro_err_set(err, 401, "unauthenticated", "no org id");
            return NGX_DECLINED;
        }

        ngx_str_set(&v, "anonymous");
    }

    if (pyro_tenants_parse((const char *) v.data, v.len, &ctx->tenants, err)
        != PYRO_OK)
    {
        return NGX_DECLINED;
    }

    if (write && ctx->tenants.n > 1) {
        pyro_err_invalid(err, "multiple org IDs present");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_pyroscope_escapes_valid(u_char *p, u_char *end)
{
    for ( /* void */ ; p < end; p++) {
        if (*p != '%') {
            continue;
        }

        if (end - p < 3 || !isxdigit(p[1]) || !isxdigit(p[2])) {
            return 0;
        }

        p += 2;
    }

    return 1;
}


/*
 * The first value of a query argument, unescaped as Go's url.Query()
 * does ('+' is a space).  Names match exactly.  NGX_DECLINED if absent.
 */
ngx_int_t
ngx_http_pyroscope_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    u_char  *p, *end, *amp, *eq, *dst, *src, *q;
    size_t   nlen;

    nlen = ngx_strlen(name);
    p = r->args.data;
    end = p + r->args.len;

    for ( /* void */ ; p < end; p = amp + 1) {
        amp = ngx_strlchr(p, end, '&');
        if (amp == NULL) {
            amp = end;
        }

        eq = ngx_strlchr(p, amp, '=');

        if ((size_t) ((eq ? eq : amp) - p) != nlen
            || ngx_strncmp(p, name, nlen) != 0)
        {
            continue;
        }

        if (eq == NULL) {
            ngx_str_set(value, "");
            return NGX_OK;
        }

        /* Go's url.ParseQuery drops a pair with a bad escape */
        if (!ngx_http_pyroscope_escapes_valid(eq + 1, amp)) {
            continue;
        }

        dst = ngx_pnalloc(r->pool, amp - eq);
        if (dst == NULL) {
            return NGX_ERROR;
        }

        for (src = eq + 1, q = dst; src < amp; src++) {
            *q++ = (*src == '+') ? ' ' : *src;
        }

        value->data = dst;
        src = dst;
        ngx_unescape_uri(&dst, &src, q - value->data, 0);
        value->len = dst - value->data;

        return NGX_OK;
    }

    return NGX_DECLINED;
}


/* An exact (or case-insensitive) comparison with a C string literal. */
ngx_uint_t
ngx_http_pyroscope_is(ngx_str_t *s, const char *lit)
{
    size_t  n;

    n = ngx_strlen(lit);

    return s->len == n && ngx_strncmp(s->data, lit, n) == 0;
}


ngx_uint_t
ngx_http_pyroscope_is_ci(ngx_str_t *s, const char *lit)
{
    size_t  n;

    n = ngx_strlen(lit);

    return s->len == n && ngx_strncasecmp(s->data, (u_char *) lit, n) == 0;
}


/* The first request header called name (any case); NGX_DECLINED if none. */
ngx_int_t
ngx_http_pyroscope_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    size_t            n;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    n = ngx_strlen(name);
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NGX_DECLINED;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == n
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, n) == 0)
        {
            *value = h[i].value;
            return NGX_OK;
        }
    }
}


int64_t
ngx_http_pyroscope_now_ns(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000000000 + (int64_t) tp->msec * 1000000;
}


ngx_int_t
ngx_http_pyroscope_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *data, size_t len)
{
    ngx_int_t                  rc;
    ngx_buf_t                 *b;
    ngx_chain_t                out;
    ngx_http_pyroscope_ctx_t  *ctx;

    ctx = ngx_http_pyroscope_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->own_response = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;

    if (type) {
        r->headers_out.content_type = *type;
        r->headers_out.content_type_len = type->len;
    }

    if (len == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    /* data is owned by the request: pool memory or ctx buffers */
    b->pos = data;
    b->last = data + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static u_char *
ngx_http_pyroscope_error_json(ngx_pool_t *pool, const pyro_err_t *err,
    size_t *len)
{
    u_char      *p;
    pyro_buf_t   b;

    ngx_memzero(&b, sizeof(pyro_buf_t));

    pyro_buf_puts(&b, "{\"code\":");
    pyro_buf_put_json_str(&b, err->code, ngx_strlen(err->code));
    pyro_buf_puts(&b, ",\"message\":");
    pyro_buf_put_json_str(&b, err->msg, ngx_strlen(err->msg));
    pyro_buf_puts(&b, "}\n");

    if (b.failed) {
        pyro_buf_free(&b);
        return NULL;
    }

    p = ngx_pnalloc(pool, b.len);
    if (p) {
        ngx_memcpy(p, b.data, b.len);
        *len = b.len;
    }

    pyro_buf_free(&b);

    return p;
}


/* Adds a response header; key and value are static strings. */
ngx_int_t
ngx_http_pyroscope_set_header(ngx_http_request_t *r, const char *key,
    const char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    return NGX_OK;
}


static ngx_int_t
ngx_http_pyroscope_nosniff(ngx_http_request_t *r)
{
    return ngx_http_pyroscope_set_header(r, "X-Content-Type-Options",
                                         "nosniff");
}


/* Upstream's legacy error: {"code","message"} as JSON, and nosniff. */
ngx_int_t
ngx_http_pyroscope_send_error(ngx_http_request_t *r, const pyro_err_t *err)
{
    size_t            len;
    u_char           *p;
    ngx_uint_t        level;
    static ngx_str_t  json = ngx_string("application/json");

    if (err->code == NULL) {
        /* a path that failed without saying why: never send garbage */
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "pyroscope: an error without a code");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_http_pyroscope_error_json(r->pool, err, &len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_pyroscope_nosniff(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    level = (err->status >= 500) ? NGX_LOG_ERR : NGX_LOG_INFO;

    ngx_log_error(level, r->connection->log, 0, "pyroscope: %d %s: %s",
                  err->status, err->code, err->msg);

    return ngx_http_pyroscope_send(r, err->status, &json, p, len);
}


/* Answers an error known before the body is read; the body is dropped. */
ngx_int_t
ngx_http_pyroscope_reject(ngx_http_request_t *r, const pyro_err_t *err)
{
    ngx_int_t  rc;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_pyroscope_send_error(r, err);
}


/*
 * Runs a request-bound thread task: "handler" in a pool thread, then
 * "done" on the event loop.  The request is blocked meanwhile, so it
 * cannot be freed under the thread.
 */
ngx_int_t
ngx_http_pyroscope_post(ngx_http_request_t *r,
    void (*handler)(void *data, ngx_log_t *log), ngx_event_handler_pt done)
{
    ngx_thread_task_t               *task;
    ngx_http_pyroscope_task_ctx_t   *tctx;
    ngx_http_pyroscope_main_conf_t  *pmcf;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_pyroscope_module);

    task = ngx_thread_task_alloc(r->pool,
                                 sizeof(ngx_http_pyroscope_task_ctx_t));
    if (task == NULL) {
        return NGX_ERROR;
    }

    tctx = task->ctx;
    tctx->request = r;
    tctx->handler = handler;

    task->handler = ngx_http_pyroscope_task_handler;
    task->event.handler = done;
    task->event.data = r;

    if (ngx_thread_task_post(pmcf->thread_pool, task) != NGX_OK) {
        return NGX_ERROR;
    }

    r->main->blocked++;

    if (pmcf->store) {
        pmcf->store->tasks++;
        ngx_http_pyroscope_store_hold(pmcf->store);
    }

    return NGX_OK;
}


static void
ngx_http_pyroscope_task_handler(void *data, ngx_log_t *log)
{
    ngx_http_pyroscope_task_ctx_t  *tctx = data;

    tctx->handler(ngx_http_get_module_ctx(tctx->request,
                                          ngx_http_pyroscope_module), log);
}


void
ngx_http_pyroscope_task_done(ngx_http_request_t *r)
{
    ngx_http_pyroscope_main_conf_t  *pmcf;

    r->main->blocked--;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_pyroscope_module);

    if (pmcf->store) {
        pmcf->store->tasks--;
    }
}


/* Upstream's HTTPToCode table for the legacy JSON errors. */
static const char *
ngx_http_pyroscope_status_code(ngx_uint_t status)
{
    switch (status) {
    case 400:
    case 413:
        return "invalid_argument";
    case 401:
        return "unauthenticated";
    case 403:
        return "permission_denied";
    case 404:
        return "unimplemented";
    case 412:
        return "failed_precondition";
    case 429:
    case 431:
        return "resource_exhausted";
    case 499:
        return "canceled";
    case 502:
    case 503:
        return "unavailable";
    case 504:
        return "deadline_exceeded";
    default:
        return "unknown";
    }
}


static const char *
ngx_http_pyroscope_reason(ngx_uint_t status)
{
    switch (status) {
    case 400:
        return "bad request";
    case 405:
        return "method not allowed";
    case 408:
        return "request timeout";
    case 411:
        return "length required";
    case 414:
        return "request URI too large";
    case 494:
        return "request header too large";
    case 500:
        return "internal server error";
    case 503:
        return "service unavailable";
    default:
        return "request failed";
    }
}


/*
 * Errors that nginx itself produces in our locations (a body over
 * client_max_body_size, a bad request line, ...) would be HTML pages;
 * the two filters below turn them into upstream's JSON shape.
 */
static ngx_int_t
ngx_http_pyroscope_header_filter(ngx_http_request_t *r)
{
    size_t                          len;
    u_char                         *p;
    ngx_uint_t                      status;
    pyro_err_t                      err;
    ngx_http_pyroscope_ctx_t       *ctx;
    ngx_http_pyroscope_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_pyroscope_module);
    status = r->headers_out.status;

    if (plcf == NULL || plcf->handlers == 0 || r != r->main || status < 400
        || r->headers_out.content_type.len == 0
        || ngx_strncmp(r->headers_out.content_type.data, "text/html", 9)
           != 0)
    {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_pyroscope_ctx(r);
    if (ctx == NULL || ctx->own_response) {
        return ngx_http_next_header_filter(r);
    }

    if (status == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
        pyro_err_set(&err, 413, "invalid_argument",
                     "request body too large: http: request body too large");

    } else {
        pyro_err_set(&err, (int) status,
                     ngx_http_pyroscope_status_code(status), "%s",
                     ngx_http_pyroscope_reason(status));
    }

    p = ngx_http_pyroscope_error_json(r->pool, &err, &len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_pyroscope_nosniff(r) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->own_response = 2;
    ctx->error_body.data = p;
    ctx->error_body.len = len;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_length_n = len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_pyroscope_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t                 *b;
    ngx_chain_t               *cl, out;
    ngx_http_pyroscope_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_pyroscope_module);

    if (ctx == NULL || ctx->own_response < 2) {
        return ngx_http_next_body_filter(r, in);
    }

    /* swallow nginx's HTML page, send the JSON error once */
    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
    }

    if (ctx->own_response == 3) {
        return NGX_OK;
    }

    ctx->own_response = 3;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->error_body.data;
    b->last = b->pos + ctx->error_body.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}

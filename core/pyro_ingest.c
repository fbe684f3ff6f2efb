
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * The legacy /ingest text path: series labels from the app name and
 * parameters, label validation, and the folded / lines parsers.
 * Runs in an ingest thread over a body owned by the request.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyro.h"


typedef struct {
    const char     *suffix;
    const char     *metric;
    const char     *type;          /* NULL: the suffix itself */
    const char     *unit;
} pyro_suffix_t;


/* Upstream's suffix -> (metric, sample type, unit) table (spec 3.3). */
static const pyro_suffix_t  pyro_suffixes[] = {
    { "cpu", "process_cpu", "samples", "count" },
    { "itimer", "process_cpu", "samples", "count" },
    { "wall", "wall", "samples", "count" },
    { "seconds", "wall", "samples", "count" },
    { "nanoseconds", "wall", "samples", "count" },
    { "microseconds", "wall", "samples", "count" },
    { "milliseconds", "wall", "samples", "count" },
    { "inuse_objects", "memory", NULL, "count" },
    { "alloc_objects", "memory", NULL, "count" },
    { "inuse_space", "memory", NULL, "bytes" },
    { "alloc_space", "memory", NULL, "bytes" },
    { "goroutines", "goroutine", NULL, "count" },
    { "mutex_count", "mutex", "contentions", "count" },
    { "mutex_duration", "mutex", "delay", "nanoseconds" },
    { "block_count", "block", "contentions", "count" },
    { "block_duration", "block", "delay", "nanoseconds" },
    { "lock_count", "block", "contentions", "count" },
    { "lock_duration", "block", "delay", "nanoseconds" },
    { "alloc_in_new_tlab_objects", "memory", NULL, "count" },
    { "alloc_in_new_tlab_bytes", "memory", NULL, "bytes" },
    { "alloc_outside_tlab_objects", "memory", NULL, "count" },
    { "alloc_outside_tlab_bytes", "memory", NULL, "bytes" },
    { "live", "memory", NULL, "count" },
    { "exceptions", "exceptions", "samples", "count" },
    { "bytes", "memory", "samples", "bytes" },
    { NULL, NULL, NULL, NULL }
};


static const pyro_suffix_t *
pyro_suffix_find(const char *s)
{
    const pyro_suffix_t  *sf;

    for (sf = pyro_suffixes; sf->suffix; sf++) {
        if (strcmp(sf->suffix, s) == 0) {
            return sf;
        }
    }

    return NULL;
}


/* Prometheus-style rendering of a label set for error messages. */
static void
pyro_labels_string(const pyro_labels_t *ls, char *out, size_t size)
{
    size_t      i;
    pyro_buf_t  b;

    memset(&b, 0, sizeof(pyro_buf_t));
    pyro_buf_putc(&b, '{');

    for (i = 0; i < ls->n; i++) {
        pyro_buf_printf(&b, "%s%s=\"%s\"", i ? ", " : "", ls->v[i].name,
                        ls->v[i].value);
    }

    pyro_buf_putc(&b, '}');
    pyro_buf_putc(&b, '\0');

    snprintf(out, size, "%s", b.failed ? "{}" : b.data);
    pyro_buf_free(&b);
}


void
pyro_limits_default(pyro_limits_t *l)
{
    l->max_profile_size = 4 * 1024 * 1024;
    l->max_samples = 16000;
    l->max_depth = 1000;
    l->max_symbol_len = 65535;
    l->max_sample_labels = 100;
    l->max_label_names = 30;
    l->max_label_name_len = 1024;
    l->max_label_value_len = 2048;
}


int
pyro_labels_validate(const pyro_labels_t *ls, const pyro_limits_t *l,
    pyro_err_t *err)
{
    size_t       i;
    char         str[256];
    const char  *name, *value;

    pyro_labels_string(ls, str, sizeof(str));

    if (ls->n > l->max_label_names) {
        pyro_err_invalid(err, "profile series '%s' has %zu label names; "
                         "limit %zu", str, ls->n, l->max_label_names);
        return PYRO_ERROR;
    }

    for (i = 0; i < ls->n; i++) {
        name = ls->v[i].name;
        value = ls->v[i].value;

        if (strlen(name) > l->max_label_name_len) {
            pyro_err_invalid(err, "profile with labels '%s' has label name "
                             "too long: '%.64s...'", str, name);
            return PYRO_ERROR;
        }

        if (strlen(value) > l->max_label_value_len) {
            pyro_err_invalid(err, "profile with labels '%s' has label value "
                             "too long: '%.64s...'", str, value);
            return PYRO_ERROR;
        }

        if (name[0] == '\0' || !pyro_utf8_valid(name, strlen(name))) {
            pyro_err_invalid(err, "profile with labels '%s' has invalid "
                             "label name '%s'", str, name);
            return PYRO_ERROR;
        }

        if (!pyro_utf8_valid(value, strlen(value))) {
            pyro_err_invalid(err, "profile with labels '%s' has invalid "
                             "label value '%s'", str, value);
            return PYRO_ERROR;
        }
    }

    value = pyro_labels_get(ls, "service_name");

    if (value == NULL || value[0] == '\0') {
        pyro_err_invalid(err, "service name is not provided");
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


int
pyro_labels_add_internal(pyro_labels_t *ls, const char *metric,
    const char *type, const char *unit, const char *ptype, const char *punit)
{
    char   id[512];
    int    rc;

    snprintf(id, sizeof(id), "%s:%s:%s:%s:%s", metric, type, unit, ptype,
             punit);

    rc = pyro_labels_set_cstr(ls, "__profile_type__", id);
    rc |= pyro_labels_set_cstr(ls, "__type__", type);
    rc |= pyro_labels_set_cstr(ls, "__unit__", unit);
    rc |= pyro_labels_set_cstr(ls, "__period_type__", ptype);
    rc |= pyro_labels_set_cstr(ls, "__period_unit__", punit);
    rc |= pyro_labels_set_cstr(ls, "__service_name__",
                               pyro_labels_get(ls, "service_name"));

    return rc == PYRO_OK ? PYRO_OK : PYRO_ERROR;
}


/* Copies the app-name labels that upstream lets through to the series. */
static int
pyro_labels_from_appname(const pyro_appname_t *an, pyro_labels_t *ls)
{
    size_t              i;
    const pyro_label_t  *l;

    for (i = 0; i < an->labels.n; i++) {
        l = &an->labels.v[i];

        /* __session_id__ passes here but is dropped right after, as
         * upstream does with max_sessions_per_series = 0 */
        if (strncmp(l->name, "__", 2) == 0) {
            continue;
        }

        if (pyro_labels_set_cstr(ls, l->name, l->value) != PYRO_OK) {
            return PYRO_ERROR;
        }
    }

    return PYRO_OK;
}


static int
pyro_ingest_series(const pyro_ingest_meta_t *m, const pyro_appname_t *an,
    pyro_labels_t *ls, uint64_t *period, pyro_err_t *err)
{
    char                 *app, *dot;
    const char           *type, *unit, *ptype, *punit, *suffix;
    pyro_limits_t         defaults;
    const pyro_suffix_t  *sf;

    app = an->app;
    dot = strrchr(app, '.');
    suffix = dot ? dot + 1 : "cpu";

    sf = pyro_suffix_find(suffix);
    if (sf == NULL) {
        pyro_err_invalid(err, "pyroscopeIngesterAdapter failed to convert "
                         "metadata: unknown profile type: %s", suffix);
        return PYRO_ERROR;
    }

    if (dot) {
        *dot = '\0';
    }

    type = sf->type ? sf->type : sf->suffix;
    unit = sf->unit;
    ptype = "";
    punit = "";
    *period = 0;

    if (m->sample_rate > 0 && (strcmp(sf->metric, "process_cpu") == 0
                               || strcmp(sf->metric, "wall") == 0))
    {
        *period = (uint64_t) (1000000000LL / m->sample_rate);
        type = (sf->metric[0] == 'w') ? "wall" : "cpu";
        unit = "nanoseconds";
        ptype = "cpu";
        punit = "nanoseconds";
    }

    if (pyro_labels_set_cstr(ls, "__name__", sf->metric) != PYRO_OK
        || pyro_labels_set(ls, "pyroscope_spy", 13, m->spy_name.len
                           ? m->spy_name.data : "unknown",
                           m->spy_name.len ? m->spy_name.len : 7) != PYRO_OK
        || pyro_labels_from_appname(an, ls) != PYRO_OK)
    {
        goto nomem;
    }

    if (pyro_labels_get(ls, "service_name") == NULL) {
        if (pyro_labels_set_cstr(ls, "service_name", app) != PYRO_OK) {
            goto nomem;
        }

    } else if (pyro_labels_get(ls, "app_name") == NULL) {
        if (pyro_labels_set_cstr(ls, "app_name", app) != PYRO_OK) {
            goto nomem;
        }
    }

    if (m->limits == NULL) {
        pyro_limits_default(&defaults);
    }

    if (pyro_labels_validate(ls, m->limits ? m->limits : &defaults, err)
        != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    if (pyro_labels_add_internal(ls, sf->metric, type, unit, ptype, punit)
        != PYRO_OK)
    {
        goto nomem;
    }

    pyro_labels_sort(ls);

    return PYRO_OK;

nomem:

    pyro_err_internal(err, "out of memory");

    return PYRO_ERROR;
}


int
pyro_ingest_text_labels(const pyro_ingest_meta_t *m, pyro_labels_t *ls,
    uint64_t *period, pyro_err_t *err)
{
    int              rc;
    const char      *pid;
    pyro_err_t       perr;
    pyro_appname_t   an;

    memset(&an, 0, sizeof(pyro_appname_t));

    if (pyro_appname_parse(m->name.data, m->name.len, &an, &perr)
        != PYRO_OK)
    {
        pyro_err_invalid(err, "name: %s", perr.msg);
        pyro_appname_free(&an);
        return PYRO_ERROR;
    }

    pid = pyro_labels_get(&an.labels, "profile_id");

    if (pid != NULL && pid[0] != '\0') {
        pyro_appname_free(&an);
        return PYRO_DECLINED;
    }

    rc = pyro_ingest_series(m, &an, ls, period, err);

    pyro_appname_free(&an);

    return rc;
}


/*
 * Parses a decimal int64 as Go's strconv.Atoi does (optional sign,
 * digits only, no overflow).
 */
static int
pyro_parse_count(const char *p, size_t n, int64_t *out)
{
    int       neg;
    size_t    i;
    uint64_t  v, limit;

    neg = 0;
    i = 0;

    if (n > 0 && (p[0] == '+' || p[0] == '-')) {
        neg = (p[0] == '-');
        i = 1;
    }

    if (i == n) {
        return PYRO_ERROR;
    }

    limit = neg ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;
    v = 0;

    for ( /* void */ ; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return PYRO_ERROR;
        }

        if (v > (limit - (uint64_t) (p[i] - '0')) / 10) {
            return PYRO_ERROR;
        }

        v = v * 10 + (uint64_t) (p[i] - '0');
    }

    *out = neg ? (int64_t) (0 - v) : (int64_t) v;

    return PYRO_OK;
}


/* Interns a ';'-separated stack (root first) and returns its leaf node. */
static uint32_t
pyro_ingest_stack(pyro_batch_t *b, const char *p, size_t n)
{
    size_t       i, start;
    uint32_t     node, name, fn;

    node = PYRO_NODE_NONE;
    start = 0;

    for (i = 0; i <= n; i++) {
        if (i < n && p[i] != ';') {
            continue;
        }

        name = pyro_batch_string(b, p + start, i - start);
        fn = (name == UINT32_MAX) ? UINT32_MAX
                                  : pyro_batch_function(b, name, 0);
        node = (fn == UINT32_MAX) ? UINT32_MAX
                                  : pyro_batch_node(b, node, fn, 0);
        if (node == UINT32_MAX) {
            return UINT32_MAX;
        }

        start = i + 1;
    }

    return node;
}


/* One line of a body, without its "\n" or "\r\n" (as Go's ScanLines). */
static int
pyro_ingest_line(pyro_batch_t *b, pyro_text_format_e fmt, const char *p,
    size_t n, uint64_t period, pyro_err_t *err)
{
    size_t    sp;
    int64_t   count;
    uint32_t  node;

    if (fmt == PYRO_FMT_LINES) {
        if (n == 0) {
            return PYRO_OK;
        }
        sp = n;
        count = 1;

    } else {
        for (sp = n; sp > 0 && p[sp - 1] != ' '; sp--) { /* void */ }

        if (sp == 0) {
            return PYRO_OK;          /* no space: upstream skips the line */
        }

        sp--;

        if (pyro_parse_count(p + sp + 1, n - sp - 1, &count) != PYRO_OK) {
            pyro_err_unprocessable(err, "parsing IngestInput-groups failed: "
                                   "invalid count \"%.*s\"",
                                   (int) (n - sp - 1 > 64 ? 64 : n - sp - 1),
                                   p + sp + 1);
            return PYRO_ERROR;
        }
    }

    /* upstream's Normalize drops zero and negative samples */
    if (count <= 0) {
        return PYRO_OK;
    }

    node = pyro_ingest_stack(b, p, sp);

    if (node == UINT32_MAX
        || pyro_batch_sample(b, node, (uint64_t) count
                                      * (period ? period : 1)) != PYRO_OK)
    {
        pyro_err_internal(err, "out of memory");
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


int
pyro_ingest_text_parse(pyro_batch_t *b, pyro_text_format_e fmt,
    const char *body, size_t len, uint64_t period, pyro_err_t *err)
{
    size_t       n;
    const char  *p, *end, *nl;

    p = body;
    end = body + len;

    while (p < end) {
        nl = memchr(p, '\n', (size_t) (end - p));
        n = (nl ? nl : end) - p;

        if (n > 0 && p[n - 1] == '\r') {
            n--;
        }

        if (pyro_ingest_line(b, fmt, p, n, period, err) != PYRO_OK) {
            return PYRO_ERROR;
        }

        p = nl ? nl + 1 : end;
    }

    return PYRO_OK;
}

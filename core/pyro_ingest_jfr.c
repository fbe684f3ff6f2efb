
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * /ingest?format=jfr (spec 5, jfr-format.md 8): a JFR recording, raw or
 * as the multipart file part "jfr", into one batch profile per profile
 * type that has samples.  The multipart "labels" part (LabelsSnapshot)
 * is not read yet, so no sample labels are made.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pyro.h"


#define PYRO_JFR_MAX_SIZE  (256 * 1024 * 1024)

#define PYRO_JFR_ONE     0         /* each event counts 1 */
#define PYRO_JFR_VALUE   1         /* the event's value */
#define PYRO_JFR_PERIOD  2         /* the event's value times the period */


typedef struct {
    const char     *event;
    const char     *metric;
    const char     *type;
    const char     *unit;
    const char     *ptype;
    const char     *punit;
    int             value;
} pyro_jfr_type_t;


typedef struct {
    pyro_batch_t              *b;
    const pyro_ingest_meta_t  *m;
    const pyro_jfr_type_t     *t;
    uint64_t                   period;
    size_t                     max_depth;
    int                        started;
    pyro_err_t                *err;
} pyro_jfr_ctx_t;


static int pyro_ingest_jfr_is_multipart(pyro_str_t ct);
static int pyro_ingest_jfr_data(pyro_batch_t *b, const pyro_ingest_meta_t *m,
    const char *data, size_t len, pyro_err_t *err);
static int pyro_ingest_jfr_event(void *ctx, const char *type,
    const pyro_str_t *frames, const uint32_t *lines, size_t depth,
    int64_t value, int64_t time_ns);
static int pyro_ingest_jfr_start(pyro_jfr_ctx_t *c);
static int pyro_ingest_jfr_labels(const pyro_ingest_meta_t *m,
    const pyro_jfr_type_t *t, pyro_labels_t *ls, pyro_err_t *err);


static const pyro_jfr_type_t  pyro_jfr_types[] = {
    { "jdk.ExecutionSample", "process_cpu", "cpu", "nanoseconds",
      "cpu", "nanoseconds", PYRO_JFR_PERIOD },
    { "profiler.WallClockSample", "wall", "wall", "nanoseconds",
      "wall", "nanoseconds", PYRO_JFR_PERIOD },
    { "jdk.ObjectAllocationInNewTLAB", "memory", "alloc_in_new_tlab_objects",
      "count", "space", "bytes", PYRO_JFR_ONE },
    { "jdk.ObjectAllocationInNewTLAB", "memory", "alloc_in_new_tlab_bytes",
      "bytes", "space", "bytes", PYRO_JFR_VALUE },
    { "jdk.ObjectAllocationOutsideTLAB", "memory",
      "alloc_outside_tlab_objects", "count", "space", "bytes", PYRO_JFR_ONE },
    { "jdk.ObjectAllocationOutsideTLAB", "memory",
      "alloc_outside_tlab_bytes", "bytes", "space", "bytes", PYRO_JFR_VALUE },
    { "jdk.ObjectAllocationSample", "memory", "alloc_sample_objects",
      "count", "space", "bytes", PYRO_JFR_ONE },
    { "jdk.ObjectAllocationSample", "memory", "alloc_sample_bytes",
      "bytes", "space", "bytes", PYRO_JFR_VALUE },
    { "jdk.JavaMonitorEnter", "mutex", "contentions", "count",
      "mutex", "count", PYRO_JFR_ONE },
    { "jdk.JavaMonitorEnter", "mutex", "delay", "nanoseconds",
      "mutex", "count", PYRO_JFR_VALUE },
    { "jdk.ThreadPark", "block", "contentions", "count",
      "block", "count", PYRO_JFR_ONE },
    { "jdk.ThreadPark", "block", "delay", "nanoseconds",
      "block", "count", PYRO_JFR_VALUE },
    { "profiler.LiveObject", "memory", "live", "count",
      "objects", "count", PYRO_JFR_ONE },
    { "profiler.Malloc", "memory", "malloc_objects", "count",
      "", "", PYRO_JFR_ONE },
    { "profiler.Malloc", "memory", "malloc_bytes", "bytes",
      "", "", PYRO_JFR_VALUE },
};

#define PYRO_JFR_NTYPES  (sizeof(pyro_jfr_types) / sizeof(pyro_jfr_types[0]))


int
pyro_ingest_jfr(pyro_batch_t *b, const pyro_ingest_meta_t *m,
    pyro_str_t content_type, const char *body, size_t len, pyro_err_t *err)
{
    int                 rc;
    size_t              nparts;
    pyro_buf_t          buf;
    pyro_part_t         parts[PYRO_PARTS_MAX];
    const pyro_part_t  *jfr;

    if (!pyro_ingest_jfr_is_multipart(content_type)) {
        return pyro_ingest_jfr_data(b, m, body, len, err);
    }

    if (pyro_multipart_parse(content_type.data, content_type.len, body, len,
                             parts, &nparts, err)
        != PYRO_OK)
    {
        pyro_ingest_wrap_error(err, "parsing IngestInput-jfr failed: ");
        return PYRO_ERROR;
    }

    jfr = pyro_multipart_file(parts, nparts, "jfr");
    if (jfr == NULL) {
        pyro_err_unprocessable(err, "parsing IngestInput-jfr failed: "
                               "jfr field is required");
        return PYRO_ERROR;
    }

    memset(&buf, 0, sizeof(pyro_buf_t));

    rc = pyro_gunzip(jfr->data.data, jfr->data.len, PYRO_JFR_MAX_SIZE, &buf,
                     err);

    if (rc == PYRO_DECLINED) {
        return pyro_ingest_jfr_data(b, m, jfr->data.data, jfr->data.len,
                                    err);
    }

    if (rc == PYRO_OK) {
        rc = pyro_ingest_jfr_data(b, m, (const char *) buf.data, buf.len,
                                  err);

    } else {
        pyro_ingest_wrap_error(err, "parsing IngestInput-jfr failed: ");
    }

    pyro_buf_free(&buf);

    return rc;
}


static int
pyro_ingest_jfr_is_multipart(pyro_str_t ct)
{
    size_t  i;

    for (i = 0; i + 19 <= ct.len; i++) {
        if (strncasecmp(ct.data + i, "multipart/form-data", 19) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
pyro_ingest_jfr_data(pyro_batch_t *b, const pyro_ingest_meta_t *m,
    const char *data, size_t len, pyro_err_t *err)
{
    int              rc;
    size_t           i;
    pyro_jfr_t      *j;
    pyro_limits_t    defaults;
    pyro_jfr_ctx_t   c;

    j = pyro_jfr_parse(data, len, err);
    if (j == NULL) {
        pyro_ingest_wrap_error(err, "parsing IngestInput-jfr failed: ");
        return PYRO_ERROR;
    }

    if (m->limits == NULL) {
        pyro_limits_default(&defaults);
    }

    c.b = b;
    c.m = m;
    c.period = m->sample_rate > 0 ? 1000000000 / m->sample_rate : 0;
    c.max_depth = m->limits ? m->limits->max_depth : defaults.max_depth;
    c.err = err;
    rc = PYRO_OK;

    for (i = 0; rc == PYRO_OK && i < PYRO_JFR_NTYPES; i++) {
        c.t = &pyro_jfr_types[i];
        c.started = 0;
        rc = pyro_jfr_events(j, pyro_ingest_jfr_event, &c, err);
    }

    pyro_jfr_free(j);

    if (rc != PYRO_OK) {
        pyro_ingest_wrap_error(err, "pushing IngestInput-jfr failed: ");
        return PYRO_ERROR;
    }

    return pyro_batch_nprofiles(b) ? PYRO_OK : PYRO_DECLINED;
}


/* One event into the current profile type's profile, root first. */
static int
pyro_ingest_jfr_event(void *ctx, const char *type, const pyro_str_t *frames,
    const uint32_t *lines, size_t depth, int64_t value, int64_t time_ns)
{
    size_t           i;
    uint64_t         v;
    uint32_t         s, fn, node, empty;
    pyro_jfr_ctx_t  *c;

    c = ctx;

    if (depth == 0 || strcmp(type, c->t->event) != 0) {
        return PYRO_OK;
    }

    v = (c->t->value == PYRO_JFR_ONE) ? 1 : (uint64_t) value;

    if (c->t->value == PYRO_JFR_PERIOD) {
        v *= c->period;
    }

    if (v == 0 || value < 0) {
        return PYRO_OK;
    }

    if (!c->started && pyro_ingest_jfr_start(c) != PYRO_OK) {
        return PYRO_ERROR;
    }

    if (depth > c->max_depth) {
        depth = c->max_depth;
    }

    empty = pyro_batch_string(c->b, "", 0);
    node = PYRO_NODE_NONE;

    for (i = 0; i < depth && empty != UINT32_MAX; i++) {
        s = pyro_batch_string(c->b, frames[i].data, frames[i].len);
        fn = (s == UINT32_MAX) ? s : pyro_batch_function(c->b, s, empty);
        node = (fn == UINT32_MAX) ? fn
                                  : pyro_batch_node(c->b, node, fn, lines[i]);

        if (node == UINT32_MAX) {
            break;
        }
    }

    if (empty == UINT32_MAX || node == UINT32_MAX
        || pyro_batch_sample(c->b, node, v) != PYRO_OK)
    {
        pyro_err_internal(c->err, "out of memory");
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


/* Starts the batch profile of the current profile type. */
static int
pyro_ingest_jfr_start(pyro_jfr_ctx_t *c)
{
    int            rc;
    pyro_labels_t  labels;

    memset(&labels, 0, sizeof(pyro_labels_t));

    rc = pyro_ingest_jfr_labels(c->m, c->t, &labels, c->err);

    if (rc == PYRO_OK) {
        if (pyro_batch_profile(c->b, &labels, c->m->from_ns,
                               c->m->until_ns - c->m->from_ns)
            != PYRO_OK
            || pyro_batch_profile_id(c->b, c->m->profile_id,
                                     strlen(c->m->profile_id))
               != PYRO_OK)
        {
            pyro_err_internal(c->err, "out of memory");
            rc = PYRO_ERROR;
        }
    }

    pyro_labels_free(&labels);

    c->started = (rc == PYRO_OK);

    return rc;
}


/*
 * Series labels (spec 5): pyroscope_spy, the name's labels except
 * reserved ones, __name__, service_name (app_name when the name has
 * service_name), and the internal profile-type labels.
 */
static int
pyro_ingest_jfr_labels(const pyro_ingest_meta_t *m, const pyro_jfr_type_t *t,
    pyro_labels_t *ls, pyro_err_t *err)
{
    size_t          i;
    const char     *key;
    pyro_err_t      perr;
    pyro_label_t   *l;
    pyro_limits_t   defaults;
    pyro_appname_t  an;

    memset(&an, 0, sizeof(pyro_appname_t));

    if (pyro_appname_parse(m->name.data, m->name.len, &an, &perr)
        != PYRO_OK)
    {
        pyro_err_invalid(err, "name: %s", perr.msg);
        pyro_appname_free(&an);
        return PYRO_ERROR;
    }

    if (pyro_labels_set(ls, "pyroscope_spy", 13,
                        m->spy_name.len ? m->spy_name.data : "unknown",
                        m->spy_name.len ? m->spy_name.len : 7) != PYRO_OK)
    {
        goto nomem;
    }

    for (i = 0; i < an.labels.n; i++) {
        l = &an.labels.v[i];

        if (strncmp(l->name, "__", 2) != 0
            && pyro_labels_set_cstr(ls, l->name, l->value) != PYRO_OK)
        {
            goto nomem;
        }
    }

    key = pyro_labels_get(ls, "service_name") ? "app_name" : "service_name";

    if (pyro_labels_set_cstr(ls, "__name__", t->metric) != PYRO_OK
        || pyro_labels_set_cstr(ls, key, an.app) != PYRO_OK)
    {
        goto nomem;
    }

    pyro_appname_free(&an);

    if (m->limits == NULL) {
        pyro_limits_default(&defaults);
    }

    if (pyro_labels_validate(ls, m->limits ? m->limits : &defaults, err)
        != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    if (pyro_labels_add_internal(ls, t->metric, t->type, t->unit, t->ptype,
                                 t->punit)
        != PYRO_OK)
    {
        pyro_err_internal(err, "out of memory");
        return PYRO_ERROR;
    }

    pyro_labels_sort(ls);

    return PYRO_OK;

nomem:

    pyro_appname_free(&an);
    pyro_err_internal(err, "out of memory");

    return PYRO_ERROR;
}

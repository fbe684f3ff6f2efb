
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * The /ingest request as a whole (format selection already done by the
 * glue): text formats, raw pprof, multipart pprof with
 * sample_type_config; and Connect Push requests.  Runs in an ingest
 * thread over a body owned by the request.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pyro.h"


static int pyro_ingest_text(pyro_batch_t *b, const pyro_ingest_meta_t *m,
    pyro_text_format_e fmt, const char *body, size_t len, pyro_err_t *err);
static int pyro_ingest_pprof_labels(const pyro_ingest_meta_t *m,
    pyro_labels_t *ls, pyro_err_t *err);
static int pyro_ingest_pprof(pyro_batch_t *b, const pyro_ingest_meta_t *m,
    const pyro_labels_t *names, const char *data, size_t len,
    pyro_err_t *err);
static int pyro_ingest_multipart(pyro_batch_t *b,
    const pyro_ingest_meta_t *m, pyro_str_t content_type, const char *body,
    size_t len, pyro_err_t *err);
static int pyro_sample_type_config(const char *data, size_t len,
    pyro_labels_t *names, pyro_err_t *err);


void
pyro_init(void)
{
    json_object_seed(0);
}


int
pyro_ingest_body(pyro_batch_t *b, const pyro_ingest_meta_t *m,
    pyro_text_format_e fmt, pyro_str_t content_type, const char *body,
    size_t len, pyro_err_t *err)
{
    switch (fmt) {

    case PYRO_FMT_PPROF:
        return pyro_ingest_pprof(b, m, NULL, body, len, err);

    case PYRO_FMT_MULTIPART:
        return pyro_ingest_multipart(b, m, content_type, body, len, err);

    case PYRO_FMT_JFR:
        return pyro_ingest_jfr(b, m, content_type, body, len, err);

    default:
        return pyro_ingest_text(b, m, fmt, body, len, err);
    }
}


static int
pyro_ingest_text(pyro_batch_t *b, const pyro_ingest_meta_t *m,
    pyro_text_format_e fmt, const char *body, size_t len, pyro_err_t *err)
{
    int            rc;
    uint64_t       period;
    pyro_labels_t  labels;

    memset(&labels, 0, sizeof(pyro_labels_t));

    rc = pyro_ingest_text_labels(m, &labels, &period, err);

    if (rc == PYRO_OK) {
        rc = pyro_batch_profile(b, &labels, m->from_ns, 0);

        if (rc == PYRO_OK) {
            rc = pyro_batch_profile_id(b, m->profile_id,
                                       strlen(m->profile_id));
        }

        if (rc != PYRO_OK) {
            pyro_err_internal(err, "out of memory");
        }
    }

    if (rc == PYRO_OK) {
        rc = pyro_ingest_text_parse(b, fmt, body, len, period, err);
    }

    pyro_labels_free(&labels);

    if (rc == PYRO_OK && pyro_batch_nprofiles(b) == 0) {
        return PYRO_DECLINED;
    }

    return rc;
}


/*
 * The series labels of an /ingest pprof (spec 4.2): pyroscope_spy, the
 * name's labels except reserved ones, and service_name = the whole app
 * name (no profile-type suffix is stripped here) unless given.
 * __name__ is derived from the sample types by the pprof reader.
 */
static int
pyro_ingest_pprof_labels(const pyro_ingest_meta_t *m, pyro_labels_t *ls,
    pyro_err_t *err)
{
    size_t          i;
    pyro_err_t      perr;
    pyro_appname_t  an;
    pyro_label_t   *l;

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

    if (pyro_labels_get(ls, "service_name") == NULL
        && pyro_labels_set_cstr(ls, "service_name", an.app) != PYRO_OK)
    {
        goto nomem;
    }

    pyro_appname_free(&an);

    return PYRO_OK;

nomem:

    pyro_appname_free(&an);
    pyro_err_internal(err, "out of memory");

    return PYRO_ERROR;
}


static int
pyro_ingest_pprof(pyro_batch_t *b, const pyro_ingest_meta_t *m,
    const pyro_labels_t *names, const char *data, size_t len,
    pyro_err_t *err)
{
    int                 rc;
    pyro_limits_t       defaults;
    pyro_labels_t       labels;
    pyro_pprof_opts_t   opts;

    memset(&labels, 0, sizeof(pyro_labels_t));

    rc = pyro_ingest_pprof_labels(m, &labels, err);
    if (rc != PYRO_OK) {
        return rc;
    }

    if (m->limits == NULL) {
        pyro_limits_default(&defaults);
    }

    opts.labels = &labels;
    opts.derive_name = 1;
    opts.display_names = names;
    opts.default_time_ns = m->from_ns;
    opts.limits = m->limits ? m->limits : &defaults;
    opts.profile_id = m->profile_id;

    /* upstream's parser returns no series for an empty profile */
    rc = (len == 0) ? PYRO_OK : pyro_pprof_ingest(b, data, len, &opts, err);

    pyro_labels_free(&labels);

    if (rc != PYRO_OK) {
        /* upstream wraps every pprof failure of /ingest this way */
        pyro_ingest_wrap_error(err, "pushing IngestInput-pprof failed %s: ");
        return PYRO_ERROR;
    }

    return pyro_batch_nprofiles(b) ? PYRO_OK : PYRO_DECLINED;
}


/*
 * Turns a client error into upstream's /ingest shape: 422 "unknown" with
 * a prefix ("%s" in the prefix is the original code).  Server errors
 * (5xx) pass unchanged.
 */
void
pyro_ingest_wrap_error(pyro_err_t *err, const char *prefix)
{
    char  msg[sizeof(err->msg)], pre[128];

    if (err->status >= 500) {
        return;
    }

    memcpy(msg, err->msg, sizeof(msg));
    snprintf(pre, sizeof(pre), prefix, err->code);

    pyro_err_unprocessable(err, "%s%s", pre, msg);
}


/*
 * Multipart pprof (the Go and older Node SDKs): file parts "profile",
 * optionally "sample_type_config"; "prev_profile" is refused as
 * upstream refuses it now (cumulative diffing left the server).
 */
static int
pyro_ingest_multipart(pyro_batch_t *b, const pyro_ingest_meta_t *m,
    pyro_str_t content_type, const char *body, size_t len, pyro_err_t *err)
{
    int                 rc;
    size_t              nparts;
    pyro_part_t         parts[PYRO_PARTS_MAX];
    pyro_labels_t       names;
    const pyro_part_t  *profile, *config;

    if (pyro_multipart_parse(content_type.data, content_type.len, body, len,
                             parts, &nparts, err)
        != PYRO_OK)
    {
        pyro_ingest_wrap_error(err, "parsing IngestInput-pprof failed: ");
        return PYRO_ERROR;
    }

    if (pyro_multipart_file(parts, nparts, "prev_profile") != NULL) {
        pyro_err_unprocessable(err, "unsupported client version. Please "
                               "update github.com/grafana/pyroscope-go to "
                               "the latest version");
        return PYRO_ERROR;
    }

    profile = pyro_multipart_file(parts, nparts, "profile");
    if (profile == NULL || profile->data.len == 0) {
        return PYRO_DECLINED;
    }

    memset(&names, 0, sizeof(pyro_labels_t));

    config = pyro_multipart_file(parts, nparts, "sample_type_config");

    if (config != NULL
        && pyro_sample_type_config(config->data.data, config->data.len,
                                   &names, err) != PYRO_OK)
    {
        pyro_labels_free(&names);
        return PYRO_ERROR;
    }

    rc = pyro_ingest_pprof(b, m, config ? &names : NULL, profile->data.data,
                           profile->data.len, err);

    pyro_labels_free(&names);

    return rc;
}


/*
 * sample_type_config: {"<sample type>": {"display-name": "...", ...}};
 * only display-name changes anything upstream.
 */
static int
pyro_sample_type_config(const char *data, size_t len, pyro_labels_t *names,
    pyro_err_t *err)
{
    json_t        *root, *v, *dn;
    const char    *key;
    json_error_t   jerr;

    root = json_loadb(data, len, JSON_DECODE_ANY, &jerr);

    if (root == NULL || !json_is_object(root)) {
        pyro_err_unprocessable(err, "parsing IngestInput-pprof failed: "
                               "sample_type_config: %s",
                               root ? "not a JSON object" : jerr.text);
        json_decref(root);
        return PYRO_ERROR;
    }

    json_object_foreach(root, key, v) {
        dn = json_is_object(v) ? json_object_get(v, "display-name") : NULL;

        if (dn && json_is_string(dn)
            && pyro_labels_set_cstr(names, key, json_string_value(dn))
               != PYRO_OK)
        {
            json_decref(root);
            pyro_err_internal(err, "out of memory");
            return PYRO_ERROR;
        }
    }

    json_decref(root);

    return PYRO_OK;
}


int
pyro_ingest_push(pyro_batch_t *b, const char *body, size_t len, int json,
    int64_t now_ns, const pyro_limits_t *l, pyro_err_t *err)
{
    int                  rc;
    size_t               i, j;
    pyro_push_t          push;
    pyro_pprof_opts_t    opts;
    pyro_push_series_t  *s;

    memset(&push, 0, sizeof(pyro_push_t));

    if (pyro_push_decode(body, len, json, &push, err) != PYRO_OK) {
        return PYRO_ERROR;
    }

    if (push.nseries == 0) {
        pyro_push_free(&push);
        pyro_err_invalid(err, "no profiles received");
        return PYRO_ERROR;
    }

    memset(&opts, 0, sizeof(pyro_pprof_opts_t));
    opts.derive_name = 0;
    opts.display_names = NULL;
    opts.default_time_ns = now_ns;
    opts.limits = l;

    rc = PYRO_OK;

    for (i = 0; rc == PYRO_OK && i < push.nseries; i++) {
        s = &push.series[i];
        opts.labels = &s->labels;

        for (j = 0; rc == PYRO_OK && j < s->nsamples; j++) {
            opts.profile_id = s->samples[j].id.data;
            rc = pyro_pprof_ingest(b, s->samples[j].raw.data,
                                   s->samples[j].raw.len, &opts, err);
        }
    }

    pyro_push_free(&push);

    if (rc != PYRO_OK) {
        return PYRO_ERROR;
    }

    return pyro_batch_nprofiles(b) ? PYRO_OK : PYRO_DECLINED;
}

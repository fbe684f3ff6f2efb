
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * The /ingest text path: series labels from the name and parameters
 * (spec section 3.3) and the folded / lines parsers.
 */


#include <stdlib.h>

#include "pyro.h"
#include "pyro_test.h"


typedef struct {
    const char     *name;
    const char     *spy;
    int64_t         rate;
    int             rc;
    uint64_t        period;
    const char     *profile_type;   /* or the error message when rc fails */
    const char     *extra;          /* "k=v" that must be present, or NULL */
    const char     *absent;         /* a label name that must be absent */
} labels_case_t;


static const labels_case_t  labels_cases[] = {
    { "app", "", 100, PYRO_OK, 10000000,
      "process_cpu:cpu:nanoseconds:cpu:nanoseconds", "service_name=app",
      "app_name" },
    { "app.cpu", "gospy", 100, PYRO_OK, 10000000,
      "process_cpu:cpu:nanoseconds:cpu:nanoseconds", "pyroscope_spy=gospy",
      NULL },
    { "app", "", 100, PYRO_OK, 10000000,
      "process_cpu:cpu:nanoseconds:cpu:nanoseconds", "pyroscope_spy=unknown",
      NULL },
    { "app", "", 0, PYRO_OK, 0, "process_cpu:samples:count::",
      "__period_type__=", NULL },
    { "app.wall", "", 100, PYRO_OK, 10000000,
      "wall:wall:nanoseconds:cpu:nanoseconds", "__name__=wall", NULL },
    { "app.itimer", "", 250, PYRO_OK, 4000000,
      "process_cpu:cpu:nanoseconds:cpu:nanoseconds", NULL, NULL },
    { "app.alloc_space", "", 100, PYRO_OK, 0, "memory:alloc_space:bytes::",
      "__name__=memory", NULL },
    { "app.inuse_objects", "", 100, PYRO_OK, 0,
      "memory:inuse_objects:count::", NULL, NULL },
    { "app.goroutines", "", 100, PYRO_OK, 0,
      "goroutine:goroutines:count::", NULL, NULL },
    { "app.mutex_duration", "", 100, PYRO_OK, 0,
      "mutex:delay:nanoseconds::", NULL, NULL },
    { "app.lock_count", "", 100, PYRO_OK, 0, "block:contentions:count::",
      NULL, NULL },
    { "app.exceptions", "", 100, PYRO_OK, 0,
      "exceptions:samples:count::", NULL, NULL },
    { "app.bytes", "", 100, PYRO_OK, 0, "memory:samples:bytes::", NULL,
      NULL },
    { "my.app.cpu", "", 100, PYRO_OK, 10000000,
      "process_cpu:cpu:nanoseconds:cpu:nanoseconds", "service_name=my.app",
      NULL },
    { "my.app", "", 100, PYRO_ERROR, 0,
      "pyroscopeIngesterAdapter failed to convert metadata: "
      "unknown profile type: app", NULL, NULL },
    { "app{env=prod,region = eu }", "", 100, PYRO_OK, 10000000,
      "process_cpu:cpu:nanoseconds:cpu:nanoseconds", "region=eu", NULL },
    { "app{service_name=svc}", "", 100, PYRO_OK, 10000000,
      "process_cpu:cpu:nanoseconds:cpu:nanoseconds", "app_name=app", NULL },
    { "app{service_name=svc,app_name=given}", "", 100, PYRO_OK, 10000000,
      "process_cpu:cpu:nanoseconds:cpu:nanoseconds", "app_name=given",
      NULL },
    { "app{__session_id__=0123456789abcdef,env=x}", "", 100, PYRO_OK,
      10000000, "process_cpu:cpu:nanoseconds:cpu:nanoseconds", "env=x",
      "__session_id__" },
    { "app{profile_id=abc}", "", 100, PYRO_DECLINED, 0, NULL, NULL, NULL },
    { "app{profile_id=}", "", 100, PYRO_OK, 10000000,
      "process_cpu:cpu:nanoseconds:cpu:nanoseconds", NULL, NULL },
    { "", "", 100, PYRO_ERROR, 0, NULL, NULL, NULL },
    { "a b", "", 100, PYRO_ERROR, 0, NULL, NULL, NULL },
};


static void
test_labels(void)
{
    int                   rc;
    char                  what[128], k[64];
    size_t                i;
    uint64_t              period;
    pyro_err_t            err;
    const char           *v, *eq;
    pyro_labels_t         ls;
    pyro_ingest_meta_t    m;
    const labels_case_t  *c;

    for (i = 0; i < sizeof(labels_cases) / sizeof(labels_cases[0]); i++) {
        c = &labels_cases[i];
        memset(&m, 0, sizeof(m));
        memset(&ls, 0, sizeof(ls));
        memset(&err, 0, sizeof(err));

        m.name.data = c->name;
        m.name.len = strlen(c->name);
        m.spy_name.data = c->spy;
        m.spy_name.len = strlen(c->spy);
        m.sample_rate = c->rate;

        snprintf(what, sizeof(what), "name \"%s\"", c->name);
        rc = pyro_ingest_text_labels(&m, &ls, &period, &err);
        PYRO_CHECK_INT(rc, c->rc, what);

        if (rc == PYRO_ERROR) {
            PYRO_CHECK_INT(err.status, 400, what);
            if (c->profile_type) {
                PYRO_CHECK_STR(err.msg, c->profile_type, what);
            }
            PYRO_CHECK(strncmp(err.msg, "name: ", 6) == 0
                       || c->profile_type, "%s: %s", what, err.msg);
        }

        if (rc != PYRO_OK) {
            pyro_labels_free(&ls);
            continue;
        }

        PYRO_CHECK_INT(period, c->period, what);
        PYRO_CHECK_STR(pyro_labels_get(&ls, "__profile_type__"),
                       c->profile_type, what);
        PYRO_CHECK(pyro_labels_get(&ls, "__delta__") == NULL, "%s", what);

        if (c->extra) {
            eq = strchr(c->extra, '=');
            snprintf(k, sizeof(k), "%.*s", (int) (eq - c->extra), c->extra);
            v = pyro_labels_get(&ls, k);
            PYRO_CHECK_STR(v, eq + 1, what);
        }

        if (c->absent) {
            PYRO_CHECK(pyro_labels_get(&ls, c->absent) == NULL, "%s: %s",
                       what, c->absent);
        }

        for (size_t j = 1; j < ls.n; j++) {
            PYRO_CHECK(strcmp(ls.v[j - 1].name, ls.v[j].name) < 0,
                       "%s: labels sorted", what);
        }

        pyro_labels_free(&ls);
    }
}


static void
test_label_limits(void)
{
    int                  i;
    char                 name[4096];
    uint64_t             period;
    pyro_err_t           err;
    pyro_buf_t           b;
    pyro_labels_t        ls;
    pyro_ingest_meta_t   m;

    memset(&b, 0, sizeof(b));
    pyro_buf_puts(&b, "app{");

    for (i = 0; i < 30; i++) {
        pyro_buf_printf(&b, "%sk%d=v", i ? "," : "", i);
    }

    pyro_buf_putc(&b, '}');

    memset(&m, 0, sizeof(m));
    memset(&ls, 0, sizeof(ls));
    m.name.data = b.data;
    m.name.len = b.len;
    m.sample_rate = 100;

    PYRO_CHECK_INT(pyro_ingest_text_labels(&m, &ls, &period, &err),
                   PYRO_ERROR, "33 labels");
    PYRO_CHECK(strstr(err.msg, "label names; limit 30") != NULL, "%s",
               err.msg);
    pyro_labels_free(&ls);
    pyro_buf_free(&b);

    memset(name, 'x', sizeof(name));
    memcpy(name, "app{k=", 6);
    name[6 + 2049] = '}';

    m.name.data = name;
    m.name.len = 6 + 2050;
    memset(&ls, 0, sizeof(ls));

    PYRO_CHECK_INT(pyro_ingest_text_labels(&m, &ls, &period, &err),
                   PYRO_ERROR, "value of 2049 bytes");
    PYRO_CHECK(strstr(err.msg, "label value too long") != NULL, "%s",
               err.msg);
    pyro_labels_free(&ls);
}


typedef struct {
    pyro_text_format_e   fmt;
    const char          *body;
    uint64_t             period;
    int                  rc;
    uint64_t             total;
    size_t               nsamples;
} parse_case_t;


static const parse_case_t  parse_cases[] = {
    { PYRO_FMT_FOLDED, "a;b 3\na;c 2\nd 1\n", 0, PYRO_OK, 6, 3 },
    { PYRO_FMT_FOLDED, "a;b 3\na;b 2\n", 0, PYRO_OK, 5, 1 },
    { PYRO_FMT_FOLDED, "a;b 3\na;c 2\n", 10, PYRO_OK, 50, 2 },
    { PYRO_FMT_FOLDED, "\n\nmain;a;b 4\n\n\r\nmain;a;c 2\r\n\nmain;a;b 1",
      0, PYRO_OK, 7, 2 },
    { PYRO_FMT_FOLDED, "main;a 1\n   \n", 0, PYRO_ERROR, 0, 0 },
    { PYRO_FMT_FOLDED, "main;ok 3\nmain;bad notanumber\n", 0, PYRO_ERROR,
      0, 0 },
    { PYRO_FMT_FOLDED, "main;nocount\nmain;ok 1\n", 0, PYRO_OK, 1, 1 },
    { PYRO_FMT_FOLDED, "main;zero 0\nmain;big 9007199254740993\n", 0,
      PYRO_OK, 9007199254740993ULL, 1 },
    { PYRO_FMT_FOLDED, "frame with spaces;leaf 2\n", 0, PYRO_OK, 2, 1 },
    { PYRO_FMT_FOLDED, "a 99999999999999999999\n", 0, PYRO_ERROR, 0, 0 },
    { PYRO_FMT_FOLDED, "a -5\nb 2\n", 0, PYRO_OK, 2, 1 },
    { PYRO_FMT_FOLDED, "", 0, PYRO_OK, 0, 0 },
    { PYRO_FMT_LINES, "a;b\na;b\n\na;c\n", 0, PYRO_OK, 3, 2 },
    { PYRO_FMT_LINES, "a b c\r\n", 5, PYRO_OK, 5, 1 },
};


static void
test_parse(void)
{
    int             rc;
    char            what[64];
    size_t          i;
    pyro_buf_t      out;
    pyro_err_t      err;
    pyro_batch_t   *b;
    pyro_record_t   rec;
    pyro_labels_t   ls;
    const parse_case_t  *c;

    memset(&ls, 0, sizeof(ls));
    pyro_labels_set_cstr(&ls, "service_name", "app");

    for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        c = &parse_cases[i];
        snprintf(what, sizeof(what), "parse case %zu", i);

        b = pyro_batch_new();
        pyro_batch_profile(b, &ls, 1, 0);

        rc = pyro_ingest_text_parse(b, c->fmt, c->body, strlen(c->body),
                                    c->period, &err);
        PYRO_CHECK_INT(rc, c->rc, what);

        if (rc != PYRO_OK) {
            PYRO_CHECK_INT(err.status, 422, what);
            pyro_batch_free(b);
            continue;
        }

        PYRO_CHECK_INT(pyro_batch_nprofiles(b), c->nsamples ? 1 : 0, what);

        if (c->nsamples == 0) {
            pyro_batch_free(b);
            continue;
        }

        memset(&out, 0, sizeof(out));
        pyro_batch_encode(b, &out);
        pyro_batch_free(b);

        PYRO_CHECK_INT(pyro_record_decode(out.data, out.len, &rec, &err),
                       PYRO_OK, what);
        PYRO_CHECK_INT(rec.profs[0].total, c->total, what);
        PYRO_CHECK_INT(rec.profs[0].nsamples, c->nsamples, what);
        pyro_record_free(&rec);
        pyro_buf_free(&out);
    }

    pyro_labels_free(&ls);
}


int
main(void)
{
    test_labels();
    test_label_limits();
    test_parse();

    return pyro_test_done("ingest");
}

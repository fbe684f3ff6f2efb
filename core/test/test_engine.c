
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * The query engine over real segment files written by pyro_batch and
 * pyro_writer: two tenants, several series, files and times, span IDs,
 * a bogus file; every engine function's exact results, and the time
 * rules.  Every expected value was worked out by hand from the data
 * below.
 */


#include <stdlib.h>
#include <unistd.h>

#include "pyro.h"
#include "pyro_test.h"


#define T0  INT64_C(1700000000000)          /* ms */
#define MS  INT64_C(1000000)                /* ns per ms */

#define CPU  "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
#define MEM  "memory:alloc_space:bytes:space:bytes"


/* One profile: its tenant, series labels ("k=v,..."), the profile type
 * ID the ingest path would add (or NULL), time and samples
 * ("stack value span", span in hex, 0 for none). */
typedef struct {
    const char     *tenant;
    const char     *labels;
    const char     *ptype;
    int64_t         time_ns;
    const char     *samples[4];
} prof_t;


static const prof_t  profs[] = {
    /* 0 */ { "t1", "service_name=app,region=eu", CPU, T0 * MS,
              { "main;a;b 3 10", "main;a;c 2 20", "main;d 1 0" } },
    /* 1: half a ms after T0 + 10 s */
    /* 1 */ { "t1", "service_name=app,region=eu", CPU,
              (T0 + 10000) * MS + 500000, { "main;a;b 4 10" } },
    /* 2 */ { "t1", "service_name=app,region=us", CPU, (T0 + 15000) * MS,
              { "main;a;b 5 0", "z;x 1 0" } },
    /* 3 */ { "t1", "service_name=app", MEM, (T0 + 5000) * MS,
              { "main;alloc 100 0" } },
    /* 4 */ { "t1", "service_name=db,region=eu,bad-name=x", CPU,
              (T0 + 20000) * MS, { "db;query 7 0" } },
    /* 5: after the usual range */
    /* 5 */ { "t1", "service_name=app,region=eu", CPU, (T0 + 60000) * MS,
              { "main;a;b 50 0" } },
    /* 6: before it, but within one step of 10 s */
    /* 6 */ { "t1", "service_name=app,region=eu", CPU, (T0 - 10000) * MS,
              { "main;a;b 9 0" } },
    /* 7: between the usual range and profile 5 */
    /* 7 */ { "t1", "service_name=app,region=ap", CPU, (T0 + 40000) * MS,
              { "main;q 6 0" } },
    /* 8 */ { "t2", "service_name=app2", CPU, (T0 + 1000) * MS,
              { "x;y 11 0" } },
    /* 9: a profile type upstream cannot parse */
    /* 9 */ { "t2", "service_name=w,__name__=weird,__profile_type__=weird",
              NULL, (T0 + 2000) * MS, { "w 1 0" } },
    /* 10: six parts are fine */
    /* 10 */ { "t2", "service_name=v", "x:y:z:p:q:delta", (T0 + 3000) * MS,
               { "v 2 0" } },
};

#define NPROFS  (sizeof(profs) / sizeof(profs[0]))


/* Profile IDs by profile index (NULL: none). */
static const char  *prof_ids[NPROFS] = {
    "id-0", "id-1", NULL, "id-3", "id-4", NULL, "id-6", "id-7"
};


static char  root[] = "/tmp/pyro-engine-XXXXXX";


static uint32_t
stack(pyro_batch_t *b, const char *frames, size_t len)
{
    char        buf[256], *tok, *save;
    uint32_t    node, fn;

    snprintf(buf, sizeof(buf), "%.*s", (int) len, frames);
    node = PYRO_NODE_NONE;

    for (tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save))
    {
        fn = pyro_batch_function(b, pyro_batch_string(b, tok, strlen(tok)),
                                 0);
        node = pyro_batch_node(b, node, fn, 0);
    }

    return node;
}


static void
make_labels(pyro_labels_t *ls, const prof_t *p)
{
    char   buf[512], *kv, *save, *eq, *parts[5];
    int    i;

    memset(ls, 0, sizeof(pyro_labels_t));
    snprintf(buf, sizeof(buf), "%s", p->labels);

    for (kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save))
    {
        eq = strchr(kv, '=');
        *eq = '\0';
        pyro_labels_set_cstr(ls, kv, eq + 1);
    }

    if (p->ptype == NULL) {
        return;
    }

    snprintf(buf, sizeof(buf), "%s", p->ptype);
    parts[0] = buf;

    for (i = 1; i < 5; i++) {
        parts[i] = strchr(parts[i - 1], ':');
        *parts[i]++ = '\0';
    }

    /* a sixth part stays in the period unit, as in the ID */
    pyro_labels_set_cstr(ls, "__name__", parts[0]);
    pyro_labels_add_internal(ls, parts[0], parts[1], parts[2], parts[3],
                             parts[4]);
    pyro_labels_set_cstr(ls, "__profile_type__", p->ptype);
}


static void
add_profile(pyro_batch_t *b, const prof_t *p)
{
    int            i;
    char           stk[128];
    uint64_t       v, span;
    pyro_labels_t  ls;

    make_labels(&ls, p);
    pyro_batch_profile(b, &ls, p->time_ns, 0);
    pyro_labels_free(&ls);

    if (prof_ids[p - profs] != NULL) {
        pyro_batch_profile_id(b, prof_ids[p - profs],
                              strlen(prof_ids[p - profs]));
    }

    for (i = 0; i < 4 && p->samples[i]; i++) {
        sscanf(p->samples[i], "%127s %" SCNu64 " %" SCNx64, stk, &v, &span);
        pyro_batch_sample_span(b, stack(b, stk, strlen(stk)), span, v);
    }
}


static void
append(pyro_writer_t *w, const char *tenant, size_t from, size_t to)
{
    size_t         i;
    pyro_buf_t     out;
    pyro_err_t     err;
    pyro_batch_t  *b;

    memset(&out, 0, sizeof(out));
    b = pyro_batch_new();

    for (i = from; i < to; i++) {
        add_profile(b, &profs[i]);
    }

    PYRO_CHECK_INT(pyro_batch_encode(b, &out), PYRO_OK, "encode");
    PYRO_CHECK_INT(pyro_writer_append(w, tenant, out.data, out.len, &err),
                   PYRO_OK, "append");

    pyro_batch_free(b);
    pyro_buf_free(&out);
}


/*
 * t1: a sealed segment with profiles 0-2 (one record) and 3 (another),
 * then an open one with 4-7; t2: one open segment; plus a bogus .seg
 * and a stray file, both skipped.
 */
static void
make_data(void)
{
    FILE           *f;
    char            path[600];
    pyro_err_t      err;
    pyro_writer_t  *w;

    PYRO_CHECK(mkdtemp(root) != NULL, "mkdtemp");

    w = pyro_writer_new(root, 1 << 20, INT64_C(3600000000000));
    append(w, "t1", 0, 3);
    append(w, "t1", 3, 4);
    PYRO_CHECK_INT(pyro_writer_commit(w, &err), PYRO_OK, "commit 1");
    PYRO_CHECK_INT(pyro_writer_seal(w, 0, 1, &err), PYRO_OK, "seal");

    append(w, "t1", 4, 8);
    append(w, "t2", 8, 11);
    PYRO_CHECK_INT(pyro_writer_commit(w, &err), PYRO_OK, "commit 2");
    pyro_writer_free(w);

    snprintf(path, sizeof(path), "%s/t1/0-bogus.seg", root);
    f = fopen(path, "w");
    fputs("not a segment at all", f);
    fclose(f);

    snprintf(path, sizeof(path), "%s/t1/notes.txt", root);
    f = fopen(path, "w");
    fputs("ignored", f);
    fclose(f);
}


/* A scan over tenants "a|b" (parsed) and selectors (NULL-terminated). */
typedef struct {
    pyro_tenants_t     tenants;
    pyro_selector_t   *sels[4];
    pyro_scan_t        scan;
} query_t;


static void
query_init(query_t *q, const char *tenants, int64_t start, int64_t end,
    const char **sels)
{
    size_t      i;
    pyro_err_t  err;

    memset(q, 0, sizeof(query_t));
    pyro_tenants_parse(tenants, strlen(tenants), &q->tenants, &err);

    q->scan.root = root;
    q->scan.tenants = &q->tenants;
    q->scan.start_ms = start;
    q->scan.end_ms = end;
    q->scan.sels = q->sels;

    for (i = 0; sels && sels[i]; i++) {
        q->sels[i] = pyro_selector_parse(sels[i], strlen(sels[i]), &err);
    }

    q->scan.nsels = i;
}


static void
query_free(query_t *q)
{
    size_t  i;

    for (i = 0; i < q->scan.nsels; i++) {
        pyro_selector_free(q->sels[i]);
    }
}


static void
check_strs(const char *what, const pyro_strs_t *l, const char *want)
{
    size_t      i;
    pyro_buf_t  b;

    memset(&b, 0, sizeof(b));
    pyro_buf_putc(&b, '\0');
    b.len = 0;

    for (i = 0; i < l->n; i++) {
        pyro_buf_printf(&b, "%s%s", i ? "," : "", l->v[i]);
    }

    PYRO_CHECK_MEM(b.data, b.len, want, what);
    pyro_buf_free(&b);
}


static void
test_profile_types(void)
{
    query_t        q;
    pyro_err_t     err;
    pyro_ptypes_t  pt;

    query_init(&q, "t2|t1", T0, T0 + 30000, NULL);

    PYRO_CHECK_INT(pyro_engine_profile_types(&q.scan, &pt, &err), PYRO_OK,
                   "profile types");
    PYRO_CHECK_INT(pt.n, 3, "profile types: \"weird\" skipped");

    if (pt.n == 3) {
        PYRO_CHECK_STR(pt.v[0].id, MEM, "type 0");
        PYRO_CHECK_STR(pt.v[0].name, "memory", "type 0 name");
        PYRO_CHECK_STR(pt.v[0].sample_type, "alloc_space", "type 0 type");
        PYRO_CHECK_STR(pt.v[0].sample_unit, "bytes", "type 0 unit");
        PYRO_CHECK_STR(pt.v[0].period_type, "space", "type 0 ptype");
        PYRO_CHECK_STR(pt.v[0].period_unit, "bytes", "type 0 punit");
        PYRO_CHECK_STR(pt.v[1].id, CPU, "type 1");
        PYRO_CHECK_STR(pt.v[1].sample_type, "cpu", "type 1 type");
        PYRO_CHECK_STR(pt.v[2].id, "x:y:z:p:q:delta", "type 2");
        PYRO_CHECK_STR(pt.v[2].name, "x", "type 2 name");
        PYRO_CHECK_STR(pt.v[2].period_unit, "q", "type 2 punit");
    }

    pyro_ptypes_free(&pt);
    query_free(&q);

    /* a range with only profile 5 */
    query_init(&q, "t1", T0 + 50000, T0 + 70000, NULL);
    PYRO_CHECK_INT(pyro_engine_profile_types(&q.scan, &pt, &err), PYRO_OK,
                   "profile types later");
    PYRO_CHECK(pt.n == 1 && strcmp(pt.v[0].id, CPU) == 0, "later: %zu",
               pt.n);
    pyro_ptypes_free(&pt);
    query_free(&q);

    /* no data at all */
    query_init(&q, "nobody", T0, T0 + 30000, NULL);
    PYRO_CHECK_INT(pyro_engine_profile_types(&q.scan, &pt, &err), PYRO_OK,
                   "profile types, no tenant dir");
    PYRO_CHECK_INT(pt.n, 0, "no types");
    pyro_ptypes_free(&pt);
    query_free(&q);
}


#define INTERNAL  "__name__,__period_type__,__period_unit__," \
                  "__profile_type__,__service_name__,__type__,__unit__"


static void
test_label_names(void)
{
    query_t       q;
    pyro_err_t    err;
    pyro_strs_t   l;
    const char   *or[] = { "{__name__=\"memory\"}", "{service_name=\"db\"}",
                           NULL };

    query_init(&q, "t1", T0, T0 + 30000, NULL);

    PYRO_CHECK_INT(pyro_engine_label_names(&q.scan, 0, &l, &err), PYRO_OK,
                   "label names");
    check_strs("label names", &l,
               INTERNAL ",bad-name,region,service_name");
    pyro_strs_free(&l);

    PYRO_CHECK_INT(pyro_engine_label_names(&q.scan, 1, &l, &err), PYRO_OK,
                   "legacy label names");
    check_strs("legacy label names", &l, INTERNAL ",region,service_name");
    pyro_strs_free(&l);
    query_free(&q);

    /* one matcher, then two OR'ed */
    query_init(&q, "t1", T0, T0 + 30000, or + 0);
    q.scan.nsels = 1;
    PYRO_CHECK_INT(pyro_engine_label_names(&q.scan, 0, &l, &err), PYRO_OK,
                   "label names of memory");
    check_strs("label names of memory", &l, INTERNAL ",service_name");
    pyro_strs_free(&l);

    q.scan.nsels = 2;
    PYRO_CHECK_INT(pyro_engine_label_names(&q.scan, 0, &l, &err), PYRO_OK,
                   "label names, OR");
    check_strs("label names, OR", &l,
               INTERNAL ",bad-name,region,service_name");
    pyro_strs_free(&l);

    /* AND'ed, nothing is both */
    q.scan.match_all = 1;
    PYRO_CHECK_INT(pyro_engine_label_names(&q.scan, 0, &l, &err), PYRO_OK,
                   "label names, AND");
    check_strs("label names, AND", &l, "");
    pyro_strs_free(&l);
    query_free(&q);
}


static void
test_label_values(void)
{
    query_t       q;
    pyro_err_t    err;
    pyro_strs_t   l;
    const char   *and[] = { "{service_name=\"app\"}", "{region=~\"u.\"}",
                            NULL };

    query_init(&q, "t1|t2", T0, T0 + 30000, NULL);

    PYRO_CHECK_INT(pyro_engine_label_values(&q.scan, "service_name", &l,
                                            &err), PYRO_OK, "values");
    check_strs("service_name values", &l, "app,app2,db,v,w");
    pyro_strs_free(&l);

    PYRO_CHECK_INT(pyro_engine_label_values(&q.scan, "region", &l, &err),
                   PYRO_OK, "region values");
    check_strs("region values", &l, "eu,us");
    pyro_strs_free(&l);

    PYRO_CHECK_INT(pyro_engine_label_values(&q.scan, "nope", &l, &err),
                   PYRO_OK, "values of a missing label");
    check_strs("missing label", &l, "");
    pyro_strs_free(&l);

    PYRO_CHECK_INT(pyro_engine_label_values(&q.scan, "", &l, &err),
                   PYRO_ERROR, "no name");
    PYRO_CHECK_STR(err.msg, "name is required", "no name message");
    PYRO_CHECK_INT(err.status, 400, "no name status");
    pyro_strs_free(&l);
    query_free(&q);

    query_init(&q, "t1", T0, T0 + 30000, and);
    q.scan.match_all = 1;
    PYRO_CHECK_INT(pyro_engine_label_values(&q.scan, "region", &l, &err),
                   PYRO_OK, "values, AND");
    check_strs("region values, AND", &l, "us");
    pyro_strs_free(&l);
    query_free(&q);
}


static void
check_sets(const char *what, const pyro_labelsets_t *l, const char *want)
{
    size_t      i, j;
    pyro_buf_t  b;

    memset(&b, 0, sizeof(b));
    pyro_buf_putc(&b, '\0');
    b.len = 0;

    for (i = 0; i < l->n; i++) {
        pyro_buf_putc(&b, '{');

        for (j = 0; j < l->v[i].n; j++) {
            pyro_buf_printf(&b, "%s%s=%s", j ? "," : "", l->v[i].v[j].name,
                            l->v[i].v[j].value);
        }

        pyro_buf_putc(&b, '}');
    }

    PYRO_CHECK_MEM(b.data, b.len, want, what);
    pyro_buf_free(&b);
}


static void
test_series(void)
{
    query_t            q;
    pyro_err_t         err;
    pyro_labelsets_t   l;
    const char        *names[] = { "service_name", "region" };
    const char        *bad[] = { "bad-name" };
    const char        *none[] = { "nope" };
    const char        *mem[] = { "{__name__=\"memory\"}", NULL };

    query_init(&q, "t1", T0, T0 + 30000, NULL);

    PYRO_CHECK_INT(pyro_engine_series(&q.scan, names, 2, 0, &l, &err),
                   PYRO_OK, "series");
    check_sets("series by service_name, region", &l,
               "{region=eu,service_name=app}{region=eu,service_name=db}"
               "{region=us,service_name=app}{service_name=app}");
    pyro_labelsets_free(&l);

    /* a series without the label is an empty set, sorted first */
    PYRO_CHECK_INT(pyro_engine_series(&q.scan, names + 1, 1, 0, &l, &err),
                   PYRO_OK, "series by region");
    check_sets("series by region", &l, "{}{region=eu}{region=us}");
    pyro_labelsets_free(&l);

    /* no series has the name at all: nothing */
    PYRO_CHECK_INT(pyro_engine_series(&q.scan, none, 1, 0, &l, &err),
                   PYRO_OK, "series by nope");
    check_sets("series by nope", &l, "");
    pyro_labelsets_free(&l);

    /* every label; legacy only hides bad-name */
    PYRO_CHECK_INT(pyro_engine_series(&q.scan, NULL, 0, 1, &l, &err),
                   PYRO_OK, "all series, legacy");
    PYRO_CHECK_INT(l.n, 4, "4 series");
    if (l.n == 4) {
        PYRO_CHECK_INT(l.v[0].n, 8, "memory series labels");
        PYRO_CHECK_STR(l.v[0].v[0].name, "__name__", "first label");
        PYRO_CHECK_STR(l.v[0].v[0].value, "memory", "memory first");
        PYRO_CHECK_INT(l.v[3].n, 9, "db series, bad-name hidden");
        PYRO_CHECK_STR(l.v[3].v[8].value, "db", "db last");
    }
    pyro_labelsets_free(&l);

    PYRO_CHECK_INT(pyro_engine_series(&q.scan, NULL, 0, 0, &l, &err),
                   PYRO_OK, "all series");
    PYRO_CHECK(l.n == 4 && l.v[3].n == 10
               && strcmp(l.v[3].v[7].name, "bad-name") == 0,
               "db series with bad-name");
    pyro_labelsets_free(&l);

    /* a list that filters down to nothing means every label */
    PYRO_CHECK_INT(pyro_engine_series(&q.scan, bad, 1, 1, &l, &err),
                   PYRO_OK, "series by bad-name, legacy");
    PYRO_CHECK(l.n == 4 && l.v[3].n == 10, "every label: %zu", l.n);
    pyro_labelsets_free(&l);

    PYRO_CHECK_INT(pyro_engine_series(&q.scan, bad, 1, 0, &l, &err),
                   PYRO_OK, "series by bad-name");
    check_sets("series by bad-name", &l, "{}{bad-name=x}");
    pyro_labelsets_free(&l);
    query_free(&q);

    /* selected series without the label: nothing */
    query_init(&q, "t1", T0, T0 + 30000, mem);
    PYRO_CHECK_INT(pyro_engine_series(&q.scan, names + 1, 1, 0, &l, &err),
                   PYRO_OK, "memory by region");
    check_sets("memory by region", &l, "");
    pyro_labelsets_free(&l);
    query_free(&q);
}


/*
 * Folded stacks from tree bytes, in their order (siblings descending):
 * "a;b 3\n" per node with a self value.
 */
static void
folded(pyro_tree_t *t, pyro_buf_t *out)
{
    char        path[1024];
    size_t      plen[256], left[256], depth, len, n;
    uint64_t    self, nc;
    pyro_rd_t   rd;
    pyro_buf_t  b;
    const char *name;

    memset(&b, 0, sizeof(b));
    pyro_tree_bytes(t, 0, &b);
    pyro_buf_putc(out, '\0');
    out->len = 0;

    if (b.len == 0) {
        return;
    }

    rd.p = (const unsigned char *) b.data;
    rd.end = rd.p + b.len;
    rd.failed = 0;

    len = pyro_rd_uvarint(&rd);
    (void) pyro_rd_bytes(&rd, len);
    (void) pyro_rd_uvarint(&rd);
    left[0] = pyro_rd_uvarint(&rd);
    plen[0] = 0;
    depth = 1;

    while (depth && !rd.failed) {
        if (left[depth - 1] == 0) {
            depth--;
            continue;
        }

        left[depth - 1]--;
        len = pyro_rd_uvarint(&rd);
        name = pyro_rd_bytes(&rd, len);
        self = pyro_rd_uvarint(&rd);
        nc = pyro_rd_uvarint(&rd);

        n = plen[depth - 1];
        n += snprintf(path + n, sizeof(path) - n, "%s%.*s", n ? ";" : "",
                      (int) len, name);

        if (self) {
            pyro_buf_printf(out, "%.*s %" PRIu64 "\n", (int) n, path, self);
        }

        plen[depth] = n;
        left[depth] = nc;
        depth++;
    }

    pyro_buf_free(&b);
}


static void
check_merge(const char *what, const char *tenants, int64_t start,
    int64_t end, const char **sels, const pyro_merge_opts_t *o,
    const char *want)
{
    query_t       q;
    pyro_buf_t    out;
    pyro_err_t    err;
    pyro_tree_t  *t;

    memset(&out, 0, sizeof(out));
    query_init(&q, tenants, start, end, sels);
    t = pyro_tree_new();

    PYRO_CHECK_INT(pyro_engine_merge(&q.scan, o, t, &err), PYRO_OK, what);
    pyro_tree_finish(t);
    folded(t, &out);
    PYRO_CHECK_MEM(out.data, out.len, want, what);

    pyro_buf_free(&out);
    pyro_tree_free(t);
    query_free(&q);
}


static void
test_merge(void)
{
    pyro_merge_opts_t   o;
    const char         *cpu[] = { "{__profile_type__=\"" CPU "\"}", NULL };
    const pyro_str_t    site_ab[] = { pyro_str_lit("main"),
                                      pyro_str_lit("a"),
                                      pyro_str_lit("b") };
    const pyro_str_t    site_a[] = { pyro_str_lit("a") };
    const pyro_str_t    site_deep[] = { pyro_str_lit("main"),
                                        pyro_str_lit("a"),
                                        pyro_str_lit("b"),
                                        pyro_str_lit("zz") };
    const uint64_t      span10[] = { 0x10 };
    const uint64_t      span20[] = { 0x999, 0x20 };
    const uint64_t      spans[] = { 0x20, 0x10 };

    check_merge("merge cpu", "t1", T0, T0 + 30000, cpu, NULL,
                "z;x 1\nmain;d 1\nmain;a;c 2\nmain;a;b 12\ndb;query 7\n");

    /* profile 1 is half a ms past T0 + 10 s: out of [T0, T0 + 10 s] */
    check_merge("merge to T0 + 10 s", "t1", T0, T0 + 10000, cpu, NULL,
                "main;d 1\nmain;a;c 2\nmain;a;b 3\n");

    /* both tenants, every profile type */
    check_merge("merge t1|t2", "t2|t1", T0, T0 + 30000, NULL, NULL,
                "z;x 1\nx;y 11\nw 1\nv 2\nmain;d 1\nmain;alloc 100\n"
                "main;a;c 2\nmain;a;b 12\ndb;query 7\n");

    check_merge("merge, empty range", "t1", T0 + 30001, T0 + 39999, cpu,
                NULL, "");

    memset(&o, 0, sizeof(o));
    o.call_site = site_ab;
    o.ncall_site = 2;
    check_merge("call site main;a", "t1", T0, T0 + 30000, cpu, &o,
                "main;a;c 2\nmain;a;b 12\n");

    o.ncall_site = 3;
    check_merge("call site main;a;b", "t1", T0, T0 + 30000, cpu, &o,
                "main;a;b 12\n");

    o.call_site = site_deep;
    o.ncall_site = 4;
    check_merge("call site deeper than any stack", "t1", T0, T0 + 30000,
                cpu, &o, "");

    o.call_site = site_a;
    o.ncall_site = 1;
    check_merge("call site not at the root", "t1", T0, T0 + 30000, cpu, &o,
                "");

    memset(&o, 0, sizeof(o));
    o.spans = span10;
    o.nspans = 1;
    check_merge("span 10", "t1", T0, T0 + 30000, cpu, &o, "main;a;b 7\n");

    o.spans = span20;
    o.nspans = 2;
    check_merge("span 20", "t1", T0, T0 + 30000, cpu, &o, "main;a;c 2\n");

    o.spans = spans;
    o.call_site = site_ab;
    o.ncall_site = 3;
    check_merge("spans and call site", "t1", T0, T0 + 30000, cpu, &o,
                "main;a;b 7\n");
}


static void
check_ts(const char *what, const pyro_tseries_list_t *l, const char *want)
{
    size_t      i, j;
    pyro_buf_t  b;

    memset(&b, 0, sizeof(b));
    pyro_buf_putc(&b, '\0');
    b.len = 0;

    for (i = 0; i < l->n; i++) {
        pyro_buf_putc(&b, '{');

        for (j = 0; j < l->v[i].labels.n; j++) {
            pyro_buf_printf(&b, "%s%s=%s", j ? "," : "",
                            l->v[i].labels.v[j].name,
                            l->v[i].labels.v[j].value);
        }

        pyro_buf_putc(&b, '}');
        PYRO_CHECK(l->v[i].exemplars == NULL, "%s: no exemplars", what);

        for (j = 0; j < l->v[i].npoints; j++) {
            pyro_buf_printf(&b, " %" PRId64 ":%g",
                            (l->v[i].points[j].ts_ms - T0) / 1000,
                            l->v[i].points[j].value);
        }

        pyro_buf_putc(&b, ';');
    }

    PYRO_CHECK_MEM(b.data, b.len, want, what);
    pyro_buf_free(&b);
}


/* Like check_ts, with each point's exemplar: [id value time labels]
 * (labels other than "__" ones). */
static void
check_ts_ex(const char *what, const pyro_tseries_list_t *l,
    const char *want)
{
    size_t                  i, j, k;
    pyro_buf_t              b;
    const pyro_exemplar_t  *ex;

    memset(&b, 0, sizeof(b));
    pyro_buf_putc(&b, '\0');
    b.len = 0;

    for (i = 0; i < l->n; i++) {
        PYRO_CHECK(l->v[i].exemplars != NULL, "%s: exemplars", what);
        if (l->v[i].exemplars == NULL) {
            continue;
        }

        for (j = 0; j < l->v[i].npoints; j++) {
            ex = &l->v[i].exemplars[j];

            if (ex->profile_id == NULL) {
                pyro_buf_puts(&b, " [-]");
                continue;
            }

            pyro_buf_printf(&b, " [%s %" PRId64 " %" PRId64, ex->profile_id,
                            ex->value, (ex->ts_ms - T0) / 1000);

            for (k = 0; k < ex->labels.n; k++) {
                if (strncmp(ex->labels.v[k].name, "__", 2) != 0) {
                    pyro_buf_printf(&b, " %s=%s", ex->labels.v[k].name,
                                    ex->labels.v[k].value);
                }
            }

            pyro_buf_putc(&b, ']');
        }

        pyro_buf_putc(&b, ';');
    }

    PYRO_CHECK_MEM(b.data, b.len, want, what);
    pyro_buf_free(&b);
}


static void
run_ts_ex(const char *what, const pyro_series_opts_t *o, const char *want)
{
    query_t               q;
    pyro_err_t            err;
    pyro_tseries_list_t   l;
    const char           *cpu[] = { "{__profile_type__=\"" CPU "\"}", NULL };

    query_init(&q, "t1", T0, T0 + 30000, cpu);

    PYRO_CHECK_INT(pyro_engine_select_series(&q.scan, o, &l, &err), PYRO_OK,
                   what);
    check_ts_ex(what, &l, want);

    pyro_tseries_list_free(&l);
    query_free(&q);
}


/*
 * Exemplars: the largest profile of each bucket that has an ID
 * (profile 2 has none), labels without the series' own.
 */
static void
test_exemplars(void)
{
    pyro_series_opts_t   o;
    const char          *by[] = { "service_name", "region" };

    memset(&o, 0, sizeof(o));
    o.step_ms = 10000;
    o.group_by = by;
    o.ngroup_by = 2;
    o.exemplars = 1;

    run_ts_ex("exemplars by service, region", &o,
              " [id-6 9 -10] [id-1 4 10];"
              " [id-4 7 20 bad-name=x];"
              " [-];");

    o.ngroup_by = 0;
    run_ts_ex("exemplars, no group", &o,
              " [id-6 9 -10 region=eu service_name=app]"
              " [id-1 4 10 region=eu service_name=app]"
              " [id-4 7 20 bad-name=x region=eu service_name=db];");
}


static void
check_merge_ids(const char *what, const char *const *ids, size_t nids,
    const char *want)
{
    query_t       q;
    pyro_buf_t    out;
    pyro_err_t    err;
    pyro_tree_t  *t;
    const char   *cpu[] = { "{__profile_type__=\"" CPU "\"}", NULL };

    memset(&out, 0, sizeof(out));
    query_init(&q, "t1", T0, T0 + 30000, cpu);
    q.scan.profile_ids = ids;
    q.scan.nprofile_ids = nids;
    t = pyro_tree_new();

    PYRO_CHECK_INT(pyro_engine_merge(&q.scan, NULL, t, &err), PYRO_OK, what);
    pyro_tree_finish(t);
    folded(t, &out);
    PYRO_CHECK_MEM(out.data, out.len, want, what);

    pyro_buf_free(&out);
    pyro_tree_free(t);
    query_free(&q);
}


static void
test_profile_ids(void)
{
    const char  *one[] = { "id-1" };
    const char  *two[] = { "nope", "id-0", "id-4" };
    const char  *none[] = { "" };
    const char  *mem[] = { "id-3" };

    check_merge_ids("profile id-1", one, 1, "main;a;b 4\n");
    check_merge_ids("profiles id-0, id-4", two, 3,
                    "main;d 1\nmain;a;c 2\nmain;a;b 3\ndb;query 7\n");
    check_merge_ids("an empty ID matches nothing", none, 1, "");

    /* the selectors still apply: id-3 is a memory profile */
    check_merge_ids("ID of another type", mem, 1, "");
}


static void
run_ts(const char *what, int64_t start, int64_t end,
    const pyro_series_opts_t *o, const char *want)
{
    query_t               q;
    pyro_err_t            err;
    pyro_tseries_list_t   l;
    const char           *cpu[] = { "{__profile_type__=\"" CPU "\"}", NULL };

    query_init(&q, "t1", start, end, cpu);

    if (pyro_engine_select_series(&q.scan, o, &l, &err) == PYRO_OK) {
        check_ts(what, &l, want);
    } else {
        PYRO_CHECK_STR(err.msg, want, what);
    }

    pyro_tseries_list_free(&l);
    query_free(&q);
}


static void
test_select_series(void)
{
    pyro_series_opts_t   o;
    const char          *by[] = { "service_name", "region" };
    const char          *twice[] = { "region", "region" };
    const char          *nope[] = { "nope" };

    memset(&o, 0, sizeof(o));
    o.step_ms = 10000;
    o.group_by = by;
    o.ngroup_by = 2;

    /* times in s from T0: profile 6 (-10) joins bucket 0; 1 (10.0005)
     * bucket 10; 2 (15) and 4 (20) bucket 20; ordered by sum */
    run_ts("series by service, region", T0, T0 + 30000, &o,
           "{service_name=app,region=eu} 0:15 10:4;"
           "{service_name=db,region=eu} 20:7;"
           "{service_name=app,region=us} 20:6;");

    o.aggregation = PYRO_AGG_AVERAGE;
    run_ts("series, average", T0, T0 + 30000, &o,
           "{service_name=app,region=eu} 0:7.5 10:4;"
           "{service_name=db,region=eu} 20:7;"
           "{service_name=app,region=us} 20:6;");

    o.aggregation = PYRO_AGG_SUM;
    o.limit = 2;
    run_ts("series, limit 2", T0, T0 + 30000, &o,
           "{service_name=app,region=eu} 0:15 10:4;"
           "{service_name=db,region=eu} 20:7;");

    o.limit = 0;
    o.ngroup_by = 0;
    run_ts("series, no group", T0, T0 + 30000, &o, "{} 0:15 10:4 20:13;");

    /* the end cuts the grid: 15 s goes to bucket 20 > end, dropped */
    run_ts("series, end off the grid", T0, T0 + 19000, &o,
           "{} 0:15 10:4;");

    /* a step of 7 s: fetch from -7 s (no profile 6), grid 0 7 14 21 28 */
    o.step_ms = 7000;
    run_ts("series, step 7 s", T0, T0 + 30000, &o, "{} 0:6 14:4 21:13;");

    /* a name given twice counts once; a missing one gives {} */
    o.step_ms = 10000;
    o.group_by = twice;
    o.ngroup_by = 2;
    run_ts("series by region twice", T0, T0 + 30000, &o,
           "{region=eu} 0:15 10:4 20:7;{region=us} 20:6;");

    o.group_by = nope;
    o.ngroup_by = 1;
    run_ts("series by nope", T0, T0 + 30000, &o, "{} 0:15 10:4 20:13;");

    /* equal sums (6) go by labels: ap before us */
    o.group_by = by + 1;
    o.step_ms = 1000;
    run_ts("ties by labels", T0 + 15000, T0 + 40000, &o,
           "{region=eu} 20:7;{region=ap} 40:6;{region=us} 15:6;");

    /* profile 7 (40 s) is past the last grid point (30.001 s + 0) */
    o.step_ms = 10000;
    run_ts("series, nothing", T0 + 30001, T0 + 40000, &o, "");

    o.step_ms = 0;
    run_ts("step 0", T0, T0 + 30000, &o, "step must be >= 1ms");
}


static void
test_profile_stats(void)
{
    pyro_err_t      err;
    pyro_pstats_t   st;
    pyro_tenants_t  t;

    pyro_tenants_parse("t1", 2, &t, &err);
    PYRO_CHECK_INT(pyro_engine_profile_stats(root, &t, &st, &err), PYRO_OK,
                   "stats t1");
    PYRO_CHECK_INT(st.data_ingested, 1, "t1 has data");
    PYRO_CHECK_INT(st.oldest_ms, T0 - 10000, "t1 oldest");
    PYRO_CHECK_INT(st.newest_ms, T0 + 60000, "t1 newest");

    pyro_tenants_parse("t2", 2, &t, &err);
    PYRO_CHECK_INT(pyro_engine_profile_stats(root, &t, &st, &err), PYRO_OK,
                   "stats t2");
    PYRO_CHECK(st.data_ingested && st.oldest_ms == T0 + 1000
               && st.newest_ms == T0 + 3000, "t2 range");

    pyro_tenants_parse("none", 4, &t, &err);
    PYRO_CHECK_INT(pyro_engine_profile_stats(root, &t, &st, &err), PYRO_OK,
                   "stats none");
    PYRO_CHECK(!st.data_ingested && st.oldest_ms == 0 && st.newest_ms == 0,
               "no data");

    pyro_tenants_parse("t1|t2", 5, &t, &err);
    PYRO_CHECK_INT(pyro_engine_profile_stats(root, &t, &st, &err),
                   PYRO_ERROR, "stats t1|t2");
    PYRO_CHECK_STR(err.msg, "expected 1 tenant, got 2", "two tenants");
}


static void
check_range(const char *what, int64_t start, int64_t end, int64_t len,
    int64_t lookback, unsigned flags, int rc, const char *want)
{
    int         got;
    char        buf[600];
    pyro_err_t  err;

    got = pyro_query_range(&start, &end, 1000000000, len, lookback, flags,
                           &err);

    if (got == PYRO_ERROR) {
        snprintf(buf, sizeof(buf), "%d %s", err.status, err.msg);
    } else {
        snprintf(buf, sizeof(buf), "%" PRId64 " %" PRId64, start, end);
    }

    PYRO_CHECK_INT(got, rc, what);
    PYRO_CHECK_STR(buf, want, what);
}


#define H  INT64_C(3600000)


static void
test_range(void)
{
    check_range("ok", 1, 2, 0, 0, 0, PYRO_OK, "1 2");
    check_range("start 0", 0, 2, 0, 0, 0, PYRO_ERROR,
                "400 missing time range in the query");
    check_range("end 0", 1, 0, 0, 0, PYRO_RANGE_LAST_HOUR, PYRO_ERROR,
                "400 missing time range in the query");
    check_range("both 0", 0, 0, 0, 0, 0, PYRO_ERROR,
                "400 missing time range in the query");
    check_range("both 0: last hour", 0, 0, 0, 0, PYRO_RANGE_LAST_HOUR,
                PYRO_OK, "996400000 1000000000");
    check_range("start > end", 3, 2, 0, 0, 0, PYRO_ERROR,
                "400 query start time is after end time");

    check_range("exactly 24h", 1, 1 + 24 * H, 24 * H, 0, 0, PYRO_OK,
                "1 86400001");
    check_range("25h", 1, 1 + 25 * H, 24 * H, 0, 0, PYRO_ERROR,
                "400 the query time range exceeds the limit "
                "(max_query_length, actual: 25h0m0s, limit: 1d)");
    check_range("1000h", 1, 1 + 1000 * H, 24 * H, 0, 0, PYRO_ERROR,
                "400 the query time range exceeds the limit "
                "(max_query_length, actual: 1000h0m0s, limit: 1d)");
    check_range("fractions", 1, 1 + 25 * H + 61001, 7 * 24 * H + 0, 0, 0,
                PYRO_OK, "1 90061002");
    check_range("25h1m1.001s", 1, 1 + 25 * H + 61001, 24 * H + 1500, 0, 0,
                PYRO_ERROR, "400 the query time range exceeds the limit "
                "(max_query_length, actual: 25h1m1.001s, limit: 1d1s500ms)");
    check_range("1.5s", 1, 1501, 1, 0, 0, PYRO_ERROR,
                "400 the query time range exceeds the limit "
                "(max_query_length, actual: 1.5s, limit: 1ms)");
    check_range("500ms", 1, 501, 90 * 60000, 0, 0, PYRO_OK, "1 501");
    check_range("ms and minutes", 1, 501, 100, 0, 0, PYRO_ERROR,
                "400 the query time range exceeds the limit "
                "(max_query_length, actual: 500ms, limit: 100ms)");
    check_range("minutes", 1, 1 + 95 * 60000, 90 * 60000, 0, 0, PYRO_ERROR,
                "400 the query time range exceeds the limit "
                "(max_query_length, actual: 1h35m0s, limit: 1h30m)");
    check_range("weeks and years", 1, 1 + 400 * 24 * H, 7 * 24 * H, 0, 0,
                PYRO_ERROR, "400 the query time range exceeds the limit "
                "(max_query_length, actual: 9600h0m0s, limit: 1w)");
    check_range("8d is not 1w1d", 1, 1 + 400 * 24 * H, 8 * 24 * H, 0, 0,
                PYRO_ERROR, "400 the query time range exceeds the limit "
                "(max_query_length, actual: 9600h0m0s, limit: 8d)");
    check_range("365d", 1, 1 + 400 * 24 * H, 365 * 24 * H, 0, 0,
                PYRO_ERROR, "400 the query time range exceeds the limit "
                "(max_query_length, actual: 9600h0m0s, limit: 1y)");

    /* lookback from now = 1e9 ms: 1e9 - 1000 is the earliest start */
    check_range("lookback clamps", 5, 999999999, 0, 1000, 0, PYRO_OK,
                "999999000 999999999");
    check_range("lookback: all before", 5, 999998999, 0, 1000, 0,
                PYRO_DECLINED, "5 999998999");
    check_range("lookback, then length", 5, 999999999, 500, 1000, 0,
                PYRO_ERROR, "400 the query time range exceeds the limit "
                "(max_query_length, actual: 999ms, limit: 500ms)");
}


int
main(void)
{
    char  cmd[600];

    make_data();

    test_profile_types();
    test_label_names();
    test_label_values();
    test_series();
    test_merge();
    test_select_series();
    test_exemplars();
    test_profile_ids();
    test_profile_stats();
    test_range();

    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    PYRO_CHECK(system(cmd) == 0, "cleanup");

    return pyro_test_done("engine");
}

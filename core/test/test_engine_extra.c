
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * SelectHeatmap and AnalyzeQuery over real segment files written by
 * pyro_batch and pyro_writer.  Every expected value was worked out by
 * hand from the data below.
 */


#include <stdlib.h>
#include <unistd.h>

#include "pyro.h"
#include "pyro_test.h"


#define T0  INT64_C(1700000000000)          /* ms */
#define MS  INT64_C(1000000)                /* ns per ms */

#define CPU  "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
#define MEM  "memory:alloc_space:bytes:space:bytes"


/* One profile: series labels ("k=v,..."), profile type, time and
 * samples ("stack value span", span in hex, 0 for none). */
typedef struct {
    const char     *labels;
    const char     *ptype;
    int64_t         time_ns;
    const char     *samples[3];
} prof_t;


static const prof_t  profs[] = {
    /* 0: total 5 */
    { "service_name=app,region=eu", CPU, T0 * MS,
      { "main;a 3 10", "main;b 2 0" } },
    /* 1: total 10 */
    { "service_name=app,region=us", CPU, (T0 + 10000) * MS,
      { "main;a 4 10", "main;c 6 20" } },
    /* 2: total 7 */
    { "service_name=app,region=eu", CPU, (T0 + 15000) * MS,
      { "x 7 10" } },
    /* 3 */
    { "service_name=app", MEM, (T0 + 5000) * MS, { "m 100 0" } },
    /* 4: tenant t2 */
    { "service_name=app2", CPU, (T0 + 1000) * MS, { "y 1 0" } },
};


static char  root[] = "/tmp/pyro-extra-XXXXXX";


static void
add_profile(pyro_batch_t *b, const prof_t *p)
{
    int            i;
    char           buf[256], *kv, *save, *eq, stk[64];
    uint32_t       fn;
    uint64_t       v, span;
    pyro_labels_t  ls;

    memset(&ls, 0, sizeof(pyro_labels_t));
    snprintf(buf, sizeof(buf), "%s", p->labels);

    for (kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save))
    {
        eq = strchr(kv, '=');
        *eq = '\0';
        pyro_labels_set_cstr(&ls, kv, eq + 1);
    }

    pyro_labels_set_cstr(&ls, "__profile_type__", p->ptype);
    pyro_batch_profile(b, &ls, p->time_ns, 0);
    pyro_labels_free(&ls);

    for (i = 0; i < 3 && p->samples[i]; i++) {
        sscanf(p->samples[i], "%63s %" SCNu64 " %" SCNx64, stk, &v, &span);
        fn = pyro_batch_function(b, pyro_batch_string(b, stk, strlen(stk)),
                                 0);
        pyro_batch_sample_span(b, pyro_batch_node(b, PYRO_NODE_NONE, fn, 0),
                               span, v);
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


/* t1: a sealed segment with profiles 0-1, an open one with 2-3; t2: an
 * open one with 4. */
static void
make_data(void)
{
    pyro_err_t      err;
    pyro_writer_t  *w;

    PYRO_CHECK(mkdtemp(root) != NULL, "mkdtemp");

    w = pyro_writer_new(root, 1 << 20, INT64_C(3600000000000));
    append(w, "t1", 0, 2);
    PYRO_CHECK_INT(pyro_writer_commit(w, &err), PYRO_OK, "commit 1");
    PYRO_CHECK_INT(pyro_writer_seal(w, 0, 1, &err), PYRO_OK, "seal");

    append(w, "t1", 2, 4);
    append(w, "t2", 4, 5);
    PYRO_CHECK_INT(pyro_writer_commit(w, &err), PYRO_OK, "commit 2");
    pyro_writer_free(w);
}


typedef struct {
    pyro_tenants_t     tenants;
    pyro_selector_t   *sel;
    pyro_scan_t        scan;
} query_t;


static void
query_init(query_t *q, const char *tenants, int64_t start, int64_t end,
    const char *sel)
{
    pyro_err_t  err;

    memset(q, 0, sizeof(query_t));
    pyro_tenants_parse(tenants, strlen(tenants), &q->tenants, &err);

    q->scan.root = root;
    q->scan.tenants = &q->tenants;
    q->scan.start_ms = start;
    q->scan.end_ms = end;

    if (sel) {
        q->sel = pyro_selector_parse_query(sel, strlen(sel), &err);
        q->scan.sels = &q->sel;
        q->scan.nsels = 1;
    }
}


/* The counts of a slot as "bucket:count ..." for the non-zero ones. */
static void
check_slot(const char *what, const pyro_hslot_t *sl, int64_t ts,
    const char *want)
{
    int         i;
    char        buf[256];
    size_t      n;

    PYRO_CHECK_INT(sl->ts_ms, ts, what);

    buf[0] = '\0';
    n = 0;

    for (i = 0; i < PYRO_HEATMAP_BUCKETS; i++) {
        if (sl->counts[i]) {
            n += snprintf(buf + n, sizeof(buf) - n, "%s%d:%d", n ? " " : "",
                          i, (int) sl->counts[i]);
        }
    }

    PYRO_CHECK_STR(buf, want, what);
}


static void
test_heatmap_individual(void)
{
    query_t              q;
    pyro_err_t           err;
    pyro_heatmap_t       hm;
    pyro_heatmap_opts_t  o;
    const char          *by[] = { "region" };

    /* totals 5, 10, 7: buckets from 5 to 10 by 0.25, edges T0 + 0/10/20 s */
    query_init(&q, "t1", T0, T0 + 20000, CPU "{}");
    memset(&o, 0, sizeof(o));
    o.step_ms = 10000;
    o.type = PYRO_HEATMAP_INDIVIDUAL;

    PYRO_CHECK_INT(pyro_engine_heatmap(&q.scan, &o, &hm, &err), PYRO_OK,
                   "individual");
    PYRO_CHECK_INT(hm.n, 1, "one series");
    PYRO_CHECK_INT(hm.v[0].labels.n, 0, "no labels");
    PYRO_CHECK_INT(hm.v[0].nslots, 3, "slots");
    check_slot("slot 0", &hm.v[0].slots[0], T0, "3:1");
    check_slot("slot 1", &hm.v[0].slots[1], T0 + 10000, "19:1");
    check_slot("slot 2", &hm.v[0].slots[2], T0 + 20000, "11:1");
    PYRO_CHECK(hm.y_min[0] == 5 && hm.y_min[3] == 5 && hm.y_min[4] == 6
               && hm.y_min[11] == 7 && hm.y_min[19] == 9, "y_min");
    pyro_heatmap_free(&hm);

    /* grouped: eu (profiles 0 and 2) before us */
    o.group_by = by;
    o.ngroup_by = 1;

    PYRO_CHECK_INT(pyro_engine_heatmap(&q.scan, &o, &hm, &err), PYRO_OK,
                   "grouped");
    PYRO_CHECK_INT(hm.n, 2, "two series");
    PYRO_CHECK_STR(hm.v[0].labels.v[0].value, "eu", "first eu");
    PYRO_CHECK_STR(hm.v[1].labels.v[0].value, "us", "then us");
    PYRO_CHECK_INT(hm.v[0].nslots, 2, "eu slots");
    check_slot("eu 1", &hm.v[0].slots[1], T0 + 20000, "11:1");
    pyro_heatmap_free(&hm);

    /* limit 1 keeps the series with the most points */
    o.limit = 1;
    q.scan.start_ms = T0 + 1;

    PYRO_CHECK_INT(pyro_engine_heatmap(&q.scan, &o, &hm, &err), PYRO_OK,
                   "limit");
    PYRO_CHECK_INT(hm.n, 1, "limited");
    PYRO_CHECK_STR(hm.v[0].labels.v[0].value, "eu", "top eu");
    /* T0 is within one step before the start: the first slot */
    check_slot("early", &hm.v[0].slots[0], T0 + 1, "3:1");
    pyro_heatmap_free(&hm);

    o.step_ms = 0;
    PYRO_CHECK_INT(pyro_engine_heatmap(&q.scan, &o, &hm, &err), PYRO_ERROR,
                   "step 0");
    PYRO_CHECK_STR(err.msg, "step must be >= 1ms", "step message");

    pyro_selector_free(q.sel);
}


static void
test_heatmap_span(void)
{
    int                  i;
    size_t               j;
    int64_t              total;
    query_t              q;
    pyro_err_t           err;
    pyro_heatmap_t       hm;
    pyro_heatmap_opts_t  o;

    /* span points: 3 (span 10) at T0, 4 (10) and 6 (20) at +10 s, 7 (10)
     * at +15 s; the 2 of profile 0 has no span */
    query_init(&q, "t1", T0, T0 + 20000, CPU "{}");
    memset(&o, 0, sizeof(o));
    o.step_ms = 10000;
    o.type = PYRO_HEATMAP_SPAN;

    PYRO_CHECK_INT(pyro_engine_heatmap(&q.scan, &o, &hm, &err), PYRO_OK,
                   "span");
    PYRO_CHECK_INT(hm.n, 1, "span series");
    PYRO_CHECK_INT(hm.v[0].nslots, 3, "span slots");
    PYRO_CHECK(hm.y_min[0] == 3, "span y_min[0] %f", hm.y_min[0]);

    total = 0;

    for (j = 0; j < hm.v[0].nslots; j++) {
        for (i = 0; i < PYRO_HEATMAP_BUCKETS; i++) {
            total += hm.v[0].slots[j].counts[i];
        }
    }

    PYRO_CHECK_INT(total, 4, "span points");
    /* 3 + 19 * 0.2 truncates to 6: 6 and 7 share the last bucket */
    PYRO_CHECK_INT(hm.v[0].slots[1].counts[PYRO_HEATMAP_BUCKETS - 1], 1,
                   "6 in the last bucket");
    PYRO_CHECK_INT(hm.v[0].slots[2].counts[PYRO_HEATMAP_BUCKETS - 1], 1,
                   "7 in the last bucket");
    pyro_heatmap_free(&hm);

    /* nothing selected: no series */
    q.scan.start_ms = T0 + 100000;
    q.scan.end_ms = T0 + 200000;

    PYRO_CHECK_INT(pyro_engine_heatmap(&q.scan, &o, &hm, &err), PYRO_OK,
                   "empty");
    PYRO_CHECK_INT(hm.n, 0, "no series");
    pyro_heatmap_free(&hm);

    pyro_selector_free(q.sel);
}


static void
test_analyze(void)
{
    query_t          q;
    pyro_err_t       err;
    pyro_analysis_t  an;

    query_init(&q, "t1", T0 - 1000, T0 + 20000, CPU "{}");

    PYRO_CHECK_INT(pyro_engine_analyze(&q.scan, &an, &err), PYRO_OK,
                   "analyze");

    /* sealed: profiles 0-1 (2 series, 4 samples) */
    PYRO_CHECK_INT(an.long_term.components, 1, "long components");
    PYRO_CHECK_INT(an.long_term.blocks, 1, "long blocks");
    PYRO_CHECK_INT(an.long_term.series, 2, "long series");
    PYRO_CHECK_INT(an.long_term.profiles, 2, "long profiles");
    PYRO_CHECK_INT(an.long_term.samples, 4, "long samples");
    PYRO_CHECK(an.long_term.index_bytes > PYRO_REC_HDR_SIZE, "long index");
    PYRO_CHECK(an.long_term.profile_bytes > 0, "long profile bytes");
    PYRO_CHECK_INT(an.long_term.symbol_bytes, 0, "long symbols");

    /* open: profiles 2-3 (whatever the selector), 2 series, 2 samples */
    PYRO_CHECK_INT(an.short_term.components, 1, "short components");
    PYRO_CHECK_INT(an.short_term.blocks, 1, "short blocks");
    PYRO_CHECK_INT(an.short_term.series, 2, "short series");
    PYRO_CHECK_INT(an.short_term.profiles, 2, "short profiles");
    PYRO_CHECK_INT(an.short_term.samples, 2, "short samples");

    /* CPU series eu and us (profile 2 is eu again) */
    PYRO_CHECK_INT(an.queried_series, 2, "queried");

    pyro_selector_free(q.sel);

    /* both tenants, every series */
    query_init(&q, "t1|t2", T0 - 1000, T0 + 20000, NULL);

    PYRO_CHECK_INT(pyro_engine_analyze(&q.scan, &an, &err), PYRO_OK,
                   "analyze all");
    PYRO_CHECK_INT(an.short_term.components, 2, "two tenants");
    PYRO_CHECK_INT(an.short_term.blocks, 2, "two open files");
    PYRO_CHECK_INT(an.short_term.profiles, 3, "three open profiles");
    PYRO_CHECK_INT(an.long_term.components, 1, "one sealed");
    PYRO_CHECK_INT(an.queried_series, 4, "every series");

    /* out of range: nothing */
    q.scan.start_ms = T0 + 100000;
    q.scan.end_ms = T0 + 200000;

    PYRO_CHECK_INT(pyro_engine_analyze(&q.scan, &an, &err), PYRO_OK,
                   "analyze none");
    PYRO_CHECK_INT(an.short_term.blocks + an.long_term.blocks, 0, "no blocks");
    PYRO_CHECK_INT(an.short_term.components, 0, "no components");
    PYRO_CHECK_INT(an.queried_series, 0, "no series");
}


int
main(void)
{
    char  cmd[600];

    make_data();

    test_heatmap_individual();
    test_heatmap_span();
    test_analyze();

    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    PYRO_CHECK(system(cmd) == 0, "cleanup");

    return pyro_test_done("engine_extra");
}


/*
 * Copyright (C) ngx_pyroscope developers
 *
 * One handler per querier.v1.QuerierService method: request fields to
 * an engine call (pyro_engine.c), engine results to the response
 * message, built in the call's arena.  Runs in a query thread.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyro.h"
#include "pyro_rpc.h"
#include "querier/v1/querier.pb-c.h"
#include "types/v1/types.pb-c.h"


#define PYRO_LOOKBACK_MS  0     /* every stored profile can be queried */

/* protoc-c's names for proto3 optional fields (one-member oneofs) */
#define PYRO_RPC_HAS_MAX_NODES                                               \
    QUERIER__V1__SELECT_MERGE_STACKTRACES_REQUEST___MAX_NODES_MAX_NODES
#define PYRO_RPC_HAS_PROFILE_MAX_NODES                                       \
    QUERIER__V1__SELECT_MERGE_PROFILE_REQUEST___MAX_NODES_MAX_NODES
#define PYRO_RPC_SPAN_HAS_MAX_NODES                                          \
    QUERIER__V1__SELECT_MERGE_SPAN_PROFILE_REQUEST___MAX_NODES_MAX_NODES
#define PYRO_RPC_HAS_AGGREGATION                                             \
    QUERIER__V1__SELECT_SERIES_REQUEST___AGGREGATION_AGGREGATION
#define PYRO_RPC_AVERAGE                                                     \
    TYPES__V1__TIME_SERIES_AGGREGATION_TYPE__TIME_SERIES_AGGREGATION_TYPE_AVERAGE


static void pyro_rpc_call_site(const Types__V1__StackTraceSelector *sts,
    pyro_str_t *site, size_t max, pyro_merge_opts_t *o);


/* The selectors of a request's "matchers" (each a {...} selector). */
typedef struct {
    pyro_selector_t   *v[64];
    size_t             n;
} pyro_rpc_sels_t;


static void
pyro_rpc_sels_free(pyro_rpc_sels_t *s)
{
    size_t  i;

    for (i = 0; i < s->n; i++) {
        pyro_selector_free(s->v[i]);
    }

    s->n = 0;
}


static int
pyro_rpc_matchers(char **m, size_t n, pyro_rpc_sels_t *s, pyro_err_t *err)
{
    size_t  i;

    s->n = 0;

    if (n > sizeof(s->v) / sizeof(s->v[0])) {
        pyro_err_invalid(err, "too many matchers: %zu", n);
        return PYRO_ERROR;
    }

    for (i = 0; i < n; i++) {
        s->v[i] = pyro_selector_parse(m[i], strlen(m[i]), err);
        if (s->v[i] == NULL) {
            pyro_rpc_sels_free(s);
            return PYRO_ERROR;
        }
        s->n++;
    }

    return PYRO_OK;
}


/* "<profile type ID><label selector>" as one selector. */
static pyro_selector_t *
pyro_rpc_selector(const char *ptype, const char *labels, pyro_err_t *err)
{
    char             *q;
    size_t            n;
    pyro_selector_t  *sel;

    n = strlen(ptype) + strlen(labels) + 3;

    q = malloc(n);
    if (q == NULL) {
        pyro_err_internal(err, "out of memory");
        return NULL;
    }

    snprintf(q, n, "%s%s", ptype, labels[0] ? labels : "{}");
    sel = pyro_selector_parse_query(q, strlen(q), err);
    free(q);

    return sel;
}


static void
pyro_rpc_scan_init(pyro_scan_t *s, const pyro_rpc_t *rpc, int64_t start,
    int64_t end)
{
    memset(s, 0, sizeof(pyro_scan_t));
    s->root = rpc->root;
    s->tenants = rpc->tenants;
    s->start_ms = start;
    s->end_ms = end;
}


/* profile_id_selector: the IDs point into the request. */
static void
pyro_rpc_scan_ids(pyro_scan_t *s, char **ids, size_t n)
{
    s->profile_ids = (const char *const *) ids;
    s->nprofile_ids = n;
}


/* Applies spec 6.2; PYRO_DECLINED means an empty result. */
static int
pyro_rpc_range(const pyro_rpc_t *rpc, int64_t *start, int64_t *end,
    unsigned flags, pyro_err_t *err)
{
    return pyro_query_range(start, end, rpc->now_ms,
                            rpc->max_query_length_ms, PYRO_LOOKBACK_MS,
                            flags, err);
}


static char **
pyro_rpc_strs(pyro_arena_t *a, const pyro_strs_t *l)
{
    size_t   i;
    char   **v;

    v = pyro_arena_alloc(a, (l->n + 1) * sizeof(char *));

    for (i = 0; v && i < l->n; i++) {
        v[i] = pyro_arena_strdup(a, l->v[i], strlen(l->v[i]));
    }

    return v;
}


static Types__V1__LabelPair **
pyro_rpc_pairs(pyro_arena_t *a, const pyro_labels_t *ls)
{
    size_t                  i;
    Types__V1__LabelPair  **v, *p;

    v = pyro_arena_alloc(a, (ls->n + 1) * sizeof(Types__V1__LabelPair *));

    for (i = 0; v && i < ls->n; i++) {
        p = pyro_arena_alloc(a, sizeof(Types__V1__LabelPair));
        if (p == NULL) {
            return NULL;
        }

        types__v1__label_pair__init(p);
        p->name = pyro_arena_strdup(a, ls->v[i].name, strlen(ls->v[i].name));
        p->value = pyro_arena_strdup(a, ls->v[i].value,
                                     strlen(ls->v[i].value));
        v[i] = p;
    }

    return v;
}


static int
pyro_rpc_profile_types(const pyro_rpc_t *rpc, const ProtobufCMessage *m,
    pyro_arena_t *a, ProtobufCMessage **resp, pyro_err_t *err)
{
    int                                  rc;
    size_t                               i;
    int64_t                              start, end;
    pyro_scan_t                          s;
    pyro_ptypes_t                        pt;
    Types__V1__ProfileType              *t;
    Querier__V1__ProfileTypesResponse   *r;
    const Querier__V1__ProfileTypesRequest  *req = (const void *) m;

    r = pyro_arena_alloc(a, sizeof(*r));
    if (r == NULL) {
        return PYRO_ERROR;
    }

    querier__v1__profile_types_response__init(r);
    *resp = &r->base;

    start = req->start;
    end = req->end;

    rc = pyro_rpc_range(rpc, &start, &end, PYRO_RANGE_LAST_HOUR, err);
    if (rc != PYRO_OK) {
        return rc == PYRO_DECLINED ? PYRO_OK : rc;
    }

    pyro_rpc_scan_init(&s, rpc, start, end);
    memset(&pt, 0, sizeof(pyro_ptypes_t));

    rc = pyro_engine_profile_types(&s, &pt, err);

    r->profile_types = pyro_arena_alloc(a, (pt.n + 1) * sizeof(void *));

    for (i = 0; rc == PYRO_OK && r->profile_types && i < pt.n; i++) {
        t = pyro_arena_alloc(a, sizeof(*t));
        if (t == NULL) {
            break;
        }

        types__v1__profile_type__init(t);
        t->id = pyro_arena_strdup(a, pt.v[i].id, strlen(pt.v[i].id));
        t->name = pyro_arena_strdup(a, pt.v[i].name, strlen(pt.v[i].name));
        t->sample_type = pyro_arena_strdup(a, pt.v[i].sample_type,
                                           strlen(pt.v[i].sample_type));
        t->sample_unit = pyro_arena_strdup(a, pt.v[i].sample_unit,
                                           strlen(pt.v[i].sample_unit));
        t->period_type = pyro_arena_strdup(a, pt.v[i].period_type,
                                           strlen(pt.v[i].period_type));
        t->period_unit = pyro_arena_strdup(a, pt.v[i].period_unit,
                                           strlen(pt.v[i].period_unit));
        r->profile_types[r->n_profile_types++] = t;
    }

    pyro_ptypes_free(&pt);

    return rc;
}


static int
pyro_rpc_label_names(const pyro_rpc_t *rpc, const ProtobufCMessage *m,
    pyro_arena_t *a, ProtobufCMessage **resp, pyro_err_t *err)
{
    int                             rc;
    int64_t                         start, end;
    pyro_scan_t                     s;
    pyro_strs_t                     names;
    pyro_rpc_sels_t                 sels;
    Types__V1__LabelNamesResponse  *r;
    const Types__V1__LabelNamesRequest  *req = (const void *) m;

    r = pyro_arena_alloc(a, sizeof(*r));
    if (r == NULL) {
        return PYRO_ERROR;
    }

    types__v1__label_names_response__init(r);
    *resp = &r->base;

    start = req->start;
    end = req->end;

    rc = pyro_rpc_range(rpc, &start, &end, 0, err);
    if (rc != PYRO_OK) {
        return rc == PYRO_DECLINED ? PYRO_OK : rc;
    }

    if (pyro_rpc_matchers(req->matchers, req->n_matchers, &sels, err)
        != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    pyro_rpc_scan_init(&s, rpc, start, end);
    s.sels = sels.v;
    s.nsels = sels.n;
    memset(&names, 0, sizeof(pyro_strs_t));

    rc = pyro_engine_label_names(&s, 0, &names, err);

    if (rc == PYRO_OK) {
        r->names = pyro_rpc_strs(a, &names);
        r->n_names = r->names ? names.n : 0;
    }

    pyro_strs_free(&names);
    pyro_rpc_sels_free(&sels);

    return rc;
}


static int
pyro_rpc_label_values(const pyro_rpc_t *rpc, const ProtobufCMessage *m,
    pyro_arena_t *a, ProtobufCMessage **resp, pyro_err_t *err)
{
    int                              rc;
    int64_t                          start, end;
    pyro_scan_t                      s;
    pyro_strs_t                      values;
    pyro_rpc_sels_t                  sels;
    Types__V1__LabelValuesResponse  *r;
    const Types__V1__LabelValuesRequest  *req = (const void *) m;

    r = pyro_arena_alloc(a, sizeof(*r));
    if (r == NULL) {
        return PYRO_ERROR;
    }

    types__v1__label_values_response__init(r);
    *resp = &r->base;

    start = req->start;
    end = req->end;

    rc = pyro_rpc_range(rpc, &start, &end, 0, err);
    if (rc != PYRO_OK) {
        return rc == PYRO_DECLINED ? PYRO_OK : rc;
    }

    if (pyro_rpc_matchers(req->matchers, req->n_matchers, &sels, err)
        != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    pyro_rpc_scan_init(&s, rpc, start, end);
    s.sels = sels.v;
    s.nsels = sels.n;
    memset(&values, 0, sizeof(pyro_strs_t));

    rc = pyro_engine_label_values(&s, req->name, &values, err);

    if (rc == PYRO_OK) {
        r->names = pyro_rpc_strs(a, &values);
        r->n_names = r->names ? values.n : 0;
    }

    pyro_strs_free(&values);
    pyro_rpc_sels_free(&sels);

    return rc;
}


static int
pyro_rpc_series(const pyro_rpc_t *rpc, const ProtobufCMessage *m,
    pyro_arena_t *a, ProtobufCMessage **resp, pyro_err_t *err)
{
    int                           rc;
    size_t                        i;
    int64_t                       start, end;
    pyro_scan_t                   s;
    pyro_rpc_sels_t               sels;
    pyro_labelsets_t              sets;
    Types__V1__Labels            *l;
    Querier__V1__SeriesResponse  *r;
    const Querier__V1__SeriesRequest  *req = (const void *) m;

    r = pyro_arena_alloc(a, sizeof(*r));
    if (r == NULL) {
        return PYRO_ERROR;
    }

    querier__v1__series_response__init(r);
    *resp = &r->base;

    start = req->start;
    end = req->end;

    rc = pyro_rpc_range(rpc, &start, &end, 0, err);
    if (rc != PYRO_OK) {
        return rc == PYRO_DECLINED ? PYRO_OK : rc;
    }

    if (pyro_rpc_matchers(req->matchers, req->n_matchers, &sels, err)
        != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    pyro_rpc_scan_init(&s, rpc, start, end);
    s.sels = sels.v;
    s.nsels = sels.n;
    memset(&sets, 0, sizeof(pyro_labelsets_t));

    rc = pyro_engine_series(&s, (const char *const *) req->label_names,
                            req->n_label_names, 0, &sets, err);

    r->labels_set = pyro_arena_alloc(a, (sets.n + 1) * sizeof(void *));

    for (i = 0; rc == PYRO_OK && r->labels_set && i < sets.n; i++) {
        l = pyro_arena_alloc(a, sizeof(*l));
        if (l == NULL) {
            break;
        }

        types__v1__labels__init(l);
        l->labels = pyro_rpc_pairs(a, &sets.v[i]);
        l->n_labels = l->labels ? sets.v[i].n : 0;
        r->labels_set[r->n_labels_set++] = l;
    }

    pyro_labelsets_free(&sets);
    pyro_rpc_sels_free(&sels);

    return rc;
}


/* Names and levels of a FlameGraph or FlameGraphDiff message from the
 * engine's arrays, copied into the arena. */
static int
pyro_rpc_levels(pyro_arena_t *a, const pyro_flamegraph_t *fg, char ***names,
    size_t *nnames, Querier__V1__Level ***levels, size_t *nlevels)
{
    size_t               i, n;
    Querier__V1__Level  *lv;

    *names = pyro_arena_alloc(a, (fg->nnames + 1) * sizeof(char *));
    *levels = pyro_arena_alloc(a, (fg->nlevels + 1) * sizeof(void *));

    if (*names == NULL || *levels == NULL) {
        return PYRO_ERROR;
    }

    for (i = 0; i < fg->nnames; i++) {
        (*names)[i] = pyro_arena_strdup(a, fg->names[i].data,
                                        fg->names[i].len);
    }

    *nnames = fg->nnames;

    for (i = 0; i < fg->nlevels; i++) {
        lv = pyro_arena_alloc(a, sizeof(*lv));
        n = fg->levels[i + 1] - fg->levels[i];

        if (lv == NULL) {
            return PYRO_ERROR;
        }

        querier__v1__level__init(lv);
        lv->values = pyro_arena_alloc(a, (n + 1) * sizeof(int64_t));
        if (lv->values == NULL) {
            return PYRO_ERROR;
        }

        memcpy(lv->values, fg->values + fg->levels[i], n * sizeof(int64_t));
        lv->n_values = n;
        (*levels)[i] = lv;
    }

    *nlevels = fg->nlevels;

    return PYRO_OK;
}


static Querier__V1__FlameGraph *
pyro_rpc_flamegraph(pyro_arena_t *a, const pyro_flamegraph_t *fg)
{
    Querier__V1__FlameGraph  *g;

    g = pyro_arena_alloc(a, sizeof(*g));
    if (g == NULL) {
        return NULL;
    }

    querier__v1__flame_graph__init(g);
    g->total = fg->total;
    g->max_self = fg->max_self;

    if (pyro_rpc_levels(a, fg, &g->names, &g->n_names, &g->levels,
                        &g->n_levels) != PYRO_OK)
    {
        return NULL;
    }

    return g;
}


/* ValidateMaxNodes: 0 is the default, negative or too large refused. */
static int
pyro_rpc_max_nodes(int has, int64_t n, int64_t *out, pyro_err_t *err)
{
    if (!has || n == 0) {
        *out = PYRO_MAX_NODES_DEFAULT;
        return PYRO_OK;
    }

    if (n < 0) {
        pyro_err_invalid(err, "max flamegraph nodes limit must be set "
                         "(max allowed %d)", PYRO_MAX_NODES_MAX);
        return PYRO_ERROR;
    }

    if (n > PYRO_MAX_NODES_MAX) {
        pyro_err_invalid(err, "max flamegraph nodes limit %lld is greater "
                         "than allowed %d", (long long) n,
                         PYRO_MAX_NODES_MAX);
        return PYRO_ERROR;
    }

    *out = n;

    return PYRO_OK;
}


/* Span IDs are 16 hex digits, read as ingestion reads span_id labels. */
static int
pyro_rpc_spans(char **v, size_t n, uint64_t **out, pyro_err_t *err)
{
    size_t      i;
    pyro_str_t  id;

    *out = calloc(n ? n : 1, sizeof(uint64_t));
    if (*out == NULL) {
        pyro_err_internal(err, "out of memory");
        return PYRO_ERROR;
    }

    for (i = 0; i < n; i++) {
        id.data = v[i];
        id.len = strlen(v[i]);
        (*out)[i] = pyro_span_id(&id);

        if ((*out)[i] == 0 && strcmp(v[i], "0000000000000000") != 0) {
            pyro_err_invalid(err, "invalid span id: \"%s\"", v[i]);
            free(*out);
            *out = NULL;
            return PYRO_ERROR;
        }
    }

    return PYRO_OK;
}


/*
 * The merge options of a SelectMergeStacktraces request: spans (parsed
 * into *spans, freed by the caller) and the call site (pointing into the
 * request, site has room for 256 frames).
 */
static int
pyro_rpc_merge_opts(const Querier__V1__SelectMergeStacktracesRequest *req,
    pyro_str_t *site, pyro_merge_opts_t *o, uint64_t **spans,
    pyro_err_t *err)
{
    memset(o, 0, sizeof(pyro_merge_opts_t));

    if (req->n_span_selector && req->n_trace_id_selector) {
        pyro_err_invalid(err, "span_selector and trace_id_selector cannot "
                         "be combined");
        return PYRO_ERROR;
    }

    if (pyro_rpc_spans(req->span_selector, req->n_span_selector, spans, err)
        != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    o->spans = req->n_span_selector ? *spans : NULL;
    o->nspans = req->n_span_selector;

    pyro_rpc_call_site(req->stack_trace_selector, site, 256, o);

    return PYRO_OK;
}


static int
pyro_rpc_merge_tree(const pyro_rpc_t *rpc,
    const Querier__V1__SelectMergeStacktracesRequest *req, int64_t start,
    int64_t end, pyro_tree_t *tree, pyro_err_t *err)
{
    int                 rc;
    uint64_t           *spans;
    pyro_str_t          site[256];
    pyro_scan_t         s;
    pyro_selector_t    *sel;
    pyro_merge_opts_t   o;

    if (pyro_rpc_merge_opts(req, site, &o, &spans, err) != PYRO_OK) {
        return PYRO_ERROR;
    }

    sel = pyro_rpc_selector(req->profile_typeid, req->label_selector, err);
    if (sel == NULL) {
        free(spans);
        return PYRO_ERROR;
    }

    pyro_rpc_scan_init(&s, rpc, start, end);
    pyro_rpc_scan_ids(&s, req->profile_id_selector,
                      req->n_profile_id_selector);
    s.sels = &sel;
    s.nsels = 1;

    rc = pyro_engine_merge(&s, &o, tree, err);

    pyro_selector_free(sel);
    free(spans);

    return rc;
}


/*
 * protobuf-c allocations in the call's arena: a Profile unpacked this
 * way is freed with the arena after the response is encoded.
 */
static void *
pyro_rpc_pb_alloc(void *data, size_t size)
{
    return pyro_arena_alloc(data, size);
}


static void
pyro_rpc_pb_free(void *data, void *p)
{
    /* the arena owns it */
}


/* StackTraceSelector.call_site as frame names (pointing into sts). */
static void
pyro_rpc_call_site(const Types__V1__StackTraceSelector *sts,
    pyro_str_t *site, size_t max, pyro_merge_opts_t *o)
{
    size_t  i;

    if (sts == NULL) {
        return;
    }

    for (i = 0; i < sts->n_call_site && i < max; i++) {
        site[i].data = sts->call_site[i]->name;
        site[i].len = strlen(site[i].data);
    }

    o->call_site = site;
    o->ncall_site = i;
}


/*
 * The merged pprof of "<ptype><labels>" over [start, end] as a Profile
 * message in the arena: the engine's bytes unpacked with the arena's
 * allocator.
 */
static int
pyro_rpc_pprof(const pyro_rpc_t *rpc, const char *ptype, const char *labels,
    int64_t start, int64_t end, char **ids, size_t nids,
    const pyro_merge_opts_t *o, int64_t max_nodes, pyro_arena_t *a,
    Google__V1__Profile **out, pyro_err_t *err)
{
    int                 rc;
    pyro_buf_t          bytes;
    pyro_scan_t         s;
    pyro_selector_t    *sel;
    ProtobufCAllocator  alloc;

    sel = pyro_rpc_selector(ptype, labels, err);
    if (sel == NULL) {
        return PYRO_ERROR;
    }

    pyro_rpc_scan_init(&s, rpc, start, end);
    pyro_rpc_scan_ids(&s, ids, nids);
    s.sels = &sel;
    s.nsels = 1;
    memset(&bytes, 0, sizeof(pyro_buf_t));

    rc = pyro_engine_merge_pprof(&s, o, ptype, max_nodes, &bytes, err);

    if (rc == PYRO_OK) {
        alloc.alloc = pyro_rpc_pb_alloc;
        alloc.free = pyro_rpc_pb_free;
        alloc.allocator_data = a;

        *out = google__v1__profile__unpack(&alloc, bytes.len,
                                           (const uint8_t *) bytes.data);
        if (*out == NULL) {
            pyro_err_internal(err, "cannot decode the merged profile");
            rc = PYRO_ERROR;
        }
    }

    pyro_buf_free(&bytes);
    pyro_selector_free(sel);

    return rc;
}


/* PROFILE_FORMAT_PPROF: the request's raw max_nodes, as SelectMergeProfile
 * (no default, no validation); span selector honoured. */
static int
pyro_rpc_stacktraces_pprof(const pyro_rpc_t *rpc,
    const Querier__V1__SelectMergeStacktracesRequest *req, pyro_arena_t *a,
    Querier__V1__SelectMergeStacktracesResponse *r, pyro_err_t *err)
{
    int                         rc;
    int64_t                     start, end, max_nodes;
    uint64_t                   *spans;
    pyro_str_t                  site[256];
    pyro_merge_opts_t           o;
    Querier__V1__PprofProfile  *pp;

    start = req->start;
    end = req->end;

    rc = pyro_rpc_range(rpc, &start, &end, 0, err);
    if (rc != PYRO_OK) {
        return rc == PYRO_DECLINED ? PYRO_OK : rc;
    }

    pp = pyro_arena_alloc(a, sizeof(*pp));
    if (pp == NULL) {
        return PYRO_ERROR;
    }

    querier__v1__pprof_profile__init(pp);

    if (pyro_rpc_merge_opts(req, site, &o, &spans, err) != PYRO_OK) {
        return PYRO_ERROR;
    }

    max_nodes = (req->_max_nodes_case == PYRO_RPC_HAS_MAX_NODES)
                ? req->max_nodes : 0;

    rc = pyro_rpc_pprof(rpc, req->profile_typeid, req->label_selector, start,
                        end, req->profile_id_selector,
                        req->n_profile_id_selector, &o, max_nodes, a,
                        &pp->profile, err);

    r->pprof = (rc == PYRO_OK) ? pp : NULL;
    free(spans);

    return rc;
}


/*
 * PROFILE_FORMAT_DOT (query-output-formats 1.1): dotN = max_nodes when
 * > 0, else 100, not validated; the merged pprof at srcN = max(512,
 * dotN) drawn into "dot" (empty for an empty profile).
 */
static int
pyro_rpc_stacktraces_dot(const pyro_rpc_t *rpc,
    const Querier__V1__SelectMergeStacktracesRequest *req, pyro_arena_t *a,
    Querier__V1__SelectMergeStacktracesResponse *r, pyro_err_t *err)
{
    int                 rc;
    int64_t             start, end, dot_n;
    uint64_t           *spans;
    pyro_buf_t          pprof, dot;
    pyro_str_t          site[256];
    pyro_scan_t         s;
    pyro_selector_t    *sel;
    pyro_merge_opts_t   o;

    start = req->start;
    end = req->end;

    rc = pyro_rpc_range(rpc, &start, &end, 0, err);
    if (rc != PYRO_OK) {
        return rc == PYRO_DECLINED ? PYRO_OK : rc;
    }

    if (pyro_rpc_merge_opts(req, site, &o, &spans, err) != PYRO_OK) {
        return PYRO_ERROR;
    }

    sel = pyro_rpc_selector(req->profile_typeid, req->label_selector, err);
    if (sel == NULL) {
        free(spans);
        return PYRO_ERROR;
    }

    pyro_rpc_scan_init(&s, rpc, start, end);
    pyro_rpc_scan_ids(&s, req->profile_id_selector,
                      req->n_profile_id_selector);
    s.sels = &sel;
    s.nsels = 1;

    dot_n = (req->_max_nodes_case == PYRO_RPC_HAS_MAX_NODES
             && req->max_nodes > 0) ? req->max_nodes : 100;

    memset(&pprof, 0, sizeof(pyro_buf_t));
    memset(&dot, 0, sizeof(pyro_buf_t));

    rc = pyro_engine_merge_pprof(&s, &o, req->profile_typeid,
                                 dot_n > 512 ? dot_n : 512, &pprof, err);

    if (rc == PYRO_OK) {
        rc = pyro_dot_render(pprof.data, pprof.len, dot_n, &dot, err);
    }

    if (rc == PYRO_OK && dot.len) {
        /* the response is encoded from the arena, after these are freed */
        r->dot = pyro_arena_strdup(a, dot.data, dot.len);
        rc = r->dot ? PYRO_OK : PYRO_ERROR;
    }

    pyro_buf_free(&dot);
    pyro_buf_free(&pprof);
    pyro_selector_free(sel);
    free(spans);

    return rc;
}


static int
pyro_rpc_select_merge_profile(const pyro_rpc_t *rpc,
    const ProtobufCMessage *m, pyro_arena_t *a, ProtobufCMessage **resp,
    pyro_err_t *err)
{
    int                   rc;
    int64_t               start, end, max_nodes;
    pyro_str_t            site[256];
    pyro_merge_opts_t     o;
    Google__V1__Profile  *p;
    const Querier__V1__SelectMergeProfileRequest  *req = (const void *) m;

    p = pyro_arena_alloc(a, sizeof(*p));
    if (p == NULL) {
        return PYRO_ERROR;
    }

    /* an empty range answers an empty Profile {} */
    google__v1__profile__init(p);
    *resp = &p->base;

    start = req->start;
    end = req->end;

    rc = pyro_rpc_range(rpc, &start, &end, 0, err);
    if (rc != PYRO_OK) {
        return rc == PYRO_DECLINED ? PYRO_OK : rc;
    }

    /* no default and no validation: > 0 truncates (query-output-formats
     * 5, max-flamegraph-nodes-on-select-merge-profile off) */
    max_nodes = (req->_max_nodes_case == PYRO_RPC_HAS_PROFILE_MAX_NODES)
                ? req->max_nodes : 0;

    memset(&o, 0, sizeof(pyro_merge_opts_t));
    pyro_rpc_call_site(req->stack_trace_selector, site, 256, &o);

    rc = pyro_rpc_pprof(rpc, req->profile_typeid, req->label_selector, start,
                        end, req->profile_id_selector,
                        req->n_profile_id_selector, &o, max_nodes, a, &p,
                        err);

    if (rc == PYRO_OK) {
        *resp = &p->base;
    }

    return rc;
}


/*
 * The flame graph (or, for PROFILE_FORMAT_TREE, the tree bytes) of a
 * SelectMergeStacktraces request, into the response's fields.
 */
static int
pyro_rpc_stacktraces_tree(const pyro_rpc_t *rpc,
    const Querier__V1__SelectMergeStacktracesRequest *req, pyro_arena_t *a,
    Querier__V1__FlameGraph **flamegraph, ProtobufCBinaryData *tb,
    pyro_err_t *err)
{
    int                 rc, has;
    int64_t             start, end, max_nodes;
    pyro_buf_t          bytes;
    pyro_tree_t        *tree;
    pyro_flamegraph_t   fg;

    has = (req->_max_nodes_case == PYRO_RPC_HAS_MAX_NODES);

    if (pyro_rpc_max_nodes(has, req->max_nodes, &max_nodes, err) != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    start = req->start;
    end = req->end;

    rc = pyro_rpc_range(rpc, &start, &end, 0, err);
    if (rc != PYRO_OK) {
        return rc == PYRO_DECLINED ? PYRO_OK : rc;
    }

    tree = pyro_tree_new();
    if (tree == NULL) {
        return PYRO_ERROR;
    }

    rc = pyro_rpc_merge_tree(rpc, req, start, end, tree, err);
    if (rc != PYRO_OK) {
        pyro_tree_free(tree);
        return rc;
    }

    pyro_tree_finish(tree);

    if (req->format == QUERIER__V1__PROFILE_FORMAT__PROFILE_FORMAT_TREE) {
        memset(&bytes, 0, sizeof(pyro_buf_t));
        pyro_tree_bytes(tree, max_nodes, &bytes);

        tb->data = (uint8_t *) pyro_arena_strdup(a, bytes.data
                                                    ? bytes.data : "",
                                                 bytes.len);
        tb->len = bytes.len;
        rc = bytes.failed ? PYRO_ERROR : PYRO_OK;
        pyro_buf_free(&bytes);

    } else {
        memset(&fg, 0, sizeof(pyro_flamegraph_t));
        rc = pyro_tree_flamegraph(tree, max_nodes, &fg);

        if (rc == PYRO_OK) {
            *flamegraph = pyro_rpc_flamegraph(a, &fg);
        }

        pyro_flamegraph_free(&fg);
    }

    pyro_tree_free(tree);

    return rc;
}



/*
 * SelectMergeSpanProfile: SelectMergeStacktraces with a span selector,
 * answered as a flame graph or tree bytes.
 */
static int
pyro_rpc_select_merge_span_profile(const pyro_rpc_t *rpc,
    const ProtobufCMessage *m, pyro_arena_t *a, ProtobufCMessage **resp,
    pyro_err_t *err)
{
    Querier__V1__SelectMergeStacktracesRequest    q;
    Querier__V1__SelectMergeSpanProfileResponse  *r;
    const Querier__V1__SelectMergeSpanProfileRequest  *req = (const void *) m;

    r = pyro_arena_alloc(a, sizeof(*r));
    if (r == NULL) {
        return PYRO_ERROR;
    }

    querier__v1__select_merge_span_profile_response__init(r);
    *resp = &r->base;

    querier__v1__select_merge_stacktraces_request__init(&q);
    q.profile_typeid = req->profile_typeid;
    q.label_selector = req->label_selector;
    q.start = req->start;
    q.end = req->end;
    q.format = req->format;
    q.n_span_selector = req->n_span_selector;
    q.span_selector = req->span_selector;

    if (req->_max_nodes_case == PYRO_RPC_SPAN_HAS_MAX_NODES) {
        q._max_nodes_case = PYRO_RPC_HAS_MAX_NODES;
        q.max_nodes = req->max_nodes;
    }

    return pyro_rpc_stacktraces_tree(rpc, &q, a, &r->flamegraph, &r->tree,
                                     err);
}


static int
pyro_rpc_select_merge_stacktraces(const pyro_rpc_t *rpc,
    const ProtobufCMessage *m, pyro_arena_t *a, ProtobufCMessage **resp,
    pyro_err_t *err)
{
    Querier__V1__SelectMergeStacktracesResponse *r;
    const Querier__V1__SelectMergeStacktracesRequest  *req = (const void *) m;

    r = pyro_arena_alloc(a, sizeof(*r));
    if (r == NULL) {
        return PYRO_ERROR;
    }

    querier__v1__select_merge_stacktraces_response__init(r);
    *resp = &r->base;

    if (req->format == QUERIER__V1__PROFILE_FORMAT__PROFILE_FORMAT_PPROF) {
        return pyro_rpc_stacktraces_pprof(rpc, req, a, r, err);
    }

    if (req->format == QUERIER__V1__PROFILE_FORMAT__PROFILE_FORMAT_DOT) {
        return pyro_rpc_stacktraces_dot(rpc, req, a, r, err);
    }

    return pyro_rpc_stacktraces_tree(rpc, req, a, &r->flamegraph, &r->tree,
                                     err);
}


static Types__V1__Exemplar **
pyro_rpc_exemplars(pyro_arena_t *a, const pyro_exemplar_t *ex,
    size_t *n)
{
    Types__V1__Exemplar  **v, *e;

    *n = 0;

    if (ex->profile_id == NULL) {
        return NULL;
    }

    v = pyro_arena_alloc(a, sizeof(void *));
    e = pyro_arena_alloc(a, sizeof(*e));

    if (v == NULL || e == NULL) {
        return NULL;
    }

    types__v1__exemplar__init(e);
    e->timestamp = ex->ts_ms;
    e->profile_id = pyro_arena_strdup(a, ex->profile_id,
                                      strlen(ex->profile_id));
    e->value = ex->value;
    e->labels = pyro_rpc_pairs(a, &ex->labels);
    e->n_labels = e->labels ? ex->labels.n : 0;

    if (e->profile_id == NULL) {
        return NULL;
    }

    v[0] = e;
    *n = 1;

    return v;
}


static Types__V1__Series *
pyro_rpc_one_series(pyro_arena_t *a, const pyro_tseries_t *ts)
{
    size_t              i;
    Types__V1__Point   *p;
    Types__V1__Series  *s;

    s = pyro_arena_alloc(a, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }

    types__v1__series__init(s);
    s->labels = pyro_rpc_pairs(a, &ts->labels);
    s->n_labels = s->labels ? ts->labels.n : 0;
    s->points = pyro_arena_alloc(a, (ts->npoints + 1) * sizeof(void *));

    for (i = 0; s->points && i < ts->npoints; i++) {
        p = pyro_arena_alloc(a, sizeof(*p));
        if (p == NULL) {
            return NULL;
        }

        types__v1__point__init(p);
        p->value = ts->points[i].value;
        p->timestamp = ts->points[i].ts_ms;

        if (ts->exemplars) {
            p->exemplars = pyro_rpc_exemplars(a, &ts->exemplars[i],
                                              &p->n_exemplars);
        }

        s->points[s->n_points++] = p;
    }

    return s;
}


static int
pyro_rpc_select_series(const pyro_rpc_t *rpc, const ProtobufCMessage *m,
    pyro_arena_t *a, ProtobufCMessage **resp, pyro_err_t *err)
{
    int                                 rc;
    size_t                              i;
    int64_t                             start, end;
    pyro_scan_t                         s;
    pyro_selector_t                    *sel;
    pyro_series_opts_t                  o;
    pyro_tseries_list_t                 list;
    Querier__V1__SelectSeriesResponse  *r;
    const Querier__V1__SelectSeriesRequest  *req = (const void *) m;

    r = pyro_arena_alloc(a, sizeof(*r));
    if (r == NULL) {
        return PYRO_ERROR;
    }

    querier__v1__select_series_response__init(r);
    *resp = &r->base;

    start = req->start;
    end = req->end;

    rc = pyro_rpc_range(rpc, &start, &end, 0, err);
    if (rc != PYRO_OK) {
        return rc == PYRO_DECLINED ? PYRO_OK : rc;
    }

    sel = pyro_rpc_selector(req->profile_typeid, req->label_selector, err);
    if (sel == NULL) {
        return PYRO_ERROR;
    }

    memset(&o, 0, sizeof(pyro_series_opts_t));
    o.step_ms = (int64_t) (req->step * 1000);
    o.group_by = (const char *const *) req->group_by;
    o.ngroup_by = req->n_group_by;
    o.aggregation = PYRO_AGG_SUM;

    if (req->_aggregation_case == PYRO_RPC_HAS_AGGREGATION
        && req->aggregation == PYRO_RPC_AVERAGE)
    {
        o.aggregation = PYRO_AGG_AVERAGE;
    }

    o.limit = (req->_limit_case
               == QUERIER__V1__SELECT_SERIES_REQUEST___LIMIT_LIMIT)
              ? req->limit : 0;
    o.exemplars = (req->exemplar_type
                   == TYPES__V1__EXEMPLAR_TYPE__EXEMPLAR_TYPE_INDIVIDUAL);

    pyro_rpc_scan_init(&s, rpc, start, end);
    s.sels = &sel;
    s.nsels = 1;
    memset(&list, 0, sizeof(pyro_tseries_list_t));

    rc = pyro_engine_select_series(&s, &o, &list, err);

    r->series = pyro_arena_alloc(a, (list.n + 1) * sizeof(void *));

    for (i = 0; rc == PYRO_OK && r->series && i < list.n; i++) {
        r->series[i] = pyro_rpc_one_series(a, &list.v[i]);
        if (r->series[i] == NULL) {
            break;
        }
        r->n_series++;
    }

    pyro_tseries_list_free(&list);
    pyro_selector_free(sel);

    return rc;
}


static int
pyro_rpc_profile_stats(const pyro_rpc_t *rpc, const ProtobufCMessage *m,
    pyro_arena_t *a, ProtobufCMessage **resp, pyro_err_t *err)
{
    int                                 rc;
    pyro_pstats_t                       st;
    Types__V1__GetProfileStatsResponse *r;

    r = pyro_arena_alloc(a, sizeof(*r));
    if (r == NULL) {
        return PYRO_ERROR;
    }

    types__v1__get_profile_stats_response__init(r);
    *resp = &r->base;

    memset(&st, 0, sizeof(pyro_pstats_t));

    rc = pyro_engine_profile_stats(rpc->root, rpc->tenants, &st, err);

    r->data_ingested = st.data_ingested;
    r->oldest_profile_time = st.oldest_ms;
    r->newest_profile_time = st.newest_ms;

    return rc;
}


/* One side of a Diff: its own time rules and selector, merged. */
static int
pyro_rpc_diff_side(const pyro_rpc_t *rpc,
    const Querier__V1__SelectMergeStacktracesRequest *req, pyro_tree_t *tree,
    pyro_err_t *err)
{
    int      rc;
    int64_t  start, end;

    if (req == NULL) {
        pyro_err_invalid(err, "left and right queries are required");
        return PYRO_ERROR;
    }

    start = req->start;
    end = req->end;

    rc = pyro_rpc_range(rpc, &start, &end, 0, err);

    if (rc == PYRO_OK) {
        rc = pyro_rpc_merge_tree(rpc, req, start, end, tree, err);
    }

    pyro_tree_finish(tree);

    return rc == PYRO_DECLINED ? PYRO_OK : rc;
}


static int
pyro_rpc_diff(const pyro_rpc_t *rpc, const ProtobufCMessage *m,
    pyro_arena_t *a, ProtobufCMessage **resp, pyro_err_t *err)
{
    int                           rc;
    int64_t                       nl, nr;
    pyro_tree_t                  *left, *right;
    pyro_flamegraph_t             fg;
    Querier__V1__DiffResponse    *r;
    Querier__V1__FlameGraphDiff  *g;
    const Querier__V1__DiffRequest  *req = (const void *) m;

    r = pyro_arena_alloc(a, sizeof(*r));
    g = pyro_arena_alloc(a, sizeof(*g));
    if (r == NULL || g == NULL) {
        return PYRO_ERROR;
    }

    querier__v1__diff_response__init(r);
    querier__v1__flame_graph_diff__init(g);
    *resp = &r->base;

    /* upstream validates max(left, right) and uses it for both sides */
    nl = (req->left && req->left->_max_nodes_case == PYRO_RPC_HAS_MAX_NODES)
         ? req->left->max_nodes : 0;
    nr = (req->right && req->right->_max_nodes_case == PYRO_RPC_HAS_MAX_NODES)
         ? req->right->max_nodes : 0;

    if (pyro_rpc_max_nodes(1, nl > nr ? nl : nr, &nl, err) != PYRO_OK) {
        return PYRO_ERROR;
    }

    left = pyro_tree_new();
    right = pyro_tree_new();
    memset(&fg, 0, sizeof(pyro_flamegraph_t));

    rc = (left && right) ? PYRO_OK : PYRO_ERROR;

    if (rc == PYRO_OK) {
        rc = pyro_rpc_diff_side(rpc, req->left, left, err);
    }

    if (rc == PYRO_OK) {
        rc = pyro_rpc_diff_side(rpc, req->right, right, err);
    }

    if (rc == PYRO_OK) {
        rc = pyro_tree_diff(left, right, nl, &fg, err);
    }

    if (rc == PYRO_OK) {
        g->total = fg.total;
        g->max_self = fg.max_self;
        g->leftticks = fg.left_ticks;
        g->rightticks = fg.right_ticks;
        rc = pyro_rpc_levels(a, &fg, &g->names, &g->n_names, &g->levels,
                             &g->n_levels);
        r->flamegraph = g;
    }

    pyro_flamegraph_free(&fg);
    pyro_tree_free(left);
    pyro_tree_free(right);

    return rc;
}


/*
 * SelectHeatmap: the frontend's checks in its order (step, limit,
 * start < end, then the time rules), then the backend's (exemplar and
 * query type); the backend reports its own as plain errors, answered
 * here as 400 because they are the client's.
 */
static int
pyro_rpc_heatmap_check(const Querier__V1__SelectHeatmapRequest *req,
    pyro_err_t *err)
{
    int  qt, et;

    if (req->step <= 0) {
        pyro_err_invalid(err, "step must be greater than 0, got %f",
                         req->step);
        return PYRO_ERROR;
    }

    if (req->_limit_case == QUERIER__V1__SELECT_HEATMAP_REQUEST___LIMIT_LIMIT
        && req->limit < 0)
    {
        pyro_err_invalid(err, "limit must be non-negative, got %lld",
                         (long long) req->limit);
        return PYRO_ERROR;
    }

    if (req->start >= req->end) {
        pyro_err_invalid(err, "start time must be before end time, got "
                         "start=%lld end=%lld", (long long) req->start,
                         (long long) req->end);
        return PYRO_ERROR;
    }

    qt = req->query_type;
    et = req->exemplar_type;

    if (et == TYPES__V1__EXEMPLAR_TYPE__EXEMPLAR_TYPE_INDIVIDUAL
        && qt != QUERIER__V1__HEATMAP_QUERY_TYPE__HEATMAP_QUERY_TYPE_INDIVIDUAL)
    {
        pyro_err_invalid(err, "individual exemplars only available for "
                         "individual query type");
        return PYRO_ERROR;
    }

    if (et == TYPES__V1__EXEMPLAR_TYPE__EXEMPLAR_TYPE_SPAN
        && qt != QUERIER__V1__HEATMAP_QUERY_TYPE__HEATMAP_QUERY_TYPE_SPAN)
    {
        pyro_err_invalid(err, "span exemplars only available for span "
                         "query type");
        return PYRO_ERROR;
    }

    if (et < 0 || et > TYPES__V1__EXEMPLAR_TYPE__EXEMPLAR_TYPE_SPAN) {
        pyro_err_invalid(err, "unknown exemplar type: %d", et);
        return PYRO_ERROR;
    }

    if (qt != QUERIER__V1__HEATMAP_QUERY_TYPE__HEATMAP_QUERY_TYPE_INDIVIDUAL
        && qt != QUERIER__V1__HEATMAP_QUERY_TYPE__HEATMAP_QUERY_TYPE_SPAN)
    {
        pyro_err_invalid(err, "valid heatmap query type must be specified");
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


/* One HeatmapSeries; every slot lists all value buckets (y_min, counts),
 * zeros included, as upstream's.  No exemplars yet. */
static Types__V1__HeatmapSeries *
pyro_rpc_one_heatmap(pyro_arena_t *a, const pyro_heatmap_t *hm,
    const pyro_hseries_t *hs)
{
    size_t                     i;
    Types__V1__HeatmapSlot    *sl;
    Types__V1__HeatmapSeries  *s;

    s = pyro_arena_alloc(a, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }

    types__v1__heatmap_series__init(s);
    s->labels = pyro_rpc_pairs(a, &hs->labels);
    s->n_labels = s->labels ? hs->labels.n : 0;
    s->slots = pyro_arena_alloc(a, (hs->nslots + 1) * sizeof(void *));

    for (i = 0; s->slots && i < hs->nslots; i++) {
        sl = pyro_arena_alloc(a, sizeof(*sl));
        if (sl == NULL) {
            return NULL;
        }

        types__v1__heatmap_slot__init(sl);
        sl->timestamp = hs->slots[i].ts_ms;
        sl->y_min = pyro_arena_alloc(a, sizeof(hm->y_min));
        sl->counts = pyro_arena_alloc(a, sizeof(hs->slots[i].counts));

        if (sl->y_min == NULL || sl->counts == NULL) {
            return NULL;
        }

        memcpy(sl->y_min, hm->y_min, sizeof(hm->y_min));
        memcpy(sl->counts, hs->slots[i].counts, sizeof(hs->slots[i].counts));
        sl->n_y_min = PYRO_HEATMAP_BUCKETS;
        sl->n_counts = PYRO_HEATMAP_BUCKETS;
        s->slots[s->n_slots++] = sl;
    }

    return s;
}


static int
pyro_rpc_select_heatmap(const pyro_rpc_t *rpc, const ProtobufCMessage *m,
    pyro_arena_t *a, ProtobufCMessage **resp, pyro_err_t *err)
{
    int                                  rc;
    size_t                               i;
    int64_t                              start, end;
    pyro_scan_t                          s;
    pyro_heatmap_t                       hm;
    pyro_selector_t                     *sel;
    pyro_heatmap_opts_t                  o;
    Querier__V1__SelectHeatmapResponse  *r;
    const Querier__V1__SelectHeatmapRequest  *req = (const void *) m;

    r = pyro_arena_alloc(a, sizeof(*r));
    if (r == NULL) {
        return PYRO_ERROR;
    }

    querier__v1__select_heatmap_response__init(r);
    *resp = &r->base;

    if (pyro_rpc_heatmap_check(req, err) != PYRO_OK) {
        return PYRO_ERROR;
    }

    start = req->start;
    end = req->end;

    rc = pyro_rpc_range(rpc, &start, &end, 0, err);
    if (rc != PYRO_OK) {
        return rc == PYRO_DECLINED ? PYRO_OK : rc;
    }

    sel = pyro_rpc_selector(req->profile_typeid, req->label_selector, err);
    if (sel == NULL) {
        return PYRO_ERROR;
    }

    memset(&o, 0, sizeof(pyro_heatmap_opts_t));
    /* time.Duration(step * 1e9).Milliseconds(): truncated */
    o.step_ms = (int64_t) (req->step * 1e9) / 1000000;
    o.group_by = (const char *const *) req->group_by;
    o.ngroup_by = req->n_group_by;
    o.type = (req->query_type
              == QUERIER__V1__HEATMAP_QUERY_TYPE__HEATMAP_QUERY_TYPE_SPAN)
             ? PYRO_HEATMAP_SPAN : PYRO_HEATMAP_INDIVIDUAL;
    o.limit = (req->_limit_case
               == QUERIER__V1__SELECT_HEATMAP_REQUEST___LIMIT_LIMIT)
              ? req->limit : 0;

    pyro_rpc_scan_init(&s, rpc, start, end);
    s.sels = &sel;
    s.nsels = 1;

    rc = pyro_engine_heatmap(&s, &o, &hm, err);

    r->series = pyro_arena_alloc(a, (hm.n + 1) * sizeof(void *));

    for (i = 0; rc == PYRO_OK && r->series && i < hm.n; i++) {
        r->series[i] = pyro_rpc_one_heatmap(a, &hm, &hm.v[i]);
        if (r->series[i] == NULL) {
            break;
        }
        r->n_series++;
    }

    pyro_heatmap_free(&hm);
    pyro_selector_free(sel);

    return rc;
}


/*
 * AnalyzeQuery's "query": a metric selector whose metric name is the
 * profile type ("<profileTypeID>{...}"), or just "{...}", or nothing
 * (every series).  *sel stays NULL for nothing.
 */
static int
pyro_rpc_analyze_selector(const char *q, pyro_selector_t **sel,
    pyro_err_t *err)
{
    size_t  n;

    *sel = NULL;
    n = strlen(q);

    if (n == 0) {
        return PYRO_OK;
    }

    *sel = (q[0] == '{') ? pyro_selector_parse(q, n, err)
                         : pyro_selector_parse_query(q, n, err);

    return *sel ? PYRO_OK : PYRO_ERROR;
}


static Querier__V1__QueryScope *
pyro_rpc_query_scope(pyro_arena_t *a, const char *type,
    const pyro_qscope_t *q)
{
    Querier__V1__QueryScope  *sc;

    sc = pyro_arena_alloc(a, sizeof(*sc));
    if (sc == NULL) {
        return NULL;
    }

    querier__v1__query_scope__init(sc);
    sc->component_type = pyro_arena_strdup(a, type, strlen(type));
    sc->component_count = q->components;
    sc->block_count = q->blocks;
    sc->series_count = q->series;
    sc->profile_count = q->profiles;
    sc->sample_count = q->samples;
    sc->index_bytes = q->index_bytes;
    sc->profile_bytes = q->profile_bytes;
    sc->symbol_bytes = q->symbol_bytes;

    return sc;
}


/*
 * AnalyzeQuery as upstream's querier builds it: two scopes, "Short term
 * storage" (our open segments) then "Long term storage" (sealed ones),
 * total bytes = the sum of both scopes' index, profile and symbol bytes,
 * the queried series counted as Series does, no deduplication (every
 * profile is stored once).
 */
static int
pyro_rpc_analyze_query(const pyro_rpc_t *rpc, const ProtobufCMessage *m,
    pyro_arena_t *a, ProtobufCMessage **resp, pyro_err_t *err)
{
    int                                 rc;
    int64_t                             start, end;
    pyro_scan_t                         s;
    pyro_selector_t                    *sel;
    pyro_analysis_t                     an;
    Querier__V1__QueryImpact           *qi;
    Querier__V1__AnalyzeQueryResponse  *r;
    const pyro_qscope_t                *st, *lt;
    const Querier__V1__AnalyzeQueryRequest  *req = (const void *) m;

    r = pyro_arena_alloc(a, sizeof(*r));
    qi = pyro_arena_alloc(a, sizeof(*qi));
    if (r == NULL || qi == NULL) {
        return PYRO_ERROR;
    }

    querier__v1__analyze_query_response__init(r);
    querier__v1__query_impact__init(qi);
    *resp = &r->base;

    start = req->start;
    end = req->end;

    rc = pyro_rpc_range(rpc, &start, &end, 0, err);
    if (rc != PYRO_OK) {
        return rc == PYRO_DECLINED ? PYRO_OK : rc;
    }

    if (pyro_rpc_analyze_selector(req->query, &sel, err) != PYRO_OK) {
        return PYRO_ERROR;
    }

    pyro_rpc_scan_init(&s, rpc, start, end);
    s.sels = sel ? &sel : NULL;
    s.nsels = sel ? 1 : 0;

    rc = pyro_engine_analyze(&s, &an, err);
    pyro_selector_free(sel);

    if (rc != PYRO_OK) {
        return rc;
    }

    st = &an.short_term;
    lt = &an.long_term;

    r->query_scopes = pyro_arena_alloc(a, 3 * sizeof(void *));
    if (r->query_scopes == NULL) {
        return PYRO_ERROR;
    }

    r->query_scopes[0] = pyro_rpc_query_scope(a, "Short term storage", st);
    r->query_scopes[1] = pyro_rpc_query_scope(a, "Long term storage", lt);
    r->n_query_scopes = 2;

    qi->total_bytes_in_time_range = st->index_bytes + st->profile_bytes
                                    + st->symbol_bytes + lt->index_bytes
                                    + lt->profile_bytes + lt->symbol_bytes;
    qi->total_queried_series = an.queried_series;
    qi->deduplication_needed = 0;
    r->query_impact = qi;

    return PYRO_OK;
}


const pyro_rpc_method_t  pyro_rpc_methods[] = {
    { "ProfileTypes", &querier__v1__profile_types_request__descriptor,
      pyro_rpc_profile_types },
    { "LabelNames", &types__v1__label_names_request__descriptor,
      pyro_rpc_label_names },
    { "LabelValues", &types__v1__label_values_request__descriptor,
      pyro_rpc_label_values },
    { "Series", &querier__v1__series_request__descriptor,
      pyro_rpc_series },
    { "SelectMergeStacktraces",
      &querier__v1__select_merge_stacktraces_request__descriptor,
      pyro_rpc_select_merge_stacktraces },
    { "SelectMergeProfile",
      &querier__v1__select_merge_profile_request__descriptor,
      pyro_rpc_select_merge_profile },
    { "SelectSeries", &querier__v1__select_series_request__descriptor,
      pyro_rpc_select_series },
    { "GetProfileStats", &types__v1__get_profile_stats_request__descriptor,
      pyro_rpc_profile_stats },
    { "Diff", &querier__v1__diff_request__descriptor, pyro_rpc_diff },
    { "SelectMergeSpanProfile",
      &querier__v1__select_merge_span_profile_request__descriptor,
      pyro_rpc_select_merge_span_profile },
    { "SelectHeatmap", &querier__v1__select_heatmap_request__descriptor,
      pyro_rpc_select_heatmap },
    { "AnalyzeQuery", &querier__v1__analyze_query_request__descriptor,
      pyro_rpc_analyze_query },
    { NULL, NULL, NULL }
};


/*
 * Copyright (C) ngx_pyroscope developers
 *
 * The query engine behind querier.v1.QuerierService (spec 1.3-1.4 and
 * 6, query-output-formats 4): one scanner over the tenants' segment
 * files, which selects profiles by time and series labels from each
 * record's uncompressed meta section and decodes a record's body only
 * when a query needs samples, and the queries built on it, with plain
 * C results the glue encodes.
 *
 * Memory: a query keeps only what its result needs (distinct strings,
 * series, buckets, the merged tree) plus one record at a time; results
 * are malloc'ed and owned by the caller.  Nothing here is shared between
 * threads: a query runs in one thread with its own state.
 */


#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyro.h"


#define PYRO_SITE_BROKEN  UINT32_MAX    /* a stack off the call site */


/* The scanner's state for one query; see pyro_scan(). */
typedef struct {
    const pyro_scan_t     *scan;
    int64_t                min_ns;
    int64_t                max_ns;
    int                    body;
    pyro_rec_cb_pt         rec_cb;      /* per record, given this struct */
    pyro_scan_pt           cb;          /* per selected profile */
    void                  *ctx;
    pyro_err_t            *err;
    pyro_scan_item_t       item;
    unsigned char         *want;        /* per profile of the record */
    size_t                 want_cap;
    int                    failed;      /* a callback or ENOMEM stopped it */
} pyro_scanner_t;


/* A set of byte strings (keys may hold NULs): open addressing over
 * indexes + 1, keys copied and NUL-terminated, owned by the set. */
typedef struct {
    char                 **keys;
    size_t                *lens;
    size_t                 n;
    size_t                 cap;
    uint32_t              *slots;
    size_t                 mask;
} pyro_sset_t;


/* Unix ms of a time in ns, rounded down as Go's UnixMilli(). */
static int64_t
pyro_ns_to_ms(int64_t ns)
{
    int64_t  ms;

    ms = ns / 1000000;

    return (ns % 1000000 < 0) ? ms - 1 : ms;
}


static int
pyro_nomem(pyro_err_t *err)
{
    pyro_err_internal(err, "out of memory");

    return PYRO_ERROR;
}


/* The value of a profile's series label, or NULL. */
static const char *
pyro_prof_label(const pyro_prof_t *p, const char *name)
{
    size_t  i;

    for (i = 0; i < p->nlabels; i++) {
        if (strcmp(p->labels[i].name, name) == 0) {
            return p->labels[i].value;
        }
    }

    return NULL;
}


static uint64_t
pyro_sset_hash(const char *s, size_t len)
{
    size_t    i;
    uint64_t  h;

    h = 0xcbf29ce484222325ULL;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char) s[i];
        h *= 0x100000001b3ULL;
    }

    return h ^ (h >> 29);
}


static int
pyro_sset_rehash(pyro_sset_t *set)
{
    size_t     i, j, n;
    uint32_t  *slots;

    n = set->slots ? (set->mask + 1) * 2 : 64;

    slots = calloc(n, sizeof(uint32_t));
    if (slots == NULL) {
        return PYRO_ERROR;
    }

    for (i = 0; i < set->n; i++) {
        j = pyro_sset_hash(set->keys[i], set->lens[i]) & (n - 1);

        while (slots[j]) {
            j = (j + 1) & (n - 1);
        }

        slots[j] = (uint32_t) i + 1;
    }

    free(set->slots);
    set->slots = slots;
    set->mask = n - 1;

    return PYRO_OK;
}


/* Returns the index of the key, adding a copy if new; -1 on ENOMEM. */
static int64_t
pyro_sset_add(pyro_sset_t *set, const char *s, size_t len)
{
    char      *k;
    size_t     i, cap;
    uint32_t   v;

    if ((set->slots == NULL || (set->n + 1) * 2 > set->mask + 1)
        && (set->n >= UINT32_MAX - 1 || pyro_sset_rehash(set) != PYRO_OK))
    {
        return -1;
    }

    i = pyro_sset_hash(s, len) & set->mask;

    while ((v = set->slots[i]) != 0) {
        if (set->lens[v - 1] == len && memcmp(set->keys[v - 1], s, len) == 0)
        {
            return v - 1;
        }

        i = (i + 1) & set->mask;
    }

    cap = set->cap;

    if (pyro_array_reserve((void **) &set->keys, &cap, set->n + 1,
                           sizeof(char *))
        != PYRO_OK
        || pyro_array_reserve((void **) &set->lens, &set->cap, set->n + 1,
                              sizeof(size_t))
           != PYRO_OK)
    {
        return -1;
    }

    /* both arrays grow alike: keys' capacity is lens' */
    k = malloc(len + 1);
    if (k == NULL) {
        return -1;
    }

    memcpy(k, s, len);
    k[len] = '\0';

    set->keys[set->n] = k;
    set->lens[set->n] = len;
    set->slots[i] = (uint32_t) ++set->n;

    return (int64_t) set->n - 1;
}


static void
pyro_sset_free(pyro_sset_t *set)
{
    size_t  i;

    for (i = 0; i < set->n; i++) {
        free(set->keys[i]);
    }

    free(set->keys);
    free(set->lens);
    free(set->slots);
}


static int
pyro_cstr_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}


/* Moves the set's keys into a sorted list; the set is left empty. */
static void
pyro_sset_to_strs(pyro_sset_t *set, pyro_strs_t *out)
{
    out->v = set->keys;
    out->n = set->n;

    if (out->n > 1) {
        qsort(out->v, out->n, sizeof(char *), pyro_cstr_cmp);
    }

    set->keys = NULL;
    set->n = 0;
}


/* profile_id_selector lists are short (a user picks profiles in the
 * UI): a linear search costs less than building anything. */
static int
pyro_scan_wants_id(const pyro_scan_t *s, const char *id)
{
    size_t  i;

    if (*id == '\0') {
        return 0;
    }

    for (i = 0; i < s->nprofile_ids; i++) {
        if (strcmp(s->profile_ids[i], id) == 0) {
            return 1;
        }
    }

    return 0;
}


/* Selects a profile by time, ID and series labels (meta only). */
static int
pyro_scan_wants(pyro_scanner_t *sc, const pyro_prof_t *p)
{
    int                 hit, all;
    size_t              i;
    const pyro_scan_t  *s;

    if (p->time_ns < sc->min_ns || p->time_ns > sc->max_ns) {
        return 0;
    }

    s = sc->scan;

    if (s->nprofile_ids && !pyro_scan_wants_id(s, p->id)) {
        return 0;
    }

    all = (s->match_all != 0);

    /* OR: the first hit decides; AND: the first miss does */
    for (i = 0; i < s->nsels; i++) {
        hit = (pyro_selector_match(s->sels[i], p->labels, p->nlabels) != 0);

        if (hit != all) {
            return hit;
        }
    }

    return s->nsels == 0 || all;
}


/*
 * A record's body is checksummed, inflated and decoded only when one of
 * its profiles is selected and the query wants samples: the series
 * labels are in the uncompressed meta section.
 */
static int
pyro_scan_record(void *data, const pyro_rec_hdr_t *h, const char *buf,
    size_t len)
{
    size_t           i, n;
    pyro_err_t       err;
    pyro_record_t    rec;
    pyro_scanner_t  *sc = data;

    if (pyro_record_decode_meta(buf, len, &rec, &err) != PYRO_OK) {
        return PYRO_OK;
    }

    if (pyro_array_reserve((void **) &sc->want, &sc->want_cap,
                           rec.nprofs + 1, 1)
        != PYRO_OK)
    {
        pyro_record_free(&rec);
        sc->failed = 1;
        return pyro_nomem(sc->err);
    }

    n = 0;

    for (i = 0; i < rec.nprofs; i++) {
        sc->want[i] = (unsigned char) pyro_scan_wants(sc, &rec.profs[i]);
        n += sc->want[i];
    }

    if (n == 0 || (sc->body && pyro_record_decode_body(&rec, &err) != PYRO_OK))
    {
        /* nothing selected, or a corrupt record: skipped */
        pyro_record_free(&rec);
        return PYRO_OK;
    }

    sc->item.rec = &rec;
    sc->item.seq++;

    for (i = 0; i < rec.nprofs && !sc->failed; i++) {
        if (!sc->want[i]) {
            continue;
        }

        sc->item.prof = &rec.profs[i];

        if (sc->cb(sc->ctx, &sc->item, sc->err) != PYRO_OK) {
            sc->failed = 1;
        }
    }

    sc->item.rec = NULL;
    sc->item.prof = NULL;
    pyro_record_free(&rec);

    return sc->failed ? PYRO_ERROR : PYRO_OK;
}


/*
 * Lists a tenant directory's segment files in name order (so every
 * worker reads them alike).  A missing directory is an empty list.
 */
int
pyro_list_segments(const char *dir, char ***names, size_t *n)
{
    DIR            *d;
    size_t          cap, len;
    char          **v, **nv;
    struct dirent  *de;

    *names = NULL;
    *n = 0;

    d = opendir(dir);
    if (d == NULL) {
        return errno == ENOENT ? PYRO_OK : PYRO_ERROR;
    }

    v = NULL;
    cap = 0;

    while ((de = readdir(d)) != NULL) {
        len = strlen(de->d_name);

        if (len < 5 || (strcmp(de->d_name + len - 5, ".open") != 0
                        && strcmp(de->d_name + len - 4, ".seg") != 0))
        {
            continue;
        }

        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            nv = realloc(v, cap * sizeof(char *));
            if (nv == NULL) {
                break;
            }
            v = nv;
        }

        v[*n] = strdup(de->d_name);
        if (v[*n] == NULL) {
            break;
        }

        (*n)++;
    }

    closedir(d);

    if (*n > 1) {
        qsort(v, *n, sizeof(char *), pyro_cstr_cmp);
    }

    *names = v;

    return de == NULL ? PYRO_OK : PYRO_ERROR;
}


/* Scans one file; an .open file may have been sealed since the listing. */
static void
pyro_scan_file(pyro_scanner_t *sc, const char *dir, const char *name)
{
    char        *path;
    size_t       len;
    pyro_err_t   err;

    len = strlen(dir) + strlen(name) + 1;

    path = malloc(len + 1);
    if (path == NULL) {
        sc->failed = 1;
        (void) pyro_nomem(sc->err);
        return;
    }

    snprintf(path, len + 1, "%s/%s", dir, name);

    if (pyro_segment_scan(path, sc->min_ns, sc->max_ns, sc->rec_cb, sc, &err)
        != PYRO_OK
        && !sc->failed && len > 5 && strcmp(path + len - 5, ".open") == 0)
    {
        /* only a failure to open (no record seen yet) gets here */
        memcpy(path + len - 4, "seg", 4);
        (void) pyro_segment_scan(path, sc->min_ns, sc->max_ns, sc->rec_cb,
                                 sc, &err);
    }

    free(path);
}


static int
pyro_scan_dir(pyro_scanner_t *sc, const char *dir)
{
    size_t   i, n;
    char   **names;

    if (pyro_list_segments(dir, &names, &n) != PYRO_OK) {
        pyro_err_internal(sc->err, "cannot list \"%s\"", dir);
        sc->failed = 1;
    }

    for (i = 0; i < n; i++) {
        if (!sc->failed) {
            pyro_scan_file(sc, dir, names[i]);
        }

        free(names[i]);
    }

    free(names);

    return sc->failed ? PYRO_ERROR : PYRO_OK;
}


/* Walks the tenants in sorted order, calling sc->rec_cb per record. */
static int
pyro_scan_walk(pyro_scanner_t *sc, const char *root,
    const pyro_tenants_t *tenants)
{
    int          rc;
    char        *dir;
    size_t       i, n;
    const char  *ids[PYRO_TENANTS_MAX];

    n = tenants->n < PYRO_TENANTS_MAX ? tenants->n : PYRO_TENANTS_MAX;

    for (i = 0; i < n; i++) {
        ids[i] = tenants->id[i];
    }

    qsort(ids, n, sizeof(char *), pyro_cstr_cmp);

    dir = malloc(strlen(root) + PYRO_TENANT_MAX + 2);
    if (dir == NULL) {
        return pyro_nomem(sc->err);
    }

    rc = PYRO_OK;

    for (i = 0; i < n && rc == PYRO_OK; i++) {
        sprintf(dir, "%s/%.*s", root, PYRO_TENANT_MAX, ids[i]);
        sc->item.tenant = ids[i];
        rc = pyro_scan_dir(sc, dir);
    }

    free(dir);

    return rc;
}


int
pyro_scan(const pyro_scan_t *s, int64_t min_ns, int64_t max_ns, int body,
    pyro_scan_pt cb, void *ctx, pyro_err_t *err)
{
    int             rc;
    pyro_scanner_t  sc;

    memset(&sc, 0, sizeof(pyro_scanner_t));
    sc.scan = s;
    sc.min_ns = min_ns;
    sc.max_ns = max_ns;
    sc.body = body;
    sc.rec_cb = pyro_scan_record;
    sc.cb = cb;
    sc.ctx = ctx;
    sc.err = err;

    rc = pyro_scan_walk(&sc, s->root, s->tenants);

    free(sc.want);

    return rc;
}


int64_t
pyro_stackmap_node(pyro_stackmap_t *m, const pyro_scan_item_t *it,
    uint32_t node)
{
    size_t                n, cap;
    int64_t               t;
    uint32_t              parent;
    const pyro_str_t     *name;
    const pyro_record_t  *rec;

    rec = it->rec;

    if (!m->ready || m->seq != it->seq) {
        cap = m->cap;

        if (pyro_array_reserve((void **) &m->memo, &cap, rec->nnodes,
                               sizeof(uint32_t))
            != PYRO_OK
            || pyro_array_reserve((void **) &m->stack, &m->cap, rec->nnodes,
                                  sizeof(uint32_t))
               != PYRO_OK)
        {
            return -1;
        }

        /* both arrays grow alike: memo's capacity is stack's */
        if (rec->nnodes) {
            memset(m->memo, 0xff, rec->nnodes * sizeof(uint32_t));
        }

        m->seq = it->seq;
        m->ready = 1;
    }

    if (node >= rec->nnodes) {
        return 0;
    }

    /* walk up to the first ancestor already mapped, then down again */
    n = 0;

    while (node != PYRO_NODE_NONE && m->memo[node] == UINT32_MAX) {
        m->stack[n++] = node;
        node = rec->nodes[node].parent;
    }

    parent = (node == PYRO_NODE_NONE) ? 0 : m->memo[node];

    while (n > 0) {
        node = m->stack[--n];
        name = &rec->strings[rec->funcs[rec->nodes[node].fn].name];

        t = pyro_tree_child(m->tree, parent, name->data, name->len);
        if (t < 0) {
            return -1;
        }

        parent = (uint32_t) t;
        m->memo[node] = parent;
    }

    return parent;
}


void
pyro_stackmap_free(pyro_stackmap_t *m)
{
    free(m->memo);
    free(m->stack);
    m->memo = NULL;
    m->stack = NULL;
    m->cap = 0;
    m->ready = 0;
}


/* Go's time.Duration.String() of a non-negative number of ms. */
static void
pyro_go_duration(char *buf, size_t size, int64_t ms)
{
    int      n;
    int64_t  h, m, s, f;

    if (ms == 0) {
        snprintf(buf, size, "0s");
        return;
    }

    if (ms < 1000) {
        snprintf(buf, size, "%lldms", (long long) ms);
        return;
    }

    h = ms / 3600000;
    m = ms / 60000 % 60;
    s = ms / 1000 % 60;
    f = ms % 1000;

    n = 0;

    if (h) {
        n = snprintf(buf, size, "%lldh", (long long) h);
    }

    if (h || m) {
        n += snprintf(buf + n, size - n, "%lldm", (long long) m);
    }

    n += snprintf(buf + n, size - n, "%lld", (long long) s);

    if (f) {
        n += snprintf(buf + n, size - n, ".%03lld", (long long) f);

        while (buf[n - 1] == '0') {
            n--;
        }
    }

    snprintf(buf + n, size - n, "s");
}


/* Prometheus' model.Duration.String(): years and weeks only when exact,
 * so 24h is "1d" and 7d is "1w". */
static void
pyro_prom_duration(char *buf, size_t size, int64_t ms)
{
    int      n;
    size_t   i;

    static const struct {
        const char  *unit;
        int64_t      mult;
        int          exact;
    } units[] = {
        { "y", 365LL * 86400000, 1 },
        { "w", 7LL * 86400000, 1 },
        { "d", 86400000, 0 },
        { "h", 3600000, 0 },
        { "m", 60000, 0 },
        { "s", 1000, 0 },
        { "ms", 1, 0 },
    };

    if (ms == 0) {
        snprintf(buf, size, "0s");
        return;
    }

    n = 0;
    buf[0] = '\0';

    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if ((units[i].exact && ms % units[i].mult != 0)
            || ms / units[i].mult == 0)
        {
            continue;
        }

        n += snprintf(buf + n, size - n, "%lld%s",
                      (long long) (ms / units[i].mult), units[i].unit);
        ms %= units[i].mult;
    }
}


int
pyro_query_range(int64_t *start_ms, int64_t *end_ms, int64_t now_ms,
    int64_t max_length_ms, int64_t max_lookback_ms, unsigned flags,
    pyro_err_t *err)
{
    char     actual[64], limit[64];
    int64_t  len, min_start;

    if ((flags & PYRO_RANGE_LAST_HOUR) && *start_ms == 0 && *end_ms == 0) {
        *start_ms = now_ms - 3600000;
        *end_ms = now_ms;
    }

    if (*start_ms == 0 || *end_ms == 0) {
        pyro_err_invalid(err, "missing time range in the query");
        return PYRO_ERROR;
    }

    if (*start_ms > *end_ms) {
        pyro_err_invalid(err, "query start time is after end time");
        return PYRO_ERROR;
    }

    if (max_lookback_ms > 0
        && !__builtin_sub_overflow(now_ms, max_lookback_ms, &min_start))
    {
        if (*end_ms < min_start) {
            return PYRO_DECLINED;
        }

        if (*start_ms < min_start) {
            *start_ms = min_start;
        }
    }

    if (max_length_ms > 0) {
        if (__builtin_sub_overflow(*end_ms, *start_ms, &len)) {
            len = INT64_MAX;
        }

        if (len > max_length_ms) {
            pyro_go_duration(actual, sizeof(actual), len);
            pyro_prom_duration(limit, sizeof(limit), max_length_ms);
            pyro_err_invalid(err, "the query time range exceeds the limit "
                             "(max_query_length, actual: %s, limit: %s)",
                             actual, limit);
            return PYRO_ERROR;
        }
    }

    return PYRO_OK;
}


void
pyro_strs_free(pyro_strs_t *l)
{
    size_t  i;

    for (i = 0; i < l->n; i++) {
        free(l->v[i]);
    }

    free(l->v);
    l->v = NULL;
    l->n = 0;
}


static int
pyro_engine_meta_scan(const pyro_scan_t *s, pyro_scan_pt cb, void *ctx,
    pyro_err_t *err)
{
    return pyro_scan(s, pyro_ms_to_ns(s->start_ms), pyro_ms_to_ns(s->end_ms),
                     0, cb, ctx, err);
}


static int
pyro_ptypes_profile(void *data, const pyro_scan_item_t *it, pyro_err_t *err)
{
    const char  *v;

    v = pyro_prof_label(it->prof, "__profile_type__");

    if (v != NULL && pyro_sset_add(data, v, strlen(v)) < 0) {
        return pyro_nomem(err);
    }

    return PYRO_OK;
}


/* ParseProfileTypeSelector: <name>:<sample type>:<sample unit>:<period
 * type>:<period unit>[:<anything>]; one allocation holds the ID and a
 * copy split into its parts. */
static int
pyro_ptype_parse(const char *id, size_t len, pyro_ptype_t *pt)
{
    char        *buf, *p, *parts[6];
    size_t       i, n;

    for (i = 0, n = 1; i < len; i++) {
        n += (id[i] == ':');
    }

    if (n != 5 && n != 6) {
        return PYRO_DECLINED;
    }

    buf = malloc(2 * len + 2);
    if (buf == NULL) {
        return PYRO_ERROR;
    }

    memcpy(buf, id, len + 1);
    p = buf + len + 1;
    memcpy(p, id, len + 1);

    parts[0] = p;

    for (i = 0, n = 1; i < len; i++) {
        if (p[i] == ':') {
            p[i] = '\0';
            parts[n++] = p + i + 1;
        }
    }

    pt->id = buf;
    pt->name = parts[0];
    pt->sample_type = parts[1];
    pt->sample_unit = parts[2];
    pt->period_type = parts[3];
    pt->period_unit = parts[4];

    return PYRO_OK;
}


static int
pyro_ptype_cmp(const void *a, const void *b)
{
    return strcmp(((const pyro_ptype_t *) a)->id,
                  ((const pyro_ptype_t *) b)->id);
}


int
pyro_engine_profile_types(const pyro_scan_t *s, pyro_ptypes_t *out,
    pyro_err_t *err)
{
    int          rc;
    size_t       i;
    pyro_sset_t  set;

    memset(out, 0, sizeof(pyro_ptypes_t));
    memset(&set, 0, sizeof(pyro_sset_t));

    rc = pyro_engine_meta_scan(s, pyro_ptypes_profile, &set, err);

    if (rc == PYRO_OK && set.n) {
        out->v = calloc(set.n, sizeof(pyro_ptype_t));
        rc = out->v ? PYRO_OK : pyro_nomem(err);
    }

    for (i = 0; rc == PYRO_OK && i < set.n; i++) {
        /* malformed IDs are skipped, as upstream logs and skips them */
        switch (pyro_ptype_parse(set.keys[i], set.lens[i], &out->v[out->n])) {
        case PYRO_OK:
            out->n++;
            break;
        case PYRO_DECLINED:
            break;
        default:
            rc = pyro_nomem(err);
        }
    }

    pyro_sset_free(&set);

    if (out->n > 1) {
        qsort(out->v, out->n, sizeof(pyro_ptype_t), pyro_ptype_cmp);
    }

    return rc;
}


void
pyro_ptypes_free(pyro_ptypes_t *l)
{
    size_t  i;

    for (i = 0; i < l->n; i++) {
        free(l->v[i].id);
    }

    free(l->v);
    l->v = NULL;
    l->n = 0;
}


/* SanitizeLegacyLabelName's verdict: [A-Za-z_][A-Za-z0-9_]* once every
 * '.' reads as '_'. */
static int
pyro_legacy_name(const char *s)
{
    size_t         i;
    unsigned char  c;

    for (i = 0; s[i]; i++) {
        c = (unsigned char) s[i];

        if (c == '_' || c == '.' || (c >= 'a' && c <= 'z')
            || (c >= 'A' && c <= 'Z') || (i && c >= '0' && c <= '9'))
        {
            continue;
        }

        return 0;
    }

    return i > 0;
}


typedef struct {
    pyro_sset_t            set;
    const char            *name;        /* LabelValues */
    int                    legacy_only; /* LabelNames */
} pyro_lbl_ctx_t;


static int
pyro_label_names_profile(void *data, const pyro_scan_item_t *it,
    pyro_err_t *err)
{
    size_t           i;
    const char      *n;
    pyro_lbl_ctx_t  *ctx = data;

    for (i = 0; i < it->prof->nlabels; i++) {
        n = it->prof->labels[i].name;

        if ((!ctx->legacy_only || pyro_legacy_name(n))
            && pyro_sset_add(&ctx->set, n, strlen(n)) < 0)
        {
            return pyro_nomem(err);
        }
    }

    return PYRO_OK;
}


int
pyro_engine_label_names(const pyro_scan_t *s, int legacy_only,
    pyro_strs_t *out, pyro_err_t *err)
{
    int             rc;
    pyro_lbl_ctx_t  ctx;

    memset(out, 0, sizeof(pyro_strs_t));
    memset(&ctx, 0, sizeof(pyro_lbl_ctx_t));
    ctx.legacy_only = legacy_only;

    rc = pyro_engine_meta_scan(s, pyro_label_names_profile, &ctx, err);

    if (rc == PYRO_OK) {
        pyro_sset_to_strs(&ctx.set, out);
    }

    pyro_sset_free(&ctx.set);

    return rc;
}


static int
pyro_label_values_profile(void *data, const pyro_scan_item_t *it,
    pyro_err_t *err)
{
    const char      *v;
    pyro_lbl_ctx_t  *ctx = data;

    v = pyro_prof_label(it->prof, ctx->name);

    if (v != NULL && *v != '\0'
        && pyro_sset_add(&ctx->set, v, strlen(v)) < 0)
    {
        return pyro_nomem(err);
    }

    return PYRO_OK;
}


int
pyro_engine_label_values(const pyro_scan_t *s, const char *name,
    pyro_strs_t *out, pyro_err_t *err)
{
    int             rc;
    pyro_lbl_ctx_t  ctx;

    memset(out, 0, sizeof(pyro_strs_t));

    if (name == NULL || *name == '\0') {
        pyro_err_invalid(err, "name is required");
        return PYRO_ERROR;
    }

    memset(&ctx, 0, sizeof(pyro_lbl_ctx_t));
    ctx.name = name;

    rc = pyro_engine_meta_scan(s, pyro_label_values_profile, &ctx, err);

    if (rc == PYRO_OK) {
        pyro_sset_to_strs(&ctx.set, out);
    }

    pyro_sset_free(&ctx.set);

    return rc;
}


static int
pyro_labels_qcmp(const void *a, const void *b)
{
    return pyro_labels_cmp(a, b);
}


/* Appends name NUL value NUL: a series key that cannot be ambiguous,
 * as neither part holds a NUL. */
static void
pyro_key_put(pyro_buf_t *key, const char *name, const char *value)
{
    pyro_buf_append(key, name, strlen(name) + 1);
    pyro_buf_append(key, value, strlen(value) + 1);
}


/* Rebuilds a label set from a series key. */
static int
pyro_key_labels(const char *k, size_t len, pyro_labels_t *ls)
{
    const char  *end, *v;

    memset(ls, 0, sizeof(pyro_labels_t));
    end = k + len;

    while (k < end) {
        v = k + strlen(k) + 1;

        if (pyro_labels_set(ls, k, strlen(k), v, strlen(v)) != PYRO_OK) {
            pyro_labels_free(ls);
            return PYRO_ERROR;
        }

        k = v + strlen(v) + 1;
    }

    return PYRO_OK;
}


typedef struct {
    pyro_sset_t            set;
    pyro_buf_t             key;
    const char *const     *names;       /* NULL: every label */
    size_t                 nnames;
    int                    legacy_only;
    int                    named;       /* a profile had one of "names" */
} pyro_series_ctx_t;


static int
pyro_series_wants(pyro_series_ctx_t *ctx, const char *name)
{
    size_t  i;

    if (ctx->names == NULL) {
        return !ctx->legacy_only || pyro_legacy_name(name);
    }

    for (i = 0; i < ctx->nnames; i++) {
        if (ctx->names[i] != NULL && strcmp(ctx->names[i], name) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
pyro_series_profile(void *data, const pyro_scan_item_t *it, pyro_err_t *err)
{
    size_t              i;
    const pyro_label_t  *l;
    pyro_series_ctx_t   *ctx = data;

    ctx->key.len = 0;

    /* the profile's labels are sorted by name, as a series' are */
    for (i = 0; i < it->prof->nlabels; i++) {
        l = &it->prof->labels[i];

        if (*l->value != '\0' && pyro_series_wants(ctx, l->name)) {
            pyro_key_put(&ctx->key, l->name, l->value);
        }
    }

    ctx->named |= (ctx->key.len != 0);

    if (ctx->key.failed
        || pyro_sset_add(&ctx->set, ctx->key.len ? ctx->key.data : "",
                         ctx->key.len)
           < 0)
    {
        return pyro_nomem(err);
    }

    return PYRO_OK;
}


/*
 * The names to keep, as the frontend and backend pick them: with
 * legacy_only, requested names failing the legacy check are dropped,
 * and a list left empty means every label (upstream's quirk); an empty
 * request means every label, legacy ones only with legacy_only.  The
 * list (which the caller frees) holds NULL for dropped names.
 */
static int
pyro_series_names(pyro_series_ctx_t *ctx, const char *const *names,
    size_t nnames, int legacy_only)
{
    size_t        i, kept;
    const char  **v;

    ctx->legacy_only = legacy_only;

    if (nnames == 0) {
        return PYRO_OK;
    }

    v = malloc(nnames * sizeof(char *));
    if (v == NULL) {
        return PYRO_ERROR;
    }

    kept = 0;

    for (i = 0; i < nnames; i++) {
        v[i] = (!legacy_only || pyro_legacy_name(names[i])) ? names[i] : NULL;
        kept += (v[i] != NULL);
    }

    if (kept == 0) {
        free(v);
        ctx->legacy_only = 0;
        return PYRO_OK;
    }

    ctx->names = v;
    ctx->nnames = nnames;

    return PYRO_OK;
}


static int
pyro_series_result(pyro_series_ctx_t *ctx, pyro_labelsets_t *out,
    pyro_err_t *err)
{
    size_t  i;

    /* upstream answers nothing when no series has any requested name */
    if (ctx->set.n == 0 || (ctx->names != NULL && !ctx->named)) {
        return PYRO_OK;
    }

    out->v = calloc(ctx->set.n, sizeof(pyro_labels_t));
    if (out->v == NULL) {
        return pyro_nomem(err);
    }

    for (i = 0; i < ctx->set.n; i++) {
        if (pyro_key_labels(ctx->set.keys[i], ctx->set.lens[i], &out->v[i])
            != PYRO_OK)
        {
            return pyro_nomem(err);
        }

        out->n++;
    }

    if (out->n > 1) {
        qsort(out->v, out->n, sizeof(pyro_labels_t), pyro_labels_qcmp);
    }

    return PYRO_OK;
}


int
pyro_engine_series(const pyro_scan_t *s, const char *const *names,
    size_t nnames, int legacy_only, pyro_labelsets_t *out, pyro_err_t *err)
{
    int                rc;
    pyro_series_ctx_t  ctx;

    memset(out, 0, sizeof(pyro_labelsets_t));
    memset(&ctx, 0, sizeof(pyro_series_ctx_t));

    if (pyro_series_names(&ctx, names, nnames, legacy_only) != PYRO_OK) {
        return pyro_nomem(err);
    }

    rc = pyro_engine_meta_scan(s, pyro_series_profile, &ctx, err);

    if (rc == PYRO_OK) {
        rc = pyro_series_result(&ctx, out, err);
    }

    free((void *) ctx.names);
    pyro_buf_free(&ctx.key);
    pyro_sset_free(&ctx.set);

    return rc;
}


void
pyro_labelsets_free(pyro_labelsets_t *l)
{
    size_t  i;

    for (i = 0; i < l->n; i++) {
        pyro_labels_free(&l->v[i]);
    }

    free(l->v);
    l->v = NULL;
    l->n = 0;
}


typedef struct {
    const pyro_merge_opts_t  *o;
    uint64_t                 *spans;       /* sorted copy */
    size_t                    nspans;
    pyro_tree_t              *tree;
    pyro_stackmap_t           map;
    uint32_t                 *site;        /* record node -> matched */
    size_t                    site_cap;
    uint64_t                  site_seq;
    int                       site_ready;
} pyro_merge_ctx_t;


static int
pyro_u64_cmp(const void *a, const void *b)
{
    uint64_t  x, y;

    x = *(const uint64_t *) a;
    y = *(const uint64_t *) b;

    return (x > y) - (x < y);
}


/*
 * How much of the call site each record node's stack (root first)
 * matches: n for all of it (deeper frames are free), PYRO_SITE_BROKEN
 * once a frame differs.  A parent always precedes its children in a
 * record, so one forward pass does every node.
 */
static int
pyro_merge_sites(pyro_merge_ctx_t *ctx, const pyro_record_t *rec)
{
    size_t              i, n;
    uint32_t            p, ps;
    const pyro_str_t   *name, *cs;

    if (pyro_array_reserve((void **) &ctx->site, &ctx->site_cap,
                           rec->nnodes + 1,
                           sizeof(uint32_t))
        != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    n = ctx->o->ncall_site;

    for (i = 0; i < rec->nnodes; i++) {
        p = rec->nodes[i].parent;
        ps = (p == PYRO_NODE_NONE) ? 0 : ctx->site[p];

        if (ps == PYRO_SITE_BROKEN || ps == n) {
            ctx->site[i] = ps;
            continue;
        }

        name = &rec->strings[rec->funcs[rec->nodes[i].fn].name];
        cs = &ctx->o->call_site[ps];

        ctx->site[i] = (name->len == cs->len
                        && (cs->len == 0
                            || memcmp(name->data, cs->data, cs->len) == 0))
                       ? ps + 1 : PYRO_SITE_BROKEN;
    }

    return PYRO_OK;
}


static int
pyro_merge_profile(void *data, const pyro_scan_item_t *it, pyro_err_t *err)
{
    size_t                i;
    int64_t               node;
    const pyro_sample_t  *smp;
    pyro_merge_ctx_t     *ctx = data;

    if (ctx->o->ncall_site && (!ctx->site_ready || ctx->site_seq != it->seq))
    {
        if (pyro_merge_sites(ctx, it->rec) != PYRO_OK) {
            return pyro_nomem(err);
        }

        ctx->site_seq = it->seq;
        ctx->site_ready = 1;
    }

    for (i = 0; i < it->prof->nsamples; i++) {
        smp = &it->prof->samples[i];

        if (ctx->nspans
            && bsearch(&smp->span, ctx->spans, ctx->nspans, sizeof(uint64_t),
                       pyro_u64_cmp)
               == NULL)
        {
            continue;
        }

        if (ctx->o->ncall_site && ctx->site[smp->node] != ctx->o->ncall_site)
        {
            continue;
        }

        node = pyro_stackmap_node(&ctx->map, it, smp->node);
        if (node < 0) {
            return pyro_nomem(err);
        }

        pyro_tree_add(ctx->tree, (uint32_t) node, (int64_t) smp->value);
    }

    return PYRO_OK;
}


int
pyro_engine_merge(const pyro_scan_t *s, const pyro_merge_opts_t *o,
    pyro_tree_t *tree, pyro_err_t *err)
{
    int                rc;
    pyro_merge_opts_t  none;
    pyro_merge_ctx_t   ctx;

    memset(&none, 0, sizeof(pyro_merge_opts_t));
    memset(&ctx, 0, sizeof(pyro_merge_ctx_t));
    ctx.o = o ? o : &none;
    ctx.tree = tree;
    ctx.map.tree = tree;

    if (ctx.o->nspans) {
        ctx.spans = malloc(ctx.o->nspans * sizeof(uint64_t));
        if (ctx.spans == NULL) {
            return pyro_nomem(err);
        }

        memcpy(ctx.spans, ctx.o->spans, ctx.o->nspans * sizeof(uint64_t));
        qsort(ctx.spans, ctx.o->nspans, sizeof(uint64_t), pyro_u64_cmp);
        ctx.nspans = ctx.o->nspans;
    }

    rc = pyro_scan(s, pyro_ms_to_ns(s->start_ms), pyro_ms_to_ns(s->end_ms), 1,
                   pyro_merge_profile, &ctx, err);

    free(ctx.spans);
    free(ctx.site);
    pyro_stackmap_free(&ctx.map);

    return rc;
}


/* A bucket of one series: its right edge, the sum of its profiles'
 * totals and their count. */
typedef struct {
    int64_t                ts;
    double                 sum;
    uint64_t               count;
    pyro_exemplar_t        ex;          /* the largest profile so far */
} pyro_bucket_t;

typedef struct {
    pyro_bucket_t         *b;
    size_t                 n;
    size_t                 cap;
} pyro_buckets_t;

typedef struct {
    const pyro_series_opts_t  *o;
    int64_t                    start_ms;
    int64_t                    end_ms;
    pyro_sset_t                keys;       /* series key -> index */
    pyro_buckets_t            *series;     /* by key index */
    size_t                     nseries;
    size_t                     series_cap;
    pyro_buf_t                 key;
} pyro_ts_ctx_t;

/* A finished series and the sum of its points, to order them by. */
typedef struct {
    double                 total;
    pyro_tseries_t         s;
} pyro_ts_sort_t;


/*
 * The right edge of the bucket (t - step, t] holding ts: the first grid
 * point start + k * step >= ts, k >= 0 (the first bucket also takes
 * [start - step, start]).  Points after the last grid point <= end are
 * dropped (PYRO_DECLINED).
 */
static int
pyro_ts_edge(int64_t ts, int64_t start, int64_t end, int64_t step,
    int64_t *t)
{
    int64_t  d, k;

    if (__builtin_sub_overflow(ts, start, &d)) {
        return PYRO_DECLINED;
    }

    if (d <= 0) {
        *t = start;

    } else {
        k = d / step + (d % step != 0);

        if (__builtin_mul_overflow(k, step, &d)
            || __builtin_add_overflow(start, d, t))
        {
            return PYRO_DECLINED;
        }
    }

    return (*t <= end) ? PYRO_OK : PYRO_DECLINED;
}


/* Adds a value to a series' bucket, keeping buckets sorted by time;
 * profiles mostly come in time order, so the last bucket goes first.
 * Returns the bucket, or NULL on ENOMEM. */
static pyro_bucket_t *
pyro_ts_add(pyro_buckets_t *bs, int64_t t, double v)
{
    size_t          lo, hi, mid;
    pyro_bucket_t  *b;

    lo = 0;
    hi = bs->n;

    if (bs->n && bs->b[bs->n - 1].ts < t) {
        lo = bs->n;
    }

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (bs->b[mid].ts < t) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }

    if (lo < bs->n && bs->b[lo].ts == t) {
        bs->b[lo].sum += v;
        bs->b[lo].count++;
        return &bs->b[lo];
    }

    if (pyro_array_reserve((void **) &bs->b, &bs->cap, bs->n + 1,
                           sizeof(pyro_bucket_t))
        != PYRO_OK)
    {
        return NULL;
    }

    b = &bs->b[lo];
    memmove(b + 1, b, (bs->n - lo) * sizeof(pyro_bucket_t));
    memset(b, 0, sizeof(pyro_bucket_t));
    b->ts = t;
    b->sum = v;
    b->count = 1;
    bs->n++;

    return b;
}


static void
pyro_exemplar_free(pyro_exemplar_t *ex)
{
    free(ex->profile_id);
    pyro_labels_free(&ex->labels);
    memset(ex, 0, sizeof(pyro_exemplar_t));
}


/*
 * Makes the profile the bucket's exemplar if it is worth more than the
 * current one.  Labels are copied whole here; the series' own are
 * dropped when the point is made.
 */
static int
pyro_ts_exemplar(pyro_bucket_t *b, const pyro_prof_t *p, int64_t value)
{
    size_t           i;
    pyro_exemplar_t  ex;

    if (*p->id == '\0'
        || (b->ex.profile_id != NULL && value <= b->ex.value))
    {
        return PYRO_OK;
    }

    memset(&ex, 0, sizeof(pyro_exemplar_t));

    ex.profile_id = strdup(p->id);
    ex.value = value;
    ex.ts_ms = pyro_ns_to_ms(p->time_ns);

    if (ex.profile_id == NULL) {
        return PYRO_ERROR;
    }

    for (i = 0; i < p->nlabels; i++) {
        if (pyro_labels_set_cstr(&ex.labels, p->labels[i].name,
                                 p->labels[i].value)
            != PYRO_OK)
        {
            pyro_exemplar_free(&ex);
            return PYRO_ERROR;
        }
    }

    pyro_exemplar_free(&b->ex);
    b->ex = ex;

    return PYRO_OK;
}


/* The series key: the group_by labels present, in group_by order (a
 * name given twice counts once). */
static void
pyro_ts_key(pyro_ts_ctx_t *ctx, const pyro_prof_t *p)
{
    size_t       i, j;
    const char  *g, *v;

    ctx->key.len = 0;

    for (i = 0; i < ctx->o->ngroup_by; i++) {
        g = ctx->o->group_by[i];

        for (j = 0; j < i && strcmp(ctx->o->group_by[j], g) != 0; j++) {
            /* void */
        }

        v = (j == i) ? pyro_prof_label(p, g) : NULL;

        if (v != NULL && *v != '\0') {
            pyro_key_put(&ctx->key, g, v);
        }
    }
}


static int
pyro_ts_profile(void *data, const pyro_scan_item_t *it, pyro_err_t *err)
{
    int64_t         t, idx, value;
    pyro_bucket_t  *b;
    pyro_ts_ctx_t  *ctx = data;

    /* Go's model.TimeFromUnixNano: truncated to ms */
    if (pyro_ts_edge(it->prof->time_ns / 1000000, ctx->start_ms, ctx->end_ms,
                     ctx->o->step_ms, &t)
        != PYRO_OK)
    {
        return PYRO_OK;
    }

    pyro_ts_key(ctx, it->prof);

    idx = ctx->key.failed ? -1
          : pyro_sset_add(&ctx->keys, ctx->key.len ? ctx->key.data : "",
                          ctx->key.len);

    if (idx < 0
        || pyro_array_reserve((void **) &ctx->series, &ctx->series_cap,
                              (size_t) idx + 1, sizeof(pyro_buckets_t))
           != PYRO_OK)
    {
        return pyro_nomem(err);
    }

    /* a new key is always the next index */
    if ((size_t) idx == ctx->nseries) {
        memset(&ctx->series[idx], 0, sizeof(pyro_buckets_t));
        ctx->nseries++;
    }

    /* upstream reads TotalValue as an int64 */
    value = (int64_t) it->prof->total;

    b = pyro_ts_add(&ctx->series[idx], t, (double) value);

    if (b == NULL
        || (ctx->o->exemplars
            && pyro_ts_exemplar(b, it->prof, value) != PYRO_OK))
    {
        return pyro_nomem(err);
    }

    return PYRO_OK;
}


/* TopSeries: the sum of point values descending, then labels. */
static int
pyro_ts_sort_cmp(const void *a, const void *b)
{
    const pyro_ts_sort_t  *x, *y;

    x = a;
    y = b;

    if (x->total != y->total) {
        return x->total > y->total ? -1 : 1;
    }

    return pyro_labels_cmp(&x->s.labels, &y->s.labels);
}


static void
pyro_tseries_free(pyro_tseries_t *s)
{
    size_t  i;

    for (i = 0; s->exemplars && i < s->npoints; i++) {
        pyro_exemplar_free(&s->exemplars[i]);
    }

    pyro_labels_free(&s->labels);
    free(s->points);
    free(s->exemplars);
}


/* Moves the buckets' exemplars to the series, without the labels the
 * series already has (upstream shows only the others). */
static int
pyro_ts_exemplars(pyro_buckets_t *bs, pyro_tseries_t *s)
{
    size_t            i, j;
    pyro_exemplar_t  *ex;

    s->exemplars = calloc(bs->n ? bs->n : 1, sizeof(pyro_exemplar_t));
    if (s->exemplars == NULL) {
        return PYRO_ERROR;
    }

    for (i = 0; i < bs->n; i++) {
        ex = &s->exemplars[i];
        *ex = bs->b[i].ex;
        memset(&bs->b[i].ex, 0, sizeof(pyro_exemplar_t));

        for (j = 0; j < s->labels.n; j++) {
            pyro_labels_del(&ex->labels, s->labels.v[j].name);
        }
    }

    return PYRO_OK;
}


/* Turns series i's buckets into points (ownership moves to "out"). */
static int
pyro_ts_finish_one(pyro_ts_ctx_t *ctx, size_t i, pyro_ts_sort_t *out)
{
    size_t                j;
    pyro_point_t         *p;
    const pyro_bucket_t  *b;

    memset(out, 0, sizeof(pyro_ts_sort_t));

    b = ctx->series[i].b;
    p = malloc((ctx->series[i].n ? ctx->series[i].n : 1)
               * sizeof(pyro_point_t));

    if (p == NULL
        || pyro_key_labels(ctx->keys.keys[i], ctx->keys.lens[i],
                           &out->s.labels)
           != PYRO_OK)
    {
        free(p);
        return PYRO_ERROR;
    }

    /* the point sums are added in time order, as upstream's */
    for (j = 0; j < ctx->series[i].n; j++) {
        p[j].ts_ms = b[j].ts;
        p[j].value = (ctx->o->aggregation == PYRO_AGG_AVERAGE)
                     ? b[j].sum / (double) b[j].count : b[j].sum;
        out->total += p[j].value;
    }

    out->s.points = p;
    out->s.npoints = ctx->series[i].n;

    if (ctx->o->exemplars) {
        return pyro_ts_exemplars(&ctx->series[i], &out->s);
    }

    return PYRO_OK;
}


static int
pyro_ts_result(pyro_ts_ctx_t *ctx, pyro_tseries_list_t *out,
    pyro_err_t *err)
{
    int              rc;
    size_t           i, n, keep;
    pyro_ts_sort_t  *all;

    n = ctx->nseries;

    if (n == 0) {
        return PYRO_OK;
    }

    all = calloc(n, sizeof(pyro_ts_sort_t));
    out->v = calloc(n, sizeof(pyro_tseries_t));

    rc = (all && out->v) ? PYRO_OK : PYRO_ERROR;

    for (i = 0; rc == PYRO_OK && i < n; i++) {
        rc = pyro_ts_finish_one(ctx, i, &all[i]);
    }

    if (rc != PYRO_OK) {
        for (i = 0; all && i < n; i++) {
            pyro_tseries_free(&all[i].s);
        }

        free(all);
        return pyro_nomem(err);
    }

    qsort(all, n, sizeof(pyro_ts_sort_t), pyro_ts_sort_cmp);

    keep = (ctx->o->limit > 0 && (uint64_t) ctx->o->limit < n)
           ? (size_t) ctx->o->limit : n;

    for (i = 0; i < n; i++) {
        if (i < keep) {
            out->v[out->n++] = all[i].s;
        } else {
            pyro_tseries_free(&all[i].s);
        }
    }

    free(all);

    return PYRO_OK;
}


static void
pyro_ts_buckets_free(pyro_buckets_t *bs)
{
    size_t  i;

    for (i = 0; i < bs->n; i++) {
        pyro_exemplar_free(&bs->b[i].ex);
    }

    free(bs->b);
}


int
pyro_engine_select_series(const pyro_scan_t *s,
    const pyro_series_opts_t *o, pyro_tseries_list_t *out, pyro_err_t *err)
{
    int            rc;
    size_t         i;
    int64_t        fetch;
    pyro_ts_ctx_t  ctx;

    memset(out, 0, sizeof(pyro_tseries_list_t));

    if (o->step_ms < 1) {
        pyro_err_invalid(err, "step must be >= 1ms");
        return PYRO_ERROR;
    }

    memset(&ctx, 0, sizeof(pyro_ts_ctx_t));
    ctx.o = o;
    ctx.start_ms = s->start_ms;
    ctx.end_ms = s->end_ms;

    /* the frontend fetches one step before the start */
    if (__builtin_sub_overflow(s->start_ms, o->step_ms, &fetch)) {
        fetch = INT64_MIN;
    }

    rc = pyro_scan(s, pyro_ms_to_ns(fetch), pyro_ms_to_ns(s->end_ms), 1,
                   pyro_ts_profile, &ctx, err);

    if (rc == PYRO_OK) {
        rc = pyro_ts_result(&ctx, out, err);
    }

    for (i = 0; i < ctx.nseries; i++) {
        pyro_ts_buckets_free(&ctx.series[i]);
    }

    free(ctx.series);
    pyro_buf_free(&ctx.key);
    pyro_sset_free(&ctx.keys);

    return rc;
}


void
pyro_tseries_list_free(pyro_tseries_list_t *l)
{
    size_t  i;

    for (i = 0; i < l->n; i++) {
        pyro_tseries_free(&l->v[i]);
    }

    free(l->v);
    l->v = NULL;
    l->n = 0;
}


/* Record headers carry their profiles' time range: no need to decode. */
static int
pyro_stats_record(void *data, const pyro_rec_hdr_t *h, const char *buf,
    size_t len)
{
    int64_t          lo, hi;
    pyro_scanner_t  *sc = data;
    pyro_pstats_t   *st = sc->ctx;

    lo = pyro_ns_to_ms(h->min_time_ns);
    hi = pyro_ns_to_ms(h->max_time_ns);

    if (!st->data_ingested || lo < st->oldest_ms) {
        st->oldest_ms = lo;
    }

    if (!st->data_ingested || hi > st->newest_ms) {
        st->newest_ms = hi;
    }

    st->data_ingested = 1;

    return PYRO_OK;
}


int
pyro_engine_profile_stats(const char *root, const pyro_tenants_t *t,
    pyro_pstats_t *out, pyro_err_t *err)
{
    pyro_scanner_t  sc;

    memset(out, 0, sizeof(pyro_pstats_t));

    if (t->n != 1) {
        pyro_err_invalid(err, "expected 1 tenant, got %zu", t->n);
        return PYRO_ERROR;
    }

    memset(&sc, 0, sizeof(pyro_scanner_t));
    sc.min_ns = INT64_MIN;
    sc.max_ns = INT64_MAX;
    sc.rec_cb = pyro_stats_record;
    sc.ctx = out;
    sc.err = err;

    return pyro_scan_walk(&sc, root, t);
}


/*
 * Copyright (C) ngx_pyroscope developers
 *
 * pprof ingestion (spec section 4): the runtime/pprof fixtures against
 * their go tool pprof oracles (totals per sample type, folded stacks),
 * series splitting by sample labels, __name__ derivation, relabeling,
 * normalization and every validation error on hand-built profiles.
 *
 * The fixtures are read at run time from ../../shared/fixtures/go
 * (relative to core/); a missing fixture is a failure, not a skip.
 */


#include <stdlib.h>
#include <time.h>
#include <zlib.h>

#include "pyro.h"
#include "pyro_test.h"


#define FIXTURES  "../../shared/fixtures/go/"


/* Small protobuf writer for hand-built profiles. */

static void
pb_tag(pyro_buf_t *b, uint32_t num, uint32_t wt)
{
    pyro_buf_put_uvarint(b, (uint64_t) num << 3 | wt);
}


static void
pb_uint(pyro_buf_t *b, uint32_t num, uint64_t v)
{
    pb_tag(b, num, 0);
    pyro_buf_put_uvarint(b, v);
}


static void
pb_bytes(pyro_buf_t *b, uint32_t num, const void *p, size_t n)
{
    pb_tag(b, num, 2);
    pyro_buf_put_uvarint(b, n);
    pyro_buf_append(b, p, n);
}


/* Appends sub as a length-delimited field and frees it. */
static void
pb_msg(pyro_buf_t *b, uint32_t num, pyro_buf_t *sub)
{
    pb_bytes(b, num, sub->data ? sub->data : "", sub->len);
    pyro_buf_free(sub);
}


/* A repeated int64/uint64 field, packed or one field per value. */
static void
pb_repeated(pyro_buf_t *b, uint32_t num, const int64_t *v, int n, int packed)
{
    int         i;
    pyro_buf_t  sub;

    if (!packed) {
        for (i = 0; i < n; i++) {
            pb_uint(b, num, (uint64_t) v[i]);
        }
        return;
    }

    memset(&sub, 0, sizeof(pyro_buf_t));

    for (i = 0; i < n; i++) {
        pyro_buf_put_uvarint(&sub, (uint64_t) v[i]);
    }

    pb_msg(b, num, &sub);
}


typedef struct {
    uint64_t        id;
    int64_t         name;
    int64_t         file;
} t_fn_t;

typedef struct {
    uint64_t        id;
    int             nlines;
    int64_t         fn[4];
    int64_t         line[4];
} t_loc_t;

typedef struct {
    int             nlocs;
    int64_t         locs[16];
    int             nvals;
    int64_t         vals[4];
    int             nlabels;
    int64_t         lab[8][3];          /* key, str, num */
} t_sample_t;

typedef struct {
    int             nstrs;
    const char     *strs[40];
    int             nst;
    int64_t         st[4][2];
    int             has_period;
    int64_t         period[2];
    int             nfns;
    t_fn_t          fns[16];
    int             nlocs;
    t_loc_t         locs[16];
    int             nsamples;
    t_sample_t      samples[24];
    int64_t         time_ns;
    int64_t         duration_ns;
    int             packed;
    int             unknown;            /* sprinkle unknown fields */
} t_prof_t;


static void
t_unknown(pyro_buf_t *b, int on)
{
    if (!on) {
        return;
    }

    pb_uint(b, 99, 12345);
    pb_bytes(b, 100, "junk", 4);
    pb_tag(b, 101, 5);
    pyro_buf_put_u32le(b, 7);
    pb_tag(b, 102, 1);
    pyro_buf_put_u64le(b, 7);
}


static void
t_encode_sample(const t_prof_t *p, const t_sample_t *s, pyro_buf_t *out)
{
    int         i;
    pyro_buf_t  m, l;

    memset(&m, 0, sizeof(pyro_buf_t));

    pb_repeated(&m, 1, s->locs, s->nlocs, p->packed);
    t_unknown(&m, p->unknown);
    pb_repeated(&m, 2, s->vals, s->nvals, p->packed);

    for (i = 0; i < s->nlabels; i++) {
        memset(&l, 0, sizeof(pyro_buf_t));
        pb_uint(&l, 1, (uint64_t) s->lab[i][0]);
        if (s->lab[i][1]) {
            pb_uint(&l, 2, (uint64_t) s->lab[i][1]);
        }
        if (s->lab[i][2]) {
            pb_uint(&l, 3, (uint64_t) s->lab[i][2]);
        }
        pb_msg(&m, 3, &l);
    }

    pb_msg(out, 2, &m);
}


static void
t_encode_loc(const t_prof_t *p, const t_loc_t *lc, pyro_buf_t *out)
{
    int         i;
    pyro_buf_t  m, l;

    memset(&m, 0, sizeof(pyro_buf_t));

    pb_uint(&m, 1, lc->id);
    pb_uint(&m, 2, 1);
    pb_uint(&m, 3, 0x1000 + lc->id);
    t_unknown(&m, p->unknown);

    for (i = 0; i < lc->nlines; i++) {
        memset(&l, 0, sizeof(pyro_buf_t));
        pb_uint(&l, 1, (uint64_t) lc->fn[i]);
        pb_uint(&l, 2, (uint64_t) lc->line[i]);
        t_unknown(&l, p->unknown);
        pb_msg(&m, 4, &l);
    }

    pb_msg(out, 4, &m);
}


static void
t_encode(const t_prof_t *p, pyro_buf_t *out)
{
    int         i;
    pyro_buf_t  m;

    for (i = 0; i < p->nst; i++) {
        memset(&m, 0, sizeof(pyro_buf_t));
        pb_uint(&m, 1, (uint64_t) p->st[i][0]);
        pb_uint(&m, 2, (uint64_t) p->st[i][1]);
        pb_msg(out, 1, &m);
    }

    t_unknown(out, p->unknown);

    for (i = 0; i < p->nsamples; i++) {
        t_encode_sample(p, &p->samples[i], out);
    }

    memset(&m, 0, sizeof(pyro_buf_t));
    pb_uint(&m, 1, 1);
    pb_uint(&m, 7, 1);
    pb_msg(out, 3, &m);

    for (i = 0; i < p->nlocs; i++) {
        t_encode_loc(p, &p->locs[i], out);
    }

    for (i = 0; i < p->nfns; i++) {
        memset(&m, 0, sizeof(pyro_buf_t));
        pb_uint(&m, 1, p->fns[i].id);
        pb_uint(&m, 2, (uint64_t) p->fns[i].name);
        pb_uint(&m, 3, (uint64_t) p->fns[i].name);
        pb_uint(&m, 4, (uint64_t) p->fns[i].file);
        t_unknown(&m, p->unknown);
        pb_msg(out, 5, &m);
    }

    for (i = 0; i < p->nstrs; i++) {
        pb_bytes(out, 6, p->strs[i], strlen(p->strs[i]));
    }

    if (p->time_ns) {
        pb_uint(out, 9, (uint64_t) p->time_ns);
    }

    if (p->duration_ns) {
        pb_uint(out, 10, (uint64_t) p->duration_ns);
    }

    if (p->has_period) {
        memset(&m, 0, sizeof(pyro_buf_t));
        pb_uint(&m, 1, (uint64_t) p->period[0]);
        pb_uint(&m, 2, (uint64_t) p->period[1]);
        pb_msg(out, 11, &m);
        pb_uint(out, 12, 10000000);
    }

    pb_uint(out, 14, 0);
}


/*
 * The base profile of the hand-built tests.  Strings:
 *  1 samples 2 count 3 cpu 4 nanoseconds 5 main 6 work 7 leaf 8 m.go
 *  9 loop 10 B 11 span_id 12 0102030405060708 13 trace_id
 * 14 0123456789abcdef0123456789abcdef 15 bytes 16 profile_id
 * 17 1112131415161718 18 service_name 19 other 20 A
 * Functions 1 main, 2 work, 3 leaf; locations 1 leaf:30, 2 work:20,
 * 3 main:10.  Stack main;work;leaf.
 */
static void
t_base(t_prof_t *p)
{
    static const char  *strs[] = {
        "", "samples", "count", "cpu", "nanoseconds", "main", "work", "leaf",
        "m.go", "loop", "B", "span_id", "0102030405060708", "trace_id",
        "0123456789abcdef0123456789abcdef", "bytes", "profile_id",
        "1112131415161718", "service_name", "other", "A"
    };
    int  i;

    memset(p, 0, sizeof(t_prof_t));

    p->nstrs = (int) (sizeof(strs) / sizeof(strs[0]));
    for (i = 0; i < p->nstrs; i++) {
        p->strs[i] = strs[i];
    }

    p->nst = 2;
    p->st[0][0] = 1;
    p->st[0][1] = 2;
    p->st[1][0] = 3;
    p->st[1][1] = 4;
    p->has_period = 1;
    p->period[0] = 3;
    p->period[1] = 4;

    p->nfns = 3;
    for (i = 0; i < 3; i++) {
        p->fns[i].id = (uint64_t) i + 1;
        p->fns[i].name = 5 + i;
        p->fns[i].file = 8;
    }

    p->nlocs = 3;
    for (i = 0; i < 3; i++) {
        p->locs[i].id = (uint64_t) i + 1;
        p->locs[i].nlines = 1;
        p->locs[i].fn[0] = 3 - i;
        p->locs[i].line[0] = 30 - 10 * i;
    }

    p->time_ns = 1700000000000000000LL;
    p->duration_ns = 10000000000LL;
    p->packed = 1;
}


static t_sample_t *
t_sample(t_prof_t *p, int64_t v0, int64_t v1)
{
    t_sample_t  *s;

    s = &p->samples[p->nsamples++];
    memset(s, 0, sizeof(t_sample_t));

    s->nlocs = 3;
    s->locs[0] = 1;
    s->locs[1] = 2;
    s->locs[2] = 3;
    s->nvals = 2;
    s->vals[0] = v0;
    s->vals[1] = v1;

    return s;
}


static void
t_label(t_sample_t *s, int64_t key, int64_t str, int64_t num)
{
    s->lab[s->nlabels][0] = key;
    s->lab[s->nlabels][1] = str;
    s->lab[s->nlabels][2] = num;
    s->nlabels++;
}


/* An ingestion, its batch encoded and decoded back. */
typedef struct {
    int             rc;
    pyro_err_t      err;
    pyro_buf_t      enc;
    pyro_record_t   rec;
    int             decoded;
} t_run_t;


static void
t_run_free(t_run_t *r)
{
    if (r->decoded) {
        pyro_record_free(&r->rec);
    }

    pyro_buf_free(&r->enc);
    memset(r, 0, sizeof(t_run_t));
}


static int
t_ingest(t_run_t *r, const char *data, size_t len, const pyro_labels_t *ls,
    int derive, const pyro_labels_t *dn, const pyro_limits_t *lim)
{
    pyro_batch_t       *b;
    pyro_err_t          err;
    pyro_limits_t       defaults;
    pyro_pprof_opts_t   opts;

    memset(r, 0, sizeof(t_run_t));
    pyro_limits_default(&defaults);

    memset(&opts, 0, sizeof(pyro_pprof_opts_t));
    opts.labels = ls;
    opts.derive_name = derive;
    opts.display_names = dn;
    opts.default_time_ns = 1800000000000000000LL;
    opts.limits = lim ? lim : &defaults;

    b = pyro_batch_new();
    if (b == NULL) {
        return PYRO_ERROR;
    }

    r->rc = pyro_pprof_ingest(b, data, len, &opts, &r->err);

    if (r->rc == PYRO_OK) {
        if (pyro_batch_encode(b, &r->enc) != PYRO_OK
            || pyro_record_decode(r->enc.data, r->enc.len, &r->rec, &err)
               != PYRO_OK)
        {
            printf("encode/decode failed: %s\n", err.msg);
            r->rc = PYRO_ERROR;
            snprintf(r->err.msg, sizeof(r->err.msg), "record round trip");

        } else {
            r->decoded = 1;
        }
    }

    pyro_batch_free(b);

    return r->rc;
}


static int
t_ingest_prof(t_run_t *r, const t_prof_t *p, const pyro_labels_t *ls,
    const pyro_limits_t *lim)
{
    int         rc;
    pyro_buf_t  out;

    memset(&out, 0, sizeof(pyro_buf_t));
    t_encode(p, &out);

    rc = t_ingest(r, out.data, out.len, ls, 0, NULL, lim);

    pyro_buf_free(&out);

    return rc;
}


static const char *
t_label_get(const pyro_prof_t *p, const char *name)
{
    size_t  i;

    for (i = 0; i < p->nlabels; i++) {
        if (strcmp(p->labels[i].name, name) == 0) {
            return p->labels[i].value;
        }
    }

    return NULL;
}


/* The profile whose labels hold every "k=v" of want (NULL-terminated). */
static const pyro_prof_t *
t_find(const pyro_record_t *rec, const char *const *want)
{
    size_t       i, k;
    const char  *v, *eq;

    for (i = 0; i < rec->nprofs; i++) {
        for (k = 0; want[k] != NULL; k++) {
            eq = strchr(want[k], '=');
            v = NULL;

            if (eq != NULL) {
                char  name[64];

                snprintf(name, sizeof(name), "%.*s", (int) (eq - want[k]),
                         want[k]);
                v = t_label_get(&rec->profs[i], name);
            }

            if (v == NULL || strcmp(v, eq + 1) != 0) {
                break;
            }
        }

        if (want[k] == NULL) {
            return &rec->profs[i];
        }
    }

    return NULL;
}


static uint64_t
t_total(const pyro_prof_t *p)
{
    size_t    i;
    uint64_t  sum;

    sum = 0;

    for (i = 0; p != NULL && i < p->nsamples; i++) {
        sum += p->samples[i].value;
    }

    return sum;
}


/* "root;...;leaf" of a node, by function name. */
static void
t_stack(const pyro_record_t *rec, uint32_t node, pyro_buf_t *out)
{
    uint32_t           chain[4096];
    size_t             n;
    const pyro_str_t  *s;

    n = 0;

    while (node != PYRO_NODE_NONE && n < 4096) {
        chain[n++] = node;
        node = rec->nodes[node].parent;
    }

    while (n-- > 0) {
        s = &rec->strings[rec->funcs[rec->nodes[chain[n]].fn].name];
        pyro_buf_append(out, s->data, s->len);
        if (n) {
            pyro_buf_putc(out, ';');
        }
    }
}


typedef struct {
    char           *stack;
    uint64_t        value;
} t_folded_t;

typedef struct {
    t_folded_t     *v;
    size_t          n;
    size_t          cap;
} t_folds_t;


static int
t_fold_cmp(const void *a, const void *b)
{
    return strcmp(((const t_folded_t *) a)->stack,
                  ((const t_folded_t *) b)->stack);
}


static void
t_folds_add(t_folds_t *f, const char *s, size_t len, uint64_t v)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 64;
        f->v = realloc(f->v, f->cap * sizeof(t_folded_t));
    }

    f->v[f->n].stack = malloc(len + 1);
    memcpy(f->v[f->n].stack, s, len);
    f->v[f->n].stack[len] = '\0';
    f->v[f->n].value = v;
    f->n++;
}


/* Sorts and sums equal stacks. */
static void
t_folds_merge(t_folds_t *f)
{
    size_t  i, k;

    if (f->n == 0) {
        return;
    }

    qsort(f->v, f->n, sizeof(t_folded_t), t_fold_cmp);

    for (i = 1, k = 0; i < f->n; i++) {
        if (strcmp(f->v[i].stack, f->v[k].stack) == 0) {
            f->v[k].value += f->v[i].value;
            free(f->v[i].stack);

        } else {
            f->v[++k] = f->v[i];
        }
    }

    f->n = k + 1;
}


static void
t_folds_free(t_folds_t *f)
{
    size_t  i;

    for (i = 0; i < f->n; i++) {
        free(f->v[i].stack);
    }

    free(f->v);
    memset(f, 0, sizeof(t_folds_t));
}


/* Every profile of a sample type, folded by function names. */
static void
t_folds_of(const pyro_record_t *rec, const char *type, t_folds_t *f)
{
    size_t       i, k;
    const char  *t;
    pyro_buf_t   b;

    memset(&b, 0, sizeof(pyro_buf_t));

    for (i = 0; i < rec->nprofs; i++) {
        t = t_label_get(&rec->profs[i], "__type__");
        if (t == NULL || strcmp(t, type) != 0) {
            continue;
        }

        for (k = 0; k < rec->profs[i].nsamples; k++) {
            b.len = 0;
            t_stack(rec, rec->profs[i].samples[k].node, &b);
            t_folds_add(f, b.data ? b.data : "", b.len,
                        rec->profs[i].samples[k].value);
        }
    }

    pyro_buf_free(&b);
    t_folds_merge(f);
}


static char *
t_read(const char *path, size_t *len)
{
    FILE    *fp;
    char    *p;
    long     n;

    fp = fopen(path, "rb");
    if (fp == NULL) {
        return NULL;
    }

    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);

    p = malloc((size_t) n + 1);
    if (p != NULL && fread(p, 1, (size_t) n, fp) != (size_t) n) {
        free(p);
        p = NULL;
    }

    fclose(fp);

    if (p != NULL) {
        p[n] = '\0';
        *len = (size_t) n;
    }

    return p;
}


/* Plain bytes of a gzip file (zlib directly: independent of the code
 * under test). */
static char *
t_gunzip(const char *gz, size_t len, size_t *out_len)
{
    char      *out;
    size_t     cap;
    z_stream   zs;
    int        rc;

    memset(&zs, 0, sizeof(z_stream));

    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        return NULL;
    }

    cap = len * 8 + 1024;
    out = malloc(cap);

    zs.next_in = (Bytef *) gz;
    zs.avail_in = (uInt) len;

    do {
        if (zs.total_out == cap) {
            cap *= 2;
            out = realloc(out, cap);
        }

        zs.next_out = (Bytef *) out + zs.total_out;
        zs.avail_out = (uInt) (cap - zs.total_out);
        rc = inflate(&zs, Z_NO_FLUSH);

    } while (rc == Z_OK);

    *out_len = zs.total_out;
    inflateEnd(&zs);

    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }

    return out;
}


/* The "totals" object of an oracle: "type/unit": value pairs. */
static int
t_oracle_totals(const char *json, char names[][64], uint64_t *vals, int max)
{
    int          n;
    const char  *p, *q;

    p = strstr(json, "\"totals\"");
    if (p == NULL || (p = strchr(p, '{')) == NULL) {
        return 0;
    }

    for (n = 0; n < max; n++) {
        p = strpbrk(p, "\"}");
        if (p == NULL || *p == '}') {
            break;
        }

        q = strchr(p + 1, '"');
        snprintf(names[n], 64, "%.*s", (int) (q - p - 1), p + 1);
        p = strchr(q, ':') + 1;
        vals[n] = strtoull(p, (char **) &p, 10);
    }

    return n;
}


/* Compares the folded stacks of a type with X.<type>.folded.txt. */
static void
t_check_folded(const pyro_record_t *rec, const char *file, const char *type)
{
    char        path[256], *text, *line, *sp, *save;
    size_t      len, i;
    t_folds_t   got, want;

    snprintf(path, sizeof(path), FIXTURES "%s.%s.folded.txt", file, type);

    text = t_read(path, &len);
    PYRO_CHECK(text != NULL, "missing fixture %s", path);
    if (text == NULL) {
        return;
    }

    memset(&got, 0, sizeof(t_folds_t));
    memset(&want, 0, sizeof(t_folds_t));

    for (line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save))
    {
        sp = strrchr(line, ' ');
        if (sp != NULL) {
            t_folds_add(&want, line, (size_t) (sp - line),
                        strtoull(sp + 1, NULL, 10));
        }
    }

    t_folds_merge(&want);
    t_folds_of(rec, type, &got);

    PYRO_CHECK_INT(got.n, want.n, path);

    for (i = 0; i < got.n && i < want.n; i++) {
        PYRO_CHECK(strcmp(got.v[i].stack, want.v[i].stack) == 0
                   && got.v[i].value == want.v[i].value,
                   "%s: got %s %" PRIu64 ", want %s %" PRIu64, path,
                   got.v[i].stack, got.v[i].value, want.v[i].stack,
                   want.v[i].value);
    }

    t_folds_free(&got);
    t_folds_free(&want);
    free(text);
}


/* Totals per "type/unit" across every series of the record. */
static uint64_t
t_type_total(const pyro_record_t *rec, const char *tu)
{
    size_t       i;
    uint64_t     sum;
    const char  *t, *u, *slash;

    slash = strchr(tu, '/');
    sum = 0;

    for (i = 0; i < rec->nprofs; i++) {
        t = t_label_get(&rec->profs[i], "__type__");
        u = t_label_get(&rec->profs[i], "__unit__");

        if (t != NULL && u != NULL && strlen(t) == (size_t) (slash - tu)
            && strncmp(t, tu, (size_t) (slash - tu)) == 0
            && strcmp(u, slash + 1) == 0)
        {
            sum += t_total(&rec->profs[i]);
            PYRO_CHECK(rec->profs[i].total == t_total(&rec->profs[i]),
                       "record total of %s", tu);
        }
    }

    return sum;
}


static const struct {
    const char     *file;
    int             folded;
    const char     *metric;         /* derived with the default table */
} t_fixtures[] = {
    { "cpu.pb.gz", 1, "process_cpu" },
    { "heap.pb.gz", 1, "memory" },
    { "goroutine.pb.gz", 1, "goroutines" },
    { "mutex.pb.gz", 1, "mutex" },
    { "block.pb.gz", 1, "mutex" },
    { "cpu-mid.pb.gz", 0, "process_cpu" },
    { "cpu-large.pb.gz", 0, "process_cpu" },
};


static void
test_fixture(const char *file, int folded, const char *metric)
{
    int             i, n;
    char            path[256], names[8][64], *gz, *json, *slash;
    size_t          len, jlen;
    uint64_t        vals[8];
    t_run_t         r;
    pyro_labels_t   ls;

    snprintf(path, sizeof(path), FIXTURES "%s", file);
    gz = t_read(path, &len);
    PYRO_CHECK(gz != NULL, "missing fixture %s", path);

    snprintf(path, sizeof(path), FIXTURES "%s.oracle.json", file);
    json = t_read(path, &jlen);
    PYRO_CHECK(json != NULL, "missing fixture %s", path);

    if (gz == NULL || json == NULL) {
        free(gz);
        free(json);
        return;
    }

    memset(&ls, 0, sizeof(pyro_labels_t));
    pyro_labels_set_cstr(&ls, "service_name", "goapp");

    t_ingest(&r, gz, len, &ls, 1, NULL, NULL);
    PYRO_CHECK(r.rc == PYRO_OK, "%s: %s", file, r.err.msg);

    n = t_oracle_totals(json, names, vals, 8);
    PYRO_CHECK(n > 0, "%s: oracle totals", file);

    for (i = 0; r.rc == PYRO_OK && i < n; i++) {
        snprintf(path, sizeof(path), "%s %s", file, names[i]);
        PYRO_CHECK_INT(t_type_total(&r.rec, names[i]), vals[i], path);

        if (folded) {
            slash = strchr(names[i], '/');
            *slash = '\0';
            t_check_folded(&r.rec, file, names[i]);
        }
    }

    if (r.rc == PYRO_OK) {
        PYRO_CHECK(r.rec.nprofs > 0, "%s: no profiles", file);
        PYRO_CHECK_STR(t_label_get(&r.rec.profs[0], "__name__"), metric,
                       file);
        PYRO_CHECK_STR(t_label_get(&r.rec.profs[0], "service_name"),
                       "goapp", file);
    }

    t_run_free(&r);
    pyro_labels_free(&ls);
    free(gz);
    free(json);
}


static void
test_fixtures(void)
{
    size_t  i;

    for (i = 0; i < sizeof(t_fixtures) / sizeof(t_fixtures[0]); i++) {
        test_fixture(t_fixtures[i].file, t_fixtures[i].folded,
                     t_fixtures[i].metric);
    }
}


/* The loop=B sample label of cpu.pb.gz splits a series of its own. */
static void
test_fixture_labels(void)
{
    char                *gz;
    size_t               len, i;
    t_run_t              r;
    pyro_labels_t        ls;
    const pyro_prof_t   *p;
    static const char   *b_cpu[] = { "loop=B", "__type__=cpu",
        "__profile_type__=process_cpu:cpu:nanoseconds:cpu:nanoseconds",
        "service_name=svc", "env=test", NULL };
    static const char   *b_samples[] = { "loop=B", "__type__=samples",
        NULL };

    gz = t_read(FIXTURES "cpu.pb.gz", &len);
    PYRO_CHECK(gz != NULL, "missing fixture cpu.pb.gz");
    if (gz == NULL) {
        return;
    }

    memset(&ls, 0, sizeof(pyro_labels_t));
    pyro_labels_set_cstr(&ls, "__name__", "process_cpu");
    pyro_labels_set_cstr(&ls, "service_name", "svc");
    pyro_labels_set_cstr(&ls, "env", "test");

    t_ingest(&r, gz, len, &ls, 0, NULL, NULL);
    PYRO_CHECK(r.rc == PYRO_OK, "cpu push: %s", r.err.msg);

    if (r.rc == PYRO_OK) {
        PYRO_CHECK_INT(r.rec.nprofs, 4, "cpu: 2 types x 2 label sets");

        p = t_find(&r.rec, b_cpu);
        PYRO_CHECK(p != NULL, "loop=B cpu series");
        PYRO_CHECK_INT(t_total(p), 1210000000, "loop=B cpu total");
        PYRO_CHECK_INT(p ? p->time_ns : 0, 1795437468500608078LL,
                       "time_nanos");
        PYRO_CHECK(p != NULL && p->duration_ns > 5000000000LL,
                   "duration_nanos");

        p = t_find(&r.rec, b_samples);
        PYRO_CHECK_INT(t_total(p), 121, "loop=B samples total");

        PYRO_CHECK_INT(t_type_total(&r.rec, "cpu/nanoseconds"), 4990000000LL,
                       "cpu total");

        /* the unlabeled cpu series */
        for (i = 0; i < r.rec.nprofs; i++) {
            p = &r.rec.profs[i];

            if (t_label_get(p, "loop") == NULL
                && strcmp(t_label_get(p, "__type__"), "cpu") == 0)
            {
                PYRO_CHECK_INT(t_total(p), 3780000000LL, "unlabeled cpu");
            }
        }
    }

    t_run_free(&r);

    /* Push without __name__ */
    pyro_labels_del(&ls, "__name__");
    t_ingest(&r, gz, len, &ls, 0, NULL, NULL);
    PYRO_CHECK_STR(r.err.msg, "invalid labels '{env=\"test\", "
                   "service_name=\"svc\"}' with error: invalid metric name",
                   "missing __name__");
    PYRO_CHECK_INT(r.err.status, 400, "missing __name__ status");
    t_run_free(&r);

    pyro_labels_free(&ls);
    free(gz);
}


static void
test_fixture_names(void)
{
    size_t          i;
    char            path[256], *gz;
    size_t          len;
    t_run_t         r;
    pyro_labels_t   ls, dn;
    static const struct {
        const char  *file;
        const char  *dn_type;
        const char  *dn_name;
        const char  *id;
    } cases[] = {
        { "heap.pb.gz", NULL, NULL, "memory:alloc_space:bytes:space:bytes" },
        { "cpu.pb.gz", NULL, NULL,
          "process_cpu:cpu:nanoseconds:cpu:nanoseconds" },
        { "goroutine.pb.gz", "goroutine", "goroutines",
          "goroutines:goroutine:count:goroutine:count" },
        { "block.pb.gz", "contentions", "block_count",
          "block:contentions:count:contentions:count" },
        { "mutex.pb.gz", "contentions", "mutex_count",
          "mutex:delay:nanoseconds:contentions:count" },
        /* a config without display names replaces the default table */
        { "mutex.pb.gz", "other", "x", "delay:delay:nanoseconds:"
          "contentions:count" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(path, sizeof(path), FIXTURES "%s", cases[i].file);
        gz = t_read(path, &len);
        PYRO_CHECK(gz != NULL, "missing fixture %s", path);
        if (gz == NULL) {
            continue;
        }

        memset(&ls, 0, sizeof(pyro_labels_t));
        memset(&dn, 0, sizeof(pyro_labels_t));
        pyro_labels_set_cstr(&ls, "service_name", "goapp");
        pyro_labels_set_cstr(&ls, "__delta__", "false");
        pyro_labels_set_cstr(&ls, "__session_id__", "0123456789abcdef");

        if (cases[i].dn_type) {
            pyro_labels_set_cstr(&dn, cases[i].dn_type, cases[i].dn_name);
        }

        t_ingest(&r, gz, len, &ls, 1, cases[i].dn_type ? &dn : NULL, NULL);
        PYRO_CHECK(r.rc == PYRO_OK, "%s: %s", cases[i].file, r.err.msg);

        if (r.rc == PYRO_OK) {
            const char  *want[] = { NULL, NULL };
            char         id[128];

            snprintf(id, sizeof(id), "__profile_type__=%s", cases[i].id);
            want[0] = id;
            PYRO_CHECK(t_find(&r.rec, want) != NULL, "%s: no series %s",
                       cases[i].file, cases[i].id);
            PYRO_CHECK(t_label_get(&r.rec.profs[0], "__delta__") == NULL,
                       "__delta__ stripped");
            PYRO_CHECK(t_label_get(&r.rec.profs[0], "__session_id__")
                       == NULL, "__session_id__ removed");
        }

        t_run_free(&r);
        pyro_labels_free(&ls);
        pyro_labels_free(&dn);
        free(gz);
    }
}


/* The hand-built profile: merged duplicates, folded stacks. */
static void
test_basic(void)
{
    t_prof_t             p;
    t_run_t              r;
    t_folds_t            f;
    pyro_labels_t        ls;
    const pyro_prof_t   *pr;
    static const char   *cpu[] = { "__type__=cpu", NULL };

    memset(&ls, 0, sizeof(pyro_labels_t));
    pyro_labels_set_cstr(&ls, "__name__", "process_cpu");
    pyro_labels_set_cstr(&ls, "service_name", "svc");

    t_base(&p);
    t_sample(&p, 1, 10);
    t_sample(&p, 2, 20);

    t_ingest_prof(&r, &p, &ls, NULL);
    PYRO_CHECK(r.rc == PYRO_OK, "basic: %s", r.err.msg);

    if (r.rc == PYRO_OK) {
        PYRO_CHECK_INT(r.rec.nprofs, 2, "basic profiles");

        pr = t_find(&r.rec, cpu);
        PYRO_CHECK(pr != NULL && pr->nsamples == 1, "duplicates merged");
        PYRO_CHECK_INT(t_total(pr), 30, "cpu total");
        PYRO_CHECK_STR(t_label_get(pr, "__profile_type__"),
                       "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
                       "profile type");
        PYRO_CHECK_STR(t_label_get(pr, "__service_name__"), "svc",
                       "__service_name__");
        PYRO_CHECK_INT(pr->time_ns, 1700000000000000000LL, "time");
        PYRO_CHECK_INT(pr->duration_ns, 10000000000LL, "duration");

        memset(&f, 0, sizeof(t_folds_t));
        t_folds_of(&r.rec, "cpu", &f);
        PYRO_CHECK(f.n == 1 && strcmp(f.v[0].stack, "main;work;leaf") == 0,
                   "stack %s", f.n ? f.v[0].stack : "-");
        t_folds_free(&f);

        /* frames carry the file and the line */
        PYRO_CHECK_MEM(r.rec.strings[r.rec.funcs[r.rec.nodes[pr->samples[0]
                       .node].fn].file].data, (size_t) 4, "m.go", "file");
        PYRO_CHECK_INT(r.rec.nodes[pr->samples[0].node].line, 30, "line");
    }

    t_run_free(&r);
    pyro_labels_free(&ls);
}


/* Packed, unpacked and unknown fields: the same batch, byte for byte. */
static void
test_encodings(void)
{
    t_prof_t        p;
    t_run_t         r1, r2, r3;
    pyro_labels_t   ls;

    memset(&ls, 0, sizeof(pyro_labels_t));
    pyro_labels_set_cstr(&ls, "__name__", "process_cpu");
    pyro_labels_set_cstr(&ls, "service_name", "svc");

    t_base(&p);
    t_sample(&p, 1, 10);
    t_label(t_sample(&p, 2, 20), 9, 10, 0);

    t_ingest_prof(&r1, &p, &ls, NULL);
    p.packed = 0;
    t_ingest_prof(&r2, &p, &ls, NULL);
    p.unknown = 1;
    t_ingest_prof(&r3, &p, &ls, NULL);

    PYRO_CHECK(r1.rc == PYRO_OK && r2.rc == PYRO_OK && r3.rc == PYRO_OK,
               "encodings: %s %s %s", r1.err.msg, r2.err.msg, r3.err.msg);
    PYRO_CHECK(r1.enc.len == r2.enc.len
               && memcmp(r1.enc.data, r2.enc.data, r1.enc.len) == 0,
               "packed == unpacked");
    PYRO_CHECK(r1.enc.len == r3.enc.len
               && memcmp(r1.enc.data, r3.enc.data, r1.enc.len) == 0,
               "unknown fields skipped");

    t_run_free(&r1);
    t_run_free(&r2);
    t_run_free(&r3);
    pyro_labels_free(&ls);
}


/* Inlined lines, locations without lines, non-dense ids. */
static void
test_frames(void)
{
    t_prof_t        p;
    t_run_t         r;
    t_folds_t       f;
    t_sample_t     *s;
    pyro_labels_t   ls;

    memset(&ls, 0, sizeof(pyro_labels_t));
    pyro_labels_set_cstr(&ls, "__name__", "process_cpu");
    pyro_labels_set_cstr(&ls, "service_name", "svc");

    t_base(&p);

    /* location 4: leaf inlined into work (the last line is the caller) */
    p.locs[3].id = 4;
    p.locs[3].nlines = 2;
    p.locs[3].fn[0] = 3;
    p.locs[3].line[0] = 31;
    p.locs[3].fn[1] = 2;
    p.locs[3].line[1] = 21;
    /* location 5: an address only */
    p.locs[4].id = 5;
    p.nlocs = 5;

    s = t_sample(&p, 1, 7);
    s->nlocs = 3;
    s->locs[0] = 5;
    s->locs[1] = 4;
    s->locs[2] = 3;

    /* only a frameless location: dropped */
    s = t_sample(&p, 1, 100);
    s->nlocs = 1;
    s->locs[0] = 5;

    t_ingest_prof(&r, &p, &ls, NULL);
    PYRO_CHECK(r.rc == PYRO_OK, "frames: %s", r.err.msg);

    if (r.rc == PYRO_OK) {
        memset(&f, 0, sizeof(t_folds_t));
        t_folds_of(&r.rec, "cpu", &f);
        PYRO_CHECK(f.n == 1 && strcmp(f.v[0].stack, "main;work;leaf") == 0
                   && f.v[0].value == 7, "inlined: %s",
                   f.n ? f.v[0].stack : "-");
        t_folds_free(&f);
    }

    t_run_free(&r);

    /* ids in any order, with gaps */
    t_base(&p);
    p.locs[0].id = 900;
    p.locs[1].id = 5;
    p.locs[2].id = 77;
    p.fns[0].id = 1000000000000ULL;
    p.fns[1].id = 3;
    p.fns[2].id = 2;
    p.locs[0].fn[0] = 2;
    p.locs[1].fn[0] = 3;
    p.locs[2].fn[0] = 1000000000000LL;
    s = t_sample(&p, 1, 5);
    s->locs[0] = 900;
    s->locs[1] = 5;
    s->locs[2] = 77;

    t_ingest_prof(&r, &p, &ls, NULL);
    PYRO_CHECK(r.rc == PYRO_OK, "sparse ids: %s", r.err.msg);

    if (r.rc == PYRO_OK) {
        memset(&f, 0, sizeof(t_folds_t));
        t_folds_of(&r.rec, "cpu", &f);
        PYRO_CHECK(f.n == 1 && strcmp(f.v[0].stack, "main;work;leaf") == 0,
                   "sparse: %s", f.n ? f.v[0].stack : "-");
        t_folds_free(&f);
    }

    t_run_free(&r);
    pyro_labels_free(&ls);
}


/* Negative, zero values; num labels; span and trace ids; groups. */
static void
test_normalize(void)
{
    t_prof_t             p;
    t_run_t              r;
    t_sample_t          *s;
    pyro_labels_t        ls;
    const pyro_prof_t   *pr;
    static const char   *plain_cpu[] = { "__type__=cpu", "service_name=svc",
                                         NULL };
    static const char   *b_cpu[] = { "__type__=cpu", "loop=B", NULL };
    static const char   *a_cpu[] = { "__type__=cpu", "loop=A", NULL };
    static const char   *b_samples[] = { "__type__=samples", "loop=B",
                                         NULL };

    memset(&ls, 0, sizeof(pyro_labels_t));
    pyro_labels_set_cstr(&ls, "__name__", "process_cpu");
    pyro_labels_set_cstr(&ls, "service_name", "svc");

    t_base(&p);
    t_sample(&p, -1, 1000);             /* any negative: dropped */
    t_sample(&p, 0, 0);                 /* all zero: dropped */
    t_sample(&p, 0, 5);                 /* cpu only */
    s = t_sample(&p, 1, 1);
    t_label(s, 15, 0, 4096);            /* num label: no group */
    s = t_sample(&p, 1, 10);
    t_label(s, 9, 10, 0);               /* loop=B */
    t_label(s, 11, 12, 0);              /* span_id */
    s = t_sample(&p, 1, 20);
    t_label(s, 9, 10, 0);
    t_label(s, 13, 14, 0);              /* trace_id: not a group */
    s = t_sample(&p, 1, 40);
    t_label(s, 9, 20, 0);               /* loop=A */
    t_label(s, 16, 17, 0);              /* profile_id: a span */
    t_label(s, 18, 19, 0);              /* service_name: existing wins */

    t_ingest_prof(&r, &p, &ls, NULL);
    PYRO_CHECK(r.rc == PYRO_OK, "normalize: %s", r.err.msg);

    if (r.rc == PYRO_OK) {
        /* plain: cpu 5 + 1; samples 1 */
        pr = t_find(&r.rec, plain_cpu);
        PYRO_CHECK(pr != NULL && t_label_get(pr, "loop") == NULL,
                   "plain series first");
        PYRO_CHECK_INT(t_total(pr), 6, "plain cpu");
        PYRO_CHECK_INT(t_type_total(&r.rec, "samples/count"), 4,
                       "samples: negative and zero dropped");

        pr = t_find(&r.rec, b_cpu);
        PYRO_CHECK_INT(t_total(pr), 30, "loop=B cpu");
        PYRO_CHECK_INT(pr ? pr->nsamples : 0, 2, "span kept per sample");

        if (pr != NULL && pr->nsamples == 2) {
            PYRO_CHECK(pr->samples[0].span == 0x0807060504030201ULL
                       || pr->samples[1].span == 0x0807060504030201ULL,
                       "span_id little endian");
            PYRO_CHECK(pr->samples[0].span == 0
                       || pr->samples[1].span == 0, "trace_id: no span");
        }

        PYRO_CHECK(t_find(&r.rec, b_samples) != NULL, "loop=B samples");

        pr = t_find(&r.rec, a_cpu);
        PYRO_CHECK(pr != NULL, "loop=A series");
        PYRO_CHECK_STR(pr ? t_label_get(pr, "service_name") : NULL, "svc",
                       "series labels win");
        PYRO_CHECK(pr != NULL && pr->nsamples == 1
                   && pr->samples[0].span == 0x1817161514131211ULL,
                   "profile_id is a span");
        PYRO_CHECK(pr != NULL && t_label_get(pr, "profile_id") == NULL
                   && t_label_get(pr, "span_id") == NULL
                   && t_label_get(pr, "trace_id") == NULL,
                   "no span/trace labels");

        PYRO_CHECK_INT(r.rec.nprofs, 6, "3 label sets x 2 types");
    }

    t_run_free(&r);
    pyro_labels_free(&ls);
}


/* Relabeling, defaults, time. */
static void
test_labels(void)
{
    t_prof_t             p;
    t_run_t              r;
    pyro_labels_t        ls;
    const pyro_prof_t   *pr;
    static const char   *cpu[] = { "__type__=cpu", NULL };
    static const char   *samples[] = { "__type__=samples", NULL };

    t_base(&p);
    t_sample(&p, 1, 10);
    p.time_ns = 5;
    p.has_period = 0;

    memset(&ls, 0, sizeof(pyro_labels_t));
    pyro_labels_set_cstr(&ls, "__name__", "godeltaprof_memory");
    pyro_labels_set_cstr(&ls, "__otel__", "x");
    pyro_labels_set_cstr(&ls, "__order__", "1");

    t_ingest_prof(&r, &p, &ls, NULL);
    PYRO_CHECK(r.rc == PYRO_OK, "labels: %s", r.err.msg);

    if (r.rc == PYRO_OK) {
        pr = t_find(&r.rec, cpu);
        PYRO_CHECK_STR(pr ? t_label_get(pr, "__profile_type__") : NULL,
                       "memory:cpu:nanoseconds::", "godeltaprof, no period");
        PYRO_CHECK_STR(pr ? t_label_get(pr, "service_name") : NULL,
                       "unknown_service", "default service_name");
        PYRO_CHECK(pr != NULL && t_label_get(pr, "__otel__") == NULL
                   && t_label_get(pr, "__order__") == NULL
                   && t_label_get(pr, "__delta__") == NULL, "stripped");
        PYRO_CHECK_INT(pr ? pr->time_ns : 0, 1800000000000000000LL,
                       "1970 time replaced");
    }

    t_run_free(&r);
    pyro_labels_free(&ls);

    /* upstream's wall/cpu relabel rule never fires: cpu stays under wall */
    memset(&ls, 0, sizeof(pyro_labels_t));
    pyro_labels_set_cstr(&ls, "__name__", "wall");
    pyro_labels_set_cstr(&ls, "service_name", "svc");
    p.time_ns = 0;

    t_ingest_prof(&r, &p, &ls, NULL);
    PYRO_CHECK(r.rc == PYRO_OK, "wall: %s", r.err.msg);

    if (r.rc == PYRO_OK) {
        pr = t_find(&r.rec, cpu);
        PYRO_CHECK_STR(pr ? t_label_get(pr, "__name__") : NULL,
                       "wall", "wall/cpu");
        pr = t_find(&r.rec, samples);
        PYRO_CHECK_STR(pr ? t_label_get(pr, "__name__") : NULL, "wall",
                       "wall/samples");
        PYRO_CHECK_INT(pr ? pr->time_ns : 0, 1800000000000000000LL,
                       "zero time replaced");
    }

    t_run_free(&r);
    pyro_labels_free(&ls);
}


/* Truncation: depth (root side kept) and symbols (suffix kept). */
static void
test_limits(void)
{
    int             i;
    t_prof_t        p;
    t_run_t         r;
    t_folds_t       f;
    t_sample_t     *s;
    pyro_labels_t   ls;
    pyro_limits_t   lim;
    static const char  *names[] = {
        "f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9"
    };

    memset(&ls, 0, sizeof(pyro_labels_t));
    pyro_labels_set_cstr(&ls, "__name__", "process_cpu");
    pyro_labels_set_cstr(&ls, "service_name", "svc");

    t_base(&p);
    p.nfns = 10;
    p.nlocs = 10;

    for (i = 0; i < 10; i++) {
        p.strs[21 + i] = names[i];
        p.fns[i].id = (uint64_t) i + 1;
        p.fns[i].name = 21 + i;
        p.fns[i].file = 8;
        p.locs[i].id = (uint64_t) i + 1;
        p.locs[i].nlines = 1;
        p.locs[i].fn[0] = i + 1;
        p.locs[i].line[0] = i;
    }

    p.nstrs = 31;
    s = t_sample(&p, 1, 1);
    s->nlocs = 10;
    for (i = 0; i < 10; i++) {
        s->locs[i] = i + 1;             /* f0 is the leaf */
    }

    pyro_limits_default(&lim);
    lim.max_depth = 3;

    t_ingest_prof(&r, &p, &ls, &lim);
    PYRO_CHECK(r.rc == PYRO_OK, "depth: %s", r.err.msg);

    if (r.rc == PYRO_OK) {
        memset(&f, 0, sizeof(t_folds_t));
        t_folds_of(&r.rec, "cpu", &f);
        PYRO_CHECK(f.n == 1 && strcmp(f.v[0].stack, "f9;f8;f7") == 0,
                   "root side kept: %s", f.n ? f.v[0].stack : "-");
        t_folds_free(&f);
    }

    t_run_free(&r);

    t_base(&p);
    p.strs[6] = "very.long.package.work";
    t_sample(&p, 1, 1);

    pyro_limits_default(&lim);
    lim.max_symbol_len = 4;

    t_ingest_prof(&r, &p, &ls, &lim);
    PYRO_CHECK(r.rc == PYRO_OK, "symbols: %s", r.err.msg);

    if (r.rc == PYRO_OK) {
        memset(&f, 0, sizeof(t_folds_t));
        t_folds_of(&r.rec, "cpu", &f);
        PYRO_CHECK(f.n == 1 && strcmp(f.v[0].stack, "main;work;leaf") == 0,
                   "suffix kept: %s", f.n ? f.v[0].stack : "-");
        t_folds_free(&f);
    }

    t_run_free(&r);
    pyro_labels_free(&ls);
}


/* One damage per case of test_errors(). */
static void
t_corrupt(int which, t_prof_t *p, pyro_limits_t *l)
{
    switch (which) {
    case 0:
        p->nst = 0;
        break;
    case 1:
        p->strs[0] = "x";
        break;
    case 2:
        p->fns[1].name = 99;
        break;
    case 3:
        p->fns[1].file = -1;
        break;
    case 4:
        p->st[1][0] = 99;
        break;
    case 5:
        p->locs[1].id = 0;
        break;
    case 6:
        p->fns[0].id = 0;
        break;
    case 7:
        p->locs[0].fn[0] = 9;
        break;
    case 8:
        p->samples[0].locs[1] = 42;
        break;
    case 9:
        p->samples[0].nvals = 3;
        break;
    case 10:
        p->strs[3] = "cpu-x";
        break;
    case 11:
        p->strs[7] = "a\xff";
        break;
    case 12:
        /* the cut splits a character: invalid after truncation */
        p->strs[7] = "\xc3\xa9t\xc3\xa9";
        l->max_symbol_len = 4;
        break;
    case 13:
        l->max_samples = 1;
        break;
    case 14:
        t_label(&p->samples[0], 9, 10, 0);
        t_label(&p->samples[0], 15, 0, 1);
        l->max_sample_labels = 1;
        break;
    case 15:
        t_label(&p->samples[0], 9, 77, 0);
        break;
    case 16:
        l->max_profile_size = 64;
        break;
    case 17:
        t_label(&p->samples[0], 9, 10, 0);
        l->max_label_names = 2;
        break;
    default:
        break;
    }
}


static void
test_errors(void)
{
    size_t          i;
    t_prof_t        p;
    t_run_t         r;
    pyro_labels_t   ls;
    pyro_limits_t   lim;
    static const char  *msgs[] = {
        "empty profile",
        "string 0 should be empty string",
        "function name string index out of range",
        "function file name string index out of range",
        "sample type type string index out of range",
        "location id is 0",
        "function id is 0",
        "function id 9 not found",
        "location id 42 not found",
        "sample value length mismatch",
        "sample type contains -",
        "invalid utf8 string hex: 61ff",
        "invalid utf8 string hex: a974c3a9",
        "the profile with labels '{__name__=\"process_cpu\", "
        "service_name=\"svc\"}' exceeds the samples count limit "
        "(max_profile_stacktrace_samples, actual: 2, limit: 1)",
        "the profile with labels '{__name__=\"process_cpu\", "
        "service_name=\"svc\"}' exceeds the sample labels limit "
        "(max_profile_stacktrace_sample_labels, actual: 2, limit: 1)",
        "sample label string index out of range",
        "the profile with labels '{__name__=\"process_cpu\", "
        "service_name=\"svc\"}' exceeds the size limit "
        "(max_profile_size_byte, actual: ",
        "profile series '{__name__=\"process_cpu\", loop=\"B\", "
        "service_name=\"svc\"}' has 3 label names; limit 2",
    };

    memset(&ls, 0, sizeof(pyro_labels_t));
    pyro_labels_set_cstr(&ls, "__name__", "process_cpu");
    pyro_labels_set_cstr(&ls, "service_name", "svc");

    for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
        t_base(&p);
        t_sample(&p, 1, 10);
        t_sample(&p, 2, 10);
        pyro_limits_default(&lim);

        t_corrupt((int) i, &p, &lim);

        t_ingest_prof(&r, &p, &ls, &lim);
        PYRO_CHECK(r.rc == PYRO_ERROR && r.err.status == 400
                   && strcmp(r.err.code, "invalid_argument") == 0
                   && strncmp(r.err.msg, msgs[i], strlen(msgs[i])) == 0,
                   "case %zu: got \"%s\", want \"%s\"", i, r.err.msg,
                   msgs[i]);
        t_run_free(&r);
    }

    pyro_labels_free(&ls);
}


static void
t_expect_raw(const char *data, size_t len, const char *msg, const char *what)
{
    t_run_t         r;
    pyro_labels_t   ls;

    memset(&ls, 0, sizeof(pyro_labels_t));
    pyro_labels_set_cstr(&ls, "__name__", "process_cpu");

    t_ingest(&r, data, len, &ls, 0, NULL, NULL);
    PYRO_CHECK(r.rc == PYRO_ERROR && strcmp(r.err.msg, msg) == 0,
               "%s: got \"%s\", want \"%s\"", what, r.err.msg, msg);

    t_run_free(&r);
    pyro_labels_free(&ls);
}


/* Wire format errors, every truncation, random damage: no crash. */
static void
test_wire(void)
{
    size_t          i, n;
    t_prof_t        p;
    t_run_t         r;
    pyro_buf_t      out;
    pyro_labels_t   ls;
    unsigned int    seed;
    char           *copy;

    t_expect_raw("\x0a\x05\x08\x01", 4, "unexpected EOF", "short bytes");
    t_expect_raw("\x48\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12,
                 "proto: integer overflow", "11-byte varint");
    t_expect_raw("\x48\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 11,
                 "proto: integer overflow", "varint past 64 bits");
    t_expect_raw("\x48\xff", 2, "unexpected EOF", "open varint");
    t_expect_raw("\x4b", 1, "proto: illegal wireType 3", "group");
    t_expect_raw("\x07", 1, "proto: illegal tag 0 (wire type 7)", "tag 0");
    t_expect_raw("\x0a\x00\x4a\x00", 4, "proto: wrong wireType = 2 for field "
                 "TimeNanos", "wrong wire type");
    t_expect_raw("\x08\x01", 2, "proto: wrong wireType = 0 for field "
                 "SampleType", "wrong wire type, message");
    t_expect_raw("\x0a\x02\x08\x80", 4, "unexpected EOF", "nested varint");
    t_expect_raw("", 0, "empty profile", "no bytes");

    memset(&ls, 0, sizeof(pyro_labels_t));
    pyro_labels_set_cstr(&ls, "__name__", "process_cpu");
    memset(&out, 0, sizeof(pyro_buf_t));

    t_base(&p);
    t_sample(&p, 1, 10);
    t_label(t_sample(&p, 2, 20), 9, 10, 0);
    p.unknown = 1;
    t_encode(&p, &out);

    for (n = 0, i = 0; i < out.len; i++) {
        copy = malloc(i ? i : 1);
        memcpy(copy, out.data, i);
        t_ingest(&r, copy, i, &ls, 0, NULL, NULL);
        n += (r.rc != PYRO_OK);
        t_run_free(&r);
        free(copy);
    }

    PYRO_CHECK(n > out.len / 2, "truncations rejected: %zu of %zu", n,
               out.len);

    seed = 1;
    copy = malloc(out.len);

    for (i = 0; i < 20000; i++) {
        memcpy(copy, out.data, out.len);
        seed = seed * 1103515245 + 12345;
        copy[(seed >> 8) % out.len] ^= (char) (1 + (seed >> 20) % 255);
        seed = seed * 1103515245 + 12345;
        copy[(seed >> 8) % out.len] = (char) (seed >> 16);
        t_ingest(&r, copy, out.len, &ls, 0, NULL, NULL);
        t_run_free(&r);
    }

    free(copy);
    pyro_buf_free(&out);
    pyro_labels_free(&ls);
}


/* gzip input, and a bomb capped at max_profile_size. */
static void
test_gzip(void)
{
    t_prof_t        p;
    t_run_t         r1, r2;
    pyro_buf_t      out;
    pyro_labels_t   ls;
    pyro_limits_t   lim;
    uLongf          zlen;
    char           *z, *zeros;
    z_stream        zs;
    size_t          big;

    memset(&ls, 0, sizeof(pyro_labels_t));
    pyro_labels_set_cstr(&ls, "__name__", "process_cpu");
    memset(&out, 0, sizeof(pyro_buf_t));

    t_base(&p);
    t_sample(&p, 1, 10);
    t_encode(&p, &out);

    /* gzip framing through deflateInit2 */
    memset(&zs, 0, sizeof(z_stream));
    deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    zlen = deflateBound(&zs, out.len) + 32;
    z = malloc(zlen);
    zs.next_in = (Bytef *) out.data;
    zs.avail_in = (uInt) out.len;
    zs.next_out = (Bytef *) z;
    zs.avail_out = (uInt) zlen;
    deflate(&zs, Z_FINISH);
    zlen = zs.total_out;
    deflateEnd(&zs);

    t_ingest(&r1, out.data, out.len, &ls, 0, NULL, NULL);
    t_ingest(&r2, z, zlen, &ls, 0, NULL, NULL);
    PYRO_CHECK(r1.rc == PYRO_OK && r2.rc == PYRO_OK
               && r1.enc.len == r2.enc.len
               && memcmp(r1.enc.data, r2.enc.data, r1.enc.len) == 0,
               "gzip == plain: %s", r2.err.msg);
    t_run_free(&r1);
    t_run_free(&r2);
    free(z);

    /* 64 MiB of zeros in ~64 KiB of gzip */
    big = 64u << 20;
    zeros = calloc(1, big);
    memset(&zs, 0, sizeof(z_stream));
    deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    zlen = deflateBound(&zs, big);
    z = malloc(zlen);
    zs.next_in = (Bytef *) zeros;
    zs.avail_in = (uInt) big;
    zs.next_out = (Bytef *) z;
    zs.avail_out = (uInt) zlen;
    deflate(&zs, Z_FINISH);
    zlen = zs.total_out;
    deflateEnd(&zs);
    free(zeros);

    pyro_limits_default(&lim);
    lim.max_profile_size = 1 << 20;

    t_ingest(&r1, z, zlen, &ls, 0, NULL, &lim);
    PYRO_CHECK(r1.rc == PYRO_ERROR && r1.err.status == 400
               && strcmp(r1.err.msg, "uncompressed profile payload size "
                         "exceeds limit of 1048576") == 0,
               "gzip bomb: %s", r1.err.msg);
    t_run_free(&r1);

    free(z);
    pyro_buf_free(&out);
    pyro_labels_free(&ls);
}


static double
t_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}


/* Decode throughput on plain bytes (informative; sanitizers slow it). */
static void
test_throughput(const char *file)
{
    int                 i, n;
    char                path[256], *gz, *plain;
    size_t              len, plen;
    double              t0, dt;
    pyro_batch_t       *b;
    pyro_err_t          err;
    pyro_labels_t       ls;
    pyro_limits_t       lim;
    pyro_pprof_opts_t   opts;

    snprintf(path, sizeof(path), FIXTURES "%s", file);
    gz = t_read(path, &len);
    PYRO_CHECK(gz != NULL, "missing fixture %s", path);
    if (gz == NULL) {
        return;
    }

    plain = t_gunzip(gz, len, &plen);
    PYRO_CHECK(plain != NULL, "gunzip %s", file);

    memset(&ls, 0, sizeof(pyro_labels_t));
    pyro_labels_set_cstr(&ls, "__name__", "process_cpu");
    pyro_labels_set_cstr(&ls, "service_name", "svc");
    pyro_limits_default(&lim);
    lim.max_profile_size = 0;

    memset(&opts, 0, sizeof(pyro_pprof_opts_t));
    opts.labels = &ls;
    opts.derive_name = 0;
    opts.display_names = NULL;
    opts.default_time_ns = 0;
    opts.limits = &lim;

    n = (plen < (1 << 20)) ? 20 : 5;
    t0 = t_now();

    for (i = 0; plain != NULL && i < n; i++) {
        b = pyro_batch_new();
        PYRO_CHECK(pyro_pprof_ingest(b, plain, plen, &opts, &err) == PYRO_OK,
                   "%s: %s", file, err.msg);
        pyro_batch_free(b);
    }

    dt = t_now() - t0;

    printf("pprof %s: %zu plain bytes, %.1f MB/s\n", file, plen,
           (double) plen * n / dt / 1e6);

    pyro_labels_free(&ls);
    free(plain);
    free(gz);
}


int
main(void)
{
    test_fixtures();
    test_fixture_labels();
    test_fixture_names();
    test_basic();
    test_encodings();
    test_frames();
    test_normalize();
    test_labels();
    test_limits();
    test_errors();
    test_wire();
    test_gzip();
    test_throughput("cpu-mid.pb.gz");
    test_throughput("cpu-large.pb.gz");

    return pyro_test_done("pprof");
}

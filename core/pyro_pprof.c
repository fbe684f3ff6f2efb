
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * pprof ingestion (spec section 4): a bounded walk over the protobuf
 * wire format (no generated code), upstream's validation and
 * normalization, and the split into one batch profile per sample type
 * and per set of string sample labels.
 *
 * The message is walked three times: the top level is counted, so that
 * every table is allocated once at its exact size; then it is indexed
 * (strings, functions and locations decoded, samples only located);
 * then every sample is decoded and checked.  Only once the whole
 * profile and every series label set are known to be valid does the
 * batch change: stacks are interned and samples added.  Nothing is
 * allocated per sample, and every allocation is bounded by the input.
 *
 * Choices where upstream gives no exact rule:
 *  - a location without lines adds no frame (symdb resolves frames from
 *    lines only); a sample left with no frame at all is dropped;
 *  - unknown location or function ids (and a line's function id 0) are
 *    errors, where upstream's sanitizer would drop the location or the
 *    sample silently;
 *  - duplicate location or function ids: the last one wins, as in
 *    upstream's id maps.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>

#include "pyro.h"


#define PYRO_PB_VARINT    0
#define PYRO_PB_FIXED64   1
#define PYRO_PB_BYTES     2
#define PYRO_PB_FIXED32   5

#define PYRO_NONE         UINT32_MAX

/* upstream replaces time_nanos whose year is 1970 (and 0) */
#define PYRO_PPROF_1971   31536000000000000LL


typedef struct {
    const unsigned char  *p;
    const unsigned char  *end;
} pyro_pb_t;

typedef struct {
    uint32_t              num;
    uint32_t              wt;
    uint64_t              v;
    pyro_pb_t             sub;          /* a length-delimited field */
} pyro_pb_field_t;

typedef struct {
    int64_t               type;
    int64_t               unit;
} pyro_pvt_t;

typedef struct {
    uint64_t              id;
    int64_t               name;
    int64_t               file;
    uint32_t              batch;        /* PYRO_NONE until interned */
} pyro_pfn_t;

typedef struct {
    uint64_t              fn;           /* function id, then its index */
    int64_t               line;
} pyro_pline_t;

typedef struct {
    uint64_t              id;
    uint32_t              line_off;
    uint32_t              nlines;
    /* the node this location gave under cache_parent, last time */
    uint32_t              cache_parent;
    uint32_t              cache_node;
} pyro_ploc_t;

typedef struct {
    pyro_pb_t             msg;
    uint32_t              loc_off;      /* in locidx, leaf first */
    uint32_t              depth;
    uint32_t              group;        /* PYRO_NONE: dropped */
    uint32_t              node;
    uint64_t              span;
} pyro_psample_t;

typedef struct {
    uint64_t              id;
    uint32_t              idx;
} pyro_pid_t;

/*
 * id -> index: a direct table when ids are small (at most 4n + 16,
 * so the table stays bounded by the input), else v sorted by (id, idx)
 */
typedef struct {
    uint32_t             *direct;
    size_t                ndirect;
    pyro_pid_t           *v;
    size_t                n;
} pyro_pindex_t;

typedef struct {
    uint32_t              off;          /* label pairs in sig */
    uint32_t              n;
    uint32_t              count;        /* samples, then bucket end */
    uint64_t              hash;
} pyro_pgroup_t;

typedef struct {
    pyro_batch_t             *batch;
    const pyro_pprof_opts_t  *opts;
    const pyro_limits_t      *limits;
    pyro_err_t               *err;

    size_t                    nst;
    size_t                    nsamples;
    size_t                    nlocs;
    size_t                    nfuncs;
    size_t                    nstrs;
    size_t                    sample_bytes;

    pyro_pvt_t               *st;
    pyro_pvt_t                period_type;
    int64_t                   time_ns;
    int64_t                   duration_ns;

    pyro_str_t               *strs;
    pyro_pfn_t               *funcs;
    pyro_ploc_t              *locs;
    pyro_pline_t             *lines;
    size_t                    nlines;
    size_t                    lines_cap;
    pyro_psample_t           *samples;
    int64_t                  *values;
    uint32_t                 *locidx;
    size_t                    nlocidx;
    size_t                    locidx_cap;
    pyro_pindex_t             loc_index;
    pyro_pindex_t             fn_index;

    /* sample label grouping */
    uint32_t                 *canon;        /* string -> first equal one */
    uint32_t                 *canon_ht;
    size_t                    canon_mask;
    uint32_t                 *pairs;        /* the current sample's */
    size_t                    npairs;
    size_t                    pairs_cap;
    uint32_t                 *sig;          /* every group's pairs */
    size_t                    nsig;
    size_t                    sig_cap;
    pyro_pgroup_t            *groups;
    size_t                    ngroups;
    uint32_t                 *group_ht;
    size_t                    group_mask;

    char                    **names;        /* NUL-terminated types/units */
    pyro_labels_t            *series;       /* ngroups x nst */
} pyro_pprof_t;


static int pyro_pprof_parse(pyro_pprof_t *pp, const char *data, size_t len);
static int pyro_pprof_emit(pyro_pprof_t *pp);


/* Go's field names, for upstream-shaped wire type errors */
static const char  *pyro_pb_profile_fields[] = {
    "", "SampleType", "Sample", "Mapping", "Location", "Function",
    "StringTable", "DropFrames", "KeepFrames", "TimeNanos",
    "DurationNanos", "PeriodType", "Period", "Comment",
    "DefaultSampleType"
};


static int
pyro_pb_eof(pyro_err_t *err)
{
    pyro_err_invalid(err, "unexpected EOF");
    return PYRO_ERROR;
}


/* The multi-byte case of pyro_pb_uvarint(), out of the hot path. */
static int
pyro_pb_uvarint_long(pyro_pb_t *pb, uint64_t *out, pyro_err_t *err)
{
    unsigned              shift;
    uint64_t              v, c;
    const unsigned char  *p;

    p = pb->p;
    v = 0;

    for (shift = 0; shift < 64; shift += 7) {
        if (p == pb->end) {
            return pyro_pb_eof(err);
        }

        c = *p++;

        /* the 10th byte may carry one bit only */
        if (shift == 63 && c > 1) {
            break;
        }

        v |= (c & 0x7f) << shift;

        if (c < 0x80) {
            *out = v;
            pb->p = p;
            return PYRO_OK;
        }
    }

    pyro_err_invalid(err, "proto: integer overflow");

    return PYRO_ERROR;
}


static inline int
pyro_pb_uvarint(pyro_pb_t *pb, uint64_t *out, pyro_err_t *err)
{
    const unsigned char  *p;

    p = pb->p;

    if (p < pb->end && *p < 0x80) {
        *out = *p;
        pb->p = p + 1;
        return PYRO_OK;
    }

    if (pb->end - p >= 2 && p[1] < 0x80) {
        *out = (uint64_t) (p[0] & 0x7f) | (uint64_t) p[1] << 7;
        pb->p = p + 2;
        return PYRO_OK;
    }

    return pyro_pb_uvarint_long(pb, out, err);
}


/* Returns PYRO_OK with a field, PYRO_DECLINED at the end, or PYRO_ERROR. */
static inline int
pyro_pb_next(pyro_pb_t *pb, pyro_pb_field_t *f, pyro_err_t *err)
{
    uint64_t  tag, n;

    if (pb->p == pb->end) {
        return PYRO_DECLINED;
    }

    if (pyro_pb_uvarint(pb, &tag, err) != PYRO_OK) {
        return PYRO_ERROR;
    }

    f->num = (uint32_t) (tag >> 3);
    f->wt = (uint32_t) (tag & 7);

    if ((tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) {
        pyro_err_invalid(err, "proto: illegal tag %" PRIu64
                         " (wire type %u)", tag >> 3, f->wt);
        return PYRO_ERROR;
    }

    switch (f->wt) {

    case PYRO_PB_VARINT:
        return pyro_pb_uvarint(pb, &f->v, err);

    case PYRO_PB_FIXED64:
        if (pb->end - pb->p < 8) {
            return pyro_pb_eof(err);
        }

        f->v = pyro_get_u64le(pb->p);
        pb->p += 8;
        return PYRO_OK;

    case PYRO_PB_FIXED32:
        if (pb->end - pb->p < 4) {
            return pyro_pb_eof(err);
        }

        f->v = pyro_get_u32le(pb->p);
        pb->p += 4;
        return PYRO_OK;

    case PYRO_PB_BYTES:
        if (pyro_pb_uvarint(pb, &n, err) != PYRO_OK) {
            return PYRO_ERROR;
        }

        if (n > (uint64_t) (pb->end - pb->p)) {
            return pyro_pb_eof(err);
        }

        f->sub.p = pb->p;
        f->sub.end = pb->p + n;
        pb->p += n;
        return PYRO_OK;

    default:
        pyro_err_invalid(err, "proto: illegal wireType %u", f->wt);
        return PYRO_ERROR;
    }
}


static int
pyro_pb_want(const pyro_pb_field_t *f, uint32_t wt, const char *name,
    pyro_err_t *err)
{
    if (f->wt == wt) {
        return PYRO_OK;
    }

    pyro_err_invalid(err, "proto: wrong wireType = %u for field %s", f->wt,
                     name);

    return PYRO_ERROR;
}


/* A string index that must name an entry of the string table. */
static int
pyro_pprof_stridx(pyro_pprof_t *pp, int64_t idx, const char *what)
{
    if (idx >= 0 && (uint64_t) idx < pp->nstrs) {
        return PYRO_OK;
    }

    pyro_err_invalid(pp->err, "%s string index out of range", what);

    return PYRO_ERROR;
}


static void *
pyro_pprof_alloc(pyro_pprof_t *pp, size_t n, size_t size)
{
    void  *p;

    p = calloc(n ? n : 1, size);
    if (p == NULL) {
        pyro_err_internal(pp->err, "out of memory");
    }

    return p;
}


/* Makes room for n more elements of a growable array. */
static int
pyro_pprof_grow(pyro_pprof_t *pp, void **arr, size_t *cap, size_t len,
    size_t n, size_t size)
{
    void    *p;
    size_t   ncap;

    if (len + n <= *cap) {
        return PYRO_OK;
    }

    ncap = *cap ? *cap : 256;

    while (ncap < len + n) {
        ncap *= 2;
    }

    p = realloc(*arr, ncap * size);
    if (p == NULL) {
        pyro_err_internal(pp->err, "out of memory");
        return PYRO_ERROR;
    }

    *arr = p;
    *cap = ncap;

    return PYRO_OK;
}


static void
pyro_pprof_free(pyro_pprof_t *pp)
{
    size_t  i;

    if (pp->series != NULL) {
        for (i = 0; i < pp->ngroups * pp->nst; i++) {
            pyro_labels_free(&pp->series[i]);
        }
    }

    if (pp->names != NULL) {
        for (i = 0; i < 2 * pp->nst + 2; i++) {
            free(pp->names[i]);
        }
    }

    free(pp->st);
    free(pp->strs);
    free(pp->funcs);
    free(pp->locs);
    free(pp->lines);
    free(pp->samples);
    free(pp->values);
    free(pp->locidx);
    free(pp->loc_index.v);
    free(pp->loc_index.direct);
    free(pp->fn_index.v);
    free(pp->fn_index.direct);
    free(pp->canon);
    free(pp->canon_ht);
    free(pp->pairs);
    free(pp->sig);
    free(pp->groups);
    free(pp->group_ht);
    free(pp->names);
    free(pp->series);
}


int
pyro_pprof_ingest(pyro_batch_t *b, const char *data, size_t len,
    const pyro_pprof_opts_t *opts, pyro_err_t *err)
{
    int             rc;
    pyro_buf_t      plain;
    pyro_pprof_t    pp;
    pyro_limits_t   defaults;

    memset(&pp, 0, sizeof(pyro_pprof_t));
    memset(&plain, 0, sizeof(pyro_buf_t));

    if (opts->limits == NULL) {
        pyro_limits_default(&defaults);
    }

    pp.batch = b;
    pp.opts = opts;
    pp.limits = opts->limits ? opts->limits : &defaults;
    pp.err = err;

    rc = pyro_gunzip(data, len, pp.limits->max_profile_size, &plain, err);

    if (rc == PYRO_OK) {
        data = plain.data;
        len = plain.len;

    } else if (rc == PYRO_ERROR) {
        pyro_buf_free(&plain);
        return PYRO_ERROR;
    }

    rc = pyro_pprof_parse(&pp, data, len);

    if (rc == PYRO_OK) {
        rc = pyro_pprof_emit(&pp);
    }

    pyro_pprof_free(&pp);
    pyro_buf_free(&plain);

    return rc;
}


/*
 * Labels rendered as upstream's LabelPairsString for messages:
 * {a="b", c="d"} sorted by name, values quoted.
 */
static void
pyro_pprof_labels_str(const pyro_labels_t *ls, char *out, size_t size)
{
    size_t          i, k;
    pyro_buf_t      b;
    pyro_labels_t   tmp;
    unsigned char   c;
    const char     *v;

    memset(&b, 0, sizeof(pyro_buf_t));
    memset(&tmp, 0, sizeof(pyro_labels_t));

    if (ls != NULL && ls->n > 0) {
        tmp.v = malloc(ls->n * sizeof(pyro_label_t));
        if (tmp.v != NULL) {
            memcpy(tmp.v, ls->v, ls->n * sizeof(pyro_label_t));
            tmp.n = ls->n;
            pyro_labels_sort(&tmp);
        }
    }

    pyro_buf_putc(&b, '{');

    for (i = 0; i < tmp.n && b.len < size; i++) {
        pyro_buf_printf(&b, "%s%s=\"", i ? ", " : "", tmp.v[i].name);

        for (v = tmp.v[i].value, k = 0; v[k] != '\0'; k++) {
            c = (unsigned char) v[k];

            if (c == '"' || c == '\\') {
                pyro_buf_putc(&b, '\\');
                pyro_buf_putc(&b, (char) c);

            } else if (c < 0x20 || c == 0x7f) {
                pyro_buf_printf(&b, "\\x%02x", c);

            } else {
                pyro_buf_putc(&b, (char) c);
            }
        }

        pyro_buf_putc(&b, '"');
    }

    pyro_buf_putc(&b, '}');
    pyro_buf_putc(&b, '\0');

    snprintf(out, size, "%s", b.failed ? "{}" : b.data);

    free(tmp.v);
    pyro_buf_free(&b);
}


/*
 * The first walk: counts the repeated top-level fields, so that every
 * table is allocated once.  Each field takes at least two bytes, so the
 * counts are bounded by the input.
 */
static int
pyro_pprof_count(pyro_pprof_t *pp, pyro_pb_t pb)
{
    int              rc;
    pyro_pb_field_t  f;

    while ((rc = pyro_pb_next(&pb, &f, pp->err)) == PYRO_OK) {

        if (f.num >= 1 && f.num <= 6
            && pyro_pb_want(&f, PYRO_PB_BYTES, pyro_pb_profile_fields[f.num],
                            pp->err) != PYRO_OK)
        {
            return PYRO_ERROR;
        }

        switch (f.num) {
        case 1:
            pp->nst++;
            break;
        case 2:
            pp->nsamples++;
            pp->sample_bytes += (size_t) (f.sub.end - f.sub.p);
            break;
        case 4:
            pp->nlocs++;
            break;
        case 5:
            pp->nfuncs++;
            break;
        case 6:
            pp->nstrs++;
            break;
        default:
            break;
        }
    }

    return (rc == PYRO_DECLINED) ? PYRO_OK : PYRO_ERROR;
}


static int
pyro_pprof_value_type(pyro_pprof_t *pp, pyro_pb_t pb, pyro_pvt_t *vt)
{
    int              rc;
    pyro_pb_field_t  f;

    while ((rc = pyro_pb_next(&pb, &f, pp->err)) == PYRO_OK) {
        if (f.num == 1 || f.num == 2) {
            if (pyro_pb_want(&f, PYRO_PB_VARINT, f.num == 1 ? "Type" : "Unit",
                             pp->err) != PYRO_OK)
            {
                return PYRO_ERROR;
            }

            if (f.num == 1) {
                vt->type = (int64_t) f.v;

            } else {
                vt->unit = (int64_t) f.v;
            }
        }
    }

    return (rc == PYRO_DECLINED) ? PYRO_OK : PYRO_ERROR;
}


static int
pyro_pprof_mapping(pyro_pprof_t *pp, pyro_pb_t pb)
{
    int              rc;
    pyro_pb_field_t  f;

    while ((rc = pyro_pb_next(&pb, &f, pp->err)) == PYRO_OK) {
        if (f.num < 1 || f.num > 10) {
            continue;
        }

        if (pyro_pb_want(&f, PYRO_PB_VARINT, "Mapping", pp->err) != PYRO_OK) {
            return PYRO_ERROR;
        }

        if ((f.num == 5 && pyro_pprof_stridx(pp, (int64_t) f.v,
                                             "mapping file name") != PYRO_OK)
            || (f.num == 6 && pyro_pprof_stridx(pp, (int64_t) f.v,
                                                "mapping build ID")
                              != PYRO_OK))
        {
            return PYRO_ERROR;
        }
    }

    return (rc == PYRO_DECLINED) ? PYRO_OK : PYRO_ERROR;
}


static int
pyro_pprof_line(pyro_pprof_t *pp, pyro_pb_t pb)
{
    int              rc;
    pyro_pb_field_t  f;
    pyro_pline_t    *ln;

    if (pyro_pprof_grow(pp, (void **) &pp->lines, &pp->lines_cap,
                        pp->nlines, 1, sizeof(pyro_pline_t)) != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    ln = &pp->lines[pp->nlines++];
    ln->fn = 0;
    ln->line = 0;

    while ((rc = pyro_pb_next(&pb, &f, pp->err)) == PYRO_OK) {
        if (f.num < 1 || f.num > 3) {
            continue;
        }

        if (pyro_pb_want(&f, PYRO_PB_VARINT, "Line", pp->err) != PYRO_OK) {
            return PYRO_ERROR;
        }

        if (f.num == 1) {
            ln->fn = f.v;

        } else if (f.num == 2) {
            ln->line = (int64_t) f.v;
        }
    }

    return (rc == PYRO_DECLINED) ? PYRO_OK : PYRO_ERROR;
}


static int
pyro_pprof_location(pyro_pprof_t *pp, pyro_pb_t pb, pyro_ploc_t *loc)
{
    int              rc;
    pyro_pb_field_t  f;

    loc->line_off = (uint32_t) pp->nlines;
    loc->cache_node = PYRO_NONE;

    while ((rc = pyro_pb_next(&pb, &f, pp->err)) == PYRO_OK) {
        if (f.num < 1 || f.num > 5) {
            continue;
        }

        if (pyro_pb_want(&f, f.num == 4 ? PYRO_PB_BYTES : PYRO_PB_VARINT,
                         "Location", pp->err) != PYRO_OK)
        {
            return PYRO_ERROR;
        }

        if (f.num == 1) {
            loc->id = f.v;

        } else if (f.num == 4 && pyro_pprof_line(pp, f.sub) != PYRO_OK) {
            return PYRO_ERROR;
        }
    }

    if (rc != PYRO_DECLINED) {
        return PYRO_ERROR;
    }

    if (loc->id == 0) {
        pyro_err_invalid(pp->err, "location id is 0");
        return PYRO_ERROR;
    }

    if (pp->nlines > UINT32_MAX) {
        pyro_err_invalid(pp->err, "too many lines");
        return PYRO_ERROR;
    }

    loc->nlines = (uint32_t) (pp->nlines - loc->line_off);

    return PYRO_OK;
}


static int
pyro_pprof_function(pyro_pprof_t *pp, pyro_pb_t pb, pyro_pfn_t *fn)
{
    int              rc;
    pyro_pb_field_t  f;
    static const char  *what[] = {
        "", "", "function name", "function system name", "function file name"
    };

    fn->batch = PYRO_NONE;

    while ((rc = pyro_pb_next(&pb, &f, pp->err)) == PYRO_OK) {
        if (f.num < 1 || f.num > 5) {
            continue;
        }

        if (pyro_pb_want(&f, PYRO_PB_VARINT, "Function", pp->err) != PYRO_OK) {
            return PYRO_ERROR;
        }

        if (f.num >= 2 && f.num <= 4
            && pyro_pprof_stridx(pp, (int64_t) f.v, what[f.num]) != PYRO_OK)
        {
            return PYRO_ERROR;
        }

        switch (f.num) {
        case 1:
            fn->id = f.v;
            break;
        case 2:
            fn->name = (int64_t) f.v;
            break;
        case 4:
            fn->file = (int64_t) f.v;
            break;
        default:
            break;
        }
    }

    if (rc != PYRO_DECLINED) {
        return PYRO_ERROR;
    }

    if (fn->id == 0) {
        pyro_err_invalid(pp->err, "function id is 0");
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


/* A repeated int64 field, packed or not, whose values are not needed. */
static int
pyro_pprof_skip_repeated(pyro_pprof_t *pp, pyro_pb_field_t *f)
{
    uint64_t  v;

    if (f->wt == PYRO_PB_VARINT) {
        return PYRO_OK;
    }

    if (pyro_pb_want(f, PYRO_PB_BYTES, "Comment", pp->err) != PYRO_OK) {
        return PYRO_ERROR;
    }

    while (f->sub.p < f->sub.end) {
        if (pyro_pb_uvarint(&f->sub, &v, pp->err) != PYRO_OK) {
            return PYRO_ERROR;
        }
    }

    return PYRO_OK;
}


/* The scalar and single-message fields of Profile. */
static int
pyro_pprof_scalar(pyro_pprof_t *pp, pyro_pb_field_t *f)
{
    if (f->num == 13) {
        return pyro_pprof_skip_repeated(pp, f);
    }

    if (f->num == 11) {
        if (pyro_pb_want(f, PYRO_PB_BYTES, "PeriodType", pp->err) != PYRO_OK) {
            return PYRO_ERROR;
        }

        /* a repeated singular message merges, as in protobuf */
        return pyro_pprof_value_type(pp, f->sub, &pp->period_type);
    }

    if (f->num < 7 || f->num > 14) {
        return PYRO_OK;
    }

    if (pyro_pb_want(f, PYRO_PB_VARINT, pyro_pb_profile_fields[f->num],
                     pp->err) != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    if (f->num == 9) {
        pp->time_ns = (int64_t) f->v;

    } else if (f->num == 10) {
        pp->duration_ns = (int64_t) f->v;
    }

    return PYRO_OK;
}


/* The second walk: decodes the tables and locates the samples. */
static int
pyro_pprof_index(pyro_pprof_t *pp, pyro_pb_t pb)
{
    int              rc;
    size_t           ist, is, il, ifn, istr;
    pyro_pb_field_t  f;

    ist = 0;
    is = 0;
    il = 0;
    ifn = 0;
    istr = 0;

    while ((rc = pyro_pb_next(&pb, &f, pp->err)) == PYRO_OK) {

        switch (f.num) {

        case 1:
            rc = pyro_pprof_value_type(pp, f.sub, &pp->st[ist++]);
            break;

        case 2:
            pp->samples[is++].msg = f.sub;
            break;

        case 3:
            rc = pyro_pprof_mapping(pp, f.sub);
            break;

        case 4:
            rc = pyro_pprof_location(pp, f.sub, &pp->locs[il++]);
            break;

        case 5:
            rc = pyro_pprof_function(pp, f.sub, &pp->funcs[ifn++]);
            break;

        case 6:
            pp->strs[istr].data = (const char *) f.sub.p;
            pp->strs[istr++].len = (size_t) (f.sub.end - f.sub.p);
            break;

        default:
            rc = pyro_pprof_scalar(pp, &f);
            break;
        }

        if (rc != PYRO_OK) {
            return PYRO_ERROR;
        }
    }

    return (rc == PYRO_DECLINED) ? PYRO_OK : PYRO_ERROR;
}


static int
pyro_pid_cmp(const void *a, const void *b)
{
    const pyro_pid_t  *x = a, *y = b;

    if (x->id != y->id) {
        return x->id < y->id ? -1 : 1;
    }

    return (x->idx > y->idx) - (x->idx < y->idx);
}


/* Takes v (filled with {id, i}): a direct table, or v sorted. */
static int
pyro_pindex_init(pyro_pindex_t *ix, pyro_pid_t *v, size_t n)
{
    size_t    i;
    uint64_t  max;

    ix->n = n;

    for (i = 0, max = 0; i < n; i++) {
        max = (v[i].id > max) ? v[i].id : max;
    }

    if (max > 4 * (uint64_t) n + 16) {
        qsort(v, n, sizeof(pyro_pid_t), pyro_pid_cmp);
        ix->v = v;
        return PYRO_OK;
    }

    ix->direct = malloc(((size_t) max + 1) * sizeof(uint32_t));
    if (ix->direct == NULL) {
        free(v);
        return PYRO_ERROR;
    }

    memset(ix->direct, 0xff, ((size_t) max + 1) * sizeof(uint32_t));
    ix->ndirect = (size_t) max + 1;

    /* in order: a duplicate id resolves to the last, as upstream's maps */
    for (i = 0; i < n; i++) {
        ix->direct[v[i].id] = v[i].idx;
    }

    free(v);

    return PYRO_OK;
}


static inline uint32_t
pyro_pindex_find(const pyro_pindex_t *ix, uint64_t id)
{
    size_t  lo, hi, mid;

    if (ix->direct != NULL) {
        return (id < ix->ndirect) ? ix->direct[id] : PYRO_NONE;
    }

    /* the last entry with this id: duplicates resolve as upstream's maps */
    lo = 0;
    hi = ix->n;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (ix->v[mid].id <= id) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return (lo > 0 && ix->v[lo - 1].id == id) ? ix->v[lo - 1].idx : PYRO_NONE;
}


static int
pyro_pprof_ids(pyro_pprof_t *pp)
{
    size_t       i;
    uint32_t     k;
    pyro_pid_t  *v;

    v = pyro_pprof_alloc(pp, pp->nfuncs, sizeof(pyro_pid_t));
    if (v == NULL) {
        return PYRO_ERROR;
    }

    for (i = 0; i < pp->nfuncs; i++) {
        v[i].id = pp->funcs[i].id;
        v[i].idx = (uint32_t) i;
    }

    if (pyro_pindex_init(&pp->fn_index, v, pp->nfuncs) != PYRO_OK) {
        pyro_err_internal(pp->err, "out of memory");
        return PYRO_ERROR;
    }

    v = pyro_pprof_alloc(pp, pp->nlocs, sizeof(pyro_pid_t));
    if (v == NULL) {
        return PYRO_ERROR;
    }

    for (i = 0; i < pp->nlocs; i++) {
        v[i].id = pp->locs[i].id;
        v[i].idx = (uint32_t) i;
    }

    if (pyro_pindex_init(&pp->loc_index, v, pp->nlocs) != PYRO_OK) {
        pyro_err_internal(pp->err, "out of memory");
        return PYRO_ERROR;
    }

    for (i = 0; i < pp->nlines; i++) {
        k = pyro_pindex_find(&pp->fn_index, pp->lines[i].fn);

        if (k == PYRO_NONE) {
            pyro_err_invalid(pp->err, "function id %" PRIu64 " not found",
                             pp->lines[i].fn);
            return PYRO_ERROR;
        }

        pp->lines[i].fn = k;
    }

    return PYRO_OK;
}


/* Go's utf8.ValidString with an ASCII fast path. */
static int
pyro_pprof_utf8(const char *s, size_t n)
{
    size_t    i;
    uint64_t  w;

    for (i = 0; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080ULL) {
            break;
        }
    }

    for ( /* void */ ; i < n; i++) {
        if ((unsigned char) s[i] >= 0x80) {
            return pyro_utf8_valid(s + i, n - i);
        }
    }

    return 1;
}


/*
 * The string table: string 0, the symbol length limit (upstream keeps
 * the last N bytes) and UTF-8, checked after the cut as upstream does.
 */
static int
pyro_pprof_strings(pyro_pprof_t *pp)
{
    size_t       i, k, max;
    char         hex[2 * 200 + 1];
    pyro_str_t  *s;

    if (pp->nstrs == 0 || pp->strs[0].len != 0) {
        pyro_err_invalid(pp->err, "string 0 should be empty string");
        return PYRO_ERROR;
    }

    max = pp->limits->max_symbol_len;

    for (i = 0; i < pp->nstrs; i++) {
        s = &pp->strs[i];

        if (max > 0 && s->len > max) {
            s->data += s->len - max;
            s->len = max;
        }

        if (pyro_pprof_utf8(s->data, s->len)) {
            continue;
        }

        for (k = 0; k < s->len && k < 200; k++) {
            snprintf(hex + 2 * k, 3, "%02x", (unsigned char) s->data[k]);
        }

        hex[2 * k] = '\0';

        pyro_err_invalid(pp->err, "invalid utf8 string hex: %s", hex);
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


static char *
pyro_pprof_strdup(pyro_pprof_t *pp, int64_t idx)
{
    char  *p;

    p = pyro_pprof_alloc(pp, pp->strs[idx].len + 1, 1);
    if (p != NULL) {
        memcpy(p, pp->strs[idx].data, pp->strs[idx].len);
    }

    return p;
}


/*
 * Sample and period types: indexes, the "-" rule, and NUL-terminated
 * copies for the label sets (names[2t], names[2t + 1]: type and unit;
 * the last two: the period type and unit, "" without a period type).
 */
static int
pyro_pprof_types(pyro_pprof_t *pp)
{
    int                 sample;
    size_t              i;
    pyro_pvt_t         *vt;
    static const char  *what[] = {
        "sample type type", "sample type unit",
        "period type type", "period type unit"
    };

    pp->names = pyro_pprof_alloc(pp, 2 * pp->nst + 2, sizeof(char *));
    if (pp->names == NULL) {
        return PYRO_ERROR;
    }

    for (i = 0; i <= pp->nst; i++) {
        sample = (i < pp->nst);
        vt = sample ? &pp->st[i] : &pp->period_type;

        if (pyro_pprof_stridx(pp, vt->type, what[2 * !sample]) != PYRO_OK
            || pyro_pprof_stridx(pp, vt->unit, what[2 * !sample + 1])
               != PYRO_OK)
        {
            return PYRO_ERROR;
        }

        if (sample
            && memchr(pp->strs[vt->type].data, '-', pp->strs[vt->type].len))
        {
            pyro_err_invalid(pp->err, "sample type contains -");
            return PYRO_ERROR;
        }

        pp->names[2 * i] = pyro_pprof_strdup(pp, vt->type);
        pp->names[2 * i + 1] = pyro_pprof_strdup(pp, vt->unit);

        if (pp->names[2 * i] == NULL || pp->names[2 * i + 1] == NULL) {
            return PYRO_ERROR;
        }
    }

    return PYRO_OK;
}


static int
pyro_pprof_str_is(const pyro_str_t *s, const char *lit, size_t n)
{
    return s->len == n && memcmp(s->data, lit, n) == 0;
}


static uint64_t
pyro_pprof_hash(const void *p, size_t n, uint64_t h)
{
    size_t                i;
    const unsigned char  *s;

    s = p;

    for (i = 0; i < n; i++) {
        h = (h ^ s[i]) * 1099511628211ULL;
    }

    return h;
}


static size_t
pyro_pprof_pow2(size_t n)
{
    size_t  size;

    for (size = 16; size < 2 * n; size *= 2) { /* void */ }

    return size;
}


/*
 * The first string index with the same bytes: equal strings at two
 * indexes must group samples together.  Built lazily: most profiles
 * carry no grouping labels at all.
 */
static uint32_t
pyro_pprof_canon(pyro_pprof_t *pp, uint32_t idx)
{
    size_t        i, size;
    uint32_t      k;
    pyro_str_t   *s, *o;

    if (pp->canon == NULL) {
        size = pyro_pprof_pow2(pp->nstrs);

        pp->canon = pyro_pprof_alloc(pp, pp->nstrs, sizeof(uint32_t));
        pp->canon_ht = pyro_pprof_alloc(pp, size, sizeof(uint32_t));
        if (pp->canon == NULL || pp->canon_ht == NULL) {
            return PYRO_NONE;
        }

        memset(pp->canon, 0xff, pp->nstrs * sizeof(uint32_t));
        pp->canon_mask = size - 1;
    }

    if (pp->canon[idx] != PYRO_NONE) {
        return pp->canon[idx];
    }

    s = &pp->strs[idx];
    i = pyro_pprof_hash(s->data, s->len, 14695981039346656037ULL)
        & pp->canon_mask;

    for ( /* void */ ; pp->canon_ht[i] != 0; i = (i + 1) & pp->canon_mask) {
        k = pp->canon_ht[i] - 1;
        o = &pp->strs[k];

        if (o->len == s->len && memcmp(o->data, s->data, s->len) == 0) {
            pp->canon[idx] = k;
            return k;
        }
    }

    pp->canon_ht[i] = idx + 1;
    pp->canon[idx] = idx;

    return idx;
}


uint64_t
pyro_span_id(const pyro_str_t *s)
{
    size_t    i;
    uint64_t  v, d;
    char      c;

    if (s->len != 16) {
        return 0;
    }

    v = 0;

    for (i = 0; i < 16; i++) {
        c = s->data[i];

        if (c >= '0' && c <= '9') {
            d = (uint64_t) (c - '0');

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            d = (uint64_t) ((c | 0x20) - 'a' + 10);

        } else {
            return 0;
        }

        /* byte i / 2 holds digit i in its high (even i) or low nibble */
        v |= d << ((i / 2) * 8 + ((i & 1) ? 0 : 4));
    }

    return v;
}


/*
 * One Label of a sample.  Labels with a number (str == 0) are dropped;
 * span_id (and profile_id, its old name) set the sample's span;
 * trace_id is not kept; the rest become grouping pairs.
 */
static int
pyro_pprof_label(pyro_pprof_t *pp, pyro_pb_t pb, pyro_psample_t *s,
    int64_t *span_str)
{
    int              rc;
    int64_t          key, str, unit;
    uint64_t         span;
    pyro_pb_field_t  f;
    pyro_str_t      *k;

    key = 0;
    str = 0;
    unit = 0;

    while ((rc = pyro_pb_next(&pb, &f, pp->err)) == PYRO_OK) {
        if (f.num < 1 || f.num > 4) {
            continue;
        }

        if (pyro_pb_want(&f, PYRO_PB_VARINT, "Label", pp->err) != PYRO_OK) {
            return PYRO_ERROR;
        }

        if (f.num == 1) {
            key = (int64_t) f.v;

        } else if (f.num == 2) {
            str = (int64_t) f.v;

        } else if (f.num == 4) {
            unit = (int64_t) f.v;
        }
    }

    if (rc != PYRO_DECLINED) {
        return PYRO_ERROR;
    }

    if (pyro_pprof_stridx(pp, key, "sample label") != PYRO_OK
        || pyro_pprof_stridx(pp, str, "sample label") != PYRO_OK
        || pyro_pprof_stridx(pp, unit, "sample label") != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    if (str == 0) {
        return PYRO_OK;
    }

    k = &pp->strs[key];

    if (pyro_pprof_str_is(k, "span_id", 7)
        || pyro_pprof_str_is(k, "profile_id", 10))
    {
        /* of several, the lowest string index wins, as upstream sorts */
        span = pyro_span_id(&pp->strs[str]);

        if (span != 0 && (*span_str == 0 || str < *span_str)) {
            s->span = span;
            *span_str = str;
        }

        return PYRO_OK;
    }

    if (pyro_pprof_str_is(k, "trace_id", 8)) {
        return PYRO_OK;
    }

    if (pyro_pprof_grow(pp, (void **) &pp->pairs, &pp->pairs_cap,
                        pp->npairs, 2, sizeof(uint32_t)) != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    pp->pairs[pp->npairs++] = (uint32_t) key;
    pp->pairs[pp->npairs++] = (uint32_t) str;

    return PYRO_OK;
}


static int
pyro_pprof_sample_loc(pyro_pprof_t *pp, uint64_t id)
{
    uint32_t  k;

    k = pyro_pindex_find(&pp->loc_index, id);

    if (k == PYRO_NONE) {
        pyro_err_invalid(pp->err, "location id %" PRIu64 " not found", id);
        return PYRO_ERROR;
    }

    pp->locidx[pp->nlocidx++] = k;

    return PYRO_OK;
}


/* Sample.location_id, one or packed: resolved to location indexes. */
static int
pyro_pprof_sample_locs(pyro_pprof_t *pp, pyro_pb_field_t *f)
{
    uint64_t  id;

    if (f->wt == PYRO_PB_VARINT) {
        if (pyro_pprof_grow(pp, (void **) &pp->locidx, &pp->locidx_cap,
                            pp->nlocidx, 1, sizeof(uint32_t)) != PYRO_OK)
        {
            return PYRO_ERROR;
        }

        return pyro_pprof_sample_loc(pp, f->v);
    }

    /* a packed id takes one byte at least: one reservation */
    if (pyro_pb_want(f, PYRO_PB_BYTES, "LocationId", pp->err) != PYRO_OK
        || pyro_pprof_grow(pp, (void **) &pp->locidx, &pp->locidx_cap,
                           pp->nlocidx, (size_t) (f->sub.end - f->sub.p),
                           sizeof(uint32_t)) != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    while (f->sub.p < f->sub.end) {
        if (pyro_pb_uvarint(&f->sub, &id, pp->err) != PYRO_OK
            || pyro_pprof_sample_loc(pp, id) != PYRO_OK)
        {
            return PYRO_ERROR;
        }
    }

    return PYRO_OK;
}


/* Sample.value, one or packed, into vals[0 .. nst); *nv counts them all. */
static int
pyro_pprof_sample_values(pyro_pprof_t *pp, pyro_pb_field_t *f,
    int64_t *vals, size_t *nv)
{
    uint64_t  v;

    if (f->wt == PYRO_PB_VARINT) {
        if (*nv < pp->nst) {
            vals[*nv] = (int64_t) f->v;
        }

        (*nv)++;
        return PYRO_OK;
    }

    if (pyro_pb_want(f, PYRO_PB_BYTES, "Value", pp->err) != PYRO_OK) {
        return PYRO_ERROR;
    }

    while (f->sub.p < f->sub.end) {
        if (pyro_pb_uvarint(&f->sub, &v, pp->err) != PYRO_OK) {
            return PYRO_ERROR;
        }

        if (*nv < pp->nst) {
            vals[*nv] = (int64_t) v;
        }

        (*nv)++;
    }

    return PYRO_OK;
}


static int
pyro_pprof_sample_fields(pyro_pprof_t *pp, pyro_psample_t *s, int64_t *vals,
    size_t *nv, size_t *nlabels)
{
    int              rc;
    int64_t          span_str;
    pyro_pb_t        pb;
    pyro_pb_field_t  f;

    pb = s->msg;
    span_str = 0;

    while ((rc = pyro_pb_next(&pb, &f, pp->err)) == PYRO_OK) {

        switch (f.num) {

        case 1:
            rc = pyro_pprof_sample_locs(pp, &f);
            break;

        case 2:
            rc = pyro_pprof_sample_values(pp, &f, vals, nv);
            break;

        case 3:
            (*nlabels)++;
            rc = pyro_pb_want(&f, PYRO_PB_BYTES, "Label", pp->err);
            if (rc == PYRO_OK) {
                rc = pyro_pprof_label(pp, f.sub, s, &span_str);
            }
            break;

        default:
            break;
        }

        if (rc != PYRO_OK) {
            return PYRO_ERROR;
        }
    }

    return (rc == PYRO_DECLINED) ? PYRO_OK : PYRO_ERROR;
}


static void
pyro_pprof_sort_pairs(uint32_t *v, size_t n)
{
    size_t    i, j;
    uint32_t  k, s;

    /* few labels per sample (limit 100): insertion sort of pairs */
    for (i = 2; i < n; i += 2) {
        k = v[i];
        s = v[i + 1];

        for (j = i; j >= 2 && (v[j - 2] > k || (v[j - 2] == k
                                                && v[j - 1] > s)); j -= 2)
        {
            v[j] = v[j - 2];
            v[j + 1] = v[j - 1];
        }

        v[j] = k;
        v[j + 1] = s;
    }
}


static int
pyro_pprof_pair_cmp(const void *a, const void *b)
{
    const uint32_t  *x = a, *y = b;

    if (x[0] != y[0]) {
        return x[0] < y[0] ? -1 : 1;
    }

    return (x[1] > y[1]) - (x[1] < y[1]);
}


/* The canonical, sorted, deduplicated pairs of the current sample. */
static int
pyro_pprof_signature(pyro_pprof_t *pp)
{
    size_t  i, n;

    for (i = 0; i < pp->npairs; i++) {
        pp->pairs[i] = pyro_pprof_canon(pp, pp->pairs[i]);

        if (pp->pairs[i] == PYRO_NONE) {
            return PYRO_ERROR;
        }
    }

    if (pp->npairs > 64) {
        qsort(pp->pairs, pp->npairs / 2, 2 * sizeof(uint32_t),
              pyro_pprof_pair_cmp);

    } else {
        pyro_pprof_sort_pairs(pp->pairs, pp->npairs);
    }

    for (i = 2, n = pp->npairs ? 2 : 0; i < pp->npairs; i += 2) {
        if (pp->pairs[i] != pp->pairs[n - 2]
            || pp->pairs[i + 1] != pp->pairs[n - 1])
        {
            pp->pairs[n++] = pp->pairs[i];
            pp->pairs[n++] = pp->pairs[i + 1];
        }
    }

    pp->npairs = n;

    return PYRO_OK;
}


/* The group of the current sample's pairs, created on first sight. */
static uint32_t
pyro_pprof_group(pyro_pprof_t *pp)
{
    size_t          i, size;
    uint64_t        h;
    pyro_pgroup_t  *g;

    if (pyro_pprof_signature(pp) != PYRO_OK) {
        return PYRO_NONE;
    }

    if (pp->group_ht == NULL) {
        size = pyro_pprof_pow2(pp->nsamples);

        pp->group_ht = pyro_pprof_alloc(pp, size, sizeof(uint32_t));
        pp->groups = pyro_pprof_alloc(pp, pp->nsamples, sizeof(pyro_pgroup_t));
        if (pp->group_ht == NULL || pp->groups == NULL) {
            return PYRO_NONE;
        }

        pp->group_mask = size - 1;
    }

    h = pyro_pprof_hash(pp->pairs, pp->npairs * sizeof(uint32_t),
                        14695981039346656037ULL);

    for (i = h & pp->group_mask; pp->group_ht[i] != 0;
         i = (i + 1) & pp->group_mask)
    {
        g = &pp->groups[pp->group_ht[i] - 1];

        if (g->hash == h && g->n == pp->npairs
            && (pp->npairs == 0
                || memcmp(pp->sig + g->off, pp->pairs,
                          pp->npairs * sizeof(uint32_t)) == 0))
        {
            g->count++;
            return pp->group_ht[i] - 1;
        }
    }

    if (pyro_pprof_grow(pp, (void **) &pp->sig, &pp->sig_cap, pp->nsig,
                        pp->npairs, sizeof(uint32_t)) != PYRO_OK)
    {
        return PYRO_NONE;
    }

    g = &pp->groups[pp->ngroups];
    g->off = (uint32_t) pp->nsig;
    g->n = (uint32_t) pp->npairs;
    g->count = 1;
    g->hash = h;

    if (pp->npairs) {
        memcpy(pp->sig + pp->nsig, pp->pairs, pp->npairs * sizeof(uint32_t));
        pp->nsig += pp->npairs;
    }

    pp->group_ht[i] = (uint32_t) ++pp->ngroups;

    return (uint32_t) (pp->ngroups - 1);
}


/*
 * One sample: decoded and checked as upstream's ValidateProfile, the
 * stack cut to its root-side max_depth locations, then kept (with its
 * group) unless Normalize would drop it: any negative value, no positive
 * value, or (here) no frame at all.
 */
static int
pyro_pprof_sample(pyro_pprof_t *pp, pyro_psample_t *s, int64_t *vals)
{
    char     str[256];
    size_t   i, nv, nlabels, n, max;
    int      neg, pos, frames;

    s->loc_off = (uint32_t) pp->nlocidx;
    s->group = PYRO_NONE;
    s->span = 0;
    pp->npairs = 0;
    nv = 0;
    nlabels = 0;

    if (pyro_pprof_sample_fields(pp, s, vals, &nv, &nlabels) != PYRO_OK) {
        return PYRO_ERROR;
    }

    if (nv != pp->nst) {
        pyro_err_invalid(pp->err, "sample value length mismatch");
        return PYRO_ERROR;
    }

    max = pp->limits->max_sample_labels;

    if (max > 0 && nlabels > max) {
        pyro_pprof_labels_str(pp->opts->labels, str, sizeof(str));
        pyro_err_invalid(pp->err, "the profile with labels '%s' exceeds the "
                         "sample labels limit "
                         "(max_profile_stacktrace_sample_labels, actual: %zu, "
                         "limit: %zu)", str, nlabels, max);
        return PYRO_ERROR;
    }

    if (pp->nlocidx > UINT32_MAX) {
        pyro_err_invalid(pp->err, "too many locations");
        return PYRO_ERROR;
    }

    n = pp->nlocidx - s->loc_off;
    max = pp->limits->max_depth;

    /* location ids are leaf first: the root side is kept */
    if (max > 0 && n > max) {
        s->loc_off += (uint32_t) (n - max);
        n = max;
    }

    s->depth = (uint32_t) n;

    neg = 0;
    pos = 0;

    for (i = 0; i < pp->nst; i++) {
        neg |= (vals[i] < 0);
        pos |= (vals[i] > 0);
    }

    frames = 0;

    for (i = 0; i < n && !frames; i++) {
        frames = (pp->locs[pp->locidx[s->loc_off + i]].nlines != 0);
    }

    if (neg || !pos || !frames) {
        return PYRO_OK;
    }

    s->group = pyro_pprof_group(pp);

    return (s->group == PYRO_NONE) ? PYRO_ERROR : PYRO_OK;
}


static int
pyro_pprof_samples(pyro_pprof_t *pp)
{
    size_t  i;

    for (i = 0; i < pp->nsamples; i++) {
        if (pyro_pprof_sample(pp, &pp->samples[i], pp->values + i * pp->nst)
            != PYRO_OK)
        {
            return PYRO_ERROR;
        }
    }

    return PYRO_OK;
}


static int
pyro_pprof_tables(pyro_pprof_t *pp)
{
    pp->st = pyro_pprof_alloc(pp, pp->nst, sizeof(pyro_pvt_t));
    pp->strs = pyro_pprof_alloc(pp, pp->nstrs, sizeof(pyro_str_t));
    pp->funcs = pyro_pprof_alloc(pp, pp->nfuncs, sizeof(pyro_pfn_t));
    pp->locs = pyro_pprof_alloc(pp, pp->nlocs, sizeof(pyro_ploc_t));
    pp->samples = pyro_pprof_alloc(pp, pp->nsamples, sizeof(pyro_psample_t));
    pp->values = pyro_pprof_alloc(pp, pp->nsamples * pp->nst,
                                  sizeof(int64_t));

    if (pp->st == NULL || pp->strs == NULL || pp->funcs == NULL
        || pp->locs == NULL || pp->samples == NULL || pp->values == NULL)
    {
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


/* Decodes and validates the whole profile; the batch is not touched. */
static int
pyro_pprof_parse(pyro_pprof_t *pp, const char *data, size_t len)
{
    char        str[256];
    size_t      max;
    pyro_pb_t   pb;

    max = pp->limits->max_profile_size;

    if (max > 0 && len > max) {
        pyro_pprof_labels_str(pp->opts->labels, str, sizeof(str));
        pyro_err_invalid(pp->err, "the profile with labels '%s' exceeds the "
                         "size limit (max_profile_size_byte, actual: %zu, "
                         "limit: %zu)", str, len, max);
        return PYRO_ERROR;
    }

    pb.p = (const unsigned char *) data;
    pb.end = pb.p + len;

    if (pyro_pprof_count(pp, pb) != PYRO_OK) {
        return PYRO_ERROR;
    }

    if (pp->nst == 0) {
        pyro_err_invalid(pp->err, "empty profile");
        return PYRO_ERROR;
    }

    max = pp->limits->max_samples;

    if (max > 0 && pp->nsamples > max) {
        pyro_pprof_labels_str(pp->opts->labels, str, sizeof(str));
        pyro_err_invalid(pp->err, "the profile with labels '%s' exceeds the "
                         "samples count limit "
                         "(max_profile_stacktrace_samples, actual: %zu, "
                         "limit: %zu)", str, pp->nsamples, max);
        return PYRO_ERROR;
    }

    /*
     * Every value takes a byte at least: more values than sample bytes
     * means some sample is short, and the value table stays bounded.
     */
    if (pp->nsamples > 0 && pp->nst > pp->sample_bytes / pp->nsamples) {
        pyro_err_invalid(pp->err, "sample value length mismatch");
        return PYRO_ERROR;
    }

    if (pyro_pprof_tables(pp) != PYRO_OK
        || pyro_pprof_index(pp, pb) != PYRO_OK
        || pyro_pprof_strings(pp) != PYRO_OK
        || pyro_pprof_types(pp) != PYRO_OK
        || pyro_pprof_ids(pp) != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    return pyro_pprof_samples(pp);
}


static int
pyro_pprof_contains(const char *s, const char *lit)
{
    return strstr(s, lit) != NULL;
}


/* Upstream's default sample_type_config: the display names. */
static const char  *pyro_pprof_display[][2] = {
    { "samples", "cpu" },
    { "goroutine", "goroutines" },
    { "contentions", "mutex_count" },
    { "delay", "mutex_duration" },
    { NULL, NULL }
};


/*
 * A sample type's display name: from sample_type_config when the
 * upload had one (it replaces the default table, as upstream), else
 * from the default table; NULL if none.
 */
static const char *
pyro_pprof_display_name(pyro_pprof_t *pp, const char *type)
{
    size_t  i;

    if (pp->opts->display_names != NULL) {
        return pyro_labels_get(pp->opts->display_names, type);
    }

    for (i = 0; pyro_pprof_display[i][0] != NULL; i++) {
        if (strcmp(pyro_pprof_display[i][0], type) == 0) {
            return pyro_pprof_display[i][1];
        }
    }

    return NULL;
}


/* The /ingest metric name from the sample types (spec 4.2). */
static const char *
pyro_pprof_metric(pyro_pprof_t *pp)
{
    size_t       i;
    const char  *st, *dn;

    for (i = 0; i < pp->nst; i++) {
        if (strcmp(pp->names[2 * i], "wall") == 0) {
            return "wall";
        }
    }

    st = "";

    for (i = 0; i < pp->nst; i++) {
        st = pp->names[2 * i];
        dn = pyro_pprof_display_name(pp, st);

        if (dn != NULL && dn[0] != '\0') {
            st = dn;
        }

        if (pyro_pprof_contains(st, "cpu")) {
            return "process_cpu";
        }

        if (pyro_pprof_contains(st, "alloc_")
            || pyro_pprof_contains(st, "inuse_")
            || strcmp(st, "space") == 0 || strcmp(st, "objects") == 0)
        {
            return "memory";
        }

        if (pyro_pprof_contains(st, "mutex_")) {
            return "mutex";
        }

        if (pyro_pprof_contains(st, "block_")) {
            return "block";
        }

        if (pyro_pprof_contains(st, "goroutines")) {
            return "goroutines";
        }
    }

    return st;
}


static int
pyro_pprof_labels_copy(pyro_labels_t *dst, const pyro_labels_t *src)
{
    size_t  i;

    for (i = 0; src != NULL && i < src->n; i++) {
        if (pyro_labels_set_cstr(dst, src->v[i].name, src->v[i].value)
            != PYRO_OK)
        {
            return PYRO_ERROR;
        }
    }

    return PYRO_OK;
}


static int
pyro_pprof_labels_has(const pyro_labels_t *ls, const pyro_str_t *name)
{
    size_t  i;

    for (i = 0; i < ls->n; i++) {
        if (strlen(ls->v[i].name) == name->len
            && memcmp(ls->v[i].name, name->data, name->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The labels every series of this profile starts from: the request's,
 * __name__ derived for /ingest, service_name defaulted (spec 4.3, 1).
 */
static int
pyro_pprof_base(pyro_pprof_t *pp, pyro_labels_t *ls)
{
    const char  *v;

    if (pyro_pprof_labels_copy(ls, pp->opts->labels) != PYRO_OK) {
        return PYRO_ERROR;
    }

    if (pp->opts->derive_name
        && pyro_labels_set_cstr(ls, "__name__", pyro_pprof_metric(pp))
           != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    v = pyro_labels_get(ls, "service_name");

    if ((v == NULL || v[0] == '\0')
        && pyro_labels_set_cstr(ls, "service_name", "unknown_service")
           != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


/* A group's labels: the base plus its sample labels (existing ones win),
 * then the default relabel rule godeltaprof_(.*) -> $1. */
static int
pyro_pprof_group_labels(pyro_pprof_t *pp, const pyro_pgroup_t *g,
    const pyro_labels_t *base, pyro_labels_t *ls)
{
    size_t        i;
    const char   *name;
    pyro_str_t   *k, *v;

    if (pyro_pprof_labels_copy(ls, base) != PYRO_OK) {
        return PYRO_ERROR;
    }

    for (i = 0; g != NULL && i < g->n; i += 2) {
        k = &pp->strs[pp->sig[g->off + i]];
        v = &pp->strs[pp->sig[g->off + i + 1]];

        if (!pyro_pprof_labels_has(ls, k)
            && pyro_labels_set(ls, k->data, k->len, v->data, v->len)
               != PYRO_OK)
        {
            return PYRO_ERROR;
        }
    }

    name = pyro_labels_get(ls, "__name__");

    if (name != NULL && strncmp(name, "godeltaprof_", 12) == 0) {
        if (pyro_labels_set_cstr(ls, "__name__", name + 12) != PYRO_OK
            || pyro_labels_set_cstr(ls, "__delta__", "false") != PYRO_OK)
        {
            return PYRO_ERROR;
        }
    }

    return PYRO_OK;
}


/*
 * One series: the group's labels for sample type t, validated, stripped
 * of the labels upstream never stores, plus the internal profile type
 * labels.
 */
static int
pyro_pprof_series_labels(pyro_pprof_t *pp, size_t t, const pyro_labels_t *gl,
    pyro_labels_t *ls)
{
    char         str[256];
    const char  *name, *type;

    type = pp->names[2 * t];

    if (pyro_pprof_labels_copy(ls, gl) != PYRO_OK) {
        goto nomem;
    }

    /*
     * Upstream's default rule "__name__=wall with __type__=cpu becomes
     * process_cpu" never fires there: the rules run on the series labels
     * before __type__ exists.  So a wall profile's cpu column stays under
     * "wall", as upstream stores it.
     */
    name = pyro_labels_get(ls, "__name__");

    if (ls->n <= pp->limits->max_label_names
        && (name == NULL || name[0] == '\0'
            || !pyro_utf8_valid(name, strlen(name))))
    {
        pyro_pprof_labels_str(ls, str, sizeof(str));
        pyro_err_invalid(pp->err, "invalid labels '%s' with error: "
                         "invalid metric name", str);
        return PYRO_ERROR;
    }

    /* upstream's ValidateLabels sorts first: messages list sorted labels */
    pyro_labels_sort(ls);

    if (pyro_labels_validate(ls, pp->limits, pp->err) != PYRO_OK) {
        return PYRO_ERROR;
    }

    pyro_labels_del(ls, "__delta__");
    pyro_labels_del(ls, "__otel__");
    pyro_labels_del(ls, "__order__");
    pyro_labels_del(ls, "__session_id__");

    if (pyro_labels_add_internal(ls, pyro_labels_get(ls, "__name__"), type,
                                 pp->names[2 * t + 1],
                                 pp->names[2 * pp->nst],
                                 pp->names[2 * pp->nst + 1])
        != PYRO_OK)
    {
        goto nomem;
    }

    return PYRO_OK;

nomem:

    pyro_err_internal(pp->err, "out of memory");

    return PYRO_ERROR;
}


/* The label sets of a group (NULL: the bare series), one per type. */
static int
pyro_pprof_group_series(pyro_pprof_t *pp, const pyro_pgroup_t *g,
    const pyro_labels_t *base, pyro_labels_t *out)
{
    int            rc;
    size_t         t;
    pyro_labels_t  gl, tmp;

    memset(&gl, 0, sizeof(pyro_labels_t));

    if (pyro_pprof_group_labels(pp, g, base, &gl) != PYRO_OK) {
        pyro_labels_free(&gl);
        pyro_err_internal(pp->err, "out of memory");
        return PYRO_ERROR;
    }

    rc = PYRO_OK;

    for (t = 0; rc == PYRO_OK && t < pp->nst; t++) {
        memset(&tmp, 0, sizeof(pyro_labels_t));

        rc = pyro_pprof_series_labels(pp, t, &gl, out ? &out[t] : &tmp);

        pyro_labels_free(&tmp);
    }

    pyro_labels_free(&gl);

    return rc;
}


/*
 * Every series label set, validated before the batch changes.  The bare
 * series (no sample labels) is checked first and in any case: upstream
 * validates the request's labels even when no sample is kept, and its
 * label-free group sorts first.
 */
static int
pyro_pprof_series(pyro_pprof_t *pp)
{
    int            rc;
    size_t         g;
    pyro_labels_t  base;

    memset(&base, 0, sizeof(pyro_labels_t));

    if (pyro_pprof_base(pp, &base) != PYRO_OK) {
        pyro_labels_free(&base);
        pyro_err_internal(pp->err, "out of memory");
        return PYRO_ERROR;
    }

    rc = pyro_pprof_group_series(pp, NULL, &base, NULL);

    if (rc == PYRO_OK && pp->ngroups > 0) {
        pp->series = pyro_pprof_alloc(pp, pp->ngroups * pp->nst,
                                      sizeof(pyro_labels_t));
        if (pp->series == NULL) {
            rc = PYRO_ERROR;
        }

        for (g = 0; rc == PYRO_OK && g < pp->ngroups; g++) {
            rc = pyro_pprof_group_series(pp, &pp->groups[g], &base,
                                         &pp->series[g * pp->nst]);
        }
    }

    pyro_labels_free(&base);

    return rc;
}


/* A batch string; "" is always string 0 of a batch. */
static uint32_t
pyro_pprof_bstr(pyro_pprof_t *pp, int64_t idx)
{
    pyro_str_t  *s;

    s = &pp->strs[idx];

    return s->len ? pyro_batch_string(pp->batch, s->data, s->len) : 0;
}


/* The batch function of a pprof function, interned on first use. */
static uint32_t
pyro_pprof_fn(pyro_pprof_t *pp, uint32_t idx)
{
    uint32_t     name, file;
    pyro_pfn_t  *fn;

    fn = &pp->funcs[idx];

    if (fn->batch != PYRO_NONE) {
        return fn->batch;
    }

    name = pyro_pprof_bstr(pp, fn->name);
    file = pyro_pprof_bstr(pp, fn->file);

    if (name == PYRO_NONE || file == PYRO_NONE) {
        return PYRO_NONE;
    }

    fn->batch = pyro_batch_function(pp->batch, name, file);

    return fn->batch;
}


/* The frames of one location under parent (its lines, outermost first). */
static uint32_t
pyro_pprof_loc_node(pyro_pprof_t *pp, pyro_ploc_t *loc, uint32_t parent)
{
    uint32_t       k, fn, node, line;
    pyro_pline_t  *ln;

    if (loc->cache_node != PYRO_NONE && loc->cache_parent == parent) {
        return loc->cache_node;
    }

    node = parent;

    for (k = loc->nlines; k-- > 0; /* void */ ) {
        ln = &pp->lines[loc->line_off + k];

        fn = pyro_pprof_fn(pp, (uint32_t) ln->fn);
        if (fn == PYRO_NONE) {
            return PYRO_NONE;
        }

        line = (ln->line >= 0 && ln->line <= UINT32_MAX) ? (uint32_t) ln->line
                                                         : 0;

        node = pyro_batch_node(pp->batch, node, fn, line);
        if (node == PYRO_NONE) {
            return PYRO_NONE;
        }
    }

    loc->cache_parent = parent;
    loc->cache_node = node;

    return node;
}


/* A sample's leaf node: locations from the root (the last id) down. */
static uint32_t
pyro_pprof_stack(pyro_pprof_t *pp, const pyro_psample_t *s)
{
    uint32_t      i, node;
    pyro_ploc_t  *loc;

    node = PYRO_NODE_NONE;

    for (i = s->depth; i-- > 0; /* void */ ) {
        loc = &pp->locs[pp->locidx[s->loc_off + i]];

        if (loc->nlines == 0) {
            continue;
        }

        node = pyro_pprof_loc_node(pp, loc, node);
        if (node == PYRO_NONE) {
            return PYRO_NONE;
        }
    }

    return node;
}


/*
 * Kept samples sorted by group (a counting sort; order holds sample
 * indexes, group g's run ends at groups[g].count).
 */
static uint32_t *
pyro_pprof_buckets(pyro_pprof_t *pp)
{
    size_t      i, sum, n;
    uint32_t   *order;

    order = pyro_pprof_alloc(pp, pp->nsamples, sizeof(uint32_t));
    if (order == NULL) {
        return NULL;
    }

    for (i = 0, sum = 0; i < pp->ngroups; i++) {
        n = pp->groups[i].count;
        pp->groups[i].count = (uint32_t) sum;
        sum += n;
    }

    for (i = 0; i < pp->nsamples; i++) {
        if (pp->samples[i].group != PYRO_NONE) {
            order[pp->groups[pp->samples[i].group].count++] = (uint32_t) i;
        }
    }

    return order;
}


static int
pyro_pprof_add(pyro_pprof_t *pp, const uint32_t *order, size_t start,
    size_t end, size_t t)
{
    size_t           i;
    int64_t          v;
    pyro_psample_t  *s;

    for (i = start; i < end; i++) {
        s = &pp->samples[order[i]];
        v = pp->values[order[i] * pp->nst + t];

        if (v > 0 && pyro_batch_sample_span(pp->batch, s->node, s->span,
                                            (uint64_t) v)
                     != PYRO_OK)
        {
            return PYRO_ERROR;
        }
    }

    return PYRO_OK;
}


/* Interns the kept stacks and adds one batch profile per series. */
static int
pyro_pprof_emit(pyro_pprof_t *pp)
{
    int              rc;
    size_t           i, g, t, start;
    int64_t          time_ns;
    uint32_t        *order;
    pyro_psample_t  *s;

    if (pyro_pprof_series(pp) != PYRO_OK) {
        return PYRO_ERROR;
    }

    for (i = 0; i < pp->nsamples; i++) {
        s = &pp->samples[i];

        if (s->group != PYRO_NONE) {
            s->node = pyro_pprof_stack(pp, s);

            if (s->node == PYRO_NONE) {
                goto nomem;
            }
        }
    }

    if (pp->ngroups == 0) {
        return PYRO_OK;
    }

    order = pyro_pprof_buckets(pp);
    if (order == NULL) {
        return PYRO_ERROR;
    }

    time_ns = pp->time_ns;

    if (time_ns < PYRO_PPROF_1971) {
        time_ns = pp->opts->default_time_ns;
    }

    rc = PYRO_OK;

    for (g = 0, start = 0; rc == PYRO_OK && g < pp->ngroups; g++) {
        for (t = 0; rc == PYRO_OK && t < pp->nst; t++) {
            rc = pyro_batch_profile(pp->batch, &pp->series[g * pp->nst + t],
                                    time_ns, pp->duration_ns);
            if (rc == PYRO_OK && pp->opts->profile_id != NULL) {
                rc = pyro_batch_profile_id(pp->batch, pp->opts->profile_id,
                                           strlen(pp->opts->profile_id));
            }

            if (rc == PYRO_OK) {
                rc = pyro_pprof_add(pp, order, start, pp->groups[g].count, t);
            }
        }

        start = pp->groups[g].count;
    }

    free(order);

    if (rc == PYRO_OK) {
        return PYRO_OK;
    }

nomem:

    pyro_err_internal(pp->err, "out of memory");

    return PYRO_ERROR;
}

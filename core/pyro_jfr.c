
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * A bounded reader of Java Flight Recorder files (jfr-format.md).
 *
 * pyro_jfr_parse() copies the file, then for every chunk reads the
 * header, the metadata event (type table) and every checkpoint on the
 * chain, remembering for each constant-pool entry only where its value
 * starts.  pyro_jfr_events() then walks the event records, decoding them
 * through the type table, and resolves stacks lazily from the pools.
 *
 * Every count and offset comes from the file, so each one is checked
 * against the bytes left; nested values are bounded by a depth cap and
 * by the rule that every leaf consumes at least one byte.
 */


#include <stdlib.h>
#include <string.h>

#include "pyro.h"


#define PYRO_JFR_HDR        68
#define PYRO_JFR_DEPTH      16      /* metadata and inline nesting cap */
#define PYRO_JFR_MAX_STACK  4096

/* How a value of a class is laid out (jfr-format.md 2.2, 4.4). */
#define PYRO_JFR_K_COMPOSITE  0
#define PYRO_JFR_K_BYTE       1     /* byte, boolean */
#define PYRO_JFR_K_FIXED4     2     /* float */
#define PYRO_JFR_K_FIXED8     3     /* double */
#define PYRO_JFR_K_VARINT     4     /* short, char, int, long */
#define PYRO_JFR_K_STRING     5     /* java.lang.String */


typedef struct {
    pyro_str_t      name;           /* points into the chunk's strings */
    uint32_t        cls;            /* index into the chunk's classes */
    unsigned        cp:1;
    unsigned        array:1;
} pyro_jfr_field_t;


typedef struct {
    uint64_t        id;
    pyro_str_t      name;
    size_t          field;          /* first field in the chunk's fields */
    size_t          nfields;
    int             kind;
} pyro_jfr_class_t;


typedef struct {
    uint64_t        type;
    uint64_t        key;
    size_t          off;            /* value offset in the file copy */
} pyro_jfr_entry_t;


typedef struct {
    size_t              start;
    size_t              size;
    int64_t             start_ns;
    int64_t             start_ticks;
    int64_t             tps;

    /* the metadata string table, decoded to UTF-8 in one buffer */
    pyro_buf_t          sbuf;
    size_t             *soff;
    pyro_str_t         *strs;
    size_t              nstrs;

    /* raw class ids of fields until the table is complete */
    uint64_t           *ftype;
    size_t              fcap;
    pyro_jfr_field_t   *fields;
    size_t              nfields;

    pyro_jfr_class_t   *classes;
    size_t              nclasses;
    size_t              ccap;

    pyro_jfr_entry_t   *pool;       /* sorted by (type, key) */
    size_t              npool;
    size_t              pcap;

    /* well-known class indexes, or -1 */
    long                c_string;
    long                c_symbol;
    long                c_class;
    long                c_method;
    long                c_stack;
} pyro_jfr_chunk_t;


struct pyro_jfr_s {
    unsigned char      *data;       /* malloc'ed copy of the file */
    size_t              len;
    pyro_jfr_chunk_t   *chunks;
    size_t              nchunks;
};


/* The events Pyroscope reads, and which field is their value. */
typedef struct {
    const char     *name;
    const char     *value;          /* NULL: each event counts 1 */
} pyro_jfr_kind_t;


static const pyro_jfr_kind_t  pyro_jfr_kinds[] = {
    { "jdk.ExecutionSample", NULL },
    { "jdk.ObjectAllocationInNewTLAB", "tlabSize" },
    { "jdk.ObjectAllocationOutsideTLAB", "allocationSize" },
    { "jdk.ObjectAllocationSample", "weight" },
    { "jdk.JavaMonitorEnter", "duration" },
    { "jdk.ThreadPark", "duration" },
    { "profiler.WallClockSample", "samples" },
    { "profiler.LiveObject", NULL },
    { "profiler.Malloc", "size" },
};

#define PYRO_JFR_NKINDS  (sizeof(pyro_jfr_kinds) / sizeof(pyro_jfr_kinds[0]))


static int pyro_jfr_chunk(pyro_jfr_t *j, pyro_jfr_chunk_t *c,
    pyro_err_t *err);
static int pyro_jfr_metadata(pyro_jfr_t *j, pyro_jfr_chunk_t *c,
    pyro_err_t *err);
static int pyro_jfr_meta_strings(pyro_jfr_chunk_t *c, pyro_rd_t *rd);
static int pyro_jfr_element(pyro_jfr_chunk_t *c, pyro_rd_t *rd,
    unsigned depth, int in_class);
static int pyro_jfr_new_class(pyro_jfr_chunk_t *c, const char *id,
    pyro_str_t name);
static int pyro_jfr_new_field(pyro_jfr_chunk_t *c, pyro_str_t name,
    const char *cls, const char *cp, const char *dim);
static int pyro_jfr_link(pyro_jfr_chunk_t *c);
static int pyro_jfr_checkpoints(pyro_jfr_t *j, pyro_jfr_chunk_t *c,
    pyro_err_t *err);
static int pyro_jfr_checkpoint(pyro_jfr_t *j, pyro_jfr_chunk_t *c,
    size_t pos, int64_t *delta);
static int pyro_jfr_skip(pyro_jfr_chunk_t *c, pyro_rd_t *rd, uint32_t cls,
    unsigned depth);
static int pyro_jfr_skip_string(pyro_jfr_chunk_t *c, pyro_rd_t *rd);
static int pyro_jfr_skip_field(pyro_jfr_chunk_t *c, pyro_rd_t *rd,
    const pyro_jfr_field_t *f, unsigned depth);
static int pyro_jfr_string(pyro_jfr_t *j, pyro_jfr_chunk_t *c,
    pyro_rd_t *rd, pyro_buf_t *out, int allow_ref);
static uint64_t pyro_jfr_varint(pyro_rd_t *rd);
static int64_t pyro_jfr_be64(const unsigned char *p);
static long pyro_jfr_class_by_name(pyro_jfr_chunk_t *c, const char *name);
static const pyro_jfr_entry_t *pyro_jfr_lookup(pyro_jfr_chunk_t *c,
    long cls, uint64_t key);
static int pyro_jfr_entry_cmp(const void *a, const void *b);
static void pyro_jfr_chunk_free(pyro_jfr_chunk_t *c);


pyro_jfr_t *
pyro_jfr_parse(const char *data, size_t len, pyro_err_t *err)
{
    size_t              pos, size;
    pyro_jfr_t         *j;
    pyro_jfr_chunk_t   *c;
    size_t              cap;

    j = calloc(1, sizeof(pyro_jfr_t));
    if (j == NULL) {
        pyro_err_internal(err, "out of memory");
        return NULL;
    }

    j->data = malloc(len ? len : 1);
    if (j->data == NULL) {
        free(j);
        pyro_err_internal(err, "out of memory");
        return NULL;
    }

    memcpy(j->data, data, len);
    j->len = len;
    cap = 0;

    if (len < PYRO_JFR_HDR) {
        pyro_err_unprocessable(err, "jfr: file too short (%zu bytes)", len);
        goto failed;
    }

    for (pos = 0; pos < len; pos += size) {
        if (pyro_array_reserve((void **) &j->chunks, &cap, j->nchunks + 1,
                               sizeof(pyro_jfr_chunk_t))
            != PYRO_OK)
        {
            pyro_err_internal(err, "out of memory");
            goto failed;
        }

        c = &j->chunks[j->nchunks++];
        memset(c, 0, sizeof(pyro_jfr_chunk_t));
        c->start = pos;

        if (pyro_jfr_chunk(j, c, err) != PYRO_OK) {
            goto failed;
        }

        size = c->size;
    }

    return j;

failed:

    pyro_jfr_free(j);

    return NULL;
}


void
pyro_jfr_free(pyro_jfr_t *j)
{
    size_t  i;

    if (j == NULL) {
        return;
    }

    for (i = 0; i < j->nchunks; i++) {
        pyro_jfr_chunk_free(&j->chunks[i]);
    }

    free(j->chunks);
    free(j->data);
    free(j);
}


static void
pyro_jfr_chunk_free(pyro_jfr_chunk_t *c)
{
    pyro_buf_free(&c->sbuf);
    free(c->soff);
    free(c->strs);
    free(c->ftype);
    free(c->fields);
    free(c->classes);
    free(c->pool);
}


/* The header (jfr-format.md 1.1, 9), then metadata, then the pools. */
static int
pyro_jfr_chunk(pyro_jfr_t *j, pyro_jfr_chunk_t *c, pyro_err_t *err)
{
    int64_t               size, cp, meta;
    uint32_t              version;
    unsigned              flags;
    const unsigned char  *h;

    h = j->data + c->start;

    if (j->len - c->start < PYRO_JFR_HDR) {
        pyro_err_unprocessable(err, "jfr: truncated chunk header at %zu",
                               c->start);
        return PYRO_ERROR;
    }

    if (memcmp(h, "FLR\0", 4) != 0) {
        pyro_err_unprocessable(err, "jfr: bad magic at %zu", c->start);
        return PYRO_ERROR;
    }

    version = (uint32_t) h[4] << 24 | (uint32_t) h[5] << 16
              | (uint32_t) h[6] << 8 | h[7];

    if (version < 0x20000 || version > 0x2ffff) {
        pyro_err_unprocessable(err, "jfr: unknown version %x", version);
        return PYRO_ERROR;
    }

    size = pyro_jfr_be64(h + 8);
    cp = pyro_jfr_be64(h + 16);
    meta = pyro_jfr_be64(h + 24);

    if (size < PYRO_JFR_HDR || (uint64_t) size > j->len - c->start) {
        pyro_err_unprocessable(err, "jfr: bad chunk size %lld at %zu",
                               (long long) size, c->start);
        return PYRO_ERROR;
    }

    if (cp < PYRO_JFR_HDR || cp >= size || meta < PYRO_JFR_HDR
        || meta >= size)
    {
        pyro_err_unprocessable(err, "jfr: invalid offsets: cp %lld meta %lld",
                               (long long) cp, (long long) meta);
        return PYRO_ERROR;
    }

    flags = (unsigned) h[66] << 8 | h[67];

    if ((flags & 1) == 0) {
        pyro_err_unprocessable(err, "jfr: uncompressed integers unsupported");
        return PYRO_ERROR;
    }

    c->size = (size_t) size;
    c->start_ns = pyro_jfr_be64(h + 32);
    c->start_ticks = pyro_jfr_be64(h + 48);
    c->tps = pyro_jfr_be64(h + 56);

    if (c->tps <= 0) {
        pyro_err_unprocessable(err, "jfr: bad ticks per second");
        return PYRO_ERROR;
    }

    if (pyro_jfr_metadata(j, c, err) != PYRO_OK) {
        return PYRO_ERROR;
    }

    return pyro_jfr_checkpoints(j, c, err);
}


static int64_t
pyro_jfr_be64(const unsigned char *p)
{
    int       i;
    uint64_t  v;

    v = 0;

    for (i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }

    return (int64_t) v;
}


/* The compressed integer: 8 groups of 7 bits, then one full byte. */
static uint64_t
pyro_jfr_varint(pyro_rd_t *rd)
{
    uint64_t  v;
    unsigned  i;

    v = 0;

    for (i = 0; i < 9; i++) {
        if (rd->failed || rd->p >= rd->end) {
            rd->failed = 1;
            return 0;
        }

        if (i == 8) {
            return v | (uint64_t) *rd->p++ << 56;
        }

        v |= (uint64_t) (*rd->p & 0x7f) << (7 * i);

        if ((*rd->p++ & 0x80) == 0) {
            break;
        }
    }

    return v;
}


/* A record header; rd is narrowed to the record's bytes. */
static int
pyro_jfr_record(pyro_jfr_t *j, pyro_jfr_chunk_t *c, size_t pos,
    pyro_rd_t *rd, uint64_t *type)
{
    uint64_t  size;

    rd->p = j->data + pos;
    rd->end = j->data + c->start + c->size;
    rd->failed = 0;

    size = pyro_jfr_varint(rd);
    *type = pyro_jfr_varint(rd);

    if (rd->failed || size < (uint64_t) (rd->p - (j->data + pos))
        || size > (uint64_t) (rd->end - (j->data + pos)))
    {
        return PYRO_ERROR;
    }

    rd->end = j->data + pos + size;

    return PYRO_OK;
}


static int
pyro_jfr_metadata(pyro_jfr_t *j, pyro_jfr_chunk_t *c, pyro_err_t *err)
{
    size_t     pos;
    uint64_t   type;
    pyro_rd_t  rd;

    /* the header check made 68 <= offset < chunk size */
    pos = c->start + (size_t) pyro_jfr_be64(j->data + c->start + 24);

    if (pyro_jfr_record(j, c, pos, &rd, &type) != PYRO_OK || type != 0) {
        pyro_err_unprocessable(err, "jfr: bad metadata event");
        return PYRO_ERROR;
    }

    (void) pyro_jfr_varint(&rd);            /* startTime */
    (void) pyro_jfr_varint(&rd);            /* duration */
    (void) pyro_jfr_varint(&rd);            /* metadataId */

    if (pyro_jfr_meta_strings(c, &rd) != PYRO_OK
        || pyro_jfr_element(c, &rd, 0, 0) != PYRO_OK
        || pyro_jfr_link(c) != PYRO_OK)
    {
        pyro_err_unprocessable(err, "jfr: bad metadata in chunk at %zu",
                               c->start);
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


/*
 * The metadata string table.  Offsets are collected first because the
 * buffer moves while it grows; the pyro_str_t array points into it after.
 */
static int
pyro_jfr_meta_strings(pyro_jfr_chunk_t *c, pyro_rd_t *rd)
{
    size_t    i;
    uint64_t  n;

    n = pyro_jfr_varint(rd);

    if (rd->failed || n > (uint64_t) (rd->end - rd->p)) {
        return PYRO_ERROR;
    }

    c->nstrs = (size_t) n;
    c->soff = malloc((c->nstrs + 1) * sizeof(size_t));
    c->strs = malloc((c->nstrs + 1) * sizeof(pyro_str_t));

    if (c->soff == NULL || c->strs == NULL) {
        return PYRO_ERROR;
    }

    for (i = 0; i < c->nstrs; i++) {
        c->soff[i] = c->sbuf.len;

        if (pyro_jfr_string(NULL, c, rd, &c->sbuf, 0) != PYRO_OK) {
            return PYRO_ERROR;
        }
    }

    c->soff[c->nstrs] = c->sbuf.len;

    if (c->sbuf.failed) {
        return PYRO_ERROR;
    }

    for (i = 0; i < c->nstrs; i++) {
        c->strs[i].data = c->sbuf.data + c->soff[i];
        c->strs[i].len = c->soff[i + 1] - c->soff[i];
    }

    return PYRO_OK;
}


static void
pyro_jfr_put_utf16(pyro_buf_t *out, uint32_t u, uint32_t *hi)
{
    if (u >= 0xd800 && u < 0xdc00) {
        if (*hi) {
            pyro_buf_put_rune(out, 0xfffd);
        }

        *hi = u;
        return;
    }

    if (u >= 0xdc00 && u < 0xe000 && *hi) {
        pyro_buf_put_rune(out, 0x10000 + ((*hi - 0xd800) << 10)
                               + (u - 0xdc00));
        *hi = 0;
        return;
    }

    if (*hi) {
        pyro_buf_put_rune(out, 0xfffd);
        *hi = 0;
    }

    pyro_buf_put_rune(out, (u >= 0xdc00 && u < 0xe000) ? 0xfffd : u);
}


/*
 * A string value (jfr-format.md 3), appended to out as UTF-8 (null and
 * "" append nothing).  Encoding 2 is allowed only with allow_ref, and
 * followed into the String pool only when j is given (NULL: skipping);
 * the pooled value may not be a reference again, so it cannot chain.
 */
static int
pyro_jfr_string(pyro_jfr_t *j, pyro_jfr_chunk_t *c, pyro_rd_t *rd,
    pyro_buf_t *out, int allow_ref)
{
    unsigned                 enc;
    uint32_t                 hi;
    uint64_t                 n, i, key;
    pyro_rd_t                sub;
    const char              *p;
    const pyro_jfr_entry_t  *e;

    p = pyro_rd_bytes(rd, 1);
    if (p == NULL) {
        return PYRO_ERROR;
    }

    enc = (unsigned char) *p;

    if (enc == 0 || enc == 1) {
        return PYRO_OK;
    }

    if (enc == 2) {
        key = pyro_jfr_varint(rd);

        if (rd->failed || !allow_ref) {
            return PYRO_ERROR;
        }

        if (j == NULL) {
            return PYRO_OK;             /* skipping: the key is enough */
        }

        e = pyro_jfr_lookup(c, c->c_string, key);
        if (e == NULL) {
            return PYRO_OK;
        }

        sub.p = j->data + e->off;
        sub.end = j->data + c->start + c->size;
        sub.failed = 0;

        return pyro_jfr_string(j, c, &sub, out, 0);
    }

    n = pyro_jfr_varint(rd);

    if (rd->failed || enc > 5 || n > (uint64_t) (rd->end - rd->p)) {
        return PYRO_ERROR;
    }

    if (enc == 3) {
        /* UTF-8 is copied as is; callers validate where it matters */
        pyro_buf_append(out, pyro_rd_bytes(rd, n), n);
        return PYRO_OK;
    }

    if (enc == 5) {
        for (i = 0; i < n; i++) {
            pyro_buf_put_rune(out, *rd->p++);
        }

        return PYRO_OK;
    }

    hi = 0;

    for (i = 0; i < n; i++) {
        pyro_jfr_put_utf16(out, (uint32_t) pyro_jfr_varint(rd) & 0xffff,
                           &hi);

        if (rd->failed) {
            return PYRO_ERROR;
        }
    }

    if (hi) {
        pyro_buf_put_rune(out, 0xfffd);
    }

    return PYRO_OK;
}


static int
pyro_jfr_str_is(pyro_str_t s, const char *lit)
{
    size_t  n;

    n = strlen(lit);

    return s.len == n && memcmp(s.data, lit, n) == 0;
}


/* A metadata string index, or NULL when out of range. */
static const pyro_str_t *
pyro_jfr_meta_str(pyro_jfr_chunk_t *c, uint64_t idx)
{
    return idx < c->nstrs ? &c->strs[idx] : NULL;
}


/* Copies a short attribute value (ids, flags) into a C string. */
static void
pyro_jfr_attr_copy(char *dst, size_t size, const pyro_str_t *s)
{
    size_t  n;

    n = s->len < size - 1 ? s->len : size - 1;
    memcpy(dst, s->data, n);
    dst[n] = '\0';
}


/*
 * One element of the metadata tree (jfr-format.md 4.2, 4.3).  Only
 * "class" and its "field" children matter; the rest is walked and
 * dropped.  in_class says whether the parent is a class element.
 */
static int
pyro_jfr_element(pyro_jfr_chunk_t *c, pyro_rd_t *rd, unsigned depth,
    int in_class)
{
    int                is_class, is_field;
    char               id[24], cls[24], cp[8], dim[8];
    uint64_t           nattrs, nchildren, i;
    pyro_str_t         name;
    const pyro_str_t  *en, *k, *v;

    if (depth > PYRO_JFR_DEPTH) {
        return PYRO_ERROR;
    }

    en = pyro_jfr_meta_str(c, pyro_jfr_varint(rd));
    nattrs = pyro_jfr_varint(rd);

    if (rd->failed || en == NULL || nattrs > (uint64_t) (rd->end - rd->p)) {
        return PYRO_ERROR;
    }

    is_class = pyro_jfr_str_is(*en, "class") && !in_class;
    is_field = pyro_jfr_str_is(*en, "field") && in_class;

    id[0] = cls[0] = cp[0] = dim[0] = '\0';
    name.len = 0;
    name.data = "";

    for (i = 0; i < nattrs; i++) {
        k = pyro_jfr_meta_str(c, pyro_jfr_varint(rd));
        v = pyro_jfr_meta_str(c, pyro_jfr_varint(rd));

        if (rd->failed || k == NULL || v == NULL) {
            return PYRO_ERROR;
        }

        if (pyro_jfr_str_is(*k, "name")) {
            name = *v;

        } else if (pyro_jfr_str_is(*k, "id")) {
            pyro_jfr_attr_copy(id, sizeof(id), v);

        } else if (pyro_jfr_str_is(*k, "class")) {
            pyro_jfr_attr_copy(cls, sizeof(cls), v);

        } else if (pyro_jfr_str_is(*k, "constantPool")) {
            pyro_jfr_attr_copy(cp, sizeof(cp), v);

        } else if (pyro_jfr_str_is(*k, "dimension")) {
            pyro_jfr_attr_copy(dim, sizeof(dim), v);
        }
    }

    if (is_class && pyro_jfr_new_class(c, id, name) != PYRO_OK) {
        return PYRO_ERROR;
    }

    if (is_field && pyro_jfr_new_field(c, name, cls, cp, dim) != PYRO_OK) {
        return PYRO_ERROR;
    }

    nchildren = pyro_jfr_varint(rd);

    if (rd->failed || nchildren > (uint64_t) (rd->end - rd->p)) {
        return PYRO_ERROR;
    }

    for (i = 0; i < nchildren; i++) {
        if (pyro_jfr_element(c, rd, depth + 1, is_class) != PYRO_OK) {
            return PYRO_ERROR;
        }
    }

    return PYRO_OK;
}


/* A decimal attribute value; PYRO_ERROR unless all digits. */
static int
pyro_jfr_atou(const char *s, uint64_t *v)
{
    *v = 0;

    if (*s == '\0') {
        return PYRO_ERROR;
    }

    for ( /* void */ ; *s; s++) {
        if (*s < '0' || *s > '9' || *v > UINT64_MAX / 10 - 1) {
            return PYRO_ERROR;
        }

        *v = *v * 10 + (uint64_t) (*s - '0');
    }

    return PYRO_OK;
}


static int
pyro_jfr_new_class(pyro_jfr_chunk_t *c, const char *id, pyro_str_t name)
{
    uint64_t           v;
    pyro_jfr_class_t  *k;

    /* ids 0 and 1 are the metadata and checkpoint records */
    if (pyro_jfr_atou(id, &v) != PYRO_OK || v < 2) {
        return PYRO_ERROR;
    }

    if (pyro_array_reserve((void **) &c->classes, &c->ccap,
                           c->nclasses + 1, sizeof(pyro_jfr_class_t))
        != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    k = &c->classes[c->nclasses++];
    k->id = v;
    k->name = name;
    k->field = c->nfields;
    k->nfields = 0;
    k->kind = PYRO_JFR_K_COMPOSITE;

    return PYRO_OK;
}


static int
pyro_jfr_new_field(pyro_jfr_chunk_t *c, pyro_str_t name, const char *cls,
    const char *cp, const char *dim)
{
    uint64_t           v;
    size_t             cap;
    pyro_jfr_field_t  *f;

    if (pyro_jfr_atou(cls, &v) != PYRO_OK
        || (dim[0] != '\0' && strcmp(dim, "1") != 0))
    {
        return PYRO_ERROR;
    }

    cap = c->fcap;

    if (pyro_array_reserve((void **) &c->fields, &c->fcap, c->nfields + 1,
                           sizeof(pyro_jfr_field_t))
        != PYRO_OK
        || pyro_array_reserve((void **) &c->ftype, &cap, c->nfields + 1,
                              sizeof(uint64_t))
           != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    f = &c->fields[c->nfields];
    f->name = name;
    f->cls = 0;
    f->cp = strcmp(cp, "true") == 0;
    f->array = dim[0] != '\0';
    c->ftype[c->nfields++] = v;
    c->classes[c->nclasses - 1].nfields++;

    return PYRO_OK;
}


static long
pyro_jfr_class_by_id(pyro_jfr_chunk_t *c, uint64_t id)
{
    size_t  i;

    for (i = 0; i < c->nclasses; i++) {
        if (c->classes[i].id == id) {
            return (long) i;
        }
    }

    return -1;
}


static long
pyro_jfr_class_by_name(pyro_jfr_chunk_t *c, const char *name)
{
    size_t  i;

    for (i = 0; i < c->nclasses; i++) {
        if (pyro_jfr_str_is(c->classes[i].name, name)) {
            return (long) i;
        }
    }

    return -1;
}


/*
 * After the tree: resolves field type ids to class indexes (an unknown
 * id is an error), and sets the layout of the primitive classes.
 */
static int
pyro_jfr_link(pyro_jfr_chunk_t *c)
{
    size_t             i, k;
    long               idx;
    pyro_jfr_class_t  *cl;

    static const struct {
        const char  *name;
        int          kind;
    } prims[] = {
        { "boolean", PYRO_JFR_K_BYTE },
        { "byte", PYRO_JFR_K_BYTE },
        { "float", PYRO_JFR_K_FIXED4 },
        { "double", PYRO_JFR_K_FIXED8 },
        { "short", PYRO_JFR_K_VARINT },
        { "char", PYRO_JFR_K_VARINT },
        { "int", PYRO_JFR_K_VARINT },
        { "long", PYRO_JFR_K_VARINT },
        { "java.lang.String", PYRO_JFR_K_STRING },
    };

    for (i = 0; i < c->nfields; i++) {
        idx = pyro_jfr_class_by_id(c, c->ftype[i]);
        if (idx < 0) {
            return PYRO_ERROR;
        }

        c->fields[i].cls = (uint32_t) idx;
    }

    for (i = 0; i < c->nclasses; i++) {
        cl = &c->classes[i];

        for (k = 0; k < sizeof(prims) / sizeof(prims[0]); k++) {
            if (cl->nfields == 0 && pyro_jfr_str_is(cl->name, prims[k].name))
            {
                cl->kind = prims[k].kind;
            }
        }
    }

    c->c_string = pyro_jfr_class_by_name(c, "java.lang.String");
    c->c_symbol = pyro_jfr_class_by_name(c, "jdk.types.Symbol");
    c->c_class = pyro_jfr_class_by_name(c, "java.lang.Class");
    c->c_method = pyro_jfr_class_by_name(c, "jdk.types.Method");
    c->c_stack = pyro_jfr_class_by_name(c, "jdk.types.StackTrace");

    return PYRO_OK;
}


/*
 * Skips one value of class cls.  A composite class without fields has no
 * bytes, so it is refused: arrays of it would be a CPU sink.
 */
static int
pyro_jfr_skip(pyro_jfr_chunk_t *c, pyro_rd_t *rd, uint32_t cls,
    unsigned depth)
{
    size_t             i;
    pyro_jfr_class_t  *k;

    k = &c->classes[cls];

    switch (k->kind) {

    case PYRO_JFR_K_BYTE:
        return pyro_rd_bytes(rd, 1) ? PYRO_OK : PYRO_ERROR;

    case PYRO_JFR_K_FIXED4:
        return pyro_rd_bytes(rd, 4) ? PYRO_OK : PYRO_ERROR;

    case PYRO_JFR_K_FIXED8:
        return pyro_rd_bytes(rd, 8) ? PYRO_OK : PYRO_ERROR;

    case PYRO_JFR_K_VARINT:
        (void) pyro_jfr_varint(rd);
        return rd->failed ? PYRO_ERROR : PYRO_OK;

    case PYRO_JFR_K_STRING:
        return pyro_jfr_skip_string(c, rd);
    }

    if (depth > PYRO_JFR_DEPTH || k->nfields == 0) {
        return PYRO_ERROR;
    }

    for (i = 0; i < k->nfields; i++) {
        if (pyro_jfr_skip_field(c, rd, &c->fields[k->field + i], depth)
            != PYRO_OK)
        {
            return PYRO_ERROR;
        }
    }

    return PYRO_OK;
}


/* A string value, decoded into a scratch buffer and dropped. */
static int
pyro_jfr_skip_string(pyro_jfr_chunk_t *c, pyro_rd_t *rd)
{
    int         rc;
    pyro_buf_t  sink;

    memset(&sink, 0, sizeof(pyro_buf_t));
    rc = pyro_jfr_string(NULL, c, rd, &sink, 1);
    pyro_buf_free(&sink);

    return rc;
}


static int
pyro_jfr_skip_one(pyro_jfr_chunk_t *c, pyro_rd_t *rd,
    const pyro_jfr_field_t *f, unsigned depth)
{
    if (f->cp) {
        (void) pyro_jfr_varint(rd);
        return rd->failed ? PYRO_ERROR : PYRO_OK;
    }

    return pyro_jfr_skip(c, rd, f->cls, depth + 1);
}


static int
pyro_jfr_skip_field(pyro_jfr_chunk_t *c, pyro_rd_t *rd,
    const pyro_jfr_field_t *f, unsigned depth)
{
    uint64_t  n, i;

    if (!f->array) {
        return pyro_jfr_skip_one(c, rd, f, depth);
    }

    n = pyro_jfr_varint(rd);

    if (rd->failed || n > (uint64_t) (rd->end - rd->p)) {
        return PYRO_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (pyro_jfr_skip_one(c, rd, f, depth) != PYRO_OK) {
            return PYRO_ERROR;
        }
    }

    return PYRO_OK;
}


/*
 * The checkpoint chain, newest first (jfr-format.md 5.2): each step
 * must go strictly back and stay past the header, so it ends.
 */
static int
pyro_jfr_checkpoints(pyro_jfr_t *j, pyro_jfr_chunk_t *c, pyro_err_t *err)
{
    size_t   pos;
    int64_t  delta;

    pos = (size_t) pyro_jfr_be64(j->data + c->start + 16);

    for ( ;; ) {
        if (pyro_jfr_checkpoint(j, c, c->start + pos, &delta) != PYRO_OK) {
            pyro_err_unprocessable(err, "jfr: bad checkpoint at %zu",
                                   c->start + pos);
            return PYRO_ERROR;
        }

        if (delta == 0) {
            break;
        }

        if (delta > 0 || (uint64_t) -(delta + 1) + 1 > pos - PYRO_JFR_HDR) {
            pyro_err_unprocessable(err, "jfr: bad checkpoint delta %lld",
                                   (long long) delta);
            return PYRO_ERROR;
        }

        pos -= (size_t) -(delta + 1) + 1;
    }

    if (c->npool) {
        qsort(c->pool, c->npool, sizeof(pyro_jfr_entry_t),
              pyro_jfr_entry_cmp);
    }

    return PYRO_OK;
}


static int
pyro_jfr_checkpoint(pyro_jfr_t *j, pyro_jfr_chunk_t *c, size_t pos,
    int64_t *delta)
{
    long              cls;
    uint64_t          type, npools, n, i, k;
    pyro_rd_t         rd;
    pyro_jfr_entry_t  *e;

    if (pyro_jfr_record(j, c, pos, &rd, &type) != PYRO_OK || type != 1) {
        return PYRO_ERROR;
    }

    (void) pyro_jfr_varint(&rd);            /* startTime */
    (void) pyro_jfr_varint(&rd);            /* duration */
    *delta = (int64_t) pyro_jfr_varint(&rd);
    (void) pyro_rd_bytes(&rd, 1);           /* flags */
    npools = pyro_jfr_varint(&rd);

    if (rd.failed || npools > (uint64_t) (rd.end - rd.p)) {
        return PYRO_ERROR;
    }

    for (i = 0; i < npools; i++) {
        type = pyro_jfr_varint(&rd);
        n = pyro_jfr_varint(&rd);
        cls = pyro_jfr_class_by_id(c, type);

        if (rd.failed || cls < 0 || n > (uint64_t) (rd.end - rd.p)) {
            return PYRO_ERROR;
        }

        for (k = 0; k < n; k++) {
            if (pyro_array_reserve((void **) &c->pool, &c->pcap,
                                   c->npool + 1, sizeof(pyro_jfr_entry_t))
                != PYRO_OK)
            {
                return PYRO_ERROR;
            }

            e = &c->pool[c->npool];
            e->type = (uint64_t) cls;
            e->key = pyro_jfr_varint(&rd);
            e->off = (size_t) (rd.p - j->data);

            if (rd.failed
                || pyro_jfr_skip(c, &rd, (uint32_t) cls, 0) != PYRO_OK)
            {
                return PYRO_ERROR;
            }

            c->npool++;
        }
    }

    return PYRO_OK;
}


static int
pyro_jfr_entry_cmp(const void *a, const void *b)
{
    const pyro_jfr_entry_t  *x = a, *y = b;

    if (x->type != y->type) {
        return x->type < y->type ? -1 : 1;
    }

    if (x->key != y->key) {
        return x->key < y->key ? -1 : 1;
    }

    return x->off < y->off ? -1 : (x->off > y->off);
}


/* A pool entry of class index cls, or NULL (a missing key is null). */
static const pyro_jfr_entry_t *
pyro_jfr_lookup(pyro_jfr_chunk_t *c, long cls, uint64_t key)
{
    size_t            lo, hi, mid;
    pyro_jfr_entry_t  k;

    if (cls < 0 || key == 0) {
        return NULL;
    }

    k.type = (uint64_t) cls;
    k.key = key;
    k.off = 0;

    /* the first copy of a duplicated key; all copies are equal (5.3) */
    lo = 0;
    hi = c->npool;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (pyro_jfr_entry_cmp(&c->pool[mid], &k) < 0) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    if (lo < c->npool && c->pool[lo].type == k.type
        && c->pool[lo].key == key)
    {
        return &c->pool[lo];
    }

    return NULL;
}


/*
 * Reads the fields of a composite value at rd, stopping at the field
 * named "want": rd is left on its value and *f set.  PYRO_DECLINED when
 * the class has no such field.
 */
static int
pyro_jfr_seek_field(pyro_jfr_chunk_t *c, pyro_rd_t *rd, long cls,
    const char *want, const pyro_jfr_field_t **f)
{
    size_t             i;
    pyro_jfr_class_t  *k;

    k = &c->classes[cls];

    for (i = 0; i < k->nfields; i++) {
        *f = &c->fields[k->field + i];

        if (pyro_jfr_str_is((*f)->name, want)) {
            return PYRO_OK;
        }

        if (pyro_jfr_skip_field(c, rd, *f, 0) != PYRO_OK) {
            return PYRO_ERROR;
        }
    }

    return PYRO_DECLINED;
}


/* The integer or pool key of field "want" of a pool entry, or 0. */
static uint64_t
pyro_jfr_entry_int(pyro_jfr_t *j, pyro_jfr_chunk_t *c, long cls,
    uint64_t key, const char *want)
{
    pyro_rd_t                rd;
    const pyro_jfr_field_t  *f;
    const pyro_jfr_entry_t  *e;

    e = pyro_jfr_lookup(c, cls, key);
    if (e == NULL) {
        return 0;
    }

    rd.p = j->data + e->off;
    rd.end = j->data + c->start + c->size;
    rd.failed = 0;

    if (pyro_jfr_seek_field(c, &rd, cls, want, &f) != PYRO_OK || f->array
        || (!f->cp && c->classes[f->cls].kind != PYRO_JFR_K_VARINT))
    {
        return 0;
    }

    return pyro_jfr_varint(&rd);
}


/* Appends Symbol key's text to out; a missing symbol appends nothing. */
static int
pyro_jfr_symbol(pyro_jfr_t *j, pyro_jfr_chunk_t *c, uint64_t key,
    pyro_buf_t *out)
{
    pyro_rd_t                rd;
    const pyro_jfr_field_t  *f;
    const pyro_jfr_entry_t  *e;

    e = pyro_jfr_lookup(c, c->c_symbol, key);
    if (e == NULL) {
        return PYRO_OK;
    }

    rd.p = j->data + e->off;
    rd.end = j->data + c->start + c->size;
    rd.failed = 0;

    if (pyro_jfr_seek_field(c, &rd, c->c_symbol, "string", &f) != PYRO_OK
        || f->cp || f->array || c->classes[f->cls].kind != PYRO_JFR_K_STRING)
    {
        return PYRO_ERROR;
    }

    return pyro_jfr_string(j, c, &rd, out, 1);
}


/*
 * "Class.method" for a Method key (jfr-format.md 7), appended to out.
 * PYRO_DECLINED when the method or its class is missing: such a frame
 * is dropped, as Pyroscope does.
 */
static int
pyro_jfr_method_name(pyro_jfr_t *j, pyro_jfr_chunk_t *c, uint64_t key,
    pyro_buf_t *out)
{
    uint64_t  cls;

    if (pyro_jfr_lookup(c, c->c_method, key) == NULL) {
        return PYRO_DECLINED;
    }

    cls = pyro_jfr_entry_int(j, c, c->c_method, key, "type");

    if (pyro_jfr_lookup(c, c->c_class, cls) == NULL) {
        return PYRO_DECLINED;
    }

    if (pyro_jfr_symbol(j, c, pyro_jfr_entry_int(j, c, c->c_class, cls,
                                                 "name"), out)
        != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    pyro_buf_putc(out, '.');

    return pyro_jfr_symbol(j, c, pyro_jfr_entry_int(j, c, c->c_method, key,
                                                    "name"), out);
}


/* A decoded stack, leaf first as stored; names live in one buffer. */
typedef struct {
    pyro_buf_t      names;
    size_t         *off;
    uint32_t       *lines;
    pyro_str_t     *frames;
    size_t          depth;
    size_t          cap;
    size_t          lcap;
    size_t          fcap;
} pyro_jfr_stack_t;


/* One StackFrame value at rd: its method name and line are appended. */
static int
pyro_jfr_frame(pyro_jfr_t *j, pyro_jfr_chunk_t *c, pyro_rd_t *rd,
    const pyro_jfr_field_t *ff, pyro_jfr_stack_t *s)
{
    int                      rc;
    size_t                   i, mark;
    uint64_t                 method, line;
    pyro_jfr_class_t        *k;
    const pyro_jfr_field_t  *f;

    k = &c->classes[ff->cls];
    method = 0;
    line = 0;

    for (i = 0; i < k->nfields; i++) {
        f = &c->fields[k->field + i];

        if (f->array
            || (!f->cp && c->classes[f->cls].kind != PYRO_JFR_K_VARINT))
        {
            if (pyro_jfr_skip_field(c, rd, f, 1) != PYRO_OK) {
                return PYRO_ERROR;
            }

            continue;
        }

        if (pyro_jfr_str_is(f->name, "method") && f->cp) {
            method = pyro_jfr_varint(rd);

        } else if (pyro_jfr_str_is(f->name, "lineNumber")) {
            line = pyro_jfr_varint(rd);

        } else {
            (void) pyro_jfr_varint(rd);
        }
    }

    if (rd->failed || s->depth >= PYRO_JFR_MAX_STACK) {
        return PYRO_ERROR;
    }

    mark = s->names.len;
    rc = pyro_jfr_method_name(j, c, method, &s->names);

    if (rc == PYRO_DECLINED) {
        s->names.len = mark;
        return PYRO_OK;
    }

    if (rc != PYRO_OK
        || pyro_array_reserve((void **) &s->off, &s->cap, s->depth + 2,
                              sizeof(size_t)) != PYRO_OK
        || pyro_array_reserve((void **) &s->lines, &s->lcap, s->depth + 1,
                              sizeof(uint32_t)) != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    s->off[s->depth] = mark;
    s->lines[s->depth++] = (uint32_t) line;
    s->off[s->depth] = s->names.len;

    return PYRO_OK;
}


/* Decodes StackTrace key into s (empty for a missing trace). */
static int
pyro_jfr_stack(pyro_jfr_t *j, pyro_jfr_chunk_t *c, uint64_t key,
    pyro_jfr_stack_t *s)
{
    uint64_t                 n, i;
    pyro_rd_t                rd;
    const pyro_jfr_field_t  *f;
    const pyro_jfr_entry_t  *e;

    s->depth = 0;
    s->names.len = 0;

    e = pyro_jfr_lookup(c, c->c_stack, key);
    if (e == NULL) {
        return PYRO_OK;
    }

    rd.p = j->data + e->off;
    rd.end = j->data + c->start + c->size;
    rd.failed = 0;

    if (pyro_jfr_seek_field(c, &rd, c->c_stack, "frames", &f) != PYRO_OK
        || !f->array || f->cp)
    {
        return PYRO_ERROR;
    }

    n = pyro_jfr_varint(&rd);

    if (rd.failed || n > (uint64_t) (rd.end - rd.p)) {
        return PYRO_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (pyro_jfr_frame(j, c, &rd, f, s) != PYRO_OK) {
            return PYRO_ERROR;
        }
    }

    return s->names.failed ? PYRO_ERROR : PYRO_OK;
}


/* Turns s into root-first pyro_str_t frames and lines, in place. */
static int
pyro_jfr_stack_finish(pyro_jfr_stack_t *s)
{
    size_t    i, k;
    uint32_t  t;

    if (pyro_array_reserve((void **) &s->frames, &s->fcap, s->depth + 1,
                           sizeof(pyro_str_t)) != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    for (i = 0; i < s->depth; i++) {
        k = s->depth - 1 - i;
        s->frames[i].data = s->names.data + s->off[k];
        s->frames[i].len = s->off[k + 1] - s->off[k];
    }

    for (i = 0; i < s->depth / 2; i++) {
        t = s->lines[i];
        s->lines[i] = s->lines[s->depth - 1 - i];
        s->lines[s->depth - 1 - i] = t;
    }

    return PYRO_OK;
}


/* Ticks since the chunk start to ns since the epoch (jfr-format.md 6). */
static int64_t
pyro_jfr_time(pyro_jfr_chunk_t *c, uint64_t ticks)
{
    uint64_t  d, sec, rem;

    /* unsigned arithmetic: a hostile value wraps instead of overflowing */
    d = ticks - (uint64_t) c->start_ticks;
    sec = (uint64_t) ((int64_t) d / c->tps);
    rem = (uint64_t) ((int64_t) d % c->tps);

    return (int64_t) ((uint64_t) c->start_ns + sec * 1000000000u
                      + (uint64_t) (int64_t) ((double) (int64_t) rem
                                              * 1e9 / (double) c->tps));
}


typedef struct {
    pyro_jfr_t         *j;
    pyro_jfr_chunk_t   *c;
    pyro_jfr_stack_t   *s;
    pyro_jfr_event_pt   cb;
    void               *ctx;
} pyro_jfr_walk_t;


/* One event of a wanted kind, decoded through its class's fields. */
static int
pyro_jfr_event(pyro_jfr_walk_t *w, pyro_rd_t *rd, long cls,
    const pyro_jfr_kind_t *kind, pyro_err_t *err)
{
    size_t                   i;
    int64_t                  value;
    uint64_t                 start, stack, v;
    pyro_jfr_class_t        *k;
    const pyro_jfr_field_t  *f;

    k = &w->c->classes[cls];
    start = 0;
    stack = 0;
    value = kind->value ? 0 : 1;

    for (i = 0; i < k->nfields; i++) {
        f = &w->c->fields[k->field + i];

        if (f->array
            || (!f->cp && w->c->classes[f->cls].kind != PYRO_JFR_K_VARINT))
        {
            if (pyro_jfr_skip_field(w->c, rd, f, 0) != PYRO_OK) {
                goto bad;
            }

            continue;
        }

        v = pyro_jfr_varint(rd);

        if (pyro_jfr_str_is(f->name, "startTime")) {
            start = v;

        } else if (pyro_jfr_str_is(f->name, "stackTrace") && f->cp) {
            stack = v;

        } else if (kind->value && pyro_jfr_str_is(f->name, kind->value)) {
            value = (int64_t) v;
        }
    }

    if (rd->failed || pyro_jfr_stack(w->j, w->c, stack, w->s) != PYRO_OK
        || pyro_jfr_stack_finish(w->s) != PYRO_OK)
    {
        goto bad;
    }

    if (w->cb(w->ctx, kind->name, w->s->frames, w->s->lines, w->s->depth,
              value, pyro_jfr_time(w->c, start))
        != PYRO_OK)
    {
        pyro_err_internal(err, "jfr: event callback failed");
        return PYRO_ERROR;
    }

    return PYRO_OK;

bad:

    pyro_err_unprocessable(err, "jfr: bad %s event", kind->name);

    return PYRO_ERROR;
}


static int
pyro_jfr_chunk_events(pyro_jfr_walk_t *w, pyro_err_t *err)
{
    long                    ids[PYRO_JFR_NKINDS];
    size_t                  pos, end, i;
    uint64_t                type;
    pyro_rd_t               rd;
    pyro_jfr_chunk_t       *c;

    c = w->c;

    for (i = 0; i < PYRO_JFR_NKINDS; i++) {
        ids[i] = pyro_jfr_class_by_name(c, pyro_jfr_kinds[i].name);
    }

    end = c->start + c->size;

    for (pos = c->start + PYRO_JFR_HDR; pos < end; pos = rd.end - w->j->data)
    {
        if (pyro_jfr_record(w->j, c, pos, &rd, &type) != PYRO_OK) {
            pyro_err_unprocessable(err, "jfr: bad event record at %zu",
                                   pos);
            return PYRO_ERROR;
        }

        for (i = 0; type > 1 && i < PYRO_JFR_NKINDS; i++) {
            if (ids[i] >= 0 && c->classes[ids[i]].id == type) {
                if (pyro_jfr_event(w, &rd, ids[i], &pyro_jfr_kinds[i], err)
                    != PYRO_OK)
                {
                    return PYRO_ERROR;
                }

                break;
            }
        }
    }

    return PYRO_OK;
}


int
pyro_jfr_events(pyro_jfr_t *j, pyro_jfr_event_pt cb, void *ctx,
    pyro_err_t *err)
{
    int               rc;
    size_t            i;
    pyro_jfr_walk_t   w;
    pyro_jfr_stack_t  s;

    memset(&s, 0, sizeof(pyro_jfr_stack_t));

    w.j = j;
    w.s = &s;
    w.cb = cb;
    w.ctx = ctx;
    rc = PYRO_OK;

    for (i = 0; rc == PYRO_OK && i < j->nchunks; i++) {
        w.c = &j->chunks[i];
        rc = pyro_jfr_chunk_events(&w, err);
    }

    pyro_buf_free(&s.names);
    free(s.off);
    free(s.lines);
    free(s.frames);

    return rc;
}

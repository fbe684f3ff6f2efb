
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * Batches: interning of strings, functions and stack nodes, and the
 * encoding of a batch into one checksummed record.  A batch belongs to
 * the thread that fills it (an ingest task); the encoded bytes are then
 * handed to the worker's writer.
 */


#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "pyro.h"


typedef struct {
    uint32_t        off;
    uint32_t        len;
} pyro_bstr_t;

/* Open addressing: slots hold index + 1, 0 is empty. */
typedef struct {
    uint32_t       *slots;
    size_t          mask;
} pyro_ht_t;

typedef struct {
    uint32_t        node;
    uint64_t        span;
    uint64_t        value;
} pyro_bsample_t;

/*
 * A profile's samples are kept as a flat list and merged per (node,
 * span) at encode time: memory stays proportional to the samples given,
 * however many profiles (series) one request creates.
 */
typedef struct {
    pyro_labels_t    labels;
    int64_t          time_ns;
    int64_t          duration_ns;
    char            *id;            /* NULL: none (stored as "") */
    pyro_bsample_t  *samples;
    size_t           nsamples;
    size_t           samples_cap;
} pyro_bprof_t;


struct pyro_batch_s {
    pyro_buf_t      bytes;          /* all string bytes, back to back */
    pyro_bstr_t    *strs;
    size_t          nstrs;
    size_t          strs_cap;
    pyro_func_t    *funcs;
    size_t          nfuncs;
    size_t          funcs_cap;
    pyro_node_t    *nodes;
    size_t          nnodes;
    size_t          nodes_cap;
    pyro_ht_t       str_ht;
    pyro_ht_t       fn_ht;
    pyro_ht_t       node_ht;
    pyro_bprof_t   *profs;
    size_t          nprofs;
    size_t          profs_cap;
};


static uint64_t
pyro_hash_bytes(const char *s, size_t n)
{
    size_t    i;
    uint64_t  h;

    h = 14695981039346656037ULL;

    for (i = 0; i < n; i++) {
        h ^= (unsigned char) s[i];
        h *= 1099511628211ULL;
    }

    return h;
}


static uint64_t
pyro_hash3(uint32_t a, uint32_t b, uint32_t c)
{
    uint64_t  h;

    h = ((uint64_t) a << 32 | b) * 0x9e3779b97f4a7c15ULL;
    h ^= (h >> 29) + (uint64_t) c * 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 31;

    return h * 0x94d049bb133111ebULL;
}


/*
 * Finds the slot for a key: returns the slot index, whose content is 0
 * (absent) or the matching index + 1.  eq() compares a candidate index.
 */
typedef int (*pyro_ht_eq_pt)(pyro_batch_t *b, uint32_t idx, const void *key);

static size_t
pyro_ht_find(pyro_batch_t *b, pyro_ht_t *ht, uint64_t h, const void *key,
    pyro_ht_eq_pt eq)
{
    size_t  i;

    for (i = h & ht->mask; ht->slots[i] != 0; i = (i + 1) & ht->mask) {
        if (eq(b, ht->slots[i] - 1, key)) {
            return i;
        }
    }

    return i;
}


/* Keeps the load factor under 1/2; rehash() recomputes each entry's hash. */
typedef uint64_t (*pyro_ht_hash_pt)(pyro_batch_t *b, uint32_t idx);

static int
pyro_ht_grow(pyro_batch_t *b, pyro_ht_t *ht, size_t n, pyro_ht_hash_pt hash)
{
    size_t     cap, i, j;
    uint32_t  *slots;

    if (ht->slots != NULL && (n + 1) * 2 <= ht->mask + 1) {
        return PYRO_OK;
    }

    cap = ht->slots ? (ht->mask + 1) * 2 : 1024;

    slots = calloc(cap, sizeof(uint32_t));
    if (slots == NULL) {
        return PYRO_ERROR;
    }

    for (i = 0; ht->slots && i <= ht->mask; i++) {
        if (ht->slots[i] == 0) {
            continue;
        }

        j = hash(b, ht->slots[i] - 1) & (cap - 1);

        while (slots[j] != 0) {
            j = (j + 1) & (cap - 1);
        }

        slots[j] = ht->slots[i];
    }

    free(ht->slots);
    ht->slots = slots;
    ht->mask = cap - 1;

    return PYRO_OK;
}


pyro_batch_t *
pyro_batch_new(void)
{
    pyro_batch_t  *b;

    b = calloc(1, sizeof(pyro_batch_t));
    if (b == NULL) {
        return NULL;
    }

    /* string 0 is always "", as in pprof */
    if (pyro_batch_string(b, "", 0) != 0) {
        pyro_batch_free(b);
        return NULL;
    }

    return b;
}


static int
pyro_str_eq(pyro_batch_t *b, uint32_t idx, const void *key)
{
    const pyro_str_t  *s = key;

    return b->strs[idx].len == s->len
           && (s->len == 0
               || memcmp(b->bytes.data + b->strs[idx].off, s->data, s->len)
                  == 0);
}


static uint64_t
pyro_str_hash(pyro_batch_t *b, uint32_t idx)
{
    return pyro_hash_bytes(b->bytes.data + b->strs[idx].off, b->strs[idx].len);
}


uint32_t
pyro_batch_string(pyro_batch_t *b, const char *s, size_t len)
{
    size_t      slot;
    uint64_t    h;
    pyro_str_t  key;

    if (len > UINT32_MAX || b->bytes.len + len > UINT32_MAX
        || pyro_ht_grow(b, &b->str_ht, b->nstrs, pyro_str_hash) != PYRO_OK)
    {
        return UINT32_MAX;
    }

    key.data = s;
    key.len = len;
    h = pyro_hash_bytes(s, len);

    slot = pyro_ht_find(b, &b->str_ht, h, &key, pyro_str_eq);
    if (b->str_ht.slots[slot] != 0) {
        return b->str_ht.slots[slot] - 1;
    }

    if (pyro_array_reserve((void **) &b->strs, &b->strs_cap, b->nstrs + 1,
                           sizeof(pyro_bstr_t)) != PYRO_OK)
    {
        return UINT32_MAX;
    }

    b->strs[b->nstrs].off = (uint32_t) b->bytes.len;
    b->strs[b->nstrs].len = (uint32_t) len;

    pyro_buf_append(&b->bytes, s, len);
    if (b->bytes.failed) {
        return UINT32_MAX;
    }

    b->str_ht.slots[slot] = (uint32_t) ++b->nstrs;

    return (uint32_t) (b->nstrs - 1);
}


static int
pyro_fn_eq(pyro_batch_t *b, uint32_t idx, const void *key)
{
    const pyro_func_t  *f = key;

    return b->funcs[idx].name == f->name && b->funcs[idx].file == f->file;
}


static uint64_t
pyro_fn_hash(pyro_batch_t *b, uint32_t idx)
{
    return pyro_hash3(b->funcs[idx].name, b->funcs[idx].file, 0);
}


uint32_t
pyro_batch_function(pyro_batch_t *b, uint32_t name, uint32_t file)
{
    size_t       slot;
    pyro_func_t  key;

    if (name >= b->nstrs || file >= b->nstrs
        || pyro_ht_grow(b, &b->fn_ht, b->nfuncs, pyro_fn_hash) != PYRO_OK)
    {
        return UINT32_MAX;
    }

    key.name = name;
    key.file = file;

    slot = pyro_ht_find(b, &b->fn_ht, pyro_hash3(name, file, 0), &key,
                        pyro_fn_eq);
    if (b->fn_ht.slots[slot] != 0) {
        return b->fn_ht.slots[slot] - 1;
    }

    if (pyro_array_reserve((void **) &b->funcs, &b->funcs_cap, b->nfuncs + 1,
                           sizeof(pyro_func_t)) != PYRO_OK)
    {
        return UINT32_MAX;
    }

    b->funcs[b->nfuncs] = key;
    b->fn_ht.slots[slot] = (uint32_t) ++b->nfuncs;

    return (uint32_t) (b->nfuncs - 1);
}


static int
pyro_node_eq(pyro_batch_t *b, uint32_t idx, const void *key)
{
    const pyro_node_t  *n = key;

    return b->nodes[idx].parent == n->parent && b->nodes[idx].fn == n->fn
           && b->nodes[idx].line == n->line;
}


static uint64_t
pyro_node_hash(pyro_batch_t *b, uint32_t idx)
{
    return pyro_hash3(b->nodes[idx].parent, b->nodes[idx].fn,
                      b->nodes[idx].line);
}


uint32_t
pyro_batch_node(pyro_batch_t *b, uint32_t parent, uint32_t fn, uint32_t line)
{
    size_t       slot;
    pyro_node_t  key;

    if ((parent != PYRO_NODE_NONE && parent >= b->nnodes) || fn >= b->nfuncs
        || b->nnodes >= UINT32_MAX - 1
        || pyro_ht_grow(b, &b->node_ht, b->nnodes, pyro_node_hash) != PYRO_OK)
    {
        return UINT32_MAX;
    }

    key.parent = parent;
    key.fn = fn;
    key.line = line;

    slot = pyro_ht_find(b, &b->node_ht, pyro_hash3(parent, fn, line), &key,
                        pyro_node_eq);
    if (b->node_ht.slots[slot] != 0) {
        return b->node_ht.slots[slot] - 1;
    }

    if (pyro_array_reserve((void **) &b->nodes, &b->nodes_cap, b->nnodes + 1,
                           sizeof(pyro_node_t)) != PYRO_OK)
    {
        return UINT32_MAX;
    }

    b->nodes[b->nnodes] = key;
    b->node_ht.slots[slot] = (uint32_t) ++b->nnodes;

    return (uint32_t) (b->nnodes - 1);
}


int
pyro_batch_profile(pyro_batch_t *b, const pyro_labels_t *labels,
    int64_t time_ns, int64_t duration_ns)
{
    size_t         i;
    pyro_bprof_t  *p;

    if (pyro_array_reserve((void **) &b->profs, &b->profs_cap, b->nprofs + 1,
                           sizeof(pyro_bprof_t)) != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    p = &b->profs[b->nprofs++];
    memset(p, 0, sizeof(pyro_bprof_t));
    p->time_ns = time_ns;
    p->duration_ns = duration_ns;

    for (i = 0; i < labels->n; i++) {

        /* an empty label is a missing label, as in upstream's builder */
        if (labels->v[i].value[0] == '\0') {
            continue;
        }

        if (pyro_labels_set_cstr(&p->labels, labels->v[i].name,
                                 labels->v[i].value) != PYRO_OK)
        {
            return PYRO_ERROR;
        }
    }

    pyro_labels_sort(&p->labels);

    return PYRO_OK;
}


int
pyro_batch_profile_id(pyro_batch_t *b, const char *id, size_t len)
{
    char          *s;
    pyro_bprof_t  *p;

    if (b->nprofs == 0) {
        return PYRO_ERROR;
    }

    s = malloc(len + 1);
    if (s == NULL) {
        return PYRO_ERROR;
    }

    memcpy(s, id, len);
    s[len] = '\0';

    p = &b->profs[b->nprofs - 1];
    free(p->id);
    p->id = s;

    return PYRO_OK;
}


int
pyro_batch_sample(pyro_batch_t *b, uint32_t node, uint64_t value)
{
    return pyro_batch_sample_span(b, node, 0, value);
}


int
pyro_batch_sample_span(pyro_batch_t *b, uint32_t node, uint64_t span,
    uint64_t value)
{
    pyro_bprof_t  *p;

    if (b->nprofs == 0 || node >= b->nnodes) {
        return PYRO_ERROR;
    }

    if (value == 0) {
        return PYRO_OK;
    }

    p = &b->profs[b->nprofs - 1];

    if (pyro_array_reserve((void **) &p->samples, &p->samples_cap,
                           p->nsamples + 1,
                           sizeof(pyro_bsample_t)) != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    p->samples[p->nsamples].node = node;
    p->samples[p->nsamples].span = span;
    p->samples[p->nsamples].value = value;
    p->nsamples++;

    return PYRO_OK;
}


static int
pyro_bsample_cmp(const void *a, const void *b)
{
    const pyro_bsample_t  *x = a, *y = b;

    if (x->node != y->node) {
        return x->node < y->node ? -1 : 1;
    }

    return (x->span > y->span) - (x->span < y->span);
}


/* Sorts the samples and sums duplicates of (node, span); values wrap
 * like upstream's uint64 arithmetic. */
static void
pyro_bprof_merge(pyro_bprof_t *p)
{
    size_t  i, k;

    if (p->nsamples < 2) {
        return;
    }

    qsort(p->samples, p->nsamples, sizeof(pyro_bsample_t), pyro_bsample_cmp);

    for (i = 1, k = 0; i < p->nsamples; i++) {
        if (p->samples[i].node == p->samples[k].node
            && p->samples[i].span == p->samples[k].span)
        {
            p->samples[k].value += p->samples[i].value;
            continue;
        }

        p->samples[++k] = p->samples[i];
    }

    p->nsamples = k + 1;
}


size_t
pyro_batch_nprofiles(const pyro_batch_t *b)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < b->nprofs; i++) {
        n += (b->profs[i].nsamples != 0);
    }

    return n;
}


static void
pyro_buf_put_lstr(pyro_buf_t *out, const char *s)
{
    size_t  n;

    n = strlen(s);
    pyro_buf_put_uvarint(out, n);
    pyro_buf_append(out, s, n);
}


/* The meta section entry: time, duration, profile ID, labels inline,
 * sample count. */
static void
pyro_batch_encode_meta(pyro_bprof_t *p, pyro_buf_t *meta)
{
    size_t  i;

    pyro_buf_put_uvarint(meta, (uint64_t) p->time_ns);
    pyro_buf_put_uvarint(meta, (uint64_t) p->duration_ns);
    pyro_buf_put_lstr(meta, p->id ? p->id : "");
    pyro_buf_put_uvarint(meta, p->labels.n);

    for (i = 0; i < p->labels.n; i++) {
        pyro_buf_put_lstr(meta, p->labels.v[i].name);
        pyro_buf_put_lstr(meta, p->labels.v[i].value);
    }

    pyro_buf_put_uvarint(meta, p->nsamples);
}


static void
pyro_batch_encode_samples(pyro_bprof_t *p, pyro_buf_t *out)
{
    size_t  i;

    for (i = 0; i < p->nsamples; i++) {
        pyro_buf_put_uvarint(out, p->samples[i].node);
        pyro_buf_put_uvarint(out, p->samples[i].value);
        pyro_buf_put_uvarint(out, p->samples[i].span);
    }
}


static void
pyro_batch_encode_symbols(pyro_batch_t *b, pyro_buf_t *out)
{
    size_t  i;

    pyro_buf_put_uvarint(out, b->nstrs);

    for (i = 0; i < b->nstrs; i++) {
        pyro_buf_put_uvarint(out, b->strs[i].len);
        pyro_buf_append(out, b->bytes.data + b->strs[i].off, b->strs[i].len);
    }

    pyro_buf_put_uvarint(out, b->nfuncs);

    for (i = 0; i < b->nfuncs; i++) {
        pyro_buf_put_uvarint(out, b->funcs[i].name);
        pyro_buf_put_uvarint(out, b->funcs[i].file);
    }

    pyro_buf_put_uvarint(out, b->nnodes);

    for (i = 0; i < b->nnodes; i++) {
        pyro_buf_put_uvarint(out, b->nodes[i].parent == PYRO_NODE_NONE
                                  ? 0 : (uint64_t) b->nodes[i].parent + 1);
        pyro_buf_put_uvarint(out, b->nodes[i].fn);
        pyro_buf_put_uvarint(out, b->nodes[i].line);
    }
}


typedef struct {
    pyro_buf_t      meta;
    pyro_buf_t      body;
    pyro_buf_t      z;
    uint32_t        nprofs;
    int64_t         min_ns;
    int64_t         max_ns;
} pyro_enc_t;


/* Builds the meta section and the uncompressed body. */
static int
pyro_batch_sections(pyro_batch_t *b, pyro_enc_t *e)
{
    size_t         i, n;
    pyro_bprof_t  *p;

    e->min_ns = INT64_MAX;
    e->max_ns = INT64_MIN;

    n = pyro_batch_nprofiles(b);
    pyro_buf_put_uvarint(&e->meta, n);
    pyro_batch_encode_symbols(b, &e->body);

    for (i = 0; i < b->nprofs; i++) {
        p = &b->profs[i];

        if (p->nsamples == 0) {
            continue;
        }

        pyro_bprof_merge(p);
        pyro_batch_encode_meta(p, &e->meta);
        pyro_batch_encode_samples(p, &e->body);

        e->nprofs++;
        e->min_ns = p->time_ns < e->min_ns ? p->time_ns : e->min_ns;
        e->max_ns = p->time_ns > e->max_ns ? p->time_ns : e->max_ns;
    }

    if (e->meta.failed || e->body.failed || e->meta.len > PYRO_REC_MAX
        || e->body.len > PYRO_REC_MAX)
    {
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


/* Deflates the body when that saves at least an eighth of it. */
static int
pyro_batch_compress(pyro_buf_t *raw, pyro_buf_t *z)
{
    uLongf  zlen;

    if (raw->len < 512) {
        return PYRO_DECLINED;
    }

    zlen = compressBound(raw->len);

    if (pyro_buf_reserve(z, zlen) != PYRO_OK) {
        return PYRO_ERROR;
    }

    if (compress2((Bytef *) z->data, &zlen, (const Bytef *) raw->data,
                  raw->len, 1) != Z_OK)
    {
        return PYRO_ERROR;
    }

    if (zlen > raw->len - raw->len / 8) {
        return PYRO_DECLINED;
    }

    z->len = zlen;

    return PYRO_OK;
}


static void
pyro_batch_put_header(pyro_enc_t *e, pyro_buf_t *body, uint32_t flags,
    pyro_buf_t *out)
{
    pyro_buf_put_u32le(out, PYRO_REC_MAGIC);
    pyro_buf_put_u32le(out, 0);
    pyro_buf_put_u32le(out, (uint32_t) e->meta.len);
    pyro_buf_put_u32le(out, (uint32_t) body->len);
    pyro_buf_put_u32le(out, (uint32_t) e->body.len);
    pyro_buf_put_u32le(out, flags);
    pyro_buf_put_u32le(out, e->nprofs);
    pyro_buf_put_u32le(out, 0);
    pyro_buf_put_u64le(out, (uint64_t) (e->nprofs ? e->min_ns : 0));
    pyro_buf_put_u64le(out, (uint64_t) (e->nprofs ? e->max_ns : 0));
}


int
pyro_batch_encode(pyro_batch_t *b, pyro_buf_t *out)
{
    int          rc;
    size_t       start;
    uint32_t     crc;
    pyro_buf_t  *body;
    pyro_enc_t   e;

    memset(&e, 0, sizeof(pyro_enc_t));

    rc = pyro_batch_sections(b, &e);
    if (rc != PYRO_OK) {
        goto done;
    }

    rc = pyro_batch_compress(&e.body, &e.z);
    if (rc == PYRO_ERROR) {
        goto done;
    }

    body = (rc == PYRO_OK) ? &e.z : &e.body;

    start = out->len;
    pyro_batch_put_header(&e, body, (rc == PYRO_OK) ? PYRO_REC_ZLIB : 0, out);
    pyro_buf_append(out, e.meta.data, e.meta.len);
    pyro_buf_append(out, body->data, body->len);

    if (out->failed) {
        rc = PYRO_ERROR;
        goto done;
    }

    crc = (uint32_t) crc32(0L, (const Bytef *) out->data + start + 8,
                           (uInt) (out->len - start - 8));
    out->data[start + 4] = (char) crc;
    out->data[start + 5] = (char) (crc >> 8);
    out->data[start + 6] = (char) (crc >> 16);
    out->data[start + 7] = (char) (crc >> 24);

    rc = PYRO_OK;

done:

    pyro_buf_free(&e.meta);
    pyro_buf_free(&e.body);
    pyro_buf_free(&e.z);

    return rc;
}


void
pyro_batch_free(pyro_batch_t *b)
{
    size_t  i;

    if (b == NULL) {
        return;
    }

    for (i = 0; i < b->nprofs; i++) {
        pyro_labels_free(&b->profs[i].labels);
        free(b->profs[i].id);
        free(b->profs[i].samples);
    }

    pyro_buf_free(&b->bytes);
    free(b->strs);
    free(b->funcs);
    free(b->nodes);
    free(b->str_ht.slots);
    free(b->fn_ht.slots);
    free(b->node_ht.slots);
    free(b->profs);
    free(b);
}

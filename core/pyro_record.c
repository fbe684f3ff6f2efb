
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * Reading records: header checks, checksum, inflate and a bounded decode
 * of the payload into arrays.  Runs in query threads; every index read
 * from a file is checked before use, so a corrupt file can only make a
 * record be skipped.
 */


#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "pyro.h"


int
pyro_rec_hdr_parse(const void *p, size_t avail, pyro_rec_hdr_t *h)
{
    const unsigned char  *b = p;

    if (avail < PYRO_REC_HDR_SIZE) {
        return PYRO_AGAIN;
    }

    if (pyro_get_u32le(b) != PYRO_REC_MAGIC) {
        return PYRO_ERROR;
    }

    h->crc = pyro_get_u32le(b + 4);
    h->payload_len = pyro_get_u32le(b + 8);
    h->raw_len = pyro_get_u32le(b + 12);
    h->flags = pyro_get_u32le(b + 16);
    h->nprofiles = pyro_get_u32le(b + 20);
    h->min_time_ns = (int64_t) pyro_get_u64le(b + 24);
    h->max_time_ns = (int64_t) pyro_get_u64le(b + 32);

    if (h->payload_len > PYRO_REC_MAX || h->raw_len > PYRO_REC_MAX
        || (h->flags & ~PYRO_REC_ZLIB) != 0
        || (!(h->flags & PYRO_REC_ZLIB) && h->raw_len != h->payload_len))
    {
        return PYRO_ERROR;
    }

    if (avail < PYRO_REC_HDR_SIZE + (size_t) h->payload_len) {
        return PYRO_AGAIN;
    }

    return PYRO_OK;
}


static int
pyro_record_inflate(const pyro_rec_hdr_t *h, const char *payload,
    pyro_record_t *rec)
{
    uLongf  len;

    rec->raw = malloc(h->raw_len ? h->raw_len : 1);
    if (rec->raw == NULL) {
        return PYRO_ERROR;
    }

    if (!(h->flags & PYRO_REC_ZLIB)) {
        memcpy(rec->raw, payload, h->raw_len);
        return PYRO_OK;
    }

    len = h->raw_len;

    if (uncompress((Bytef *) rec->raw, &len, (const Bytef *) payload,
                   h->payload_len) != Z_OK
        || len != h->raw_len)
    {
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


/* Reads a count and allocates n elements, refusing counts that could not
 * fit in what is left of the payload (each element takes >= 1 byte). */
static void *
pyro_rd_array(pyro_rd_t *rd, size_t *n, size_t sz)
{
    uint64_t  v;
    void     *p;

    v = pyro_rd_uvarint(rd);

    if (rd->failed || v > (uint64_t) (rd->end - rd->p)) {
        rd->failed = 1;
        return NULL;
    }

    *n = (size_t) v;

    p = calloc(v ? v : 1, sz);
    if (p == NULL) {
        rd->failed = 1;
    }

    return p;
}


static uint32_t
pyro_rd_index(pyro_rd_t *rd, size_t limit)
{
    uint64_t  v;

    v = pyro_rd_uvarint(rd);

    if (v >= limit) {
        rd->failed = 1;
        return 0;
    }

    return (uint32_t) v;
}


static void
pyro_record_decode_symbols(pyro_rd_t *rd, pyro_record_t *rec)
{
    char        *dst;
    size_t       i;
    uint64_t     v;
    const char  *s;

    rec->strings = pyro_rd_array(rd, &rec->nstrings, sizeof(pyro_str_t));

    /* copies with a NUL after each, so labels can be used as C strings;
     * the copies never exceed the payload plus one byte per string */
    dst = malloc((size_t) (rd->end - rd->p) + rec->nstrings + 1);
    rec->strbuf = dst;

    if (dst == NULL) {
        rd->failed = 1;
    }

    for (i = 0; !rd->failed && i < rec->nstrings; i++) {
        v = pyro_rd_uvarint(rd);
        s = pyro_rd_bytes(rd, (size_t) v);
        if (s == NULL) {
            break;
        }
        memcpy(dst, s, (size_t) v);
        dst[v] = '\0';
        rec->strings[i].len = (size_t) v;
        rec->strings[i].data = dst;
        dst += v + 1;
    }

    if (rd->failed || rec->nstrings == 0) {
        rd->failed = 1;
        return;
    }

    rec->funcs = pyro_rd_array(rd, &rec->nfuncs, sizeof(pyro_func_t));

    for (i = 0; !rd->failed && i < rec->nfuncs; i++) {
        rec->funcs[i].name = pyro_rd_index(rd, rec->nstrings);
        rec->funcs[i].file = pyro_rd_index(rd, rec->nstrings);
    }

    if (rd->failed) {
        return;
    }

    rec->nodes = pyro_rd_array(rd, &rec->nnodes, sizeof(pyro_node_t));

    /* a parent always precedes its children: walks up always end */
    for (i = 0; !rd->failed && i < rec->nnodes; i++) {
        v = pyro_rd_index(rd, i + 1);
        rec->nodes[i].parent = v ? (uint32_t) v - 1 : PYRO_NODE_NONE;
        rec->nodes[i].fn = pyro_rd_index(rd, rec->nfuncs);
        rec->nodes[i].line = (uint32_t) pyro_rd_uvarint(rd);
    }
}


static void
pyro_record_decode_profile(pyro_rd_t *rd, pyro_record_t *rec, pyro_prof_t *p)
{
    size_t  i;

    p->time_ns = (int64_t) pyro_rd_uvarint(rd);
    p->duration_ns = (int64_t) pyro_rd_uvarint(rd);

    p->labels = pyro_rd_array(rd, &p->nlabels, 2 * sizeof(uint32_t));

    for (i = 0; !rd->failed && i < p->nlabels; i++) {
        p->labels[2 * i] = pyro_rd_index(rd, rec->nstrings);
        p->labels[2 * i + 1] = pyro_rd_index(rd, rec->nstrings);
    }

    if (rd->failed) {
        return;
    }

    p->samples = pyro_rd_array(rd, &p->nsamples, sizeof(pyro_sample_t));

    for (i = 0; !rd->failed && i < p->nsamples; i++) {
        p->samples[i].node = pyro_rd_index(rd, rec->nnodes);
        p->samples[i].value = pyro_rd_uvarint(rd);
        p->total += p->samples[i].value;
    }
}


int
pyro_record_decode(const void *p, size_t len, pyro_record_t *rec,
    pyro_err_t *err)
{
    size_t          i;
    pyro_rd_t       rd;
    pyro_rec_hdr_t  h;
    const char     *b = p;

    memset(rec, 0, sizeof(pyro_record_t));

    if (pyro_rec_hdr_parse(b, len, &h) != PYRO_OK) {
        pyro_err_internal(err, "bad record header");
        return PYRO_ERROR;
    }

    if ((uint32_t) crc32(0L, (const Bytef *) b + 8,
                         (uInt) (PYRO_REC_HDR_SIZE - 8 + h.payload_len))
        != h.crc)
    {
        pyro_err_internal(err, "record checksum mismatch");
        return PYRO_ERROR;
    }

    if (pyro_record_inflate(&h, b + PYRO_REC_HDR_SIZE, rec) != PYRO_OK) {
        pyro_err_internal(err, "record does not inflate");
        goto failed;
    }

    rd.p = (const unsigned char *) rec->raw;
    rd.end = rd.p + h.raw_len;
    rd.failed = 0;

    pyro_record_decode_symbols(&rd, rec);

    if (!rd.failed) {
        rec->profs = pyro_rd_array(&rd, &rec->nprofs, sizeof(pyro_prof_t));
    }

    for (i = 0; !rd.failed && i < rec->nprofs; i++) {
        pyro_record_decode_profile(&rd, rec, &rec->profs[i]);
    }

    if (rd.failed || rd.p != rd.end) {
        pyro_err_internal(err, "record payload is malformed");
        goto failed;
    }

    return PYRO_OK;

failed:

    pyro_record_free(rec);

    return PYRO_ERROR;
}


void
pyro_record_free(pyro_record_t *rec)
{
    size_t  i;

    for (i = 0; rec->profs && i < rec->nprofs; i++) {
        free(rec->profs[i].labels);
        free(rec->profs[i].samples);
    }

    free(rec->profs);
    free(rec->nodes);
    free(rec->funcs);
    free(rec->strings);
    free(rec->strbuf);
    free(rec->raw);

    memset(rec, 0, sizeof(pyro_record_t));
}

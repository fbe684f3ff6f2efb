
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * Reading records: header checks, checksum, the meta section (series
 * labels, read without inflating anything) and, only for records a query
 * needs, the body.  Runs in query threads; every index read from a file
 * is checked before use, so a corrupt file can only make a record be
 * skipped.
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
    h->meta_len = pyro_get_u32le(b + 8);
    h->body_len = pyro_get_u32le(b + 12);
    h->body_raw_len = pyro_get_u32le(b + 16);
    h->flags = pyro_get_u32le(b + 20);
    h->nprofiles = pyro_get_u32le(b + 24);
    h->min_time_ns = (int64_t) pyro_get_u64le(b + 32);
    h->max_time_ns = (int64_t) pyro_get_u64le(b + 40);

    if (h->meta_len > PYRO_REC_MAX || h->body_len > PYRO_REC_MAX
        || h->body_raw_len > PYRO_REC_MAX
        || (h->flags & ~PYRO_REC_ZLIB) != 0
        || (!(h->flags & PYRO_REC_ZLIB) && h->body_raw_len != h->body_len))
    {
        return PYRO_ERROR;
    }

    if (avail - PYRO_REC_HDR_SIZE < (size_t) h->meta_len + h->body_len) {
        return PYRO_AGAIN;
    }

    return PYRO_OK;
}


/* Reads a count and allocates n elements, refusing counts that could not
 * fit in what is left of the input (each element takes >= 1 byte). */
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


/* Copies a length-prefixed string into *dst with a NUL after it. */
static char *
pyro_rd_cstr(pyro_rd_t *rd, char **dst, size_t *len)
{
    char        *s;
    uint64_t     n;
    const char  *p;

    n = pyro_rd_uvarint(rd);
    p = pyro_rd_bytes(rd, (size_t) n);

    if (p == NULL) {
        return NULL;
    }

    s = *dst;
    memcpy(s, p, (size_t) n);
    s[n] = '\0';
    *dst += n + 1;

    if (len) {
        *len = (size_t) n;
    }

    return s;
}


static void
pyro_record_decode_labels(pyro_rd_t *rd, pyro_prof_t *p, char **dst)
{
    size_t  i;

    p->labels = pyro_rd_array(rd, &p->nlabels, sizeof(pyro_label_t));

    for (i = 0; !rd->failed && i < p->nlabels; i++) {
        p->labels[i].name = pyro_rd_cstr(rd, dst, NULL);
        p->labels[i].value = pyro_rd_cstr(rd, dst, NULL);
    }
}


int
pyro_record_decode_meta(const void *p, size_t len, pyro_record_t *rec,
    pyro_err_t *err)
{
    char        *dst;
    size_t       i;
    pyro_rd_t    rd;
    const char  *b = p, *meta;

    memset(rec, 0, sizeof(pyro_record_t));

    if (pyro_rec_hdr_parse(b, len, &rec->hdr) != PYRO_OK) {
        pyro_err_internal(err, "bad record header");
        return PYRO_ERROR;
    }

    /*
     * The checksum covers the whole record and is verified when the body
     * is decoded: records that no query selects cost only this bounded
     * read of the meta section.
     */
    rec->start = b;
    meta = b + PYRO_REC_HDR_SIZE;
    rec->body = meta + rec->hdr.meta_len;

    /*
     * label and profile ID copies never exceed the meta bytes: each
     * string's NUL takes the place of its length prefix
     */
    rec->metabuf = malloc(2 * (size_t) rec->hdr.meta_len + 1);
    if (rec->metabuf == NULL) {
        pyro_err_internal(err, "out of memory");
        return PYRO_ERROR;
    }

    rd.p = (const unsigned char *) meta;
    rd.end = rd.p + rec->hdr.meta_len;
    rd.failed = 0;

    rec->profs = pyro_rd_array(&rd, &rec->nprofs, sizeof(pyro_prof_t));

    dst = rec->metabuf;

    for (i = 0; !rd.failed && i < rec->nprofs; i++) {
        rec->profs[i].time_ns = (int64_t) pyro_rd_uvarint(&rd);
        rec->profs[i].duration_ns = (int64_t) pyro_rd_uvarint(&rd);
        rec->profs[i].id = pyro_rd_cstr(&rd, &dst, NULL);
        pyro_record_decode_labels(&rd, &rec->profs[i], &dst);
        rec->profs[i].nsamples = (size_t) pyro_rd_uvarint(&rd);
    }

    if (rd.failed || rd.p != rd.end || rec->nprofs != rec->hdr.nprofiles) {
        pyro_err_internal(err, "record meta is malformed");
        pyro_record_free(rec);
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


static int
pyro_record_inflate(pyro_record_t *rec)
{
    uLongf  len;

    rec->raw = malloc(rec->hdr.body_raw_len ? rec->hdr.body_raw_len : 1);
    if (rec->raw == NULL) {
        return PYRO_ERROR;
    }

    if (!(rec->hdr.flags & PYRO_REC_ZLIB)) {
        memcpy(rec->raw, rec->body, rec->hdr.body_raw_len);
        return PYRO_OK;
    }

    len = rec->hdr.body_raw_len;

    if (uncompress((Bytef *) rec->raw, &len, (const Bytef *) rec->body,
                   rec->hdr.body_len) != Z_OK
        || len != rec->hdr.body_raw_len)
    {
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


static void
pyro_record_decode_symbols(pyro_rd_t *rd, pyro_record_t *rec)
{
    char      *dst;
    size_t     i;
    uint64_t   v;

    rec->strings = pyro_rd_array(rd, &rec->nstrings, sizeof(pyro_str_t));

    /* copies with a NUL after each; never more than the body plus one
     * byte per string */
    dst = malloc((size_t) (rd->end - rd->p) + rec->nstrings + 1);
    rec->strbuf = dst;

    if (dst == NULL) {
        rd->failed = 1;
    }

    for (i = 0; !rd->failed && i < rec->nstrings; i++) {
        rec->strings[i].data = pyro_rd_cstr(rd, &dst, &rec->strings[i].len);
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
pyro_record_decode_samples(pyro_rd_t *rd, pyro_record_t *rec, pyro_prof_t *p)
{
    size_t  i;

    /* the count was read from the meta: bound it by the bytes left */
    if (p->nsamples > (size_t) (rd->end - rd->p)) {
        rd->failed = 1;
        return;
    }

    p->samples = calloc(p->nsamples ? p->nsamples : 1,
                        sizeof(pyro_sample_t));
    if (p->samples == NULL) {
        rd->failed = 1;
        return;
    }

    p->total = 0;

    for (i = 0; !rd->failed && i < p->nsamples; i++) {
        p->samples[i].node = pyro_rd_index(rd, rec->nnodes);
        p->samples[i].value = pyro_rd_uvarint(rd);
        p->samples[i].span = pyro_rd_uvarint(rd);
        p->total += p->samples[i].value;
    }
}


int
pyro_record_decode_body(pyro_record_t *rec, pyro_err_t *err)
{
    size_t     i;
    pyro_rd_t  rd;

    if ((uint32_t) crc32(0L, (const Bytef *) rec->start + 8,
                         (uInt) (PYRO_REC_HDR_SIZE - 8 + rec->hdr.meta_len
                                 + rec->hdr.body_len))
        != rec->hdr.crc)
    {
        pyro_err_internal(err, "record checksum mismatch");
        return PYRO_ERROR;
    }

    if (pyro_record_inflate(rec) != PYRO_OK) {
        pyro_err_internal(err, "record does not inflate");
        return PYRO_ERROR;
    }

    rd.p = (const unsigned char *) rec->raw;
    rd.end = rd.p + rec->hdr.body_raw_len;
    rd.failed = 0;

    pyro_record_decode_symbols(&rd, rec);

    for (i = 0; !rd.failed && i < rec->nprofs; i++) {
        pyro_record_decode_samples(&rd, rec, &rec->profs[i]);
    }

    if (rd.failed || rd.p != rd.end) {
        pyro_err_internal(err, "record body is malformed");
        return PYRO_ERROR;
    }

    rec->start = NULL;
    rec->body = NULL;

    return PYRO_OK;
}


int
pyro_record_decode(const void *p, size_t len, pyro_record_t *rec,
    pyro_err_t *err)
{
    if (pyro_record_decode_meta(p, len, rec, err) != PYRO_OK) {
        return PYRO_ERROR;
    }

    if (pyro_record_decode_body(rec, err) != PYRO_OK) {
        pyro_record_free(rec);
        return PYRO_ERROR;
    }

    return PYRO_OK;
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
    free(rec->metabuf);
    free(rec->nodes);
    free(rec->funcs);
    free(rec->strings);
    free(rec->strbuf);
    free(rec->raw);

    memset(rec, 0, sizeof(pyro_record_t));
}


/*
 * Copyright (C) ngx_pyroscope developers
 *
 * push.v1.PushRequest decoding, binary (protobuf-c) or JSON (jansson,
 * with protojson's rules as connect-go applies them: proto or JSON field
 * names, unknown fields ignored, null as the default value, bytes as
 * standard or URL-safe base64 with or without padding).
 *
 * Memory: labels are malloc'ed copies in each series' pyro_labels_t, kept
 * in request order with any duplicates (label validation comes later).
 * The raw_profile bytes live in an arena owned by the request
 * (push->owner): protobuf-c unpacks the whole message into it, and the
 * JSON path decodes base64 into it.  pyro_push_free() releases it all.
 */


#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "pyro.h"
#include "push/v1/push.pb-c.h"


/* the Go type name connect-go puts in its unmarshal errors */
#define PYRO_PUSH_MSG      "unmarshal into *pushv1.PushRequest"

#define PYRO_ARENA_BLOCK   (64 * 1024)
#define PYRO_ARENA_ALIGN   16


typedef struct pyro_arena_blk_s  pyro_arena_blk_t;

struct pyro_arena_blk_s {
    pyro_arena_blk_t   *next;
    size_t              size;
    size_t              used;
};

/* the data of a block starts at this offset, suitably aligned */
#define PYRO_ARENA_HDR                                                       \
    ((sizeof(pyro_arena_blk_t) + PYRO_ARENA_ALIGN - 1)                       \
     & ~((size_t) PYRO_ARENA_ALIGN - 1))

typedef struct {
    pyro_arena_blk_t   *blocks;
    int                 failed;
} pyro_arena_t;


static void *pyro_arena_alloc(pyro_arena_t *a, size_t size);
static void pyro_arena_free(pyro_arena_t *a);
static void *pyro_push_pb_alloc(void *data, size_t size);
static void pyro_push_pb_free(void *data, void *p);
static int pyro_push_binary(const char *body, size_t len, pyro_push_t *push,
    pyro_arena_t *a, pyro_err_t *err);
static int pyro_push_pb_series(const Push__V1__RawProfileSeries *in,
    pyro_push_series_t *s);
static int pyro_push_json(const char *body, size_t len, pyro_push_t *push,
    pyro_arena_t *a, pyro_err_t *err);
static int pyro_push_json_request(json_t *root, pyro_push_t *push,
    pyro_arena_t *a, pyro_err_t *err);
static int pyro_push_json_series(json_t *obj, pyro_push_series_t *s,
    pyro_arena_t *a, pyro_err_t *err);
static int pyro_push_json_labels(json_t *obj, pyro_push_series_t *s,
    pyro_err_t *err);
static int pyro_push_json_samples(json_t *obj, pyro_push_series_t *s,
    pyro_arena_t *a, pyro_err_t *err);
static int pyro_push_json_annotations(json_t *obj, pyro_err_t *err);
static int pyro_push_json_field(json_t *obj, const char *name,
    const char *alt, json_t **val, pyro_err_t *err);
static int pyro_push_json_list(json_t *obj, const char *name,
    const char *alt, json_t **list, pyro_err_t *err);
static int pyro_push_json_string(json_t *obj, const char *name,
    const char *alt, pyro_str_t *val, pyro_err_t *err);
static int pyro_push_json_bytes(json_t *obj, pyro_arena_t *a,
    pyro_str_t *val, pyro_err_t *err);
static int pyro_base64_decode(const char *s, size_t n, unsigned char *out,
    size_t *outlen);
static int pyro_push_label(pyro_labels_t *ls, const char *name,
    size_t nlen, const char *value, size_t vlen);
static void pyro_push_nomem(pyro_err_t *err);
static int pyro_push_arena_str(pyro_arena_t *a, const pyro_str_t *src,
    pyro_str_t *dst);


int
pyro_push_decode(const char *body, size_t len, int json, pyro_push_t *push,
    pyro_err_t *err)
{
    int            rc;
    pyro_arena_t  *a;

    memset(push, 0, sizeof(pyro_push_t));

    a = calloc(1, sizeof(pyro_arena_t));
    if (a == NULL) {
        pyro_push_nomem(err);
        return PYRO_ERROR;
    }

    push->owner = a;

    if (json) {
        rc = pyro_push_json(body, len, push, a, err);

    } else {
        rc = pyro_push_binary(body, len, push, a, err);
    }

    if (rc != PYRO_OK) {
        pyro_push_free(push);
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


void
pyro_push_free(pyro_push_t *push)
{
    size_t  i;

    for (i = 0; i < push->nseries; i++) {
        pyro_labels_free(&push->series[i].labels);
        free(push->series[i].samples);
    }

    free(push->series);

    if (push->owner != NULL) {
        pyro_arena_free(push->owner);
        free(push->owner);
    }

    memset(push, 0, sizeof(pyro_push_t));
}


/*
 * A bump allocator: protobuf-c's many small allocations come from 64 KiB
 * blocks and are all released at once; a large one gets its own block,
 * linked behind the current block so that block keeps filling.
 */
static void *
pyro_arena_alloc(pyro_arena_t *a, size_t size)
{
    size_t             bsize;
    pyro_arena_blk_t  *b;

    if (size > SIZE_MAX - PYRO_ARENA_HDR - PYRO_ARENA_ALIGN) {
        a->failed = 1;
        return NULL;
    }

    size = (size + PYRO_ARENA_ALIGN - 1) & ~((size_t) PYRO_ARENA_ALIGN - 1);

    b = a->blocks;

    if (b != NULL && b->size - b->used >= size) {
        b->used += size;
        return (char *) b + PYRO_ARENA_HDR + b->used - size;
    }

    bsize = size > PYRO_ARENA_BLOCK / 4 ? size : PYRO_ARENA_BLOCK;

    b = malloc(PYRO_ARENA_HDR + bsize);
    if (b == NULL) {
        a->failed = 1;
        return NULL;
    }

    b->size = bsize;
    b->used = size;

    if (bsize == size && a->blocks != NULL) {
        b->next = a->blocks->next;
        a->blocks->next = b;

    } else {
        b->next = a->blocks;
        a->blocks = b;
    }

    return (char *) b + PYRO_ARENA_HDR;
}


static void
pyro_arena_free(pyro_arena_t *a)
{
    pyro_arena_blk_t  *b, *next;

    for (b = a->blocks; b != NULL; b = next) {
        next = b->next;
        free(b);
    }

    a->blocks = NULL;
}


static void *
pyro_push_pb_alloc(void *data, size_t size)
{
    return pyro_arena_alloc(data, size);
}


/* Memory goes back with the whole arena. */
static void
pyro_push_pb_free(void *data, void *p)
{
}


/*
 * The binary codec.  protobuf-c does not check UTF-8 in strings; like
 * upstream's vtproto codec, bad label bytes are left to label
 * validation.
 */
static int
pyro_push_binary(const char *body, size_t len, pyro_push_t *push,
    pyro_arena_t *a, pyro_err_t *err)
{
    size_t                  i;
    ProtobufCAllocator      pa;
    Push__V1__PushRequest  *req;

    pa.alloc = pyro_push_pb_alloc;
    pa.free = pyro_push_pb_free;
    pa.allocator_data = a;

    req = push__v1__push_request__unpack(&pa, len, (const uint8_t *) body);

    if (req == NULL) {
        if (a->failed) {
            pyro_push_nomem(err);
            return PYRO_ERROR;
        }

        pyro_err_invalid(err, PYRO_PUSH_MSG ": proto: cannot parse invalid "
                         "wire-format data");
        return PYRO_ERROR;
    }

    if (req->n_series == 0) {
        return PYRO_OK;
    }

    push->series = calloc(req->n_series, sizeof(pyro_push_series_t));
    if (push->series == NULL) {
        pyro_push_nomem(err);
        return PYRO_ERROR;
    }

    for (i = 0; i < req->n_series; i++) {
        push->nseries++;

        if (pyro_push_pb_series(req->series[i], &push->series[i])
            != PYRO_OK)
        {
            pyro_push_nomem(err);
            return PYRO_ERROR;
        }
    }

    return PYRO_OK;
}


/* The raw bytes stay in the unpacked message, inside the arena. */
static int
pyro_push_pb_series(const Push__V1__RawProfileSeries *in,
    pyro_push_series_t *s)
{
    size_t                       i;
    const Types__V1__LabelPair  *lp;
    const Push__V1__RawSample   *rs;

    for (i = 0; i < in->n_labels; i++) {
        lp = in->labels[i];

        if (pyro_push_label(&s->labels, lp->name, strlen(lp->name),
                            lp->value, strlen(lp->value))
            != PYRO_OK)
        {
            return PYRO_ERROR;
        }
    }

    if (in->n_samples == 0) {
        return PYRO_OK;
    }

    s->samples = calloc(in->n_samples, sizeof(pyro_push_sample_t));
    if (s->samples == NULL) {
        return PYRO_ERROR;
    }

    for (i = 0; i < in->n_samples; i++) {
        rs = in->samples[i];

        s->samples[i].raw.len = rs->raw_profile.len;
        s->samples[i].raw.data = (const char *) rs->raw_profile.data;
        s->samples[i].id.len = strlen(rs->id);
        s->samples[i].id.data = rs->id;
    }

    s->nsamples = in->n_samples;

    return PYRO_OK;
}


/*
 * The JSON codec.  Integers are read as reals so that a huge number in an
 * unknown field is not an error (protojson skips it); \u0000 is allowed
 * in strings, as in protojson, but not in labels (see below).
 */
static int
pyro_push_json(const char *body, size_t len, pyro_push_t *push,
    pyro_arena_t *a, pyro_err_t *err)
{
    int            rc;
    json_t        *root;
    json_error_t   jerr;

    if (len == 0) {
        pyro_err_invalid(err, PYRO_PUSH_MSG ": zero-length payload is not "
                         "a valid JSON object");
        return PYRO_ERROR;
    }

    root = json_loadb(body, len, JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL,
                      &jerr);

    if (root == NULL) {
        pyro_err_invalid(err, PYRO_PUSH_MSG ": syntax error (line %d:%d): "
                         "%s", jerr.line, jerr.column, jerr.text);
        return PYRO_ERROR;
    }

    rc = pyro_push_json_request(root, push, a, err);

    json_decref(root);

    return rc;
}


static int
pyro_push_json_request(json_t *root, pyro_push_t *push, pyro_arena_t *a,
    pyro_err_t *err)
{
    size_t   i, n;
    json_t  *list;

    if (!json_is_object(root)) {
        pyro_err_invalid(err, PYRO_PUSH_MSG ": expected a JSON object");
        return PYRO_ERROR;
    }

    if (pyro_push_json_list(root, "series", NULL, &list, err) != PYRO_OK) {
        return PYRO_ERROR;
    }

    n = json_array_size(list);

    if (n == 0) {
        return PYRO_OK;
    }

    push->series = calloc(n, sizeof(pyro_push_series_t));
    if (push->series == NULL) {
        pyro_push_nomem(err);
        return PYRO_ERROR;
    }

    for (i = 0; i < n; i++) {
        push->nseries++;

        if (pyro_push_json_series(json_array_get(list, i), &push->series[i],
                                  a, err)
            != PYRO_OK)
        {
            return PYRO_ERROR;
        }
    }

    return PYRO_OK;
}


/* A list element must be an object: protojson refuses null there. */
static int
pyro_push_json_series(json_t *obj, pyro_push_series_t *s, pyro_arena_t *a,
    pyro_err_t *err)
{
    if (!json_is_object(obj)) {
        pyro_err_invalid(err, PYRO_PUSH_MSG ": invalid value for "
                         "push.v1.RawProfileSeries in series: expected an "
                         "object");
        return PYRO_ERROR;
    }

    if (pyro_push_json_labels(obj, s, err) != PYRO_OK
        || pyro_push_json_samples(obj, s, a, err) != PYRO_OK
        || pyro_push_json_annotations(obj, err) != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


/*
 * Labels are C strings from here on, so a label with an embedded NUL
 * cannot be kept as sent: it is refused rather than cut short.
 */
static int
pyro_push_json_labels(json_t *obj, pyro_push_series_t *s, pyro_err_t *err)
{
    size_t       i, n;
    json_t      *list, *lp;
    pyro_str_t   name, value;

    if (pyro_push_json_list(obj, "labels", NULL, &list, err) != PYRO_OK) {
        return PYRO_ERROR;
    }

    n = json_array_size(list);

    for (i = 0; i < n; i++) {
        lp = json_array_get(list, i);

        if (!json_is_object(lp)) {
            pyro_err_invalid(err, PYRO_PUSH_MSG ": invalid value for "
                             "types.v1.LabelPair in labels: expected an "
                             "object");
            return PYRO_ERROR;
        }

        if (pyro_push_json_string(lp, "name", NULL, &name, err) != PYRO_OK
            || pyro_push_json_string(lp, "value", NULL, &value, err)
               != PYRO_OK)
        {
            return PYRO_ERROR;
        }

        if (memchr(name.data, '\0', name.len) != NULL
            || memchr(value.data, '\0', value.len) != NULL)
        {
            pyro_err_invalid(err, "invalid label: a label name or value "
                             "contains a NUL character");
            return PYRO_ERROR;
        }

        if (pyro_push_label(&s->labels, name.data, name.len, value.data,
                            value.len)
            != PYRO_OK)
        {
            pyro_push_nomem(err);
            return PYRO_ERROR;
        }
    }

    return PYRO_OK;
}


static int
pyro_push_json_samples(json_t *obj, pyro_push_series_t *s, pyro_arena_t *a,
    pyro_err_t *err)
{
    size_t       i, n;
    json_t      *list, *rs;
    pyro_str_t   id;

    if (pyro_push_json_list(obj, "samples", NULL, &list, err) != PYRO_OK) {
        return PYRO_ERROR;
    }

    n = json_array_size(list);

    if (n == 0) {
        return PYRO_OK;
    }

    s->samples = calloc(n, sizeof(pyro_push_sample_t));
    if (s->samples == NULL) {
        pyro_push_nomem(err);
        return PYRO_ERROR;
    }

    for (i = 0; i < n; i++) {
        rs = json_array_get(list, i);

        if (!json_is_object(rs)) {
            pyro_err_invalid(err, PYRO_PUSH_MSG ": invalid value for "
                             "push.v1.RawSample in samples: expected an "
                             "object");
            return PYRO_ERROR;
        }

        if (pyro_push_json_bytes(rs, a, &s->samples[i].raw, err) != PYRO_OK
            || pyro_push_json_string(rs, "ID", NULL, &id, err) != PYRO_OK)
        {
            return PYRO_ERROR;
        }

        /* the JSON tree is released after decoding: keep a copy */
        if (pyro_push_arena_str(a, &id, &s->samples[i].id) != PYRO_OK) {
            pyro_push_nomem(err);
            return PYRO_ERROR;
        }

        s->nsamples++;
    }

    return PYRO_OK;
}


/* Annotations are ignored (as upstream does), but must be well-typed. */
static int
pyro_push_json_annotations(json_t *obj, pyro_err_t *err)
{
    size_t       i, n;
    json_t      *list, *an;
    pyro_str_t   v;

    if (pyro_push_json_list(obj, "annotations", NULL, &list, err)
        != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    n = json_array_size(list);

    for (i = 0; i < n; i++) {
        an = json_array_get(list, i);

        if (!json_is_object(an)) {
            pyro_err_invalid(err, PYRO_PUSH_MSG ": invalid value for "
                             "types.v1.ProfileAnnotation in annotations: "
                             "expected an object");
            return PYRO_ERROR;
        }

        if (pyro_push_json_string(an, "key", NULL, &v, err) != PYRO_OK
            || pyro_push_json_string(an, "value", NULL, &v, err) != PYRO_OK)
        {
            return PYRO_ERROR;
        }
    }

    return PYRO_OK;
}


/*
 * Looks a field up by its JSON name or its proto name (alt, when they
 * differ); giving both is protojson's "duplicate field" error.  *val is
 * NULL for an absent field or a JSON null (the default value).
 */
static int
pyro_push_json_field(json_t *obj, const char *name, const char *alt,
    json_t **val, pyro_err_t *err)
{
    json_t  *v, *w;

    v = json_object_get(obj, name);
    w = alt ? json_object_get(obj, alt) : NULL;

    if (v != NULL && w != NULL) {
        pyro_err_invalid(err, PYRO_PUSH_MSG ": duplicate field \"%s\"",
                         alt);
        return PYRO_ERROR;
    }

    if (v == NULL) {
        v = w;
    }

    *val = json_is_null(v) ? NULL : v;

    return PYRO_OK;
}


/* A repeated field: *list is an array or NULL (empty). */
static int
pyro_push_json_list(json_t *obj, const char *name, const char *alt,
    json_t **list, pyro_err_t *err)
{
    if (pyro_push_json_field(obj, name, alt, list, err) != PYRO_OK) {
        return PYRO_ERROR;
    }

    if (*list != NULL && !json_is_array(*list)) {
        pyro_err_invalid(err, PYRO_PUSH_MSG ": invalid value for repeated "
                         "field %s: expected an array", name);
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


/* A string field; absent or null is "".  val points into obj. */
static int
pyro_push_json_string(json_t *obj, const char *name, const char *alt,
    pyro_str_t *val, pyro_err_t *err)
{
    json_t  *v;

    if (pyro_push_json_field(obj, name, alt, &v, err) != PYRO_OK) {
        return PYRO_ERROR;
    }

    if (v == NULL) {
        val->data = "";
        val->len = 0;
        return PYRO_OK;
    }

    if (!json_is_string(v)) {
        pyro_err_invalid(err, PYRO_PUSH_MSG ": invalid value for string "
                         "field %s: expected a string", name);
        return PYRO_ERROR;
    }

    val->data = json_string_value(v);
    val->len = json_string_length(v);

    return PYRO_OK;
}


/* rawProfile / raw_profile, base64-decoded into the arena. */
static int
pyro_push_json_bytes(json_t *obj, pyro_arena_t *a, pyro_str_t *val,
    pyro_err_t *err)
{
    size_t          n, len;
    json_t         *v;
    const char     *s;
    unsigned char  *out;

    if (pyro_push_json_field(obj, "rawProfile", "raw_profile", &v, err)
        != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    val->data = NULL;
    val->len = 0;

    if (v == NULL) {
        return PYRO_OK;
    }

    if (!json_is_string(v)) {
        pyro_err_invalid(err, PYRO_PUSH_MSG ": invalid value for bytes "
                         "field rawProfile: expected a base64 string");
        return PYRO_ERROR;
    }

    s = json_string_value(v);
    n = json_string_length(v);

    if (n == 0) {
        return PYRO_OK;
    }

    out = pyro_arena_alloc(a, n / 4 * 3 + 3);
    if (out == NULL) {
        pyro_push_nomem(err);
        return PYRO_ERROR;
    }

    if (pyro_base64_decode(s, n, out, &len) != PYRO_OK) {
        pyro_err_invalid(err, PYRO_PUSH_MSG ": invalid value for bytes "
                         "field rawProfile: illegal base64 data");
        return PYRO_ERROR;
    }

    val->data = (const char *) out;
    val->len = len;

    return PYRO_OK;
}


/*
 * Base64 as protojson reads bytes: the URL-safe alphabet if the text has
 * '-' or '_', else the standard one; padding is required when the length
 * is a multiple of 4 and not allowed otherwise; CR and LF are skipped
 * (Go's decoder ignores them); leftover bits need not be zero.
 */
static int
pyro_base64_decode(const char *s, size_t n, unsigned char *out,
    size_t *outlen)
{
    int             url, padded, pad;
    size_t          i, k, q;
    uint32_t        acc;
    unsigned char   c;
    signed char     d;

    url = memchr(s, '-', n) != NULL || memchr(s, '_', n) != NULL;
    padded = (n % 4 == 0);

    acc = 0;
    q = 0;          /* sextets in the current quantum */
    k = 0;
    pad = 0;

    for (i = 0; i < n; i++) {
        c = (unsigned char) s[i];

        if (c == '\r' || c == '\n') {
            continue;
        }

        if (pad) {
            /* after padding only the rest of the padding may follow */
            if (c != '=' || pad != 1 || q != 2) {
                return PYRO_ERROR;
            }

            pad = 2;
            continue;
        }

        if (c == '=') {
            if (!padded || q < 2) {
                return PYRO_ERROR;
            }

            pad = 1;
            continue;
        }

        if (c >= 'A' && c <= 'Z') {
            d = (signed char) (c - 'A');

        } else if (c >= 'a' && c <= 'z') {
            d = (signed char) (c - 'a' + 26);

        } else if (c >= '0' && c <= '9') {
            d = (signed char) (c - '0' + 52);

        } else if (c == (url ? '-' : '+')) {
            d = 62;

        } else if (c == (url ? '_' : '/')) {
            d = 63;

        } else {
            return PYRO_ERROR;
        }

        acc = (acc << 6) | (uint32_t) d;

        if (++q == 4) {
            out[k++] = (unsigned char) (acc >> 16);
            out[k++] = (unsigned char) (acc >> 8);
            out[k++] = (unsigned char) acc;
            acc = 0;
            q = 0;
        }
    }

    /* "xx==" and "xxx=" end a padded text; a raw text may end in 2 or 3 */
    if (pad) {
        if ((q == 2 && pad != 2) || (q == 3 && pad != 1)) {
            return PYRO_ERROR;
        }

    } else if (q == 1 || (padded && q != 0)) {
        return PYRO_ERROR;
    }

    if (q == 2) {
        out[k++] = (unsigned char) (acc >> 4);

    } else if (q == 3) {
        out[k++] = (unsigned char) (acc >> 10);
        out[k++] = (unsigned char) (acc >> 2);
    }

    *outlen = k;

    return PYRO_OK;
}


/* Appends a label without looking for an existing name. */
static int
pyro_push_label(pyro_labels_t *ls, const char *name, size_t nlen,
    const char *value, size_t vlen)
{
    char          *n, *v;
    size_t         cap;
    pyro_label_t  *nv;

    if (ls->n == ls->cap) {
        cap = ls->cap ? ls->cap * 2 : 8;

        nv = realloc(ls->v, cap * sizeof(pyro_label_t));
        if (nv == NULL) {
            return PYRO_ERROR;
        }

        ls->v = nv;
        ls->cap = cap;
    }

    n = malloc(nlen + 1);
    v = malloc(vlen + 1);

    if (n == NULL || v == NULL) {
        free(n);
        free(v);
        return PYRO_ERROR;
    }

    memcpy(n, name, nlen);
    n[nlen] = '\0';
    memcpy(v, value, vlen);
    v[vlen] = '\0';

    ls->v[ls->n].name = n;
    ls->v[ls->n].value = v;
    ls->n++;

    return PYRO_OK;
}


static void
pyro_push_nomem(pyro_err_t *err)
{
    pyro_err_internal(err, "out of memory");
}


static int
pyro_push_arena_str(pyro_arena_t *a, const pyro_str_t *src, pyro_str_t *dst)
{
    char  *p;

    p = pyro_arena_alloc(a, src->len + 1);
    if (p == NULL) {
        return PYRO_ERROR;
    }

    if (src->len) {
        memcpy(p, src->data, src->len);
    }

    p[src->len] = '\0';
    dst->len = src->len;
    dst->data = p;

    return PYRO_OK;
}

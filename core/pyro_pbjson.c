
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * protojson over protobuf-c descriptors, with the rules connect-go's JSON
 * codec applies (protojson defaults on output; DiscardUnknown on input).
 *
 * Encoding writes straight into a pyro_buf_t, fields in descriptor order
 * (protoc-c sorts them by number; our .proto files declare them in that
 * order too, which is protojson's order).  Decoding reads the document
 * with jansson and builds the message with malloc'ed parts laid out as
 * protobuf-c's default allocator would, so the caller frees it with
 * protobuf_c_message_free_unpacked(msg, NULL).
 *
 * A message being decoded is kept consistent at every step (a repeated
 * field's count covers only filled slots, a oneof case is set before its
 * member is filled), so on any error the partial message is freed the
 * same way.
 */


#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "pyro.h"


/* nesting of messages in a request; protojson allows far more, but no
 * query request legitimately nests beyond a few levels */
#define PYRO_PBJSON_DEPTH      64

/* how much of a bad string value an error message quotes */
#define PYRO_PBJSON_RAW_MAX    128


typedef struct {
    /* the Go type connect-go names in its errors, e.g.
     * "querierv1.SelectMergeStacktracesRequest" */
    char             type[128];
    pyro_err_t      *err;
    unsigned         depth;
} pyro_pbjson_dec_t;


static void pyro_pbjson_put_msg(const ProtobufCMessage *msg,
    pyro_buf_t *out);
static int pyro_pbjson_present(const ProtobufCMessage *msg,
    const ProtobufCFieldDescriptor *f);
static int pyro_pbjson_is_zero(const ProtobufCFieldDescriptor *f,
    const void *p);
static void pyro_pbjson_put_name(const char *name, pyro_buf_t *out);
static void pyro_pbjson_put_json_name(const char *name, pyro_buf_t *out);
static void pyro_pbjson_put_list(const ProtobufCMessage *msg,
    const ProtobufCFieldDescriptor *f, pyro_buf_t *out);
static void pyro_pbjson_put_value(const ProtobufCFieldDescriptor *f,
    const void *p, pyro_buf_t *out);
static void pyro_pbjson_put_enum(const ProtobufCFieldDescriptor *f,
    int32_t v, pyro_buf_t *out);
static void pyro_pbjson_put_float(double v, int bits, pyro_buf_t *out);
static void pyro_pbjson_put_digits(int neg, const char *dig, size_t nd,
    int exp, int sci, pyro_buf_t *out);
static void pyro_pbjson_put_string(const char *s, size_t n,
    pyro_buf_t *out);
static void pyro_pbjson_put_base64(const uint8_t *p, size_t n,
    pyro_buf_t *out);
static size_t pyro_pbjson_elt_size(ProtobufCType type);

static void pyro_pbjson_dec_init(pyro_pbjson_dec_t *dc,
    const ProtobufCMessageDescriptor *d, pyro_err_t *err);
static ProtobufCMessage *pyro_pbjson_new(const ProtobufCMessageDescriptor *d);
static int pyro_pbjson_dec_msg(pyro_pbjson_dec_t *dc, json_t *obj,
    ProtobufCMessage *m);
static int pyro_pbjson_dec_key(pyro_pbjson_dec_t *dc, json_t *obj,
    ProtobufCMessage *m, const char *key, size_t klen, json_t *v);
static const ProtobufCFieldDescriptor *pyro_pbjson_field(
    const ProtobufCMessageDescriptor *d, const char *key, size_t klen,
    int *by_json);
static int pyro_pbjson_json_name_eq(const char *name, const char *key,
    size_t klen);
static int pyro_pbjson_dec_field(pyro_pbjson_dec_t *dc, ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f, json_t *v);
static int pyro_pbjson_dec_list(pyro_pbjson_dec_t *dc, ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f, json_t *v);
static int pyro_pbjson_dec_value(pyro_pbjson_dec_t *dc,
    const ProtobufCFieldDescriptor *f, json_t *v, void *p);
static int pyro_pbjson_dec_submsg(pyro_pbjson_dec_t *dc,
    const ProtobufCFieldDescriptor *f, json_t *v, void *p);
static int pyro_pbjson_dec_string(pyro_pbjson_dec_t *dc,
    const ProtobufCFieldDescriptor *f, json_t *v, void *p);
static int pyro_pbjson_dec_bytes(pyro_pbjson_dec_t *dc,
    const ProtobufCFieldDescriptor *f, json_t *v, void *p);
static int pyro_pbjson_dec_enum(pyro_pbjson_dec_t *dc,
    const ProtobufCFieldDescriptor *f, json_t *v, void *p);
static int pyro_pbjson_dec_float(pyro_pbjson_dec_t *dc,
    const ProtobufCFieldDescriptor *f, json_t *v, void *p);
static int pyro_pbjson_dec_int(pyro_pbjson_dec_t *dc,
    const ProtobufCFieldDescriptor *f, json_t *v, void *p);
static int pyro_pbjson_get_int(json_t *v, int *neg, uint64_t *mag);
static int pyro_pbjson_get_float(json_t *v, double *d);
static int pyro_pbjson_num_check(const char *s, size_t n);
static int pyro_pbjson_num_int(const char *s, size_t n, int *neg,
    uint64_t *mag);
static uint64_t pyro_pbjson_digit(const char *ip, size_t il, const char *fp,
    size_t k);
static int pyro_pbjson_unbase64(const char *s, size_t n, uint8_t *out,
    size_t *outlen);
static int pyro_pbjson_b64_val(unsigned char c, int url);
static int pyro_pbjson_invalid(pyro_pbjson_dec_t *dc,
    const ProtobufCFieldDescriptor *f, json_t *v);
static int pyro_pbjson_unexpected(pyro_pbjson_dec_t *dc, json_t *v);
static void pyro_pbjson_raw(json_t *v, char *buf, size_t size);
static void pyro_pbjson_raw_string(const char *s, size_t n, pyro_buf_t *b);
static int pyro_pbjson_fail(pyro_pbjson_dec_t *dc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static int pyro_pbjson_nomem(pyro_pbjson_dec_t *dc);


/* protoreflect.Kind names, as protojson puts them in its errors */
static const char  *pyro_pbjson_kinds[] = {
    "int32", "sint32", "sfixed32", "int64", "sint64", "sfixed64",
    "uint32", "fixed32", "uint64", "fixed64", "float", "double", "bool",
    "enum", "string", "bytes", "message"
};


void
pyro_pbjson_encode(const ProtobufCMessage *msg, pyro_buf_t *out)
{
    pyro_pbjson_put_msg(msg, out);
}


static void
pyro_pbjson_put_msg(const ProtobufCMessage *msg, pyro_buf_t *out)
{
    int                                first;
    unsigned                           i;
    const ProtobufCFieldDescriptor    *f;
    const ProtobufCMessageDescriptor  *d;

    d = msg->descriptor;
    first = 1;

    pyro_buf_putc(out, '{');

    for (i = 0; i < d->n_fields; i++) {
        f = &d->fields[i];

        if (!pyro_pbjson_present(msg, f)) {
            continue;
        }

        if (!first) {
            pyro_buf_putc(out, ',');
        }

        first = 0;

        pyro_pbjson_put_name(f->name, out);

        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            pyro_pbjson_put_list(msg, f, out);

        } else {
            pyro_pbjson_put_value(f, (const char *) msg + f->offset, out);
        }
    }

    pyro_buf_putc(out, '}');
}


/*
 * Whether protojson emits a field: a oneof member (our proto3 "optional"
 * scalars among them) when its case is set, even if zero; a repeated
 * field when not empty; a proto3 singular field when not zero.
 */
static int
pyro_pbjson_present(const ProtobufCMessage *msg,
    const ProtobufCFieldDescriptor *f)
{
    const char  *q, *p;

    q = (const char *) msg + f->quantifier_offset;
    p = (const char *) msg + f->offset;

    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        return *(const uint32_t *) q == f->id
               && (f->type != PROTOBUF_C_TYPE_MESSAGE
                   || *(ProtobufCMessage *const *) p != NULL);
    }

    switch (f->label) {

    case PROTOBUF_C_LABEL_REPEATED:
        return *(const size_t *) q != 0;

    case PROTOBUF_C_LABEL_REQUIRED:
        return 1;

    case PROTOBUF_C_LABEL_OPTIONAL:
        if (f->type == PROTOBUF_C_TYPE_STRING
            || f->type == PROTOBUF_C_TYPE_MESSAGE)
        {
            return *(const void *const *) p != NULL;
        }

        return *(const protobuf_c_boolean *) q;

    default:
        return !pyro_pbjson_is_zero(f, p);
    }
}


/* Zero by bits, as protobuf-go's "has" for implicit presence: -0.0 is
 * not zero. */
static int
pyro_pbjson_is_zero(const ProtobufCFieldDescriptor *f, const void *p)
{
    const char                 *s;
    const ProtobufCBinaryData  *bd;

    switch (f->type) {

    case PROTOBUF_C_TYPE_STRING:
        s = *(const char *const *) p;
        return s == NULL || s[0] == '\0';

    case PROTOBUF_C_TYPE_BYTES:
        bd = p;
        return bd->len == 0;

    case PROTOBUF_C_TYPE_MESSAGE:
        return *(const void *const *) p == NULL;

    default:
        break;
    }

    if (pyro_pbjson_elt_size(f->type) == 8) {
        return *(const uint64_t *) p == 0;
    }

    return *(const uint32_t *) p == 0;
}


static void
pyro_pbjson_put_name(const char *name, pyro_buf_t *out)
{
    pyro_buf_putc(out, '"');
    pyro_pbjson_put_json_name(name, out);
    pyro_buf_puts(out, "\":");
}


/* The JSON name (protoc's rule: drop each '_', uppercase what follows). */
static void
pyro_pbjson_put_json_name(const char *name, pyro_buf_t *out)
{
    int   up;
    char  c;

    up = 0;

    for ( /* void */ ; *name != '\0'; name++) {
        c = *name;

        if (c == '_') {
            up = 1;
            continue;
        }

        if (up && c >= 'a' && c <= 'z') {
            c = (char) (c - 'a' + 'A');
        }

        up = 0;
        pyro_buf_putc(out, c);
    }
}


static void
pyro_pbjson_put_list(const ProtobufCMessage *msg,
    const ProtobufCFieldDescriptor *f, pyro_buf_t *out)
{
    size_t       i, n, size;
    const char  *arr;

    n = *(const size_t *) ((const char *) msg + f->quantifier_offset);
    arr = *(const char *const *) ((const char *) msg + f->offset);
    size = pyro_pbjson_elt_size(f->type);

    pyro_buf_putc(out, '[');

    for (i = 0; i < n; i++) {
        if (i != 0) {
            pyro_buf_putc(out, ',');
        }

        pyro_pbjson_put_value(f, arr + i * size, out);
    }

    pyro_buf_putc(out, ']');
}


/* One value of field f stored at p (a repeated field's element too). */
static void
pyro_pbjson_put_value(const ProtobufCFieldDescriptor *f, const void *p,
    pyro_buf_t *out)
{
    const char                 *s;
    const ProtobufCMessage     *m;
    const ProtobufCBinaryData  *bd;

    switch (f->type) {

    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        pyro_buf_printf(out, "%" PRId32, *(const int32_t *) p);
        break;

    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        pyro_buf_printf(out, "%" PRIu32, *(const uint32_t *) p);
        break;

    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        pyro_buf_printf(out, "\"%" PRId64 "\"", *(const int64_t *) p);
        break;

    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        pyro_buf_printf(out, "\"%" PRIu64 "\"", *(const uint64_t *) p);
        break;

    case PROTOBUF_C_TYPE_FLOAT:
        pyro_pbjson_put_float(*(const float *) p, 32, out);
        break;

    case PROTOBUF_C_TYPE_DOUBLE:
        pyro_pbjson_put_float(*(const double *) p, 64, out);
        break;

    case PROTOBUF_C_TYPE_BOOL:
        pyro_buf_puts(out, *(const protobuf_c_boolean *) p ? "true"
                                                             : "false");
        break;

    case PROTOBUF_C_TYPE_ENUM:
        pyro_pbjson_put_enum(f, *(const int32_t *) p, out);
        break;

    case PROTOBUF_C_TYPE_STRING:
        s = *(const char *const *) p;
        pyro_pbjson_put_string(s ? s : "", s ? strlen(s) : 0, out);
        break;

    case PROTOBUF_C_TYPE_BYTES:
        bd = p;
        pyro_pbjson_put_base64(bd->data, bd->len, out);
        break;

    default: /* PROTOBUF_C_TYPE_MESSAGE */
        m = *(const ProtobufCMessage *const *) p;

        if (m == NULL) {
            /* only a repeated field can hold a NULL; keep the count */
            pyro_buf_puts(out, "{}");
            break;
        }

        pyro_pbjson_put_msg(m, out);
        break;
    }
}


/* The value's name; a number protojson cannot name is written as is. */
static void
pyro_pbjson_put_enum(const ProtobufCFieldDescriptor *f, int32_t v,
    pyro_buf_t *out)
{
    const ProtobufCEnumValue  *ev;

    ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);

    if (ev == NULL) {
        pyro_buf_printf(out, "%" PRId32, v);
        return;
    }

    pyro_buf_putc(out, '"');
    pyro_buf_puts(out, ev->name);
    pyro_buf_putc(out, '"');
}


/*
 * protojson's float format: the shortest decimal that reads back to the
 * same value (for float fields, as a float), in plain notation unless
 * the magnitude is below 1e-6 or at least 1e21; an exponent has a sign
 * and at least two digits, except that a negative one loses its leading
 * zero ("1e-7", "1e+21").
 */
static void
pyro_pbjson_put_float(double v, int bits, pyro_buf_t *out)
{
    int          prec, exp, sci;
    char         tmp[40], dig[24];
    double       a;
    size_t       nd;
    const char  *p;

    if (isnan(v)) {
        pyro_buf_puts(out, "\"NaN\"");
        return;
    }

    if (isinf(v)) {
        pyro_buf_puts(out, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        return;
    }

    for (prec = 1; /* void */ ; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);

        if (prec == 17
            || (bits == 32 ? strtof(tmp, NULL) == (float) v
                           : strtod(tmp, NULL) == v))
        {
            break;
        }
    }

    /* tmp is "[-]d[.ddd]e[+-]dd": collect the digits and the exponent */
    nd = 0;

    for (p = tmp; *p != 'e'; p++) {
        if (*p >= '0' && *p <= '9') {
            dig[nd++] = *p;
        }
    }

    exp = (int) strtol(p + 1, NULL, 10);

    a = fabs(v);
    sci = 0;

    if (a != 0) {
        if (bits == 64) {
            sci = a < 1e-6 || a >= 1e21;

        } else {
            sci = (float) a < 1e-6f || (float) a >= 1e21f;
        }
    }

    pyro_pbjson_put_digits(signbit(v) != 0, dig, nd, exp, sci, out);
}


/* Lays out digits d[0].d[1..] x 10^exp in plain or "e" notation. */
static void
pyro_pbjson_put_digits(int neg, const char *dig, size_t nd, int exp,
    int sci, pyro_buf_t *out)
{
    int  i;

    if (neg) {
        pyro_buf_putc(out, '-');
    }

    if (sci) {
        pyro_buf_putc(out, dig[0]);

        if (nd > 1) {
            pyro_buf_putc(out, '.');
            pyro_buf_append(out, dig + 1, nd - 1);
        }

        pyro_buf_printf(out, exp < 0 ? "e-%d" : "e+%02d", abs(exp));
        return;
    }

    if (exp >= (int) nd - 1) {
        pyro_buf_append(out, dig, nd);

        for (i = (int) nd - 1; i < exp; i++) {
            pyro_buf_putc(out, '0');
        }

        return;
    }

    if (exp >= 0) {
        pyro_buf_append(out, dig, exp + 1);
        pyro_buf_putc(out, '.');
        pyro_buf_append(out, dig + exp + 1, nd - exp - 1);
        return;
    }

    pyro_buf_puts(out, "0.");

    for (i = -1; i > exp; i--) {
        pyro_buf_putc(out, '0');
    }

    pyro_buf_append(out, dig, nd);
}


/*
 * A string as protojson writes it: only '"', '\\', control characters
 * and DEL are escaped (\b \f \n \r \t or \u00xx); everything else is
 * copied.  protojson refuses to encode invalid UTF-8; here each bad byte
 * becomes U+FFFD so a response is always written.
 */
static void
pyro_pbjson_put_string(const char *s, size_t n, pyro_buf_t *out)
{
    size_t    i, k;
    uint32_t  r;

    pyro_buf_putc(out, '"');

    for (i = 0; i < n; i += k) {
        k = pyro_utf8_decode(s + i, n - i, &r);

        switch (r) {
        case '"':
            pyro_buf_puts(out, "\\\"");
            break;
        case '\\':
            pyro_buf_puts(out, "\\\\");
            break;
        case '\b':
            pyro_buf_puts(out, "\\b");
            break;
        case '\f':
            pyro_buf_puts(out, "\\f");
            break;
        case '\n':
            pyro_buf_puts(out, "\\n");
            break;
        case '\r':
            pyro_buf_puts(out, "\\r");
            break;
        case '\t':
            pyro_buf_puts(out, "\\t");
            break;
        default:
            if (r < 0x20 || r == 0x7f) {
                pyro_buf_printf(out, "\\u%04x", (unsigned) r);

            } else if (r == 0xfffd && k == 1) {
                pyro_buf_put_rune(out, r);

            } else {
                pyro_buf_append(out, s + i, k);
            }
        }
    }

    pyro_buf_putc(out, '"');
}


/* Standard alphabet, padded, in quotes. */
static void
pyro_pbjson_put_base64(const uint8_t *p, size_t n, pyro_buf_t *out)
{
    char               q[4];
    size_t             i;
    uint32_t           v;
    static const char  b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "abcdefghijklmnopqrstuvwxyz0123456789+/";

    pyro_buf_putc(out, '"');

    for (i = 0; i + 3 <= n; i += 3) {
        v = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8 | p[i + 2];

        q[0] = b64[v >> 18];
        q[1] = b64[(v >> 12) & 0x3f];
        q[2] = b64[(v >> 6) & 0x3f];
        q[3] = b64[v & 0x3f];

        pyro_buf_append(out, q, 4);
    }

    if (i < n) {
        v = (uint32_t) p[i] << 16;

        if (i + 1 < n) {
            v |= (uint32_t) p[i + 1] << 8;
        }

        q[0] = b64[v >> 18];
        q[1] = b64[(v >> 12) & 0x3f];
        q[2] = (i + 1 < n) ? b64[(v >> 6) & 0x3f] : '=';
        q[3] = '=';

        pyro_buf_append(out, q, 4);
    }

    pyro_buf_putc(out, '"');
}


/* The size of one element of a repeated field, as protobuf-c stores it. */
static size_t
pyro_pbjson_elt_size(ProtobufCType type)
{
    switch (type) {

    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;

    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);

    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);

    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);

    default:
        /* 32-bit numbers, float, enum and protobuf_c_boolean (an int) */
        return 4;
    }
}


ProtobufCMessage *
pyro_pbjson_decode(const ProtobufCMessageDescriptor *d, const char *json,
    size_t len, pyro_err_t *err)
{
    json_t             *root;
    json_error_t        jerr;
    ProtobufCMessage   *m;
    pyro_pbjson_dec_t   dc;

    pyro_pbjson_dec_init(&dc, d, err);

    if (len == 0) {
        /* connect-go's own check, before protojson */
        pyro_err_invalid(err, "unmarshal into *%s: zero-length payload is "
                         "not a valid JSON object", dc.type);
        return NULL;
    }

    /*
     * Integers stay integers (jansson keeps them as long long), so an
     * int64 given as a number is exact.  \u0000 is allowed in the
     * document (protojson allows it) and refused in fields kept as C
     * strings.  A key given twice is protojson's "duplicate field".
     */
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                      &jerr);

    if (root == NULL) {
        pyro_pbjson_fail(&dc, "syntax error (line %d:%d): %s", jerr.line,
                         jerr.column, jerr.text);
        return NULL;
    }

    m = pyro_pbjson_new(d);

    if (m == NULL) {
        pyro_pbjson_nomem(&dc);

    } else if (pyro_pbjson_dec_msg(&dc, root, m) != PYRO_OK) {
        protobuf_c_message_free_unpacked(m, NULL);
        m = NULL;
    }

    json_decref(root);

    return m;
}


/* The Go type name: package without dots, nested names joined by '_'. */
static void
pyro_pbjson_dec_init(pyro_pbjson_dec_t *dc,
    const ProtobufCMessageDescriptor *d, pyro_err_t *err)
{
    size_t       i, plen;
    const char  *p;

    dc->err = err;
    dc->depth = 0;

    i = 0;
    plen = strlen(d->package_name);

    for (p = d->package_name; *p != '\0' && i < sizeof(dc->type) - 2; p++) {
        if (*p != '.') {
            dc->type[i++] = *p;
        }
    }

    dc->type[i++] = '.';

    p = d->name;

    if (plen != 0 && strncmp(p, d->package_name, plen) == 0
        && p[plen] == '.')
    {
        p += plen + 1;
    }

    for ( /* void */ ; *p != '\0' && i < sizeof(dc->type) - 1; p++) {
        dc->type[i++] = (*p == '.') ? '_' : *p;
    }

    dc->type[i] = '\0';
}


/* A message with its defaults, from malloc() as protobuf-c's default
 * allocator would give it. */
static ProtobufCMessage *
pyro_pbjson_new(const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage  *m;

    m = malloc(d->sizeof_message);
    if (m == NULL) {
        return NULL;
    }

    protobuf_c_message_init(d, m);

    return m;
}


static int
pyro_pbjson_dec_msg(pyro_pbjson_dec_t *dc, json_t *obj, ProtobufCMessage *m)
{
    int          rc;
    size_t       klen;
    json_t      *v;
    const char  *key;

    if (!json_is_object(obj)) {
        return pyro_pbjson_unexpected(dc, obj);
    }

    if (dc->depth >= PYRO_PBJSON_DEPTH) {
        return pyro_pbjson_fail(dc, "exceeded max recursion depth");
    }

    dc->depth++;
    rc = PYRO_OK;

    json_object_keylen_foreach(obj, key, klen, v) {
        rc = pyro_pbjson_dec_key(dc, obj, m, key, klen, v);
        if (rc != PYRO_OK) {
            break;
        }
    }

    dc->depth--;

    return rc;
}


/*
 * One member of an object: an unknown name is skipped (DiscardUnknown);
 * a field given under both its JSON and its proto name is a duplicate;
 * null leaves the field at its default.
 */
static int
pyro_pbjson_dec_key(pyro_pbjson_dec_t *dc, json_t *obj, ProtobufCMessage *m,
    const char *key, size_t klen, json_t *v)
{
    int                              by_json;
    const ProtobufCFieldDescriptor  *f;

    f = pyro_pbjson_field(m->descriptor, key, klen, &by_json);

    if (f == NULL) {
        return PYRO_OK;
    }

    if (by_json
        && (strlen(f->name) != klen || memcmp(f->name, key, klen) != 0)
        && json_object_get(obj, f->name) != NULL)
    {
        return pyro_pbjson_fail(dc, "duplicate field \"%.*s\"", (int) klen,
                                key);
    }

    if (json_is_null(v)) {
        return PYRO_OK;
    }

    return pyro_pbjson_dec_field(dc, m, f, v);
}


/* By JSON name first, then by proto name, as protojson looks fields up. */
static const ProtobufCFieldDescriptor *
pyro_pbjson_field(const ProtobufCMessageDescriptor *d, const char *key,
    size_t klen, int *by_json)
{
    unsigned  i;

    *by_json = 1;

    for (i = 0; i < d->n_fields; i++) {
        if (pyro_pbjson_json_name_eq(d->fields[i].name, key, klen)) {
            return &d->fields[i];
        }
    }

    *by_json = 0;

    if (memchr(key, '\0', klen) != NULL) {
        return NULL;
    }

    return protobuf_c_message_descriptor_get_field_by_name(d, key);
}


static int
pyro_pbjson_json_name_eq(const char *name, const char *key, size_t klen)
{
    int     up;
    char    c;
    size_t  i;

    up = 0;
    i = 0;

    for ( /* void */ ; *name != '\0'; name++) {
        c = *name;

        if (c == '_') {
            up = 1;
            continue;
        }

        if (up && c >= 'a' && c <= 'z') {
            c = (char) (c - 'a' + 'A');
        }

        up = 0;

        if (i == klen || key[i] != c) {
            return 0;
        }

        i++;
    }

    return i == klen;
}


/*
 * A singular field.  A oneof member's case is set before the value is
 * read, so a member half filled on error is still freed; a second member
 * of the same oneof is protojson's "already set" error.
 */
static int
pyro_pbjson_dec_field(pyro_pbjson_dec_t *dc, ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f, json_t *v)
{
    int        rc;
    char      *q;
    uint32_t  *oneof;

    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        return pyro_pbjson_dec_list(dc, m, f, v);
    }

    q = (char *) m + f->quantifier_offset;
    oneof = NULL;

    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        oneof = (uint32_t *) q;

        if (*oneof != 0) {
            return pyro_pbjson_fail(dc, "error parsing \"%s\", oneof is "
                                    "already set", f->name);
        }

        *oneof = f->id;
    }

    rc = pyro_pbjson_dec_value(dc, f, v, (char *) m + f->offset);

    if (rc == PYRO_ERROR) {
        return PYRO_ERROR;
    }

    if (rc == PYRO_DECLINED) {
        /* an unknown enum name: the field stays unset */
        if (oneof != NULL) {
            *oneof = 0;
        }

        return PYRO_OK;
    }

    if (oneof == NULL && f->label == PROTOBUF_C_LABEL_OPTIONAL
        && f->type != PROTOBUF_C_TYPE_STRING
        && f->type != PROTOBUF_C_TYPE_MESSAGE)
    {
        *(protobuf_c_boolean *) q = 1;
    }

    return PYRO_OK;
}


/*
 * A repeated field: a JSON array whose elements may not be null.  The
 * count grows with each filled slot (the array is zeroed), so an error
 * half way leaves a message protobuf-c can free.
 */
static int
pyro_pbjson_dec_list(pyro_pbjson_dec_t *dc, ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f, json_t *v)
{
    int      rc;
    char    *arr, **field;
    size_t   i, k, n, size, *count;

    if (!json_is_array(v)) {
        return pyro_pbjson_unexpected(dc, v);
    }

    n = json_array_size(v);

    if (n == 0) {
        return PYRO_OK;
    }

    size = pyro_pbjson_elt_size(f->type);

    arr = calloc(n, size);
    if (arr == NULL) {
        return pyro_pbjson_nomem(dc);
    }

    field = (char **) ((char *) m + f->offset);
    count = (size_t *) ((char *) m + f->quantifier_offset);

    *field = arr;
    *count = 0;

    for (i = 0, k = 0; i < n; i++) {
        *count = k + 1;

        rc = pyro_pbjson_dec_value(dc, f, json_array_get(v, i),
                                   arr + k * size);

        if (rc == PYRO_ERROR) {
            return PYRO_ERROR;
        }

        if (rc == PYRO_OK) {
            k++;
        }

        *count = k;
    }

    if (k == 0) {
        free(arr);
        *field = NULL;
    }

    return PYRO_OK;
}


/* One value into p; PYRO_DECLINED for an enum name not in the enum. */
static int
pyro_pbjson_dec_value(pyro_pbjson_dec_t *dc,
    const ProtobufCFieldDescriptor *f, json_t *v, void *p)
{
    switch (f->type) {

    case PROTOBUF_C_TYPE_MESSAGE:
        return pyro_pbjson_dec_submsg(dc, f, v, p);

    case PROTOBUF_C_TYPE_STRING:
        return pyro_pbjson_dec_string(dc, f, v, p);

    case PROTOBUF_C_TYPE_BYTES:
        return pyro_pbjson_dec_bytes(dc, f, v, p);

    case PROTOBUF_C_TYPE_ENUM:
        return pyro_pbjson_dec_enum(dc, f, v, p);

    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v)) {
            return pyro_pbjson_invalid(dc, f, v);
        }

        *(protobuf_c_boolean *) p = json_is_true(v);
        return PYRO_OK;

    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        return pyro_pbjson_dec_float(dc, f, v, p);

    default:
        return pyro_pbjson_dec_int(dc, f, v, p);
    }
}


/* The sub-message is attached before it is filled: the parent owns it. */
static int
pyro_pbjson_dec_submsg(pyro_pbjson_dec_t *dc,
    const ProtobufCFieldDescriptor *f, json_t *v, void *p)
{
    ProtobufCMessage  *sub;

    if (!json_is_object(v)) {
        return pyro_pbjson_unexpected(dc, v);
    }

    sub = pyro_pbjson_new(f->descriptor);
    if (sub == NULL) {
        return pyro_pbjson_nomem(dc);
    }

    *(ProtobufCMessage **) p = sub;

    return pyro_pbjson_dec_msg(dc, v, sub);
}


/* A malloc'ed copy; a C string cannot hold \u0000, so that is refused
 * rather than cut short. */
static int
pyro_pbjson_dec_string(pyro_pbjson_dec_t *dc,
    const ProtobufCFieldDescriptor *f, json_t *v, void *p)
{
    char        *s;
    size_t       n;
    const char  *src;

    if (!json_is_string(v)) {
        return pyro_pbjson_invalid(dc, f, v);
    }

    src = json_string_value(v);
    n = json_string_length(v);

    if (memchr(src, '\0', n) != NULL) {
        return pyro_pbjson_invalid(dc, f, v);
    }

    s = malloc(n + 1);
    if (s == NULL) {
        return pyro_pbjson_nomem(dc);
    }

    memcpy(s, src, n + 1);
    *(char **) p = s;

    return PYRO_OK;
}


static int
pyro_pbjson_dec_bytes(pyro_pbjson_dec_t *dc,
    const ProtobufCFieldDescriptor *f, json_t *v, void *p)
{
    size_t                n, len;
    uint8_t              *out;
    const char           *s;
    ProtobufCBinaryData  *bd;

    if (!json_is_string(v)) {
        return pyro_pbjson_invalid(dc, f, v);
    }

    s = json_string_value(v);
    n = json_string_length(v);
    bd = p;

    if (n == 0) {
        return PYRO_OK;
    }

    out = malloc(n / 4 * 3 + 3);
    if (out == NULL) {
        return pyro_pbjson_nomem(dc);
    }

    if (pyro_pbjson_unbase64(s, n, out, &len) != PYRO_OK) {
        free(out);
        return pyro_pbjson_invalid(dc, f, v);
    }

    if (len == 0) {
        free(out);
        return PYRO_OK;
    }

    bd->data = out;
    bd->len = len;

    return PYRO_OK;
}


/*
 * A name (an unknown one is dropped, as protojson does with
 * DiscardUnknown) or an int32 number; enums are open, so any number is
 * kept.
 */
static int
pyro_pbjson_dec_enum(pyro_pbjson_dec_t *dc,
    const ProtobufCFieldDescriptor *f, json_t *v, void *p)
{
    int                        neg;
    uint64_t                   mag;
    const ProtobufCEnumValue  *ev;

    if (json_is_string(v)) {
        if (memchr(json_string_value(v), '\0', json_string_length(v))
            != NULL)
        {
            return PYRO_DECLINED;
        }

        ev = protobuf_c_enum_descriptor_get_value_by_name(f->descriptor,
                                                    json_string_value(v));
        if (ev == NULL) {
            return PYRO_DECLINED;
        }

        *(int32_t *) p = ev->value;
        return PYRO_OK;
    }

    if (!json_is_number(v) || pyro_pbjson_get_int(v, &neg, &mag) != PYRO_OK
        || mag > (neg ? 0x80000000u : 0x7fffffffu))
    {
        return pyro_pbjson_invalid(dc, f, v);
    }

    *(int32_t *) p = (int32_t) (neg ? -(int64_t) mag : (int64_t) mag);

    return PYRO_OK;
}


static int
pyro_pbjson_dec_float(pyro_pbjson_dec_t *dc,
    const ProtobufCFieldDescriptor *f, json_t *v, void *p)
{
    double  d;

    if (pyro_pbjson_get_float(v, &d) != PYRO_OK) {
        return pyro_pbjson_invalid(dc, f, v);
    }

    if (f->type == PROTOBUF_C_TYPE_DOUBLE) {
        *(double *) p = d;
        return PYRO_OK;
    }

    if (isfinite(d) && fabs(d) > FLT_MAX) {
        return pyro_pbjson_invalid(dc, f, v);
    }

    *(float *) p = (float) d;

    return PYRO_OK;
}


/* An integer of any width, range-checked for the field's type. */
static int
pyro_pbjson_dec_int(pyro_pbjson_dec_t *dc,
    const ProtobufCFieldDescriptor *f, json_t *v, void *p)
{
    int       neg;
    uint64_t  mag, max;

    if (pyro_pbjson_get_int(v, &neg, &mag) != PYRO_OK) {
        return pyro_pbjson_invalid(dc, f, v);
    }

    switch (f->type) {

    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        max = neg ? 0x80000000u : 0x7fffffffu;
        break;

    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        max = neg ? 0 : 0xffffffffu;
        break;

    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        max = neg ? 0 : UINT64_MAX;
        break;

    default: /* 64-bit signed */
        max = neg ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;
        break;
    }

    if (mag > max) {
        return pyro_pbjson_invalid(dc, f, v);
    }

    /* two's complement: 0 - mag is the negative value modulo 2^64 */
    if (neg) {
        mag = 0 - mag;
    }

    if (pyro_pbjson_elt_size(f->type) == 8) {
        *(uint64_t *) p = mag;

    } else {
        *(uint32_t *) p = (uint32_t) mag;
    }

    return PYRO_OK;
}


/*
 * An integer as protojson reads one: a JSON number or a string holding a
 * JSON number, either one with a fraction or exponent as long as the
 * value is whole ("1e3", "5.0").  Strings are read digit by digit, so
 * they are exact over the whole 64-bit range.
 */
static int
pyro_pbjson_get_int(json_t *v, int *neg, uint64_t *mag)
{
    double        d;
    json_int_t    i;

    if (json_is_integer(v)) {
        i = json_integer_value(v);
        *neg = i < 0;
        *mag = i < 0 ? 0 - (uint64_t) i : (uint64_t) i;
        return PYRO_OK;
    }

    if (json_is_real(v)) {
        d = json_real_value(v);

        if (!isfinite(d) || d != floor(d) || fabs(d) >= 0x1p64) {
            return PYRO_ERROR;
        }

        *neg = d < 0;
        *mag = (uint64_t) fabs(d);
        return PYRO_OK;
    }

    if (json_is_string(v)) {
        return pyro_pbjson_num_int(json_string_value(v),
                                   json_string_length(v), neg, mag);
    }

    return PYRO_ERROR;
}


/* A number, or "NaN", "Infinity", "-Infinity", or a number in a string. */
static int
pyro_pbjson_get_float(json_t *v, double *d)
{
    size_t       n;
    const char  *s;

    if (json_is_number(v)) {
        *d = json_number_value(v);
        return PYRO_OK;
    }

    if (!json_is_string(v)) {
        return PYRO_ERROR;
    }

    s = json_string_value(v);
    n = json_string_length(v);

    if (strcmp(s, "NaN") == 0 && n == 3) {
        *d = NAN;
        return PYRO_OK;
    }

    if (strcmp(s, "Infinity") == 0 && n == 8) {
        *d = INFINITY;
        return PYRO_OK;
    }

    if (strcmp(s, "-Infinity") == 0 && n == 9) {
        *d = -INFINITY;
        return PYRO_OK;
    }

    /* the grammar check stops at an embedded NUL, strtod at the end */
    if (pyro_pbjson_num_check(s, n) != PYRO_OK) {
        return PYRO_ERROR;
    }

    *d = strtod(s, NULL);

    return isinf(*d) ? PYRO_ERROR : PYRO_OK;
}


/* The JSON number grammar over all of s:
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int
pyro_pbjson_num_check(const char *s, size_t n)
{
    size_t  i, k;

    i = (n > 0 && s[0] == '-') ? 1 : 0;

    if (i == n || s[i] < '0' || s[i] > '9') {
        return PYRO_ERROR;
    }

    if (s[i] == '0') {
        i++;

    } else {
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
    }

    if (i < n && s[i] == '.') {
        for (k = ++i; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            /* void */
        }

        if (i == k) {
            return PYRO_ERROR;
        }
    }

    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;

        if (i < n && (s[i] == '+' || s[i] == '-')) {
            i++;
        }

        for (k = i; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            /* void */
        }

        if (i == k) {
            return PYRO_ERROR;
        }
    }

    return i == n ? PYRO_OK : PYRO_ERROR;
}


/*
 * A JSON number in a string as a whole number, exactly.  The digits of
 * the integer and fraction parts, without leading and trailing zeros,
 * are D; the value is D x 10^(point - nd), which must be whole.
 */
static int
pyro_pbjson_num_int(const char *s, size_t n, int *neg, uint64_t *mag)
{
    int          eneg;
    long         exp, point;
    size_t       i, il, fl, first, last, k;
    uint64_t     m, d;
    const char  *ip, *fp;

    if (pyro_pbjson_num_check(s, n) != PYRO_OK) {
        return PYRO_ERROR;
    }

    *neg = (s[0] == '-');
    *mag = 0;

    ip = s + *neg;
    for (il = 0; ip + il < s + n && ip[il] >= '0' && ip[il] <= '9'; il++) {
        /* void */
    }

    fp = ip + il;
    fl = 0;

    if (fp < s + n && *fp == '.') {
        for (fp++; fp + fl < s + n && fp[fl] >= '0' && fp[fl] <= '9'; fl++) {
            /* void */
        }
    }

    /* clamped: far before this any significant digit overflows */
    exp = 0;
    eneg = 0;
    i = (size_t) (fp + fl - s);

    if (i < n) {
        i++;

        if (s[i] == '+' || s[i] == '-') {
            eneg = (s[i] == '-');
            i++;
        }

        for ( /* void */ ; i < n; i++) {
            if (exp < 100000) {
                exp = exp * 10 + (s[i] - '0');
            }
        }

        if (eneg) {
            exp = -exp;
        }
    }

    first = 0;
    while (first < il + fl && pyro_pbjson_digit(ip, il, fp, first) == 0) {
        first++;
    }

    if (first == il + fl) {
        return PYRO_OK;
    }

    last = il + fl;
    while (pyro_pbjson_digit(ip, il, fp, last - 1) == 0) {
        last--;
    }

    point = (long) il + exp - (long) first;

    /* a fraction left, or more digits than any 64-bit number has */
    if (point < (long) (last - first) || point > 20) {
        return PYRO_ERROR;
    }

    m = 0;

    for (k = first; (long) (k - first) < point; k++) {
        d = k < last ? pyro_pbjson_digit(ip, il, fp, k) : 0;

        if (m > (UINT64_MAX - d) / 10) {
            return PYRO_ERROR;
        }

        m = m * 10 + d;
    }

    *mag = m;

    return PYRO_OK;
}


/* The k-th digit of the integer part ip followed by the fraction fp. */
static uint64_t
pyro_pbjson_digit(const char *ip, size_t il, const char *fp, size_t k)
{
    return (uint64_t) ((k < il ? ip[k] : fp[k - il]) - '0');
}


/*
 * Base64 as protojson reads bytes: the URL-safe alphabet if the text has
 * '-' or '_', else the standard one; padding is required when the length
 * is a multiple of 4 and refused otherwise; CR and LF are skipped (Go's
 * decoder ignores them); leftover bits need not be zero.
 */
static int
pyro_pbjson_unbase64(const char *s, size_t n, uint8_t *out, size_t *outlen)
{
    int       url, padded, d, pads;
    size_t    i, q, k;
    uint32_t  acc;

    url = memchr(s, '-', n) != NULL || memchr(s, '_', n) != NULL;
    padded = (n % 4 == 0);

    acc = 0;
    q = 0;
    k = 0;
    pads = 0;

    for (i = 0; i < n; i++) {
        if (s[i] == '\r' || s[i] == '\n') {
            continue;
        }

        if (s[i] == '=') {
            /* "xx==" or "xxx=" ends a padded text */
            if (!padded || q < 2 || q + ++pads > 4) {
                return PYRO_ERROR;
            }

            continue;
        }

        d = pyro_pbjson_b64_val((unsigned char) s[i], url);

        if (d < 0 || pads != 0) {
            return PYRO_ERROR;
        }

        acc = (acc << 6) | (uint32_t) d;

        if (++q == 4) {
            out[k++] = (uint8_t) (acc >> 16);
            out[k++] = (uint8_t) (acc >> 8);
            out[k++] = (uint8_t) acc;
            acc = 0;
            q = 0;
        }
    }

    if (q == 1 || (padded && q != 0 && q + pads != 4)) {
        return PYRO_ERROR;
    }

    if (q == 2) {
        out[k++] = (uint8_t) (acc >> 4);

    } else if (q == 3) {
        out[k++] = (uint8_t) (acc >> 10);
        out[k++] = (uint8_t) (acc >> 2);
    }

    *outlen = k;

    return PYRO_OK;
}


static int
pyro_pbjson_b64_val(unsigned char c, int url)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == (url ? '-' : '+')) {
        return 62;
    }

    if (c == (url ? '_' : '/')) {
        return 63;
    }

    return -1;
}


/* protojson's "invalid value for <kind> field <jsonName>: <token>". */
static int
pyro_pbjson_invalid(pyro_pbjson_dec_t *dc, const ProtobufCFieldDescriptor *f,
    json_t *v)
{
    char         raw[PYRO_PBJSON_RAW_MAX + 8];
    pyro_buf_t   name;
    const char  *kind;

    kind = (unsigned) f->type < sizeof(pyro_pbjson_kinds) / sizeof(char *)
           ? pyro_pbjson_kinds[f->type] : "unknown";

    memset(&name, 0, sizeof(pyro_buf_t));

    pyro_pbjson_put_json_name(f->name, &name);
    pyro_buf_putc(&name, '\0');

    pyro_pbjson_raw(v, raw, sizeof(raw));

    pyro_pbjson_fail(dc, "invalid value for %s field %s: %s", kind,
                     name.failed ? f->name : name.data, raw);

    pyro_buf_free(&name);

    return PYRO_ERROR;
}


static int
pyro_pbjson_unexpected(pyro_pbjson_dec_t *dc, json_t *v)
{
    char  raw[PYRO_PBJSON_RAW_MAX + 8];

    pyro_pbjson_raw(v, raw, sizeof(raw));

    return pyro_pbjson_fail(dc, "unexpected token %s", raw);
}


/*
 * The offending token, short, for an error message: objects and arrays
 * by their first character, strings cut at PYRO_PBJSON_RAW_MAX bytes
 * with \u0000 spelled out.
 */
static void
pyro_pbjson_raw(json_t *v, char *buf, size_t size)
{
    pyro_buf_t  b;

    memset(&b, 0, sizeof(pyro_buf_t));

    switch (json_typeof(v)) {

    case JSON_OBJECT:
        pyro_buf_putc(&b, '{');
        break;

    case JSON_ARRAY:
        pyro_buf_putc(&b, '[');
        break;

    case JSON_STRING:
        pyro_pbjson_raw_string(json_string_value(v), json_string_length(v),
                               &b);
        break;

    case JSON_INTEGER:
        pyro_buf_printf(&b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;

    case JSON_REAL:
        pyro_pbjson_put_float(json_real_value(v), 64, &b);
        break;

    case JSON_TRUE:
        pyro_buf_puts(&b, "true");
        break;

    case JSON_FALSE:
        pyro_buf_puts(&b, "false");
        break;

    default:
        pyro_buf_puts(&b, "null");
        break;
    }

    snprintf(buf, size, "%.*s", b.failed ? 0 : (int) b.len,
             b.failed ? "" : b.data);

    pyro_buf_free(&b);
}


static void
pyro_pbjson_raw_string(const char *s, size_t n, pyro_buf_t *b)
{
    size_t  i;

    pyro_buf_putc(b, '"');

    for (i = 0; i < n && i < PYRO_PBJSON_RAW_MAX; i++) {
        if (s[i] == '\0') {
            pyro_buf_puts(b, "\\u0000");

        } else {
            pyro_buf_putc(b, s[i]);
        }
    }

    pyro_buf_puts(b, n > PYRO_PBJSON_RAW_MAX ? "...\"" : "\"");
}


/* connect-go's wording: "unmarshal into *<Go type>: proto: <reason>". */
static int
pyro_pbjson_fail(pyro_pbjson_dec_t *dc, const char *fmt, ...)
{
    char     msg[400];
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    pyro_err_invalid(dc->err, "unmarshal into *%s: proto: %s", dc->type,
                     msg);

    return PYRO_ERROR;
}


static int
pyro_pbjson_nomem(pyro_pbjson_dec_t *dc)
{
    pyro_err_internal(dc->err, "out of memory");

    return PYRO_ERROR;
}


/*
 * Copyright (C) ngx_pyroscope developers
 *
 * multipart/form-data (RFC 7578, RFC 2046) over a body held in memory,
 * read with the rules of Go's mime/multipart, which upstream uses:
 *
 *   - lines before the first delimiter (the preamble) and everything
 *     after the close delimiter (the epilogue) are ignored;
 *   - a delimiter is "--boundary" at the start of a line, followed by
 *     optional spaces or tabs and the line ending; the close delimiter
 *     has "--" after the boundary;
 *   - lines end in CRLF, but a first delimiter line ending in a bare LF
 *     switches the whole body to LF line endings (a violation of the
 *     spec that occurs in practice);
 *   - a part's data ends at the line ending that precedes the next
 *     delimiter; a part that is not terminated is an error;
 *   - part headers are MIME headers (continuation lines allowed); only
 *     the first Content-Disposition and Content-Type count;
 *   - a part without a form-data disposition and a name is skipped;
 *     a part is a file part when its disposition has a non-empty
 *     filename.
 *
 * Nothing is copied: every pyro_str_t points into the body or the
 * Content-Type value.  A quoted name or filename is kept as written
 * between the quotes, backslash escapes included; pyro_multipart_file()
 * compares names the way Go unescapes them.  Parsing is linear in the
 * body size and never recurses.
 */


#include <ctype.h>
#include <string.h>

#include "pyro.h"


typedef struct {
    const char     *end;        /* the end of the body */
    const char     *bnd;        /* the boundary, without the "--" */
    size_t          blen;
    int             lf;         /* lines end in LF only */
    pyro_err_t     *err;
} pyro_mp_t;


#define PYRO_MP_BOUNDARY_MAX  70

#define PYRO_MP_SEEN_DISP     0x1
#define PYRO_MP_SEEN_TYPE     0x2


static int pyro_mp_boundary(const char *ct, size_t ctlen, pyro_str_t *bnd,
    pyro_err_t *err);
static const char *pyro_mp_media_type(const char *p, const char *e,
    pyro_err_t *err);
static int pyro_mp_preamble(pyro_mp_t *mp, const char **pp);
static int pyro_mp_part(pyro_mp_t *mp, const char **pp, pyro_part_t *part);
static int pyro_mp_headers(pyro_mp_t *mp, const char **pp,
    pyro_part_t *part);
static int pyro_mp_header_line(pyro_mp_t *mp, const char *p,
    const char *le, const char **colon);
static void pyro_mp_header(const char *k, const char *ke, const char *v,
    const char *ve, pyro_part_t *part, unsigned *seen);
static void pyro_mp_disposition(const char *p, const char *e,
    pyro_part_t *part);
static int pyro_mp_disp_param(const pyro_str_t *key, const pyro_str_t *val,
    pyro_str_t *name, pyro_str_t *name_ext, pyro_str_t *file,
    pyro_str_t *file_ext);
static int pyro_mp_set(pyro_str_t *dst, const pyro_str_t *val);
static int pyro_mp_ext_value(const pyro_str_t *val, pyro_str_t *text);
static const char *pyro_mp_data_end(pyro_mp_t *mp, const char *p,
    const char **delim);
static int pyro_mp_after_boundary(pyro_mp_t *mp, const char *p);
static const char *pyro_mp_line_end(pyro_mp_t *mp, const char *p);
static int pyro_mp_delimiter(pyro_mp_t *mp, const char *p, const char *le,
    int first);
static int pyro_mp_close(pyro_mp_t *mp, const char *p, const char *le);
static int pyro_mp_param(const char **pp, const char *e, pyro_str_t *key,
    pyro_str_t *val);
static const char *pyro_mp_value(const char *p, const char *e,
    pyro_str_t *val);
static const char *pyro_mp_token(const char *p, const char *e);
static int pyro_mp_tspecial(int c);
static int pyro_mp_space(int c);
static int pyro_mp_key_is(const pyro_str_t *key, const char *lower);
static int pyro_mp_name_is(const pyro_str_t *raw, const char *name);
static void pyro_mp_bad_line(pyro_mp_t *mp, const char *what,
    const char *p, const char *le);


/*
 * "parts" has room for PYRO_PARTS_MAX entries: more parts than that in
 * the body (counting skipped ones) is an error.
 */
int
pyro_multipart_parse(const char *content_type, size_t ctlen,
    const char *body, size_t len, pyro_part_t *parts, size_t *nparts,
    pyro_err_t *err)
{
    int          rc;
    size_t       seen;
    pyro_mp_t    mp;
    pyro_str_t   bnd;
    const char  *p;
    pyro_part_t  part;

    *nparts = 0;

    if (pyro_mp_boundary(content_type, ctlen, &bnd, err) != PYRO_OK) {
        return PYRO_ERROR;
    }

    if (body == NULL) {
        body = "";
        len = 0;
    }

    mp.end = body + len;
    mp.bnd = bnd.data;
    mp.blen = bnd.len;
    mp.lf = 0;
    mp.err = err;

    p = body;

    /* PYRO_DECLINED: the close delimiter came first, an empty form */
    rc = pyro_mp_preamble(&mp, &p);
    if (rc != PYRO_OK) {
        return rc == PYRO_DECLINED ? PYRO_OK : PYRO_ERROR;
    }

    for (seen = 1; /* void */; seen++) {
        if (seen > PYRO_PARTS_MAX) {
            pyro_err_invalid(err, "multipart: too many parts (limit %d)",
                             PYRO_PARTS_MAX);
            return PYRO_ERROR;
        }

        rc = pyro_mp_part(&mp, &p, &part);
        if (rc == PYRO_ERROR) {
            return PYRO_ERROR;
        }

        /* parts without a form name are skipped, as Go's ReadForm does */
        if (part.name.len > 0) {
            parts[(*nparts)++] = part;
        }

        if (rc == PYRO_DECLINED) {
            return PYRO_OK;
        }
    }
}


const pyro_part_t *
pyro_multipart_file(const pyro_part_t *parts, size_t nparts,
    const char *name)
{
    size_t  i;

    for (i = 0; i < nparts; i++) {
        if (parts[i].filename.len > 0
            && pyro_mp_name_is(&parts[i].name, name))
        {
            return &parts[i];
        }
    }

    return NULL;
}


/*
 * The boundary parameter of the request's Content-Type, read as Go's
 * mime.ParseMediaType does (whether the media type is multipart/form-data
 * is the caller's business).
 */
static int
pyro_mp_boundary(const char *ct, size_t ctlen, pyro_str_t *bnd,
    pyro_err_t *err)
{
    int          rc, found;
    const char  *p, *e;
    pyro_str_t   key, val;

    if (ct == NULL) {
        ct = "";
        ctlen = 0;
    }

    e = ct + ctlen;
    found = 0;

    p = pyro_mp_media_type(ct, e, err);
    if (p == NULL) {
        return PYRO_ERROR;
    }

    for ( ;; ) {
        rc = pyro_mp_param(&p, e, &key, &val);

        if (rc == PYRO_DECLINED) {
            break;
        }

        if (rc == PYRO_ERROR) {
            pyro_err_invalid(err, "mime: invalid media parameter");
            return PYRO_ERROR;
        }

        if (!pyro_mp_key_is(&key, "boundary")) {
            continue;
        }

        if (found && pyro_mp_set(bnd, &val) != PYRO_OK) {
            pyro_err_invalid(err, "mime: duplicate parameter name");
            return PYRO_ERROR;
        }

        *bnd = val;
        found = 1;
    }

    if (!found) {
        pyro_err_invalid(err, "malformed multipart content type header");
        return PYRO_ERROR;
    }

    /* RFC 2046: 1 to 70 characters; a boundary with backslash escapes
     * would differ from the body's bytes, so it is refused as well */
    if (bnd->len == 0 || bnd->len > PYRO_MP_BOUNDARY_MAX
        || memchr(bnd->data, '\\', bnd->len) != NULL)
    {
        pyro_err_invalid(err, "multipart: invalid boundary in the content "
                         "type header (1 to %d characters)",
                         PYRO_MP_BOUNDARY_MAX);
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


/*
 * "type/subtype" before the parameters, checked as Go's mime package
 * does.  Returns the position of the parameters or NULL.
 */
static const char *
pyro_mp_media_type(const char *p, const char *e, pyro_err_t *err)
{
    const char  *t;

    while (p < e && pyro_mp_space(*p)) {
        p++;
    }

    t = pyro_mp_token(p, e);

    if (t == p) {
        pyro_err_invalid(err, "mime: no media type");
        return NULL;
    }

    if (t == e || *t != '/') {
        pyro_err_invalid(err, "mime: expected slash after first token");
        return NULL;
    }

    p = pyro_mp_token(t + 1, e);

    if (p == t + 1) {
        pyro_err_invalid(err, "mime: expected token after slash");
        return NULL;
    }

    while (p < e && pyro_mp_space(*p)) {
        p++;
    }

    if (p < e && *p != ';') {
        pyro_err_invalid(err, "mime: unexpected content after media "
                         "subtype");
        return NULL;
    }

    return p;
}


/*
 * Skips the preamble up to the first delimiter line.  Returns PYRO_OK with
 * *pp after that line, PYRO_DECLINED for a close delimiter, PYRO_ERROR if
 * there is no delimiter.
 */
static int
pyro_mp_preamble(pyro_mp_t *mp, const char **pp)
{
    const char  *p, *le;

    for (p = *pp; p < mp->end; p = le) {
        le = pyro_mp_line_end(mp, p);

        if (pyro_mp_delimiter(mp, p, le, 1)) {
            *pp = le;
            return PYRO_OK;
        }

        if (pyro_mp_close(mp, p, le)) {
            return PYRO_DECLINED;
        }
    }

    pyro_err_invalid(mp->err, "multipart: NextPart: EOF (no boundary "
                     "delimiter in the body)");
    return PYRO_ERROR;
}


/*
 * Reads one part starting after its delimiter line.  Returns PYRO_OK with
 * *pp after the next delimiter line, PYRO_DECLINED if the close delimiter
 * follows, or PYRO_ERROR.
 */
static int
pyro_mp_part(pyro_mp_t *mp, const char **pp, pyro_part_t *part)
{
    const char  *p, *de, *delim, *le;

    memset(part, 0, sizeof(pyro_part_t));

    p = *pp;

    if (pyro_mp_headers(mp, &p, part) != PYRO_OK) {
        return PYRO_ERROR;
    }

    de = pyro_mp_data_end(mp, p, &delim);

    if (de == NULL) {
        pyro_err_invalid(mp->err, "multipart: unexpected EOF in part "
                         "\"%.*s\" (no closing boundary)",
                         (int) (part->name.len > 64 ? 64 : part->name.len),
                         part->name.data ? part->name.data : "");
        return PYRO_ERROR;
    }

    part->data.data = p;
    part->data.len = de - p;

    le = pyro_mp_line_end(mp, delim);

    if (pyro_mp_delimiter(mp, delim, le, 0)) {
        *pp = le;
        return PYRO_OK;
    }

    if (pyro_mp_close(mp, delim, le)) {
        return PYRO_DECLINED;
    }

    if (le[-1] != '\n') {
        pyro_err_invalid(mp->err, "multipart: NextPart: EOF (no close "
                         "delimiter)");
        return PYRO_ERROR;
    }

    pyro_mp_bad_line(mp, "multipart: expecting a new Part; got line",
                     delim, le);
    return PYRO_ERROR;
}


/*
 * MIME part headers up to the empty line, as Go's textproto reads them:
 * lines end in CRLF or LF, a line starting with a space or a tab
 * continues the previous header, a line without a colon or with a bad
 * name is an error.
 */
static int
pyro_mp_headers(pyro_mp_t *mp, const char **pp, pyro_part_t *part)
{
    unsigned     seen;
    const char  *p, *le, *ce, *k, *ke, *v, *ve, *colon;

    seen = 0;
    k = NULL;
    ke = v = ve = NULL;

    for (p = *pp; /* void */; p = le) {
        if (p == mp->end) {
            pyro_err_invalid(mp->err, "multipart: NextPart: EOF (in part "
                             "headers)");
            return PYRO_ERROR;
        }

        le = memchr(p, '\n', mp->end - p);
        le = le ? le + 1 : mp->end;

        /* the line's content, without its CRLF or LF */
        ce = le;
        if (ce > p && ce[-1] == '\n') {
            ce--;
        }
        if (ce > p && ce[-1] == '\r') {
            ce--;
        }

        if (ce == p) {
            break;
        }

        if (*p == ' ' || *p == '\t') {
            if (k == NULL) {
                pyro_mp_bad_line(mp, "multipart: malformed MIME header "
                                 "initial line:", p, ce);
                return PYRO_ERROR;
            }

            ve = ce;
            continue;
        }

        if (pyro_mp_header_line(mp, p, ce, &colon) != PYRO_OK) {
            return PYRO_ERROR;
        }

        if (k != NULL) {
            pyro_mp_header(k, ke, v, ve, part, &seen);
        }

        k = p;
        ke = colon;
        v = colon + 1;
        ve = ce;
    }

    if (k != NULL) {
        pyro_mp_header(k, ke, v, ve, part, &seen);
    }

    *pp = le;

    return PYRO_OK;
}


static int
pyro_mp_header_line(pyro_mp_t *mp, const char *p, const char *le,
    const char **colon)
{
    const char  *c;

    c = memchr(p, ':', le - p);

    if (c == NULL || c == p || pyro_mp_token(p, c) != c) {
        pyro_mp_bad_line(mp, "multipart: malformed MIME header line:", p,
                         le);
        return PYRO_ERROR;
    }

    *colon = c;

    return PYRO_OK;
}


/* Only the first Content-Disposition and Content-Type count. */
static void
pyro_mp_header(const char *k, const char *ke, const char *v, const char *ve,
    pyro_part_t *part, unsigned *seen)
{
    pyro_str_t  key;

    key.data = k;
    key.len = ke - k;

    while (v < ve && (*v == ' ' || *v == '\t')) {
        v++;
    }

    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) {
        ve--;
    }

    if (!(*seen & PYRO_MP_SEEN_DISP)
        && pyro_mp_key_is(&key, "content-disposition"))
    {
        *seen |= PYRO_MP_SEEN_DISP;
        pyro_mp_disposition(v, ve, part);
        return;
    }

    if (!(*seen & PYRO_MP_SEEN_TYPE) && pyro_mp_key_is(&key, "content-type"))
    {
        *seen |= PYRO_MP_SEEN_TYPE;
        part->content_type.data = v;
        part->content_type.len = ve - v;
    }
}


/*
 * "form-data; name=...; filename=..." as mime.ParseMediaType reads it.
 * On any error the part keeps no name, so it is skipped (Go's FormName()
 * is then empty).  RFC 2231 "name*" and "filename*" override the plain
 * ones; their percent-encoding is not decoded, so a name* that needs
 * decoding is not supported (the part is skipped); for filename* only
 * being non-empty matters.
 */
static void
pyro_mp_disposition(const char *p, const char *e, pyro_part_t *part)
{
    int          rc;
    const char  *t;
    pyro_str_t   type, key, val, name, name_ext, file, file_ext;

    while (p < e && pyro_mp_space(*p)) {
        p++;
    }

    t = pyro_mp_token(p, e);

    type.data = p;
    type.len = t - p;

    for (p = t; p < e && pyro_mp_space(*p); p++) { /* void */ }

    if (!pyro_mp_key_is(&type, "form-data") || (p < e && *p != ';')) {
        return;
    }

    name.len = name_ext.len = file.len = file_ext.len = 0;
    name.data = name_ext.data = file.data = file_ext.data = NULL;

    for ( ;; ) {
        rc = pyro_mp_param(&p, e, &key, &val);

        if (rc == PYRO_DECLINED) {
            break;
        }

        if (rc == PYRO_ERROR
            || pyro_mp_disp_param(&key, &val, &name, &name_ext, &file,
                                  &file_ext)
               != PYRO_OK)
        {
            return;
        }
    }

    if (name_ext.data != NULL) {
        if (memchr(name_ext.data, '%', name_ext.len) != NULL) {
            return;
        }

        name = name_ext;
    }

    if (file_ext.data != NULL) {
        file = file_ext;
    }

    part->name = name;

    if (file.len > 0) {
        part->filename = file;
    }
}


/* PYRO_ERROR for a parameter given twice with different values. */
static int
pyro_mp_disp_param(const pyro_str_t *key, const pyro_str_t *val,
    pyro_str_t *name, pyro_str_t *name_ext, pyro_str_t *file,
    pyro_str_t *file_ext)
{
    pyro_str_t  text;

    if (pyro_mp_key_is(key, "name")) {
        return pyro_mp_set(name, val);
    }

    if (pyro_mp_key_is(key, "filename")) {
        return pyro_mp_set(file, val);
    }

    /* an extended value that does not decode is ignored, as in Go */
    if (pyro_mp_key_is(key, "name*")) {
        if (pyro_mp_ext_value(val, &text) == PYRO_OK) {
            *name_ext = text;
        }

        return PYRO_OK;
    }

    if (pyro_mp_key_is(key, "filename*")) {
        if (pyro_mp_ext_value(val, &text) == PYRO_OK) {
            *file_ext = text;
        }
    }

    return PYRO_OK;
}


/* Sets dst, unless it was set to a different value before. */
static int
pyro_mp_set(pyro_str_t *dst, const pyro_str_t *val)
{
    if (dst->data != NULL
        && (dst->len != val->len || memcmp(dst->data, val->data, val->len)))
    {
        return PYRO_ERROR;
    }

    *dst = *val;

    return PYRO_OK;
}


/*
 * An RFC 2231 value charset'language'text: the charset must be utf-8 or
 * us-ascii and every '%' must start two hex digits.  text is left
 * encoded.
 */
static int
pyro_mp_ext_value(const pyro_str_t *val, pyro_str_t *text)
{
    size_t       i;
    pyro_str_t   cs;
    const char  *p, *e, *q;

    p = val->data;
    e = p + val->len;

    q = memchr(p, '\'', e - p);
    if (q == NULL || q == p) {
        return PYRO_ERROR;
    }

    cs.data = p;
    cs.len = q - p;

    if (!pyro_mp_key_is(&cs, "utf-8") && !pyro_mp_key_is(&cs, "us-ascii")) {
        return PYRO_ERROR;
    }

    q = memchr(q + 1, '\'', e - q - 1);
    if (q == NULL) {
        return PYRO_ERROR;
    }

    text->data = q + 1;
    text->len = e - q - 1;

    for (i = 0; i < text->len; i++) {
        if (text->data[i] != '%') {
            continue;
        }

        if (i + 2 >= text->len
            || !isxdigit((unsigned char) text->data[i + 1])
            || !isxdigit((unsigned char) text->data[i + 2]))
        {
            return PYRO_ERROR;
        }

        i += 2;
    }

    return PYRO_OK;
}


/*
 * Finds the end of a part's data starting at p: the line ending before
 * "--boundary" that is followed by the end of the body, a space, a tab,
 * CR, LF or "--" (otherwise the bytes are data).  Right at the start of
 * the data the delimiter may come without a line ending (an empty part).
 * Returns the end of the data and sets *delim to the delimiter's "--",
 * or returns NULL when no delimiter follows.
 */
static const char *
pyro_mp_data_end(pyro_mp_t *mp, const char *p, const char **delim)
{
    size_t       nl, need;
    const char  *q, *eol;

    eol = mp->lf ? "\n" : "\r\n";
    nl = mp->lf ? 1 : 2;
    need = nl + 2 + mp->blen;

    if ((size_t) (mp->end - p) >= 2 + mp->blen
        && p[0] == '-' && p[1] == '-'
        && memcmp(p + 2, mp->bnd, mp->blen) == 0
        && pyro_mp_after_boundary(mp, p + 2 + mp->blen))
    {
        *delim = p;
        return p;
    }

    for (q = p; (size_t) (mp->end - q) >= need; q++) {
        q = memchr(q, eol[0], mp->end - q - need + 1);
        if (q == NULL) {
            return NULL;
        }

        if (memcmp(q, eol, nl) == 0
            && q[nl] == '-' && q[nl + 1] == '-'
            && memcmp(q + nl + 2, mp->bnd, mp->blen) == 0
            && pyro_mp_after_boundary(mp, q + need))
        {
            *delim = q + nl;
            return q;
        }
    }

    return NULL;
}


static int
pyro_mp_after_boundary(pyro_mp_t *mp, const char *p)
{
    if (p == mp->end) {
        return 1;
    }

    switch (*p) {

    case ' ':
    case '\t':
    case '\r':
    case '\n':
        return 1;

    case '-':
        return p + 1 < mp->end && p[1] == '-';

    default:
        return 0;
    }
}


/* The end of the line at p, after its LF, or the end of the body. */
static const char *
pyro_mp_line_end(pyro_mp_t *mp, const char *p)
{
    const char  *le;

    le = memchr(p, '\n', mp->end - p);

    return le ? le + 1 : mp->end;
}


/*
 * "--boundary" [spaces and tabs] line ending.  On the first delimiter a
 * bare LF switches the body to LF line endings.
 */
static int
pyro_mp_delimiter(pyro_mp_t *mp, const char *p, const char *le, int first)
{
    if ((size_t) (le - p) < 2 + mp->blen
        || p[0] != '-' || p[1] != '-'
        || memcmp(p + 2, mp->bnd, mp->blen) != 0)
    {
        return 0;
    }

    for (p += 2 + mp->blen; p < le && (*p == ' ' || *p == '\t'); p++) {
        /* void */
    }

    if (first && le - p == 1 && *p == '\n') {
        mp->lf = 1;
    }

    if (mp->lf) {
        return le - p == 1 && *p == '\n';
    }

    return le - p == 2 && p[0] == '\r' && p[1] == '\n';
}


/* "--boundary--" [spaces and tabs] [line ending]. */
static int
pyro_mp_close(pyro_mp_t *mp, const char *p, const char *le)
{
    if ((size_t) (le - p) < 4 + mp->blen
        || p[0] != '-' || p[1] != '-'
        || memcmp(p + 2, mp->bnd, mp->blen) != 0
        || p[2 + mp->blen] != '-' || p[3 + mp->blen] != '-')
    {
        return 0;
    }

    for (p += 4 + mp->blen; p < le && (*p == ' ' || *p == '\t'); p++) {
        /* void */
    }

    if (p == le) {
        return 1;
    }

    if (mp->lf) {
        return le - p == 1 && *p == '\n';
    }

    return le - p == 2 && p[0] == '\r' && p[1] == '\n';
}


/*
 * Reads one ";key=value" parameter at *pp, as mime.ParseMediaType does.
 * Returns PYRO_OK, PYRO_DECLINED at the end (a trailing ';' is allowed)
 * or PYRO_ERROR.
 */
static int
pyro_mp_param(const char **pp, const char *e, pyro_str_t *key,
    pyro_str_t *val)
{
    const char  *p, *t;

    for (p = *pp; p < e && pyro_mp_space(*p); p++) { /* void */ }

    if (p == e) {
        return PYRO_DECLINED;
    }

    if (*p != ';') {
        return PYRO_ERROR;
    }

    for (p++; p < e && pyro_mp_space(*p); p++) { /* void */ }

    t = pyro_mp_token(p, e);

    if (t == p) {
        return p == e ? PYRO_DECLINED : PYRO_ERROR;
    }

    key->data = p;
    key->len = t - p;

    for (p = t; p < e && pyro_mp_space(*p); p++) { /* void */ }

    if (p == e || *p != '=') {
        return PYRO_ERROR;
    }

    for (p++; p < e && pyro_mp_space(*p); p++) { /* void */ }

    p = pyro_mp_value(p, e, val);
    if (p == NULL) {
        return PYRO_ERROR;
    }

    *pp = p;

    return PYRO_OK;
}


/*
 * A token, or a quoted string whose raw inner text is returned: Go takes
 * the character after a backslash literally when it is a tspecial (else
 * the backslash itself is data), and refuses CR and LF.  NULL on error.
 */
static const char *
pyro_mp_value(const char *p, const char *e, pyro_str_t *val)
{
    const char  *t;

    if (p < e && *p == '"') {
        for (t = p + 1; t < e; t++) {
            if (*t == '"') {
                val->data = p + 1;
                val->len = t - p - 1;
                return t + 1;
            }

            if (*t == '\r' || *t == '\n') {
                return NULL;
            }

            if (*t == '\\' && t + 1 < e && pyro_mp_tspecial(t[1])) {
                t++;
            }
        }

        return NULL;
    }

    t = pyro_mp_token(p, e);

    if (t == p) {
        return NULL;
    }

    val->data = p;
    val->len = t - p;

    return t;
}


static const char *
pyro_mp_token(const char *p, const char *e)
{
    unsigned char  c;

    for ( /* void */ ; p < e; p++) {
        c = (unsigned char) *p;

        if (c <= 0x20 || c >= 0x7f || pyro_mp_tspecial(c)) {
            break;
        }
    }

    return p;
}


static int
pyro_mp_tspecial(int c)
{
    return c != '\0' && strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}


static int
pyro_mp_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v'
           || c == '\f';
}


/* A parameter key or header name against a lowercase literal. */
static int
pyro_mp_key_is(const pyro_str_t *key, const char *lower)
{
    size_t  i;

    for (i = 0; i < key->len; i++) {
        if (lower[i] == '\0'
            || tolower((unsigned char) key->data[i]) != lower[i])
        {
            return 0;
        }
    }

    return lower[i] == '\0';
}


/*
 * A form name as written (a token, or a quoted string's inner text with
 * its backslash escapes; tokens never contain a backslash) against a
 * name, bytewise after unescaping.
 */
static int
pyro_mp_name_is(const pyro_str_t *raw, const char *name)
{
    size_t         i;
    unsigned char  c;

    for (i = 0; i < raw->len; i++) {
        c = (unsigned char) raw->data[i];

        if (c == '\\' && i + 1 < raw->len
            && pyro_mp_tspecial(raw->data[i + 1]))
        {
            c = (unsigned char) raw->data[++i];
        }

        if (*name == '\0' || (unsigned char) *name != c) {
            return 0;
        }

        name++;
    }

    return *name == '\0';
}


/* An error quoting the offending line (shortened, control bytes as ?). */
static void
pyro_mp_bad_line(pyro_mp_t *mp, const char *what, const char *p,
    const char *le)
{
    char    line[80];
    size_t  i, n;

    n = le - p;
    if (n > sizeof(line) - 1) {
        n = sizeof(line) - 1;
    }

    for (i = 0; i < n; i++) {
        line[i] = ((unsigned char) p[i] < 0x20 || p[i] == 0x7f) ? '?' : p[i];
    }

    line[n] = '\0';

    pyro_err_invalid(mp->err, "%s \"%s%s\"", what, line,
                     (size_t) (le - p) > n ? "..." : "");
}


/*
 * Copyright (C) ngx_pyroscope developers
 *
 * The legacy app-name grammar "name{k=v,...}" (spec section 3.3), parsed
 * with the same state machine as upstream's labelset.Parse so that odd
 * inputs come out the same way:
 *
 *   - the input is read rune by rune as Go does, so every invalid UTF-8
 *     byte becomes U+FFFD in the names and values;
 *   - a '}' that ends a value goes back to reading keys, so "a{x=1}y=2,"
 *     also yields y=2; only a '}' where a key is expected ends the set;
 *   - a key without '=' before the end is dropped;
 *   - names and values are trimmed of Unicode white space.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyro.h"


typedef enum {
    PYRO_AN_NAME = 0,
    PYRO_AN_KEY,
    PYRO_AN_VALUE,
    PYRO_AN_DONE
} pyro_an_state_e;


typedef struct {
    pyro_an_state_e   state;
    pyro_buf_t        name;
    pyro_buf_t        key;
    pyro_buf_t        value;
    pyro_appname_t   *out;
    pyro_err_t       *err;
} pyro_an_parser_t;


/* Go's unicode.IsSpace. */
static int
pyro_an_space(uint32_t r)
{
    return r == ' ' || (r >= '\t' && r <= '\r') || r == 0x85 || r == 0xa0
           || r == 0x1680 || (r >= 0x2000 && r <= 0x200a) || r == 0x2028
           || r == 0x2029 || r == 0x202f || r == 0x205f || r == 0x3000;
}


/* strings.TrimSpace over a buffer that holds valid UTF-8. */
static void
pyro_an_trim(const pyro_buf_t *b, const char **s, size_t *len)
{
    size_t                i, k, start, end;
    uint32_t              r;
    const unsigned char  *p;

    p = (const unsigned char *) b->data;
    start = 0;
    end = 0;

    for (i = 0; i < b->len; i += k) {
        k = pyro_utf8_decode((const char *) p + i, b->len - i, &r);

        if (!pyro_an_space(r)) {
            if (end == 0) {
                start = i;
            }
            end = i + k;
        }
    }

    *s = b->data ? b->data + start : "";
    *len = end ? end - start : 0;
}


/*
 * Go's strconv.IsPrint, closely enough for error messages: controls,
 * format characters, non-ASCII spaces, separators, private use and
 * noncharacters are not printable.  Unassigned code points are taken as
 * printable (Go escapes them); that needs Unicode tables.
 */
static int
pyro_an_printable(uint32_t r)
{
    if (r < 0x20 || (r >= 0x7f && r <= 0xa0) || r == 0xad) {
        return 0;
    }

    if ((r >= 0x600 && r <= 0x605) || r == 0x61c || r == 0x6dd
        || r == 0x70f || r == 0x1680 || r == 0x180e
        || (r >= 0x2000 && r <= 0x200f) || (r >= 0x2028 && r <= 0x202f)
        || (r >= 0x205f && r <= 0x206f) || r == 0x3000
        || (r >= 0xd800 && r <= 0xf8ff) || (r >= 0xfdd0 && r <= 0xfdef)
        || r == 0xfeff || (r >= 0xfff9 && r <= 0xfffb)
        || (r & 0xfffe) == 0xfffe || r == 0x110bd
        || (r >= 0x1d173 && r <= 0x1d17a) || r == 0xe0001
        || (r >= 0xe0020 && r <= 0xe007f) || r >= 0xf0000)
    {
        return 0;
    }

    return 1;
}


/* Writes r quoted as Go's %q prints a rune: 'a', '\'', '\t', '\u00a0'. */
static void
pyro_an_quote_rune(char *q, size_t size, uint32_t r)
{
    pyro_buf_t         b;
    static const char  esc[] = "abtnvfr";

    memset(&b, 0, sizeof(pyro_buf_t));

    if (r == '\'' || r == '\\') {
        snprintf(q, size, "'\\%c'", (int) r);

    } else if (pyro_an_printable(r)) {
        pyro_buf_put_rune(&b, r);
        snprintf(q, size, "'%.*s'", b.failed ? 0 : (int) b.len,
                 b.failed ? "" : b.data);

    } else if (r >= '\a' && r <= '\r') {
        snprintf(q, size, "'\\%c'", esc[r - '\a']);

    } else if (r < 0x20 || r == 0x7f) {
        snprintf(q, size, "'\\x%02x'", (unsigned) r);

    } else if (r < 0x10000) {
        snprintf(q, size, "'\\u%04x'", (unsigned) r);

    } else {
        snprintf(q, size, "'\\U%08x'", (unsigned) r);
    }

    pyro_buf_free(&b);
}


static int
pyro_an_label_rune(uint32_t r)
{
    return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
           || (r >= '0' && r <= '9') || r == '_' || r == '.';
}


static int
pyro_an_service_rune(uint32_t r)
{
    return pyro_an_label_rune(r) || r == '-' || r == '/';
}


/*
 * Checks a service or label name as upstream's ValidateServiceName and
 * ValidateLabelName do; "what" is "service" or "label".
 */
static int
pyro_an_validate(const char *s, size_t len, const char *what,
    int (*allowed)(uint32_t), pyro_err_t *err)
{
    char      q[16];
    size_t    i, k;
    uint32_t  r;

    if (len == 0) {
        pyro_err_invalid(err, "%s name is required", what);
        return PYRO_ERROR;
    }

    for (i = 0; i < len; i += k) {
        k = pyro_utf8_decode(s + i, len - i, &r);

        if (!allowed(r)) {
            pyro_an_quote_rune(q, sizeof(q), r);
            pyro_err_invalid(err, "invalid %s name: %.*s: character is not "
                             "allowed: %s", what, (int) len, s, q);
            return PYRO_ERROR;
        }
    }

    return PYRO_OK;
}


/* The '{' after the app name (or the end of the input). */
static int
pyro_an_name_end(pyro_an_parser_t *p)
{
    size_t       len;
    const char  *s;

    pyro_an_trim(&p->name, &s, &len);

    if (pyro_an_validate(s, len, "service", pyro_an_service_rune, p->err)
        != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    p->out->app = malloc(len + 1);
    if (p->out->app == NULL) {
        pyro_err_internal(p->err, "out of memory");
        return PYRO_ERROR;
    }

    memcpy(p->out->app, s, len);
    p->out->app[len] = '\0';

    return PYRO_OK;
}


/* A ',' or '}' after a value: stores the pair. */
static int
pyro_an_value_end(pyro_an_parser_t *p)
{
    char        *app;
    size_t       klen, vlen;
    const char  *k, *v;

    pyro_an_trim(&p->key, &k, &klen);
    pyro_an_trim(&p->value, &v, &vlen);

    /* the reserved key is taken as is and names the app */
    if (!(klen == 8 && memcmp(k, "__name__", 8) == 0)) {
        if (pyro_an_validate(k, klen, "label", pyro_an_label_rune, p->err)
            != PYRO_OK)
        {
            return PYRO_ERROR;
        }

    } else {
        app = malloc(vlen + 1);
        if (app == NULL) {
            goto nomem;
        }

        memcpy(app, v, vlen);
        app[vlen] = '\0';
        free(p->out->app);
        p->out->app = app;
    }

    if (pyro_labels_set(&p->out->labels, k, klen, v, vlen) != PYRO_OK) {
        goto nomem;
    }

    p->key.len = 0;

    return PYRO_OK;

nomem:

    pyro_err_internal(p->err, "out of memory");

    return PYRO_ERROR;
}


static int
pyro_an_step(pyro_an_parser_t *p, uint32_t r)
{
    switch (p->state) {

    case PYRO_AN_NAME:
        if (r == '{') {
            p->state = PYRO_AN_KEY;
            return pyro_an_name_end(p);
        }

        pyro_buf_put_rune(&p->name, r);
        break;

    case PYRO_AN_KEY:
        if (r == '}') {
            p->state = PYRO_AN_DONE;

        } else if (r == '=') {
            p->state = PYRO_AN_VALUE;
            p->value.len = 0;

        } else {
            pyro_buf_put_rune(&p->key, r);
        }

        break;

    case PYRO_AN_VALUE:
        if (r == ',' || r == '}') {
            p->state = PYRO_AN_KEY;
            return pyro_an_value_end(p);
        }

        pyro_buf_put_rune(&p->value, r);
        break;

    case PYRO_AN_DONE:
        break;
    }

    return PYRO_OK;
}


int
pyro_appname_parse(const char *s, size_t len, pyro_appname_t *out,
    pyro_err_t *err)
{
    int                rc;
    size_t             i, k;
    uint32_t           r;
    pyro_an_parser_t   p;

    memset(out, 0, sizeof(pyro_appname_t));
    memset(&p, 0, sizeof(pyro_an_parser_t));

    p.state = PYRO_AN_NAME;
    p.out = out;
    p.err = err;
    rc = PYRO_OK;

    for (i = 0; i < len && p.state != PYRO_AN_DONE; i += k) {
        k = pyro_utf8_decode(s + i, len - i, &r);

        rc = pyro_an_step(&p, r);
        if (rc != PYRO_OK) {
            break;
        }
    }

    /* upstream parses name + "{": only an unfinished app name matters */
    if (rc == PYRO_OK && p.state == PYRO_AN_NAME) {
        rc = pyro_an_name_end(&p);
    }

    if (rc == PYRO_OK && (p.name.failed || p.key.failed || p.value.failed)) {
        pyro_err_internal(err, "out of memory");
        rc = PYRO_ERROR;
    }

    pyro_buf_free(&p.name);
    pyro_buf_free(&p.key);
    pyro_buf_free(&p.value);

    if (rc != PYRO_OK) {
        pyro_appname_free(out);
    }

    return rc;
}


void
pyro_appname_free(pyro_appname_t *an)
{
    free(an->app);
    pyro_labels_free(&an->labels);
    memset(an, 0, sizeof(pyro_appname_t));
}

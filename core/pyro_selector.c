
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * Prometheus label selectors (spec sections 6.1 and 4.1): an optional
 * metric name, then "{name op value, ...}".  The parser is a flat loop
 * over one token at a time: no recursion, and memory stays linear in the
 * input (one matcher per 3 input bytes at most, plus the strings).
 *
 * Regexes go to PCRE2, compiled fully anchored with "." matching "\n", as
 * Prometheus compiles "^(?s:re)$" with RE2.  A compiled pattern and the
 * match context are only read while matching; the match data is made per
 * call, so one selector may be matched from several threads.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH  8
#include <pcre2.h>

#include "pyro.h"


/* bounds on the work one regex match may do (backtracking is not RE2) */
#define PYRO_RE_MATCH_LIMIT  1000000
#define PYRO_RE_DEPTH_LIMIT  10000


typedef struct {
    char                  *name;
    size_t                 nlen;
    char                  *value;
    size_t                 vlen;
    pyro_match_op_e        op;
    pcre2_code            *re;
} pyro_matcher_t;


struct pyro_selector_s {
    pyro_matcher_t        *m;
    size_t                 n;
    size_t                 cap;
    char                  *profile_type;
    pcre2_match_context   *mctx;
};


typedef struct {
    const char            *start;
    const char            *p;
    const char            *end;
    pyro_buf_t             str;        /* the last string literal */
    pyro_buf_t             label;      /* the current label name */
    pyro_buf_t             metric;     /* the metric name, if any */
    int                    have_metric;
    int                    have_name_matcher;
    int                    query;
    pyro_selector_t       *sel;
    pyro_err_t            *err;
} pyro_sel_parser_t;


static void
pyro_sel_error(pyro_sel_parser_t *ps, const char *at, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;


/* Reports a parse error as Prometheus does: "line:column: parse error". */
static void
pyro_sel_error(pyro_sel_parser_t *ps, const char *at, const char *fmt, ...)
{
    char         msg[400];
    size_t       line;
    va_list      ap;
    const char  *p, *bol;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    line = 1;
    bol = ps->start;

    for (p = ps->start; p < at; p++) {
        if (*p == '\n') {
            line++;
            bol = p + 1;
        }
    }

    pyro_err_invalid(ps->err, "%zu:%zu: parse error: %s", line,
                     (size_t) (at - bol) + 1, msg);
}


static void
pyro_sel_nomem(pyro_sel_parser_t *ps)
{
    pyro_err_internal(ps->err, "out of memory");
}


static int
pyro_sel_alpha(int c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}


static int
pyro_sel_alnum(int c)
{
    return pyro_sel_alpha(c) || (c >= '0' && c <= '9');
}


static int
pyro_sel_quote_char(int c)
{
    return c == '"' || c == '\'' || c == '`';
}


/* Skips white space and "#" line comments, as the PromQL lexer does. */
static void
pyro_sel_skip(pyro_sel_parser_t *ps)
{
    while (ps->p < ps->end) {
        if (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n'
            || *ps->p == '\r')
        {
            ps->p++;

        } else if (*ps->p == '#') {
            while (ps->p < ps->end && *ps->p != '\n') {
                ps->p++;
            }

        } else {
            break;
        }
    }
}


/* Names what is at p for an error: end of input, a string, an
 * identifier or a character. */
static const char *
pyro_sel_what(pyro_sel_parser_t *ps, char *buf, size_t size)
{
    size_t       n;
    const char  *p;

    p = ps->p;

    if (p == ps->end) {
        return "end of input";
    }

    if (pyro_sel_quote_char(*p)) {
        return "string";
    }

    if (pyro_sel_alpha(*p)) {
        for (n = 1; p + n < ps->end && pyro_sel_alnum(p[n]); n++) {
            /* void */
        }

        snprintf(buf, size, "identifier \"%.*s\"", (int) (n > 64 ? 64 : n),
                 p);
        return buf;
    }

    if ((unsigned char) *p >= 0x20 && (unsigned char) *p < 0x7f) {
        snprintf(buf, size, "character '%c'", *p);

    } else {
        snprintf(buf, size, "byte 0x%02x", (unsigned char) *p);
    }

    return buf;
}


static void
pyro_sel_unexpected(pyro_sel_parser_t *ps, const char *expected)
{
    char  buf[96];

    pyro_sel_error(ps, ps->p, "unexpected %s in label matching, expected %s",
                   pyro_sel_what(ps, buf, sizeof(buf)), expected);
}


static int
pyro_sel_digit(int c, unsigned base)
{
    int  d;

    if (c >= '0' && c <= '9') {
        d = c - '0';

    } else if (c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;

    } else if (c >= 'A' && c <= 'F') {
        d = c - 'A' + 10;

    } else {
        return -1;
    }

    return (unsigned) d < base ? d : -1;
}


/* Reads the n digits of a numeric escape into *v. */
static int
pyro_sel_escape_num(pyro_sel_parser_t *ps, unsigned n, unsigned base,
    uint32_t *v)
{
    int       d;
    unsigned  i;

    *v = 0;

    for (i = 0; i < n; i++) {
        if (ps->p == ps->end) {
            pyro_sel_error(ps, ps->p, "escape sequence not terminated");
            return PYRO_ERROR;
        }

        d = pyro_sel_digit(*ps->p, base);
        if (d < 0) {
            pyro_sel_error(ps, ps->p, "illegal character '%c' in escape "
                           "sequence", *ps->p);
            return PYRO_ERROR;
        }

        *v = *v * base + (uint32_t) d;
        ps->p++;
    }

    return PYRO_OK;
}


/*
 * One escape of a double- or single-quoted literal (p is past the
 * backslash), with Go's rules: only the literal's own quote may be
 * escaped; \x and octal give a byte, \u and \U a code point in UTF-8.
 */
static int
pyro_sel_escape(pyro_sel_parser_t *ps, char quote)
{
    char         c;
    unsigned     n, base;
    uint32_t     v, max;
    const char  *at;

    static const char  simple[] = "a\ab\bf\fn\nr\rt\tv\v\\\\";

    at = ps->p - 1;

    if (ps->p == ps->end) {
        pyro_sel_error(ps, at, "escape sequence not terminated");
        return PYRO_ERROR;
    }

    c = *ps->p++;

    for (n = 0; simple[n]; n += 2) {
        if (c == simple[n]) {
            pyro_buf_putc(&ps->str, simple[n + 1]);
            return PYRO_OK;
        }
    }

    if (c == quote) {
        pyro_buf_putc(&ps->str, c);
        return PYRO_OK;
    }

    if (c >= '0' && c <= '7') {
        ps->p--;
        n = 3; base = 8; max = 255;

    } else if (c == 'x') {
        n = 2; base = 16; max = 255;

    } else if (c == 'u') {
        n = 4; base = 16; max = 0x10ffff;

    } else if (c == 'U') {
        n = 8; base = 16; max = 0x10ffff;

    } else {
        if ((unsigned char) c >= 0x20 && (unsigned char) c < 0x7f) {
            pyro_sel_error(ps, at, "unknown escape sequence '\\%c'", c);

        } else {
            pyro_sel_error(ps, at, "unknown escape sequence (byte 0x%02x)",
                           (unsigned char) c);
        }

        return PYRO_ERROR;
    }

    if (pyro_sel_escape_num(ps, n, base, &v) != PYRO_OK) {
        return PYRO_ERROR;
    }

    if (v > max || (v >= 0xd800 && v < 0xe000)) {
        pyro_sel_error(ps, at, "escape sequence is an invalid Unicode code "
                       "point");
        return PYRO_ERROR;
    }

    if (max == 255) {
        pyro_buf_putc(&ps->str, (char) v);

    } else {
        pyro_buf_put_rune(&ps->str, v);
    }

    return PYRO_OK;
}


/* A PromQL string literal at p, unquoted into ps->str. */
static int
pyro_sel_string(pyro_sel_parser_t *ps)
{
    char         q;
    const char  *lit, *e;

    lit = ps->p;
    q = *ps->p++;
    ps->str.len = 0;

    if (q == '`') {
        e = memchr(ps->p, '`', ps->end - ps->p);
        if (e == NULL) {
            pyro_sel_error(ps, lit, "unterminated raw string");
            return PYRO_ERROR;
        }

        pyro_buf_append(&ps->str, ps->p, e - ps->p);
        ps->p = e + 1;

    } else {
        for ( ;; ) {
            if (ps->p == ps->end || *ps->p == '\n') {
                pyro_sel_error(ps, lit, "unterminated quoted string");
                return PYRO_ERROR;
            }

            if (*ps->p == q) {
                ps->p++;
                break;
            }

            if (*ps->p == '\\') {
                ps->p++;

                if (pyro_sel_escape(ps, q) != PYRO_OK) {
                    return PYRO_ERROR;
                }

                continue;
            }

            pyro_buf_putc(&ps->str, *ps->p++);
        }
    }

    /* escapes are ASCII, so checking the raw text checks its characters */
    if (!pyro_utf8_valid(lit + 1, ps->p - lit - 2)) {
        pyro_sel_error(ps, lit, "invalid UTF-8 rune in string");
        return PYRO_ERROR;
    }

    if (ps->str.failed) {
        pyro_sel_nomem(ps);
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


static pcre2_code *
pyro_sel_compile(pyro_selector_t *sel, const char *re, size_t len,
    pyro_err_t *err)
{
    int          ec;
    uint32_t     opts;
    PCRE2_SIZE   eo;
    pcre2_code  *code;
    PCRE2_UCHAR  msg[256];

    opts = PCRE2_UTF | PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_DOTALL
           | PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_BACKSLASH_C;

#ifdef PCRE2_MATCH_INVALID_UTF
    /* a label value that is not UTF-8 simply fails to match */
    opts |= PCRE2_MATCH_INVALID_UTF;
#endif

    code = pcre2_compile((PCRE2_SPTR) (len ? re : ""), len, opts, &ec, &eo,
                         NULL);
    if (code == NULL) {
        pcre2_get_error_message(ec, msg, sizeof(msg));
        pyro_err_invalid(err, "invalid regular expression \"%.*s\": %s at "
                         "offset %zu", (int) len, re, (char *) msg,
                         (size_t) eo);
        return NULL;
    }

    if (sel->mctx == NULL) {
        sel->mctx = pcre2_match_context_create(NULL);
        if (sel->mctx == NULL) {
            pcre2_code_free(code);
            pyro_err_internal(err, "out of memory");
            return NULL;
        }

        pcre2_set_match_limit(sel->mctx, PYRO_RE_MATCH_LIMIT);
        pcre2_set_depth_limit(sel->mctx, PYRO_RE_DEPTH_LIMIT);
    }

    return code;
}


static char *
pyro_sel_dup(const char *s, size_t n)
{
    char  *p;

    p = malloc(n + 1);
    if (p == NULL) {
        return NULL;
    }

    if (n) {
        memcpy(p, s, n);
    }

    p[n] = '\0';

    return p;
}


static void
pyro_sel_matcher_free(pyro_matcher_t *m)
{
    free(m->name);
    free(m->value);
    pcre2_code_free(m->re);
}


static int
pyro_sel_add(pyro_selector_t *sel, const char *name, size_t nlen,
    pyro_match_op_e op, const char *value, size_t vlen, pyro_err_t *err)
{
    size_t           cap;
    pyro_matcher_t   m, *nm;

    memset(&m, 0, sizeof(pyro_matcher_t));

    m.op = op;
    m.nlen = nlen;
    m.vlen = vlen;

    if (op == PYRO_MATCH_RE || op == PYRO_MATCH_NRE) {
        m.re = pyro_sel_compile(sel, value, vlen, err);
        if (m.re == NULL) {
            return PYRO_ERROR;
        }
    }

    m.name = pyro_sel_dup(name, nlen);
    m.value = pyro_sel_dup(value, vlen);

    if (m.name == NULL || m.value == NULL) {
        goto nomem;
    }

    if (sel->n == sel->cap) {
        cap = sel->cap ? sel->cap * 2 : 4;

        nm = realloc(sel->m, cap * sizeof(pyro_matcher_t));
        if (nm == NULL) {
            goto nomem;
        }

        sel->m = nm;
        sel->cap = cap;
    }

    sel->m[sel->n++] = m;

    return PYRO_OK;

nomem:

    pyro_sel_matcher_free(&m);
    pyro_err_internal(err, "out of memory");

    return PYRO_ERROR;
}


/* The metric name, given before the braces or as a lone quoted string. */
static int
pyro_sel_set_metric(pyro_sel_parser_t *ps, const char *at, const char *s,
    size_t n)
{
    if (ps->have_metric || ps->have_name_matcher) {
        pyro_sel_error(ps, at, "metric name must not be set twice");
        return PYRO_ERROR;
    }

    ps->have_metric = 1;
    ps->metric.len = 0;
    pyro_buf_append(&ps->metric, s, n);

    if (ps->metric.failed) {
        pyro_sel_nomem(ps);
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


/*
 * A parsed "name op value".  A query keeps its __name__ matchers apart:
 * upstream takes the last one's value (whatever the operator) as the
 * profile type and drops them from the selector.
 */
static int
pyro_sel_matcher(pyro_sel_parser_t *ps, const char *at, const char *vat,
    pyro_match_op_e op)
{
    char  msg[sizeof(ps->err->msg)];

    if (ps->label.len == 8 && memcmp(ps->label.data, "__name__", 8) == 0) {
        if (ps->have_metric) {
            pyro_sel_error(ps, at, "metric name must not be set twice");
            return PYRO_ERROR;
        }

        ps->have_name_matcher = 1;

        if (ps->query) {
            ps->metric.len = 0;
            pyro_buf_append(&ps->metric, ps->str.data, ps->str.len);

            if (ps->metric.failed) {
                pyro_sel_nomem(ps);
                return PYRO_ERROR;
            }

            return PYRO_OK;
        }
    }

    if (pyro_sel_add(ps->sel, ps->label.data, ps->label.len, op,
                     ps->str.data, ps->str.len, ps->err)
        != PYRO_OK)
    {
        /* a bad regex is a parse error at the value, as in Prometheus */
        if (ps->err != NULL && ps->err->status == 400) {
            memcpy(msg, ps->err->msg, sizeof(msg));
            pyro_sel_error(ps, vat, "%s", msg);
        }

        return PYRO_ERROR;
    }

    return PYRO_OK;
}


/* The label name at p: an identifier or a quoted UTF-8 string. */
static int
pyro_sel_label(pyro_sel_parser_t *ps, int *quoted)
{
    const char  *at;

    at = ps->p;
    ps->label.len = 0;
    *quoted = pyro_sel_quote_char(*ps->p);

    if (*quoted) {
        if (pyro_sel_string(ps) != PYRO_OK) {
            return PYRO_ERROR;
        }

        pyro_buf_append(&ps->label, ps->str.data, ps->str.len);

    } else if (pyro_sel_alpha(*ps->p)) {
        while (ps->p < ps->end && pyro_sel_alnum(*ps->p)) {
            ps->p++;
        }

        pyro_buf_append(&ps->label, at, ps->p - at);

    } else {
        pyro_sel_unexpected(ps, "label name or \"}\"");
        return PYRO_ERROR;
    }

    if (ps->label.failed) {
        pyro_sel_nomem(ps);
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


static int
pyro_sel_op(pyro_sel_parser_t *ps, pyro_match_op_e *op)
{
    char  c, c2;

    c = ps->p < ps->end ? ps->p[0] : '\0';
    c2 = ps->p + 1 < ps->end ? ps->p[1] : '\0';

    if (c == '=') {
        *op = (c2 == '~') ? PYRO_MATCH_RE : PYRO_MATCH_EQ;

    } else if (c == '!' && c2 == '=') {
        *op = PYRO_MATCH_NE;

    } else if (c == '!' && c2 == '~') {
        *op = PYRO_MATCH_NRE;

    } else {
        pyro_sel_unexpected(ps, "label matching operator");
        return PYRO_ERROR;
    }

    ps->p += (*op == PYRO_MATCH_EQ) ? 1 : 2;

    return PYRO_OK;
}


/* One "name op value" (or a lone quoted metric name) inside the braces. */
static int
pyro_sel_item(pyro_sel_parser_t *ps)
{
    int               quoted;
    const char       *at, *vat;
    pyro_match_op_e   op;

    at = ps->p;

    if (pyro_sel_label(ps, &quoted) != PYRO_OK) {
        return PYRO_ERROR;
    }

    pyro_sel_skip(ps);

    if (quoted && ps->p < ps->end && (*ps->p == ',' || *ps->p == '}')) {
        return pyro_sel_set_metric(ps, at, ps->label.data, ps->label.len);
    }

    if (ps->label.len == 0 || !pyro_utf8_valid(ps->label.data,
                                               ps->label.len))
    {
        pyro_sel_error(ps, at, "invalid label name");
        return PYRO_ERROR;
    }

    if (pyro_sel_op(ps, &op) != PYRO_OK) {
        return PYRO_ERROR;
    }

    pyro_sel_skip(ps);

    if (ps->p == ps->end || !pyro_sel_quote_char(*ps->p)) {
        pyro_sel_unexpected(ps, "string");
        return PYRO_ERROR;
    }

    vat = ps->p;

    if (pyro_sel_string(ps) != PYRO_OK) {
        return PYRO_ERROR;
    }

    return pyro_sel_matcher(ps, at, vat, op);
}


/* "{" item { "," item } [ "," ] "}", p at the "{". */
static int
pyro_sel_braces(pyro_sel_parser_t *ps)
{
    ps->p++;

    for ( ;; ) {
        pyro_sel_skip(ps);

        if (ps->p == ps->end) {
            pyro_sel_error(ps, ps->p, "unexpected end of input inside "
                           "braces");
            return PYRO_ERROR;
        }

        if (*ps->p == '}') {
            ps->p++;
            return PYRO_OK;
        }

        if (pyro_sel_item(ps) != PYRO_OK) {
            return PYRO_ERROR;
        }

        pyro_sel_skip(ps);

        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;

        } else if (ps->p < ps->end && *ps->p != '}') {
            pyro_sel_unexpected(ps, "\",\" or \"}\"");
            return PYRO_ERROR;
        }
    }
}


/* [ metric ] [ "{" ... "}" ], surrounded by white space. */
static int
pyro_sel_input(pyro_sel_parser_t *ps)
{
    char         buf[96];
    const char  *at;

    pyro_sel_skip(ps);

    if (ps->p < ps->end && (pyro_sel_alpha(*ps->p) || *ps->p == ':')) {
        at = ps->p;

        while (ps->p < ps->end && (pyro_sel_alnum(*ps->p) || *ps->p == ':'))
        {
            ps->p++;
        }

        if (pyro_sel_set_metric(ps, at, at, ps->p - at) != PYRO_OK) {
            return PYRO_ERROR;
        }

        pyro_sel_skip(ps);
    }

    if (ps->p < ps->end && *ps->p == '{') {
        if (pyro_sel_braces(ps) != PYRO_OK) {
            return PYRO_ERROR;
        }

        pyro_sel_skip(ps);
    }

    if (ps->p < ps->end) {
        pyro_sel_error(ps, ps->p, "unexpected %s",
                       pyro_sel_what(ps, buf, sizeof(buf)));
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


/* Appends s as Go's %q would, close enough for an error message. */
static void
pyro_sel_quote(pyro_buf_t *b, const char *s, size_t n)
{
    int            utf8;
    size_t         i;
    unsigned char  c;

    static const char  esc[] = "abtnvfr";

    utf8 = pyro_utf8_valid(s, n);
    pyro_buf_putc(b, '"');

    for (i = 0; i < n; i++) {
        c = (unsigned char) s[i];

        if (c == '"' || c == '\\') {
            pyro_buf_putc(b, '\\');
            pyro_buf_putc(b, (char) c);

        } else if (c >= '\a' && c <= '\r') {
            pyro_buf_putc(b, '\\');
            pyro_buf_putc(b, esc[c - '\a']);

        } else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8)) {
            pyro_buf_printf(b, "\\x%02x", c);

        } else {
            pyro_buf_putc(b, (char) c);
        }
    }

    pyro_buf_putc(b, '"');
}


/*
 * A query's profile type: 5 or 6 ':'-separated parts, the first five
 * of which select the series through __profile_type__.
 */
static int
pyro_sel_profile_type(pyro_sel_parser_t *ps)
{
    size_t            i, parts, five;
    pyro_buf_t        q;
    pyro_matcher_t    m;
    pyro_selector_t  *sel;

    sel = ps->sel;

    if (!ps->have_metric && !ps->have_name_matcher) {
        pyro_err_invalid(ps->err, "\"query\" must contain a profile-type "
                         "selection");
        return PYRO_ERROR;
    }

    parts = 1;
    five = ps->metric.len;

    for (i = 0; i < ps->metric.len; i++) {
        if (ps->metric.data[i] == ':' && ++parts == 6) {
            five = i;
        }
    }

    if (parts != 5 && parts != 6) {
        memset(&q, 0, sizeof(pyro_buf_t));
        pyro_sel_quote(&q, ps->metric.data, ps->metric.len);
        pyro_err_invalid(ps->err, "profile-type selection must be of the "
                         "form <name>:<sample-type>:<sample-unit>:"
                         "<period-type>:<period-unit>(:delta), got(%zu): "
                         "%.*s", parts, q.failed ? 0 : (int) q.len,
                         q.failed ? "" : q.data);
        pyro_buf_free(&q);
        return PYRO_ERROR;
    }

    sel->profile_type = pyro_sel_dup(ps->metric.data, five);

    if (sel->profile_type == NULL
        || pyro_sel_add(sel, "__profile_type__", 16, PYRO_MATCH_EQ,
                        ps->metric.data, five, ps->err) != PYRO_OK)
    {
        pyro_sel_nomem(ps);
        return PYRO_ERROR;
    }

    /* first, as it rules out most series at once */
    m = sel->m[sel->n - 1];
    memmove(&sel->m[1], &sel->m[0], (sel->n - 1) * sizeof(pyro_matcher_t));
    sel->m[0] = m;

    return PYRO_OK;
}


static pyro_selector_t *
pyro_sel_parse(const char *s, size_t len, int query, pyro_err_t *err)
{
    int                 rc;
    pyro_sel_parser_t   ps;

    memset(&ps, 0, sizeof(pyro_sel_parser_t));

    ps.sel = calloc(1, sizeof(pyro_selector_t));
    if (ps.sel == NULL) {
        pyro_err_internal(err, "out of memory");
        return NULL;
    }

    ps.start = s ? s : "";
    ps.p = ps.start;
    ps.end = ps.start + (s ? len : 0);
    ps.query = query;
    ps.err = err;

    rc = pyro_sel_input(&ps);

    if (rc == PYRO_OK && query) {
        rc = pyro_sel_profile_type(&ps);

    } else if (rc == PYRO_OK && ps.have_metric) {
        rc = pyro_sel_add(ps.sel, "__name__", 8, PYRO_MATCH_EQ,
                          ps.metric.data, ps.metric.len, err);
    }

    pyro_buf_free(&ps.str);
    pyro_buf_free(&ps.label);
    pyro_buf_free(&ps.metric);

    if (rc != PYRO_OK) {
        pyro_selector_free(ps.sel);
        return NULL;
    }

    return ps.sel;
}


pyro_selector_t *
pyro_selector_parse(const char *s, size_t len, pyro_err_t *err)
{
    return pyro_sel_parse(s, len, 0, err);
}


pyro_selector_t *
pyro_selector_parse_query(const char *s, size_t len, pyro_err_t *err)
{
    return pyro_sel_parse(s, len, 1, err);
}


int
pyro_selector_add(pyro_selector_t *sel, const char *name,
    pyro_match_op_e op, const char *value, pyro_err_t *err)
{
    if (op != PYRO_MATCH_EQ && op != PYRO_MATCH_NE && op != PYRO_MATCH_RE
        && op != PYRO_MATCH_NRE)
    {
        pyro_err_internal(err, "unknown label matching operator %d",
                          (int) op);
        return PYRO_ERROR;
    }

    return pyro_sel_add(sel, name, strlen(name), op, value, strlen(value),
                        err);
}


const char *
pyro_selector_profile_type(const pyro_selector_t *sel)
{
    return sel ? sel->profile_type : NULL;
}


/* The matcher's label value in v; a missing label reads as "". */
static const char *
pyro_sel_lookup(const pyro_matcher_t *m, const pyro_label_t *v, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (strlen(v[i].name) == m->nlen
            && memcmp(v[i].name, m->name, m->nlen) == 0)
        {
            return v[i].value;
        }
    }

    return "";
}


static int
pyro_sel_match_one(const pyro_selector_t *sel, const pyro_matcher_t *m,
    const char *val, pcre2_match_data **md)
{
    int     rc;
    size_t  len;

    len = strlen(val);

    switch (m->op) {

    case PYRO_MATCH_EQ:
        return len == m->vlen && memcmp(val, m->value, len) == 0;

    case PYRO_MATCH_NE:
        return !(len == m->vlen && memcmp(val, m->value, len) == 0);

    default:
        break;
    }

    if (*md == NULL) {
        *md = pcre2_match_data_create(1, NULL);
        if (*md == NULL) {
            return 0;
        }
    }

    /* any failure, a hit match limit included, counts as no match */
    rc = pcre2_match(m->re, (PCRE2_SPTR) val, len, 0, 0, *md, sel->mctx);

    return (m->op == PYRO_MATCH_RE) ? (rc >= 0) : (rc < 0);
}


int
pyro_selector_match(const pyro_selector_t *sel, const pyro_label_t *v,
    size_t n)
{
    int                 ok;
    size_t              i;
    pcre2_match_data   *md;

    md = NULL;
    ok = 1;

    for (i = 0; ok && i < sel->n; i++) {
        ok = pyro_sel_match_one(sel, &sel->m[i],
                                pyro_sel_lookup(&sel->m[i], v, n), &md);
    }

    pcre2_match_data_free(md);

    return ok;
}


void
pyro_selector_free(pyro_selector_t *sel)
{
    size_t  i;

    if (sel == NULL) {
        return;
    }

    for (i = 0; i < sel->n; i++) {
        pyro_sel_matcher_free(&sel->m[i]);
    }

    free(sel->m);
    free(sel->profile_type);
    pcre2_match_context_free(sel->mctx);
    free(sel);
}

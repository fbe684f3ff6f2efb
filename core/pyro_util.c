
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * Small shared pieces: errors, growable buffers, bounded readers, label
 * sets and UTF-8 checks.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/random.h>

#include "pyro.h"


void
pyro_err_set(pyro_err_t *err, int status, const char *code,
    const char *fmt, ...)
{
    va_list  ap;

    if (err == NULL) {
        return;
    }

    err->status = status;
    err->code = code;

    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}


int
pyro_array_reserve(void **arr, size_t *cap, size_t n, size_t sz)
{
    void    *p;
    size_t   c;

    if (n <= *cap) {
        return PYRO_OK;
    }

    c = *cap ? *cap : 16;

    while (c < n) {
        if (c > SIZE_MAX / 2 / sz) {
            return PYRO_ERROR;
        }

        c *= 2;
    }

    p = realloc(*arr, c * sz);
    if (p == NULL) {
        return PYRO_ERROR;
    }

    *arr = p;
    *cap = c;

    return PYRO_OK;
}


int
pyro_buf_reserve(pyro_buf_t *b, size_t extra)
{
    char    *p;
    size_t   cap;

    if (b->failed) {
        return PYRO_ERROR;
    }

    if (b->len + extra <= b->cap) {
        return PYRO_OK;
    }

    cap = b->cap ? b->cap : 256;

    while (cap < b->len + extra) {
        if (cap > SIZE_MAX / 2) {
            b->failed = 1;
            return PYRO_ERROR;
        }
        cap *= 2;
    }

    p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = 1;
        return PYRO_ERROR;
    }

    b->data = p;
    b->cap = cap;

    return PYRO_OK;
}


void
pyro_buf_append(pyro_buf_t *b, const void *p, size_t n)
{
    if (n == 0 || pyro_buf_reserve(b, n) != PYRO_OK) {
        return;
    }

    memcpy(b->data + b->len, p, n);
    b->len += n;
}


void
pyro_buf_putc(pyro_buf_t *b, char c)
{
    if (pyro_buf_reserve(b, 1) != PYRO_OK) {
        return;
    }

    b->data[b->len++] = c;
}


void
pyro_buf_puts(pyro_buf_t *b, const char *s)
{
    pyro_buf_append(b, s, strlen(s));
}


void
pyro_buf_printf(pyro_buf_t *b, const char *fmt, ...)
{
    int      n;
    va_list  ap;

    if (pyro_buf_reserve(b, 64) != PYRO_OK) {
        return;
    }

    va_start(ap, fmt);
    n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);

    if (n < 0) {
        b->failed = 1;
        return;
    }

    if ((size_t) n >= b->cap - b->len) {
        if (pyro_buf_reserve(b, (size_t) n + 1) != PYRO_OK) {
            return;
        }

        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }

    b->len += (size_t) n;
}


void
pyro_buf_put_uvarint(pyro_buf_t *b, uint64_t v)
{
    unsigned char  tmp[10];
    size_t         n;

    n = 0;

    while (v >= 0x80) {
        tmp[n++] = (unsigned char) (v | 0x80);
        v >>= 7;
    }

    tmp[n++] = (unsigned char) v;

    pyro_buf_append(b, tmp, n);
}


void
pyro_buf_put_u32le(pyro_buf_t *b, uint32_t v)
{
    unsigned char  tmp[4];

    tmp[0] = (unsigned char) v;
    tmp[1] = (unsigned char) (v >> 8);
    tmp[2] = (unsigned char) (v >> 16);
    tmp[3] = (unsigned char) (v >> 24);

    pyro_buf_append(b, tmp, 4);
}


void
pyro_buf_put_u64le(pyro_buf_t *b, uint64_t v)
{
    pyro_buf_put_u32le(b, (uint32_t) v);
    pyro_buf_put_u32le(b, (uint32_t) (v >> 32));
}


/*
 * Returns the length of the valid UTF-8 sequence at s (1..4), or 0 if
 * the bytes there are not valid UTF-8 (overlong forms, surrogates and
 * values past U+10FFFF are invalid, as in Go).
 */
static size_t
pyro_utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    uint32_t  c, min;
    size_t    len, i;

    c = s[0];

    if (c < 0x80) {
        *cp = c;
        return 1;
    }

    if ((c & 0xe0) == 0xc0) {
        len = 2; c &= 0x1f; min = 0x80;

    } else if ((c & 0xf0) == 0xe0) {
        len = 3; c &= 0x0f; min = 0x800;

    } else if ((c & 0xf8) == 0xf0) {
        len = 4; c &= 0x07; min = 0x10000;

    } else {
        return 0;
    }

    if (len > n) {
        return 0;
    }

    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        c = (c << 6) | (s[i] & 0x3f);
    }

    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
        return 0;
    }

    *cp = c;

    return len;
}


size_t
pyro_utf8_decode(const char *s, size_t n, uint32_t *r)
{
    size_t  k;

    k = pyro_utf8_seq((const unsigned char *) s, n, r);

    if (k == 0) {
        *r = 0xfffd;
        return 1;
    }

    return k;
}


void
pyro_buf_put_rune(pyro_buf_t *b, uint32_t r)
{
    if (r < 0x80) {
        pyro_buf_putc(b, (char) r);

    } else if (r < 0x800) {
        pyro_buf_putc(b, (char) (0xc0 | (r >> 6)));
        pyro_buf_putc(b, (char) (0x80 | (r & 0x3f)));

    } else if (r < 0x10000) {
        pyro_buf_putc(b, (char) (0xe0 | (r >> 12)));
        pyro_buf_putc(b, (char) (0x80 | ((r >> 6) & 0x3f)));
        pyro_buf_putc(b, (char) (0x80 | (r & 0x3f)));

    } else {
        pyro_buf_putc(b, (char) (0xf0 | (r >> 18)));
        pyro_buf_putc(b, (char) (0x80 | ((r >> 12) & 0x3f)));
        pyro_buf_putc(b, (char) (0x80 | ((r >> 6) & 0x3f)));
        pyro_buf_putc(b, (char) (0x80 | (r & 0x3f)));
    }
}


int
pyro_utf8_valid(const char *s, size_t n)
{
    size_t                i, k;
    uint32_t              cp;
    const unsigned char  *p;

    p = (const unsigned char *) s;

    for (i = 0; i < n; i += k) {
        k = pyro_utf8_seq(p + i, n - i, &cp);
        if (k == 0) {
            return 0;
        }
    }

    return 1;
}


void
pyro_buf_put_json_str(pyro_buf_t *b, const char *s, size_t n)
{
    size_t                i, k;
    uint32_t              cp;
    const unsigned char  *p;
    static const char     hex[] = "0123456789abcdef";

    p = (const unsigned char *) s;

    pyro_buf_putc(b, '"');

    for (i = 0; i < n; i += k) {
        k = pyro_utf8_seq(p + i, n - i, &cp);

        if (k == 0) {
            pyro_buf_puts(b, "\\ufffd");
            k = 1;
            continue;
        }

        switch (cp) {
        case '"':
            pyro_buf_puts(b, "\\\"");
            continue;
        case '\\':
            pyro_buf_puts(b, "\\\\");
            continue;
        case '\n':
            pyro_buf_puts(b, "\\n");
            continue;
        case '\r':
            pyro_buf_puts(b, "\\r");
            continue;
        case '\t':
            pyro_buf_puts(b, "\\t");
            continue;
        case '<':
        case '>':
        case '&':
        case 0x2028:
        case 0x2029:
            break;
        default:
            if (cp >= 0x20) {
                pyro_buf_append(b, p + i, k);
                continue;
            }
        }

        pyro_buf_puts(b, "\\u");
        pyro_buf_putc(b, hex[(cp >> 12) & 0xf]);
        pyro_buf_putc(b, hex[(cp >> 8) & 0xf]);
        pyro_buf_putc(b, hex[(cp >> 4) & 0xf]);
        pyro_buf_putc(b, hex[cp & 0xf]);
    }

    pyro_buf_putc(b, '"');
}


void
pyro_buf_free(pyro_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
}


uint64_t
pyro_rd_uvarint(pyro_rd_t *rd)
{
    uint64_t  v;
    unsigned  shift;

    v = 0;

    for (shift = 0; shift < 64; shift += 7) {
        if (rd->p >= rd->end) {
            rd->failed = 1;
            return 0;
        }

        v |= (uint64_t) (*rd->p & 0x7f) << shift;

        if ((*rd->p++ & 0x80) == 0) {
            return v;
        }
    }

    rd->failed = 1;

    return 0;
}


uint32_t
pyro_get_u32le(const void *p)
{
    const unsigned char  *b = p;

    return (uint32_t) b[0] | (uint32_t) b[1] << 8
           | (uint32_t) b[2] << 16 | (uint32_t) b[3] << 24;
}


uint64_t
pyro_get_u64le(const void *p)
{
    const unsigned char  *b = p;

    return (uint64_t) pyro_get_u32le(b)
           | (uint64_t) pyro_get_u32le(b + 4) << 32;
}


uint32_t
pyro_rd_u32le(pyro_rd_t *rd)
{
    const char  *p;

    p = pyro_rd_bytes(rd, 4);

    return p ? pyro_get_u32le(p) : 0;
}


uint64_t
pyro_rd_u64le(pyro_rd_t *rd)
{
    const char  *p;

    p = pyro_rd_bytes(rd, 8);

    return p ? pyro_get_u64le(p) : 0;
}


const char *
pyro_rd_bytes(pyro_rd_t *rd, size_t n)
{
    const char  *p;

    if (rd->failed || (size_t) (rd->end - rd->p) < n) {
        rd->failed = 1;
        return NULL;
    }

    p = (const char *) rd->p;
    rd->p += n;

    return p;
}


static char *
pyro_strndup(const char *s, size_t n)
{
    char  *p;

    p = malloc(n + 1);
    if (p == NULL) {
        return NULL;
    }

    memcpy(p, s, n);
    p[n] = '\0';

    return p;
}


int
pyro_labels_set(pyro_labels_t *ls, const char *name, size_t nlen,
    const char *value, size_t vlen)
{
    size_t         i, cap;
    char          *n, *v;
    pyro_label_t  *nv;

    v = pyro_strndup(value, vlen);
    if (v == NULL) {
        return PYRO_ERROR;
    }

    for (i = 0; i < ls->n; i++) {
        if (strlen(ls->v[i].name) == nlen
            && memcmp(ls->v[i].name, name, nlen) == 0)
        {
            free(ls->v[i].value);
            ls->v[i].value = v;
            return PYRO_OK;
        }
    }

    if (ls->n == ls->cap) {
        cap = ls->cap ? ls->cap * 2 : 8;
        nv = realloc(ls->v, cap * sizeof(pyro_label_t));
        if (nv == NULL) {
            free(v);
            return PYRO_ERROR;
        }
        ls->v = nv;
        ls->cap = cap;
    }

    n = pyro_strndup(name, nlen);
    if (n == NULL) {
        free(v);
        return PYRO_ERROR;
    }

    ls->v[ls->n].name = n;
    ls->v[ls->n].value = v;
    ls->n++;

    return PYRO_OK;
}


int
pyro_labels_set_cstr(pyro_labels_t *ls, const char *name, const char *value)
{
    return pyro_labels_set(ls, name, strlen(name), value, strlen(value));
}


const char *
pyro_labels_get(const pyro_labels_t *ls, const char *name)
{
    size_t  i;

    for (i = 0; i < ls->n; i++) {
        if (strcmp(ls->v[i].name, name) == 0) {
            return ls->v[i].value;
        }
    }

    return NULL;
}


void
pyro_labels_del(pyro_labels_t *ls, const char *name)
{
    size_t  i;

    for (i = 0; i < ls->n; i++) {
        if (strcmp(ls->v[i].name, name) == 0) {
            free(ls->v[i].name);
            free(ls->v[i].value);
            memmove(&ls->v[i], &ls->v[i + 1],
                    (ls->n - i - 1) * sizeof(pyro_label_t));
            ls->n--;
            return;
        }
    }
}


static int
pyro_label_cmp(const void *a, const void *b)
{
    const pyro_label_t  *la = a, *lb = b;

    return strcmp(la->name, lb->name);
}


void
pyro_labels_sort(pyro_labels_t *ls)
{
    if (ls->n > 1) {
        qsort(ls->v, ls->n, sizeof(pyro_label_t), pyro_label_cmp);
    }
}


/* CompareLabelPairs: pairwise by name then value, a prefix first. */
int
pyro_labels_cmp(const pyro_labels_t *a, const pyro_labels_t *b)
{
    int     rc;
    size_t  i, n;

    n = a->n < b->n ? a->n : b->n;

    for (i = 0; i < n; i++) {
        rc = strcmp(a->v[i].name, b->v[i].name);
        if (rc == 0) {
            rc = strcmp(a->v[i].value, b->v[i].value);
        }

        if (rc) {
            return rc < 0 ? -1 : 1;
        }
    }

    return (a->n > b->n) - (a->n < b->n);
}


int64_t
pyro_ms_to_ns(int64_t ms)
{
    int64_t  ns;

    if (__builtin_mul_overflow(ms, (int64_t) 1000000, &ns)) {
        return ms < 0 ? INT64_MIN : INT64_MAX;
    }

    return ns;
}


void
pyro_labels_free(pyro_labels_t *ls)
{
    size_t  i;

    for (i = 0; i < ls->n; i++) {
        free(ls->v[i].name);
        free(ls->v[i].value);
    }

    free(ls->v);
    ls->v = NULL;
    ls->n = 0;
    ls->cap = 0;
}


/* Fills buf from the kernel's CSPRNG; /dev/urandom if getrandom(2) is
 * missing (old kernels, seccomp sandboxes). */
static int
pyro_random_bytes(unsigned char *buf, size_t n)
{
    int      fd;
    size_t   got;
    ssize_t  r;

    for (got = 0; got < n; got += (size_t) r) {
        r = getrandom(buf + got, n - got, 0);

        if (r < 0 && errno == EINTR) {
            r = 0;
            continue;
        }

        if (r < 0) {
            break;
        }
    }

    if (got == n) {
        return PYRO_OK;
    }

    fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return PYRO_ERROR;
    }

    for (got = 0; got < n; got += (size_t) r) {
        r = read(fd, buf + got, n - got);

        if (r <= 0 && !(r < 0 && errno == EINTR)) {
            (void) close(fd);
            return PYRO_ERROR;
        }

        r = r < 0 ? 0 : r;
    }

    (void) close(fd);

    return PYRO_OK;
}


int
pyro_uuid_v4(char out[PYRO_UUID_LEN + 1])
{
    char           *p;
    size_t          i;
    unsigned char   u[16];

    static const char  hex[] = "0123456789abcdef";

    if (pyro_random_bytes(u, sizeof(u)) != PYRO_OK) {
        out[0] = '\0';
        return PYRO_ERROR;
    }

    u[6] = (unsigned char) ((u[6] & 0x0f) | 0x40);      /* version 4 */
    u[8] = (unsigned char) ((u[8] & 0x3f) | 0x80);      /* RFC 4122 */

    p = out;

    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            *p++ = '-';
        }

        *p++ = hex[u[i] >> 4];
        *p++ = hex[u[i] & 0x0f];
    }

    *p = '\0';

    return PYRO_OK;
}

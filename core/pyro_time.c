
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * Legacy time parameters ("from", "until" as upstream's attime.Parse reads
 * them) and the render timeline step (CalcPointInterval).  Both follow
 * upstream's code rather than its docs; spec sections 6.3 and 6.4.
 */


#include <stdlib.h>
#include <string.h>

#include "pyro.h"


#define PYRO_NS_PER_SEC   1000000000LL
#define PYRO_SEC_PER_DAY  86400LL


/*
 * The length of the Unicode white space character at p (Go's
 * unicode.IsSpace), or 0.  Matching the UTF-8 bytes directly is enough:
 * a continuation byte can never start one of these sequences.
 */
static size_t
pyro_time_space(const unsigned char *p, size_t n)
{
    if (*p == ' ' || (*p >= '\t' && *p <= '\r')) {
        return 1;
    }

    if (n >= 2 && p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0)) {
        return 2;
    }

    if (n < 3) {
        return 0;
    }

    if ((p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80)
        || (p[0] == 0xe2 && p[1] == 0x80
            && (p[2] <= 0x8a || p[2] == 0xa8 || p[2] == 0xa9
                || p[2] == 0xaf))
        || (p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f)
        || (p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80))
    {
        return 3;
    }

    return 0;
}


/*
 * Copies s without surrounding white space (strings.TrimSpace) and
 * without any '_', ',' or ' ' inside, as upstream does before parsing.
 */
static char *
pyro_time_clean(const char *s, size_t len, size_t *out_len)
{
    char                 *t;
    size_t                i, k, start, end, n;
    const unsigned char  *p;

    p = (const unsigned char *) s;
    start = 0;

    while (start < len && (k = pyro_time_space(p + start, len - start))) {
        start += k;
    }

    end = start;

    for (i = start; i < len; i += k) {
        k = pyro_time_space(p + i, len - i);
        if (k == 0) {
            k = 1;
            end = i + 1;
        }
    }

    t = malloc(end - start + 1);
    if (t == NULL) {
        return NULL;
    }

    n = 0;

    for (i = start; i < end; i++) {
        if (s[i] != '_' && s[i] != ',' && s[i] != ' ') {
            t[n++] = s[i];
        }
    }

    t[n] = '\0';
    *out_len = n;

    return t;
}


/* Reads the decimal digits at s into *v; PYRO_ERROR on int64 overflow. */
static int
pyro_time_digits(const char *s, size_t n, int64_t *v)
{
    size_t   i;
    int64_t  d;

    *v = 0;

    for (i = 0; i < n; i++) {
        d = s[i] - '0';

        if (*v > (INT64_MAX - d) / 10) {
            return PYRO_ERROR;
        }

        *v = *v * 10 + d;
    }

    return PYRO_OK;
}


static size_t
pyro_time_ndigits(const char *s, size_t n)
{
    size_t  i;

    for (i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        /* void */
    }

    return i;
}


static int
pyro_time_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}


/* Days since 1970-01-01 of a proleptic Gregorian date (year > 0). */
static int64_t
pyro_time_days(int64_t y, int64_t m, int64_t d)
{
    static const int  before[12] = {
        0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334
    };

    int64_t  days, py;

    py = y - 1;
    days = py * 365 + py / 4 - py / 100 + py / 400;
    days += before[m - 1] + (m > 2 && pyro_time_leap(y)) + d - 1;

    /* 719162 is the day count of 0001-01-01 .. 1970-01-01 */
    return days - 719162;
}


/*
 * An 8-digit YYYYMMDD that Go's time.Parse("20060102") accepts and whose
 * year is past 1900 (upstream's extra test) gives that UTC midnight;
 * PYRO_DECLINED if it is no such date (then it is seconds).
 */
static int
pyro_time_date(const char *s, int64_t *out)
{
    int64_t          y, m, d, dim;
    static const int  mdays[12] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    (void) pyro_time_digits(s, 4, &y);
    (void) pyro_time_digits(s + 4, 2, &m);
    (void) pyro_time_digits(s + 6, 2, &d);

    if (y <= 1900 || m < 1 || m > 12 || d < 1) {
        return PYRO_DECLINED;
    }

    dim = mdays[m - 1] + (m == 2 && pyro_time_leap(y));

    if (d > dim) {
        return PYRO_DECLINED;
    }

    /* dates past 2262-04-11 do not fit in int64 nanoseconds */
    if (__builtin_mul_overflow(pyro_time_days(y, m, d),
                               PYRO_SEC_PER_DAY * PYRO_NS_PER_SEC, out))
    {
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


/* All-digit values: a date, or a Unix time whose unit the length tells. */
static int
pyro_time_number(const char *s, size_t n, int64_t *out)
{
    int      rc;
    int64_t  v, scale;

    if (n == 8) {
        rc = pyro_time_date(s, out);
        if (rc != PYRO_DECLINED) {
            return rc;
        }
    }

    if (pyro_time_digits(s, n, &v) != PYRO_OK) {
        return PYRO_ERROR;
    }

    switch (n) {
    case 13:
        scale = 1000000;
        break;
    case 16:
        scale = 1000;
        break;
    case 19:
        scale = 1;
        break;
    default:
        scale = PYRO_NS_PER_SEC;
    }

    if (__builtin_mul_overflow(v, scale, out)) {
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


/* Seconds per unit, chosen by prefix in upstream's order; unknown: 0. */
static int64_t
pyro_time_unit(const char *u, size_t n)
{
    if (n >= 1 && u[0] == 's') {
        return 1;
    }

    if ((n >= 3 && memcmp(u, "mon", 3) == 0) || (n >= 1 && u[0] == 'M')) {
        return 30 * PYRO_SEC_PER_DAY;
    }

    if (n >= 1) {
        switch (u[0]) {
        case 'm':
            return 60;
        case 'h':
            return 3600;
        case 'd':
            return PYRO_SEC_PER_DAY;
        case 'w':
            return 7 * PYRO_SEC_PER_DAY;
        case 'y':
            return 365 * PYRO_SEC_PER_DAY;
        }
    }

    return 0;
}


/*
 * "<ref>[+|-]<offset>": the reference is always now.  The offset is read
 * as upstream's loop really does: leading digits, then everything left is
 * the unit, so only its first letters count ("now-3h30m" is now - 3h).
 */
static int
pyro_time_relative(const char *s, size_t n, int64_t now_ns, int64_t *out)
{
    size_t       nd, rn;
    int64_t      num, sec, ns;
    const char  *op, *rest;

    op = memchr(s, '+', n);
    if (op == NULL) {
        op = memchr(s, '-', n);
    }

    if (op == NULL) {
        *out = now_ns;
        return PYRO_OK;
    }

    rest = op + 1;
    rn = n - (size_t) (rest - s);
    nd = pyro_time_ndigits(rest, rn);

    if (pyro_time_digits(rest, nd, &num) != PYRO_OK
        || __builtin_mul_overflow(num, pyro_time_unit(rest + nd, rn - nd),
                                  &sec)
        || __builtin_mul_overflow(sec, PYRO_NS_PER_SEC, &ns))
    {
        return PYRO_ERROR;
    }

    if (*op == '-') {
        ns = -ns;
    }

    if (__builtin_add_overflow(now_ns, ns, out)) {
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


int
pyro_attime_parse(const char *s, size_t len, int64_t now_ns, int64_t *out)
{
    int      rc;
    char    *t;
    size_t   n;

    *out = now_ns;

    t = pyro_time_clean(s, len, &n);
    if (t == NULL) {
        return PYRO_ERROR;
    }

    if (n > 0 && pyro_time_ndigits(t, n) == n) {
        rc = pyro_time_number(t, n, out);

    } else {
        rc = pyro_time_relative(t, n, now_ns, out);
    }

    free(t);

    if (rc != PYRO_OK) {
        *out = now_ns;
    }

    return rc;
}


int64_t
pyro_render_step_sec(int64_t start_ms, int64_t end_ms)
{
    size_t          i;
    int64_t         diff, interval;

    /* thresholds (interval <= limit, in ms) and their steps (s) */
    static const struct {
        int64_t     limit_ms;
        int64_t     step;
    } steps[] = {
        { 17500, 15 },          { 25000, 20 },          { 45000, 30 },
        { 90000, 60 },          { 210000, 120 },        { 450000, 300 },
        { 750000, 600 },        { 1050000, 900 },       { 1500000, 1200 },
        { 2700000, 1800 },      { 5400000, 3600 },      { 9000000, 7200 },
        { 16200000, 10800 },    { 32400000, 21600 },    { 86400000, 43200 },
        { 172800000, 86400 },   { 604800000, 86400 },
        { 1814400000, 604800 }
    };

    /*
     * interval = (end - start) * 1e6 / 1500 ns, that is diff * 2000 / 3;
     * a range too large for that product is past every threshold.
     */
    if (__builtin_sub_overflow(end_ms, start_ms, &diff)) {
        return end_ms < start_ms ? 15 : 31536000;
    }

    if (diff > INT64_MAX / 2000) {
        return 31536000;
    }

    interval = diff * 2000 / 3;

    if (interval < 15 * PYRO_NS_PER_SEC) {
        return 15;
    }

    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if (interval <= steps[i].limit_ms * 1000000) {
            return steps[i].step;
        }
    }

    /* the last band is "< 3628800 s", strictly */
    if (interval < 3628800LL * PYRO_NS_PER_SEC) {
        return 2592000;
    }

    return 31536000;
}

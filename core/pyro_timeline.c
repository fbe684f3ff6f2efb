
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * The render timeline: raw (time, value) points are first summed into
 * right-edge buckets of one step on the grid start + k * step <= end, as
 * upstream's SelectSeries does, and then laid out as a dense array of
 * step-wide slots between the snapped start and end, as timeline.New
 * does.  The grid is never materialized: only the buckets that hold
 * points are, so an absurd range costs nothing but its capped output.
 */


#include <stdlib.h>
#include <string.h>

#include "pyro.h"


/* The most slots one timeline writes (about 20 MB of JSON). */
#define PYRO_TL_MAX_SLOTS  10000000


/* A point being bucketed; "i" keeps equal timestamps in insertion
 * order, so the float sums are the same on every run. */
typedef struct {
    int64_t         ts;
    double          v;
    size_t          i;
} pyro_tl_pt_t;


int
pyro_points_add(pyro_points_t *pts, int64_t ts_ms, double value)
{
    size_t         cap;
    pyro_point_t  *p;

    if (pts->n == pts->cap) {
        cap = pts->cap ? pts->cap * 2 : 64;

        if (cap > SIZE_MAX / sizeof(pyro_point_t)) {
            return PYRO_ERROR;
        }

        p = realloc(pts->v, cap * sizeof(pyro_point_t));
        if (p == NULL) {
            return PYRO_ERROR;
        }

        pts->v = p;
        pts->cap = cap;
    }

    pts->v[pts->n].ts_ms = ts_ms;
    pts->v[pts->n].value = value;
    pts->n++;

    return PYRO_OK;
}


void
pyro_points_free(pyro_points_t *pts)
{
    free(pts->v);
    pts->v = NULL;
    pts->n = 0;
    pts->cap = 0;
}


static int
pyro_tl_pt_cmp(const void *a, const void *b)
{
    const pyro_tl_pt_t  *x, *y;

    x = a;
    y = b;

    if (x->ts != y->ts) {
        return x->ts < y->ts ? -1 : 1;
    }

    return (x->i > y->i) - (x->i < y->i);
}


/*
 * The right edge of the bucket (t - step, t] holding ts: the first grid
 * point start + k * step >= ts, k >= 0.  Points before start - step or
 * after the last grid point <= end are dropped (PYRO_DECLINED).
 */
static int
pyro_tl_edge(int64_t ts, int64_t start_ms, int64_t end_ms, int64_t step_ms,
    int64_t *t)
{
    int64_t  d, k;

    if (__builtin_sub_overflow(ts, start_ms, &d)) {
        return PYRO_DECLINED;
    }

    if (d <= 0) {
        if (d < -step_ms) {
            return PYRO_DECLINED;
        }

        *t = start_ms;

    } else {
        k = d / step_ms + (d % step_ms != 0);

        if (__builtin_mul_overflow(k, step_ms, &d)
            || __builtin_add_overflow(start_ms, d, t))
        {
            return PYRO_DECLINED;
        }
    }

    return (*t <= end_ms) ? PYRO_OK : PYRO_DECLINED;
}


/*
 * Returns the non-empty buckets in time order (malloc'ed, the caller
 * frees) with *nb set; NULL with *nb = 0 when there are none, NULL with
 * *nb = SIZE_MAX on ENOMEM.
 */
static pyro_tl_pt_t *
pyro_tl_buckets(const pyro_points_t *pts, int64_t start_ms, int64_t end_ms,
    int64_t step_ms, size_t *nb)
{
    size_t         i, m;
    int64_t        t;
    pyro_tl_pt_t  *b;

    *nb = 0;

    if (pts == NULL || pts->n == 0) {
        return NULL;
    }

    b = malloc(pts->n * sizeof(pyro_tl_pt_t));
    if (b == NULL) {
        *nb = SIZE_MAX;
        return NULL;
    }

    for (i = 0; i < pts->n; i++) {
        b[i].ts = pts->v[i].ts_ms;
        b[i].v = pts->v[i].value;
        b[i].i = i;
    }

    /* upstream sums each bucket's points in time order */
    qsort(b, pts->n, sizeof(pyro_tl_pt_t), pyro_tl_pt_cmp);

    m = 0;

    for (i = 0; i < pts->n; i++) {
        if (pyro_tl_edge(b[i].ts, start_ms, end_ms, step_ms, &t) != PYRO_OK) {
            continue;
        }

        if (m && b[m - 1].ts == t) {
            b[m - 1].v += b[i].v;
            continue;
        }

        b[m].ts = t;
        b[m].v = b[i].v;
        m++;
    }

    if (m == 0) {
        free(b);
        return NULL;
    }

    *nb = m;

    return b;
}


static void
pyro_tl_put_u64(pyro_buf_t *out, uint64_t v)
{
    char   tmp[24], *p;

    p = tmp + sizeof(tmp);

    do {
        *--p = (char) ('0' + v % 10);
        v /= 10;
    } while (v);

    pyro_buf_append(out, p, (size_t) (tmp + sizeof(tmp) - p));
}


/* Appends n array items of 0, a comma before each but the first. */
static void
pyro_tl_put_zeros(pyro_buf_t *out, uint64_t *count, uint64_t n)
{
    size_t             k;
    static const char  zeros[] =
        ",0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0";

    if (n && *count == 0) {
        pyro_buf_putc(out, '0');
        *count = 1;
        n--;
    }

    *count += n;

    while (n) {
        k = (n < (sizeof(zeros) - 1) / 2) ? (size_t) n
                                          : (sizeof(zeros) - 1) / 2;
        pyro_buf_append(out, zeros, 2 * k);
        n -= k;
    }
}


/* Go's uint64(v) truncates; the sums are never negative, so anything
 * out of range (or NaN) is clamped rather than platform-defined. */
static uint64_t
pyro_tl_value(double v)
{
    if (!(v >= 0)) {
        return 0;
    }

    if (v >= 18446744073709551616.0) {
        return UINT64_MAX;
    }

    return (uint64_t) v;
}


/*
 * Lays the buckets out as timeline.New: only edges in [s_ms, e_ms) are
 * used, each after (gap / D - 1) zeros (the first after its distance
 * from the start), then zeros pad to n slots.  The output never exceeds
 * PYRO_TL_MAX_SLOTS entries.
 */
static void
pyro_tl_samples(pyro_buf_t *out, const pyro_tl_pt_t *b, size_t nb,
    int64_t s_ms, int64_t e_ms, int64_t step_sec, uint64_t n)
{
    size_t    i;
    int64_t   cur, prev, z;
    uint64_t  count;

    count = 0;
    prev = s_ms / 1000;

    for (i = 0; i < nb && count < PYRO_TL_MAX_SLOTS; i++) {
        if (b[i].ts < s_ms || b[i].ts >= e_ms) {
            continue;
        }

        cur = b[i].ts / 1000;
        z = (cur - prev) / step_sec - (count ? 1 : 0);

        if (z > 0) {
            if ((uint64_t) z > PYRO_TL_MAX_SLOTS - count) {
                z = (int64_t) (PYRO_TL_MAX_SLOTS - count);
            }

            pyro_tl_put_zeros(out, &count, (uint64_t) z);

            if (count >= PYRO_TL_MAX_SLOTS) {
                break;
            }
        }

        if (count) {
            pyro_buf_putc(out, ',');
        }

        pyro_tl_put_u64(out, pyro_tl_value(b[i].v));
        count++;
        prev = cur;
    }

    if (count < n) {
        pyro_tl_put_zeros(out, &count, n - count);
    }
}


void
pyro_timeline_json(const pyro_points_t *pts, int64_t start_ms,
    int64_t end_ms, int64_t step_sec, pyro_buf_t *out)
{
    size_t         nb;
    int64_t        step_ms, s_ms, e_ms;
    uint64_t       n;
    pyro_tl_pt_t  *b;

    /* a step the caller cannot mean: an empty timeline, not a crash */
    if (step_sec <= 0 || step_sec > INT64_MAX / 1000) {
        pyro_buf_puts(out, "{\"startTime\":");
        pyro_buf_printf(out, "%lld", (long long) (start_ms / 1000));
        pyro_buf_printf(out, ",\"samples\":[],\"durationDelta\":%lld",
                        (long long) step_sec);
        pyro_buf_puts(out, ",\"watermarks\":null}");
        return;
    }

    step_ms = step_sec * 1000;

    /* C's % truncates toward zero exactly as Go's does */
    s_ms = start_ms - start_ms % step_ms;
    e_ms = end_ms - end_ms % step_ms;

    pyro_buf_printf(out, "{\"startTime\":%lld,\"samples\":[",
                    (long long) (s_ms / 1000));

    if (s_ms < e_ms) {
        n = (uint64_t) (e_ms / 1000 - s_ms / 1000) / (uint64_t) step_sec;

        if (n > PYRO_TL_MAX_SLOTS) {
            n = PYRO_TL_MAX_SLOTS;
        }

        b = pyro_tl_buckets(pts, start_ms, end_ms, step_ms, &nb);

        if (b == NULL && nb == SIZE_MAX) {
            out->failed = 1;
            return;
        }

        pyro_tl_samples(out, b, nb, s_ms, e_ms, step_sec, n);
        free(b);
    }

    pyro_buf_printf(out, "],\"durationDelta\":%lld,\"watermarks\":null}",
                    (long long) step_sec);
}

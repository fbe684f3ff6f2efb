
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * The render timeline: right-edge bucketing on the query's grid, then
 * the snapped dense layout.  Every expected string was worked out by
 * hand.
 */


#include <stdlib.h>

#include "pyro.h"
#include "pyro_test.h"


typedef struct {
    int64_t         ts;
    double          v;
} pt_t;


static void
check_tl(const char *what, const pt_t *p, size_t n, int64_t start_ms,
    int64_t end_ms, int64_t step_sec, const char *want)
{
    size_t         i;
    pyro_buf_t     out;
    pyro_points_t  pts;

    memset(&out, 0, sizeof(out));
    memset(&pts, 0, sizeof(pts));

    for (i = 0; i < n; i++) {
        PYRO_CHECK(pyro_points_add(&pts, p[i].ts, p[i].v) == PYRO_OK,
                   "%s: add", what);
    }

    PYRO_CHECK_INT(pts.n, n, what);

    pyro_timeline_json(&pts, start_ms, end_ms, step_sec, &out);

    PYRO_CHECK(!out.failed, "%s: buffer failed", what);
    PYRO_CHECK_MEM(out.data, out.len, want, what);

    pyro_buf_free(&out);
    pyro_points_free(&pts);
}


/*
 * Range [1000000, 1060000] ms, step 15 s: the grid is 1000000, 1015000,
 * 1030000, 1045000, 1060000; the layout snaps to [990000, 1050000) with
 * 4 slots at 990, 1005, 1020, 1035 s, and a grid point t lands in slot
 * (t_s - 990) / 15.
 */
static void
test_right_edges(void)
{
    static const pt_t  p[] = {
        { 1045000, 16 },        /* its own edge: slot 3 */
        { 985000, 1 },          /* start - step: first bucket */
        { 984999, 100 },        /* before start - step: dropped */
        { 1000000, 2 },         /* on the first edge */
        { 1000001, 4 },         /* just past it: the next bucket */
        { 1015000, 8 },         /* on the second edge */
        { 1050000, 32 },        /* edge 1060000: past the snapped end */
        { 1060001, 64 },        /* past the last grid point: dropped */
    };

    check_tl("right edges", p, sizeof(p) / sizeof(p[0]), 1000000, 1060000,
             15, "{\"startTime\":990,\"samples\":[3,12,0,16],"
             "\"durationDelta\":15,\"watermarks\":null}");
}


/* Aligned range [0, 60000]: 4 slots; the bucket at 60000 is not used. */
static void
test_aligned(void)
{
    static const pt_t  p[] = {
        { 59999, 1000 },        /* edge 60000 == snapped end: unused */
        { -15000, 1 },          /* start - step: bucket 0 */
        { -15001, 100 },        /* dropped */
        { 15000, 2 },
        { 15001, 4 },           /* edge 30000 */
    };

    check_tl("aligned", p, sizeof(p) / sizeof(p[0]), 0, 60000, 15,
             "{\"startTime\":0,\"samples\":[1,2,4,0],"
             "\"durationDelta\":15,\"watermarks\":null}");
}


/*
 * Range [7000, 100000]: grid 7000, 22000, ..., 97000; snapped to
 * [0, 90000), 6 slots.  Edge 52000 is slot 3 (3 leading zeros), edge
 * 82000 one empty slot later; edge 97000 is past the snapped end.
 */
static void
test_snapping(void)
{
    static const pt_t  p[] = {
        { 80000, 7.9 },         /* edge 82000, truncated to 7 */
        { 50000, 5 },           /* edge 52000 */
        { 95000, 9 },           /* edge 97000: unused */
    };

    check_tl("snapping and gaps", p, sizeof(p) / sizeof(p[0]), 7000, 100000,
             15, "{\"startTime\":0,\"samples\":[0,0,0,5,0,7],"
             "\"durationDelta\":15,\"watermarks\":null}");
}


static void
test_trailing(void)
{
    static const pt_t  p[] = {
        { 60000, 0.5 },         /* 0.5 + 0.7 = 1.2: one bucket, 1 */
        { 59000, 0.7 },
        { 120000, 3 },
    };

    /* [60000, 300000] step 60: 4 slots at 60, 120, 180, 240 s */
    check_tl("trailing zeros", p, sizeof(p) / sizeof(p[0]), 60000, 300000,
             60, "{\"startTime\":60,\"samples\":[1,3,0,0],"
             "\"durationDelta\":60,\"watermarks\":null}");

    /* big values stay exact */
    {
        static const pt_t  b[] = { { 60000, 9007199254740992.0 } };

        check_tl("big value", b, 1, 60000, 120000, 60,
                 "{\"startTime\":60,\"samples\":[9007199254740992],"
                 "\"durationDelta\":60,\"watermarks\":null}");
    }
}


static void
test_empty(void)
{
    pyro_buf_t     out;
    pyro_points_t  pts;

    memset(&out, 0, sizeof(out));
    memset(&pts, 0, sizeof(pts));

    pyro_timeline_json(NULL, 0, 60000, 15, &out);
    PYRO_CHECK_MEM(out.data, out.len,
                   "{\"startTime\":0,\"samples\":[0,0,0,0],"
                   "\"durationDelta\":15,\"watermarks\":null}", "NULL points");

    out.len = 0;
    pyro_timeline_json(&pts, 1000, 61000, 15, &out);
    PYRO_CHECK_MEM(out.data, out.len,
                   "{\"startTime\":0,\"samples\":[0,0,0,0],"
                   "\"durationDelta\":15,\"watermarks\":null}", "no points");

    /* start >= end after snapping */
    out.len = 0;
    pyro_points_add(&pts, 60000, 5);
    pyro_timeline_json(&pts, 60000, 74999, 15, &out);
    PYRO_CHECK_MEM(out.data, out.len,
                   "{\"startTime\":60,\"samples\":[],"
                   "\"durationDelta\":15,\"watermarks\":null}", "same slot");

    out.len = 0;
    pyro_timeline_json(&pts, 90000, 60000, 15, &out);
    PYRO_CHECK_MEM(out.data, out.len,
                   "{\"startTime\":90,\"samples\":[],"
                   "\"durationDelta\":15,\"watermarks\":null}",
                   "start after end");

    out.len = 0;
    pyro_timeline_json(&pts, 0, 60000, 0, &out);
    PYRO_CHECK_MEM(out.data, out.len,
                   "{\"startTime\":0,\"samples\":[],"
                   "\"durationDelta\":0,\"watermarks\":null}", "step 0");

    pyro_buf_free(&out);
    pyro_points_free(&pts);
    PYRO_CHECK(pts.v == NULL && pts.n == 0, "points freed");
}


/* An absurd range is capped at 10 million slots; extreme timestamps
 * neither overflow nor land anywhere. */
static void
test_absurd(void)
{
    size_t         i, commas;
    pyro_buf_t     out;
    pyro_points_t  pts;

    memset(&out, 0, sizeof(out));
    memset(&pts, 0, sizeof(pts));

    pyro_points_add(&pts, INT64_MAX, 1);
    pyro_points_add(&pts, INT64_MIN, 1);
    pyro_points_add(&pts, 0, 7);

    pyro_timeline_json(&pts, INT64_MIN, INT64_MAX, 15, &out);
    PYRO_CHECK(!out.failed, "absurd: buffer failed");

    commas = 0;
    for (i = 0; i < out.len; i++) {
        commas += out.data[i] == ',';
    }

    /* 3 separators outside the array, 10^7 - 1 inside */
    PYRO_CHECK_INT(commas, 10000000 - 1 + 3, "absurd: slots");

    out.len = 0;
    pyro_timeline_json(&pts, 0, INT64_MAX, INT64_MAX / 1000, &out);
    PYRO_CHECK_MEM(out.data, out.len,
                   "{\"startTime\":0,\"samples\":[7],"
                   "\"durationDelta\":9223372036854775,"
                   "\"watermarks\":null}", "huge step");

    out.len = 0;
    pyro_timeline_json(&pts, 0, 60000, INT64_MAX, &out);
    PYRO_CHECK_MEM(out.data, out.len,
                   "{\"startTime\":0,\"samples\":[],"
                   "\"durationDelta\":9223372036854775807,"
                   "\"watermarks\":null}", "step overflow");

    pyro_buf_free(&out);
    pyro_points_free(&pts);
}


int
main(void)
{
    test_right_edges();
    test_aligned();
    test_snapping();
    test_trailing();
    test_empty();
    test_absurd();

    return pyro_test_done("timeline");
}


/*
 * Copyright (C) ngx_pyroscope developers
 *
 * pyro_attime_parse() and pyro_render_step_sec() against upstream's
 * attime.Parse and CalcPointInterval rules.
 */


#include <stdint.h>

#include "pyro.h"
#include "pyro_test.h"


#define S   1000000000LL            /* ns per second */
#define NOW (1700000000LL * S)      /* 2023-11-14T22:13:20Z */
#define DAY (86400LL * S)


typedef struct {
    const char  *in;
    int          rc;
    int64_t      want;
} time_case_t;


static const time_case_t  time_cases[] = {

    /* the reference is always now; no offset, unknown text */
    { "", PYRO_OK, NOW },
    { "now", PYRO_OK, NOW },
    { "yesterday", PYRO_OK, NOW },
    { "now-", PYRO_OK, NOW },
    { "+", PYRO_OK, NOW },
    { "foo-1h", PYRO_OK, NOW - 3600 * S },

    /* units by prefix */
    { "now-1h", PYRO_OK, NOW - 3600 * S },
    { "now+1h", PYRO_OK, NOW + 3600 * S },
    { "now-30s", PYRO_OK, NOW - 30 * S },
    { "now-2sec", PYRO_OK, NOW - 2 * S },
    { "now-2m", PYRO_OK, NOW - 120 * S },
    { "now-2min", PYRO_OK, NOW - 120 * S },
    { "now-1ms", PYRO_OK, NOW - 60 * S },
    { "now-1mo", PYRO_OK, NOW - 60 * S },
    { "now-1mon", PYRO_OK, NOW - 30 * DAY },
    { "now-1month", PYRO_OK, NOW - 30 * DAY },
    { "now-1M", PYRO_OK, NOW - 30 * DAY },
    { "now-2d", PYRO_OK, NOW - 2 * DAY },
    { "now-1w", PYRO_OK, NOW - 7 * DAY },
    { "now-1y", PYRO_OK, NOW - 365 * DAY },
    { "now-1H", PYRO_OK, NOW },
    { "now-1x", PYRO_OK, NOW },
    { "now-5", PYRO_OK, NOW },
    { "now-h", PYRO_OK, NOW },
    { "now--1h", PYRO_OK, NOW },

    /* one piece only: the rest after the digits is the unit */
    { "now-3h30m", PYRO_OK, NOW - 3 * 3600 * S },
    { "now-1d12h", PYRO_OK, NOW - DAY },

    /* '+' is looked for before '-' */
    { "now-1h+2h", PYRO_OK, NOW + 2 * 3600 * S },

    /* white space trimmed; ' ', '_' and ',' removed anywhere */
    { " now - 1 h ", PYRO_OK, NOW - 3600 * S },
    { "now_-1,h", PYRO_OK, NOW - 3600 * S },
    { "\tnow-1h\r\n", PYRO_OK, NOW - 3600 * S },
    { "\t1700000000\v\f", PYRO_OK, 1700000000LL * S },
    { "\xc2\xa0" "1700000000" "\xe3\x80\x80", PYRO_OK, 1700000000LL * S },
    { "\xe2\x80\x80" "100" "\xc2\x85", PYRO_OK, 100 * S },
    { "1,700,000,000", PYRO_OK, 1700000000LL * S },
    { "1_700_000_000", PYRO_OK, 1700000000LL * S },
    /* a tab inside is kept, so this is not all digits */
    { "17000\t00000", PYRO_OK, NOW },
    { "1700\xc2\xa0" "000000", PYRO_OK, NOW },

    /* upstream's own test values */
    { "20200101", PYRO_OK, 1577836800LL * S },
    { "1577836800", PYRO_OK, 1577836800LL * S },
    { "1577836800001", PYRO_OK, 1577836800LL * S + 1000000 },
    { "1577836800000001", PYRO_OK, 1577836800LL * S + 1000 },
    { "1577836800000000001", PYRO_OK, 1577836800LL * S + 1 },
    { "now-1", PYRO_OK, NOW },

    /* YYYYMMDD, UTC midnight */
    { "20240101", PYRO_OK, 1704067200LL * S },
    { "20240229", PYRO_OK, 1709164800LL * S },
    { "20000229", PYRO_OK, 951782400LL * S },
    { "19700101", PYRO_OK, 0 },
    { "19010101", PYRO_OK, -2177452800LL * S },
    { "22620411", PYRO_OK, 9223286400LL * S },
    /* a valid date past what int64 nanoseconds hold */
    { "22620412", PYRO_ERROR, NOW },
    { "99991231", PYRO_ERROR, NOW },

    /* 8 digits but no valid date: seconds */
    { "19000101", PYRO_OK, 19000101LL * S },
    { "20230229", PYRO_OK, 20230229LL * S },
    { "21000229", PYRO_OK, 21000229LL * S },
    { "20241301", PYRO_OK, 20241301LL * S },
    { "20240001", PYRO_OK, 20240001LL * S },
    { "20240100", PYRO_OK, 20240100LL * S },
    { "20240431", PYRO_OK, 20240431LL * S },
    { "00000001", PYRO_OK, 1 * S },

    /* other lengths */
    { "0", PYRO_OK, 0 },
    { "123", PYRO_OK, 123 * S },
    { "1700000000", PYRO_OK, 1700000000LL * S },
    { "1700000000123", PYRO_OK, 1700000000123LL * 1000000 },
    { "1700000000123456", PYRO_OK, 1700000000123456LL * 1000 },
    { "1700000000123456789", PYRO_OK, 1700000000123456789LL },
    { "01700000000", PYRO_OK, 1700000000LL * S },
    { "17000000001", PYRO_ERROR, NOW },
    { "00000000000000000001", PYRO_OK, 1 * S },

    /* the largest values that fit, and the first ones that do not */
    { "9223372036", PYRO_OK, 9223372036LL * S },
    { "9223372037", PYRO_ERROR, NOW },
    { "9223372036854", PYRO_OK, 9223372036854LL * 1000000 },
    { "9223372036855", PYRO_ERROR, NOW },
    { "9223372036854775", PYRO_OK, 9223372036854775LL * 1000 },
    { "9223372036854776", PYRO_ERROR, NOW },
    { "9223372036854775807", PYRO_OK, INT64_MAX },
    { "9223372036854775808", PYRO_ERROR, NOW },
    { "123456789012345678901234567890", PYRO_ERROR, NOW },
    { "now-9999999999999999999999h", PYRO_ERROR, NOW },
    { "now-300y", PYRO_ERROR, NOW },
    { "now-200y", PYRO_OK, NOW - 200 * 365 * DAY },
    { "now+200y", PYRO_OK, NOW + 200 * 365 * DAY },
    { "now+290y", PYRO_ERROR, NOW },
};


static void
test_attime(void)
{
    int      rc;
    size_t   i;
    int64_t  out;
    char     what[128];

    for (i = 0; i < sizeof(time_cases) / sizeof(time_cases[0]); i++) {
        out = 12345;
        rc = pyro_attime_parse(time_cases[i].in, strlen(time_cases[i].in),
                               NOW, &out);

        snprintf(what, sizeof(what), "attime \"%s\" rc", time_cases[i].in);
        PYRO_CHECK_INT(rc, time_cases[i].rc, what);

        snprintf(what, sizeof(what), "attime \"%s\"", time_cases[i].in);
        PYRO_CHECK_INT(out, time_cases[i].want, what);
    }

    /* the length is honoured: the bytes past it are not read */
    PYRO_CHECK_INT(pyro_attime_parse("20240101999", 8, NOW, &out), PYRO_OK,
                   "attime prefix rc");
    PYRO_CHECK_INT(out, 1704067200LL * S, "attime prefix");

    /* the reference is the one passed in */
    PYRO_CHECK_INT(pyro_attime_parse("now-1s", 6, 5 * S, &out), PYRO_OK,
                   "attime now rc");
    PYRO_CHECK_INT(out, 4 * S, "attime now");

    PYRO_CHECK_INT(pyro_attime_parse("now-1s", 6, INT64_MIN, &out),
                   PYRO_ERROR, "attime now underflow rc");
    PYRO_CHECK_INT(out, INT64_MIN, "attime now underflow");
}


typedef struct {
    int64_t      start_ms;
    int64_t      end_ms;
    int64_t      want;
} step_case_t;


#define T0     1681779723000LL       /* 2023-04-18T01:02:03Z, in ms */
#define H_MS   3600000LL
#define D_MS   (24 * H_MS)


static const step_case_t  step_cases[] = {

    /* upstream's own test table */
    { T0, T0 + 1000, 15 },
    { T0, T0 + H_MS, 15 },
    { T0, T0 + 7 * D_MS, 300 },
    { T0, T0 + 30 * D_MS, 1800 },
    { T0, T0 + 6 * 30 * D_MS, 10800 },
    { T0, T0 + 12 * 30 * D_MS, 21600 },
    { T0, T0 + 2 * 12 * 30 * D_MS, 43200 },
    { T0, T0 + 5 * 12 * 30 * D_MS, 86400 },

    /* interval = range / 1500; below 15 s is 15 s */
    { T0, T0, 15 },
    { T0, T0 - D_MS, 15 },
    { T0, T0 + 22499999, 15 },
    { T0, T0 + 22500000, 15 },

    /* each band's upper edge (range = edge * 1500) and one ms past it */
    { 0, 26250000, 15 },           { 0, 26250001, 20 },
    { 0, 37500000, 20 },           { 0, 37500001, 30 },
    { 0, 67500000, 30 },           { 0, 67500001, 60 },
    { 0, 135000000, 60 },          { 0, 135000001, 120 },
    { 0, 315000000, 120 },         { 0, 315000001, 300 },
    { 0, 675000000, 300 },         { 0, 675000001, 600 },
    { 0, 1125000000, 600 },        { 0, 1125000001, 900 },
    { 0, 1575000000, 900 },        { 0, 1575000001, 1200 },
    { 0, 2250000000, 1200 },       { 0, 2250000001, 1800 },
    { 0, 4050000000, 1800 },       { 0, 4050000001, 3600 },
    { 0, 8100000000, 3600 },       { 0, 8100000001, 7200 },
    { 0, 13500000000, 7200 },      { 0, 13500000001, 10800 },
    { 0, 24300000000, 10800 },     { 0, 24300000001, 21600 },
    { 0, 48600000000, 21600 },     { 0, 48600000001, 43200 },
    { 0, 129600000000, 43200 },    { 0, 129600000001, 86400 },
    { 0, 259200000000, 86400 },    { 0, 259200000001, 86400 },
    { 0, 907200000000, 86400 },    { 0, 907200000001, 604800 },
    { 0, 2721600000000, 604800 },  { 0, 2721600000001, 2592000 },
    /* the last band is strict: "< 3628800 s" */
    { 0, 5443199999999, 2592000 }, { 0, 5443200000000, 31536000 },

    /* no overflow on absurd ranges */
    { INT64_MIN, INT64_MAX, 31536000 },
    { INT64_MAX, INT64_MIN, 15 },
    { 0, INT64_MAX, 31536000 },
    { 0, INT64_MAX / 2000, 31536000 },
    { 0, INT64_MAX / 2000 + 1, 31536000 },
};


static void
test_step(void)
{
    size_t  i;
    char    what[128];

    for (i = 0; i < sizeof(step_cases) / sizeof(step_cases[0]); i++) {
        snprintf(what, sizeof(what), "step [%" PRId64 ", %" PRId64 "]",
                 step_cases[i].start_ms, step_cases[i].end_ms);
        PYRO_CHECK_INT(pyro_render_step_sec(step_cases[i].start_ms,
                                            step_cases[i].end_ms),
                       step_cases[i].want, what);
    }
}


int
main(void)
{
    test_attime();
    test_step();

    return pyro_test_done("time");
}

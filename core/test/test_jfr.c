
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * The JFR reader against the JDK 17 fixture and its oracles (counts,
 * totals and folded stacks as the JDK's jfr tool prints them), and
 * against broken files, which must fail cleanly.
 */


#include <jansson.h>

#include "pyro.h"
#include "pyro_test.h"


/* One folded stack of one event type; all malloc'ed, owned by the set. */
typedef struct {
    char           *type;
    char           *stack;
    int64_t         value;
} folded_t;


typedef struct {
    folded_t       *items;
    size_t          n;
    size_t          cap;
    int64_t         min_ns;
    int64_t         max_ns;
} folded_set_t;


static int
folded_add(folded_set_t *set, const char *type, const char *stack,
    size_t len, int64_t value)
{
    size_t     i;
    folded_t  *f;

    for (i = 0; i < set->n; i++) {
        f = &set->items[i];

        if (strcmp(f->type, type) == 0 && strlen(f->stack) == len
            && memcmp(f->stack, stack, len) == 0)
        {
            f->value += value;
            return PYRO_OK;
        }
    }

    if (pyro_array_reserve((void **) &set->items, &set->cap, set->n + 1,
                           sizeof(folded_t)) != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    f = &set->items[set->n++];
    f->type = strdup(type);
    f->stack = strndup(stack, len);
    f->value = value;

    return PYRO_OK;
}


static void
folded_free(folded_set_t *set)
{
    size_t  i;

    for (i = 0; i < set->n; i++) {
        free(set->items[i].type);
        free(set->items[i].stack);
    }

    free(set->items);
}


static int
collect(void *ctx, const char *type, const pyro_str_t *frames,
    const uint32_t *lines, size_t depth, int64_t value, int64_t time_ns)
{
    int            rc;
    size_t         i;
    pyro_buf_t     b;
    folded_set_t  *set = ctx;

    memset(&b, 0, sizeof(pyro_buf_t));

    for (i = 0; i < depth; i++) {
        if (i) {
            pyro_buf_putc(&b, ';');
        }

        pyro_buf_append(&b, frames[i].data, frames[i].len);
    }

    rc = folded_add(set, type, b.data ? b.data : "", b.len, value);
    pyro_buf_free(&b);

    /* the count and total of each type, under the pseudo-stack "#" */
    if (rc == PYRO_OK) {
        rc = folded_add(set, type, "#count", 6, 1);
    }

    if (set->min_ns == 0 || time_ns < set->min_ns) {
        set->min_ns = time_ns;
    }

    if (time_ns > set->max_ns) {
        set->max_ns = time_ns;
    }

    return rc;
}


static const folded_t *
folded_find(folded_set_t *set, const char *type, const char *stack)
{
    size_t  i;

    for (i = 0; i < set->n; i++) {
        if (strcmp(set->items[i].type, type) == 0
            && strcmp(set->items[i].stack, stack) == 0)
        {
            return &set->items[i];
        }
    }

    return NULL;
}


/* Sums of one type in the set: stacks (not "#count") and their total. */
static void
folded_totals(folded_set_t *set, const char *type, size_t *nstacks,
    int64_t *total, int64_t *count)
{
    size_t  i;

    *nstacks = 0;
    *total = 0;
    *count = 0;

    for (i = 0; i < set->n; i++) {
        if (strcmp(set->items[i].type, type) != 0) {
            continue;
        }

        if (strcmp(set->items[i].stack, "#count") == 0) {
            *count = set->items[i].value;
            continue;
        }

        (*nstacks)++;
        *total += set->items[i].value;
    }
}


/* Compares one oracle folded file ("root;...;leaf value" lines). */
static void
check_folded_file(folded_set_t *set, const char *dir, const char *ev)
{
    char             path[1024], type[128], *data, *line, *nl, *sp;
    size_t           len, nlines, nstacks;
    int64_t          total, count, want_total;
    const folded_t  *f;

    snprintf(path, sizeof(path), "%s/jfr/fixture-minimal.jfr.%s.folded.txt",
             dir, ev);
    snprintf(type, sizeof(type), "jdk.%s", ev);

    data = pyro_test_read_file(path, &len);
    PYRO_CHECK(data != NULL, "cannot read %s", path);

    if (data == NULL) {
        return;
    }

    data = realloc(data, len + 1);
    data[len] = '\0';
    nlines = 0;
    want_total = 0;

    for (line = data; *line; line = nl) {
        nl = strchr(line, '\n');
        nl = nl ? (*nl = '\0', nl + 1) : line + strlen(line);

        sp = strrchr(line, ' ');
        if (sp == NULL) {
            continue;
        }

        *sp = '\0';
        nlines++;
        want_total += strtoll(sp + 1, NULL, 10);

        f = folded_find(set, type, line);
        PYRO_CHECK(f != NULL, "%s: stack missing: \"%s\"", ev, line);

        if (f != NULL) {
            PYRO_CHECK_INT(f->value, strtoll(sp + 1, NULL, 10), line);
        }
    }

    folded_totals(set, type, &nstacks, &total, &count);
    PYRO_CHECK_INT(nstacks, nlines, ev);
    PYRO_CHECK_INT(total, want_total, ev);

    free(data);
}


static void
test_fixture(void)
{
    char          path[1024], *data;
    size_t        len, nstacks, i;
    int64_t       total, count;
    json_t       *oracle, *ev;
    pyro_err_t    err;
    pyro_jfr_t   *j;
    folded_set_t  set;
    const char   *name;

    static const char  *evs[] = {
        "ExecutionSample", "ObjectAllocationInNewTLAB",
        "ObjectAllocationOutsideTLAB", "ObjectAllocationSample",
        "JavaMonitorEnter",
    };

    snprintf(path, sizeof(path), "%s/jfr/fixture-minimal.jfr",
             pyro_test_fixtures());

    data = pyro_test_read_file(path, &len);
    PYRO_CHECK(data != NULL, "cannot read %s", path);

    if (data == NULL) {
        return;
    }

    memset(&set, 0, sizeof(folded_set_t));

    j = pyro_jfr_parse(data, len, &err);
    PYRO_CHECK(j != NULL, "parse: %s", err.msg);

    if (j == NULL) {
        free(data);
        return;
    }

    PYRO_CHECK_INT(pyro_jfr_events(j, collect, &set, &err), PYRO_OK,
                   "events");

    /* startNanos and durationNanos of the header (jfr-format.md 1.1) */
    PYRO_CHECK(set.min_ns >= 0x18eaad4ec8dba24bLL
               && set.max_ns <= 0x18eaad4ec8dba24bLL + 0x16616d944LL,
               "times %" PRId64 "..%" PRId64, set.min_ns, set.max_ns);

    snprintf(path, sizeof(path), "%s/jfr/fixture-minimal.jfr.oracle.json",
             pyro_test_fixtures());

    oracle = json_load_file(path, 0, NULL);
    PYRO_CHECK(oracle != NULL, "cannot read %s", path);

    json_object_foreach(json_object_get(oracle, "events"), name, ev) {
        folded_totals(&set, name, &nstacks, &total, &count);
        PYRO_CHECK_INT(count, json_integer_value(json_object_get(ev,
                                                                 "count")),
                       name);
        PYRO_CHECK_INT(total, json_integer_value(
                           json_object_get(ev, "total_value")), name);
        PYRO_CHECK_INT(nstacks, json_integer_value(
                           json_object_get(ev, "distinct_stacks")),
                       name);
    }

    json_decref(oracle);

    for (i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
        check_folded_file(&set, pyro_test_fixtures(), evs[i]);
    }

    folded_free(&set);
    pyro_jfr_free(j);
    free(data);
}


static int
count_only(void *ctx, const char *type, const pyro_str_t *frames,
    const uint32_t *lines, size_t depth, int64_t value, int64_t time_ns)
{
    (*(size_t *) ctx)++;

    return PYRO_OK;
}


/* Parses and walks a broken copy; returns PYRO_OK only if both worked. */
static int
try_parse(const char *data, size_t len, pyro_err_t *err)
{
    int          rc;
    size_t       n;
    pyro_jfr_t  *j;

    j = pyro_jfr_parse(data, len, err);
    if (j == NULL) {
        return PYRO_ERROR;
    }

    n = 0;
    rc = pyro_jfr_events(j, count_only, &n, err);
    pyro_jfr_free(j);

    return rc;
}


static void
put_be64(char *p, uint64_t v)
{
    int  i;

    for (i = 7; i >= 0; i--) {
        p[i] = (char) (v & 0xff);
        v >>= 8;
    }
}


/* A 9-byte JFR compressed integer, the form of a negative long. */
static void
put_varint9(char *p, uint64_t v)
{
    int  i;

    for (i = 0; i < 8; i++) {
        p[i] = (char) (0x80 | (v & 0x7f));
        v >>= 7;
    }

    p[8] = (char) v;
}


static void
test_bad(void)
{
    char         path[1024], *data, *copy, *two;
    size_t       len, i, k, off, ok, n;
    uint32_t     seed;
    pyro_err_t   err;
    pyro_jfr_t  *j;

    snprintf(path, sizeof(path), "%s/jfr/fixture-minimal.jfr",
             pyro_test_fixtures());

    data = pyro_test_read_file(path, &len);
    if (data == NULL) {
        return;
    }

    copy = malloc(len);

    memcpy(copy, data, len);
    copy[0] = 0;
    PYRO_CHECK_INT(try_parse(copy, len, &err), PYRO_ERROR, "magic");
    PYRO_CHECK_INT(err.status, 422, "magic status");

    memcpy(copy, data, len);
    copy[5] = 1;
    PYRO_CHECK_INT(try_parse(copy, len, &err), PYRO_ERROR, "version 1");
    PYRO_CHECK(strstr(err.msg, "version") != NULL, "msg %s", err.msg);

    PYRO_CHECK_INT(try_parse(data, len / 2, &err), PYRO_ERROR, "truncated");
    PYRO_CHECK_INT(try_parse(data, 40, &err), PYRO_ERROR, "short header");
    PYRO_CHECK_INT(try_parse(data, 0, &err), PYRO_ERROR, "empty");

    memcpy(copy, data, len);
    put_be64(copy + 8, len + 1000);
    PYRO_CHECK_INT(try_parse(copy, len, &err), PYRO_ERROR, "size past end");

    memcpy(copy, data, len);
    put_be64(copy + 8, 0);
    PYRO_CHECK_INT(try_parse(copy, len, &err), PYRO_ERROR, "size 0");

    memcpy(copy, data, len);
    put_be64(copy + 24, len * 2);
    PYRO_CHECK_INT(try_parse(copy, len, &err), PYRO_ERROR, "meta past end");

    memcpy(copy, data, len);
    put_be64(copy + 16, 0);
    PYRO_CHECK_INT(try_parse(copy, len, &err), PYRO_ERROR, "cp 0");

    /* a checkpoint pointing at itself: delta 0 ends the chain, so use
     * an offset into the middle of the header region instead */
    memcpy(copy, data, len);
    put_be64(copy + 16, 70);
    PYRO_CHECK_INT(try_parse(copy, len, &err), PYRO_ERROR, "cp garbage");

    /*
     * The newest checkpoint's delta (jfr-format.md 5.1: at 199769, the
     * 9 bytes after size, type, startTime and duration): forward, and
     * back past the chunk header.
     */
    memcpy(copy, data, len);
    off = 199769 + 11;
    PYRO_CHECK(len > off + 9 && (unsigned char) copy[off] == 0xc0,
               "delta at %zu", off);
    put_varint9(copy + off, 64);
    PYRO_CHECK_INT(try_parse(copy, len, &err), PYRO_ERROR, "delta > 0");
    put_varint9(copy + off, (uint64_t) -199760);
    PYRO_CHECK_INT(try_parse(copy, len, &err), PYRO_ERROR, "delta far");
    put_varint9(copy + off, (uint64_t) -199769);
    PYRO_CHECK_INT(try_parse(copy, len, &err), PYRO_ERROR, "delta to 0");

    /* the same chunk twice is a valid two-chunk file */
    two = malloc(2 * len);
    memcpy(two, data, len);
    memcpy(two + len, data, len);
    j = pyro_jfr_parse(two, 2 * len, &err);
    PYRO_CHECK(j != NULL, "two chunks: %s", err.msg);

    if (j != NULL) {
        n = 0;
        PYRO_CHECK_INT(pyro_jfr_events(j, count_only, &n, &err), PYRO_OK,
                       "two chunks events");
        PYRO_CHECK_INT(n, 2 * (734 + 2861 + 1450 + 757 + 196), "two chunks");
        pyro_jfr_free(j);
    }

    free(two);

    /* random byte damage: any result, but never a crash or a leak */
    seed = 12345;
    ok = 0;

    for (k = 0; k < 300; k++) {
        memcpy(copy, data, len);

        for (i = 0; i < 1 + k % 8; i++) {
            seed = seed * 1103515245 + 12345;
            off = (seed >> 8) % len;
            seed = seed * 1103515245 + 12345;
            copy[off] = (char) (seed >> 16);
        }

        ok += try_parse(copy, len, &err) == PYRO_OK;
    }

    /* damage in event payloads often goes unnoticed: both paths ran */
    PYRO_CHECK(ok > 0 && ok < 300, "fuzz: %zu of 300 parsed", ok);

    free(copy);
    free(data);
}


int
main(void)
{
    test_fixture();
    test_bad();

    return pyro_test_done("jfr");
}


/*
 * Copyright (C) ngx_pyroscope developers
 *
 * The merged pprof (query-output-formats 5 and 1.2): segment files
 * written from the Go fixture cpu.pb.gz through the real ingest path,
 * merged, decoded with protobuf-c and checked against the fixture's
 * oracle (totals, flat and cum per function); the header, the string
 * table order, leaf-first locations, file names and line numbers; and
 * the max_nodes truncation worked out by hand on a small batch.
 */


#include <stdlib.h>

#include "pyro.h"
#include "pyro_test.h"
#include "pyro_test_store.h"
#include "google/v1/profile.pb-c.h"


#define T_PTYPE      "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
#define T_PTYPE_SMP  "process_cpu:samples:count:cpu:nanoseconds"
#define T_END_MS     4102444800000LL         /* 2100-01-01 */
#define T_MAIN_GO    "example.com/pprofgen/main.go"


/* Merges "<ptype>{service_name="<svc>"}" into out; returns the rc. */
static int
t_merge_bytes(t_store_t *st, const char *ptype, const char *svc,
    int64_t max_nodes, pyro_buf_t *out, pyro_err_t *err)
{
    int               rc;
    char              q[256];
    pyro_scan_t       s;
    pyro_selector_t  *sel;

    /* a bad ptype reaches the engine only through the default selector */
    snprintf(q, sizeof(q), "%s{service_name=\"%s\"}",
             strlen(ptype) > 20 ? ptype : T_PTYPE, svc);
    sel = pyro_selector_parse_query(q, strlen(q), err);
    PYRO_CHECK(sel != NULL, "selector: %s", err->msg);

    memset(&s, 0, sizeof(pyro_scan_t));
    s.root = st->root;
    s.tenants = &st->tenants;
    s.start_ms = 0;
    s.end_ms = T_END_MS;
    s.sels = &sel;
    s.nsels = 1;

    memset(out, 0, sizeof(pyro_buf_t));
    rc = pyro_engine_merge_pprof(&s, NULL, ptype, max_nodes, out, err);

    pyro_selector_free(sel);

    return rc;
}


/* The same, decoded (NULL on failure). */
static Google__V1__Profile *
t_merge(t_store_t *st, const char *ptype, int64_t max_nodes)
{
    pyro_buf_t            out;
    pyro_err_t            err;
    Google__V1__Profile  *p;

    PYRO_CHECK_INT(t_merge_bytes(st, ptype, "svc", max_nodes, &out, &err),
                   PYRO_OK, "merge");

    p = google__v1__profile__unpack(NULL, out.len,
                                    (const uint8_t *) out.data);
    PYRO_CHECK(p != NULL, "the output is a google.v1.Profile (%zu bytes)",
               out.len);

    pyro_buf_free(&out);

    return p;
}


static const char *
t_str(const Google__V1__Profile *p, int64_t i)
{
    return (i >= 0 && (size_t) i < p->n_string_table) ? p->string_table[i]
                                                     : "(bad index)";
}


/* Ids are 1..n in order: checked once by t_check_objects. */
static const Google__V1__Function *
t_loc_fn(const Google__V1__Profile *p, uint64_t loc)
{
    const Google__V1__Location  *l;

    if (loc == 0 || loc > p->n_location) {
        return NULL;
    }

    l = p->location[loc - 1];

    if (l->n_line != 1 || l->line[0]->function_id == 0
        || l->line[0]->function_id > p->n_function)
    {
        return NULL;
    }

    return p->function[l->line[0]->function_id - 1];
}


static const char *
t_loc_name(const Google__V1__Profile *p, uint64_t loc)
{
    const Google__V1__Function  *f;

    f = t_loc_fn(p, loc);

    return f ? t_str(p, f->name) : "(bad location)";
}


static void
t_check_objects(const Google__V1__Profile *p)
{
    size_t  i, j;

    PYRO_CHECK(p->n_mapping == 1 && p->mapping[0]->id == 1,
               "one mapping, id 1");

    for (i = 0; i < p->n_location; i++) {
        PYRO_CHECK_INT(p->location[i]->id, i + 1, "location ids 1..n");
        PYRO_CHECK_INT(p->location[i]->mapping_id, 1, "location mapping");
        PYRO_CHECK(t_loc_fn(p, i + 1) != NULL, "location %zu line", i + 1);
    }

    for (i = 0; i < p->n_function; i++) {
        PYRO_CHECK_INT(p->function[i]->id, i + 1, "function ids 1..n");
        PYRO_CHECK_INT(p->function[i]->system_name, p->function[i]->name,
                       "system_name is the name");
    }

    PYRO_CHECK(p->n_string_table > 0 && p->string_table[0][0] == '\0',
               "string 0 is \"\"");

    for (i = 0; i < p->n_string_table; i++) {
        for (j = i + 1; j < p->n_string_table; j++) {
            PYRO_CHECK(strcmp(p->string_table[i], p->string_table[j]) != 0,
                       "string \"%s\" twice", p->string_table[i]);
        }
    }

    for (i = 0; i < p->n_sample; i++) {
        PYRO_CHECK_INT(p->sample[i]->n_value, 1, "one value per sample");
        PYRO_CHECK_INT(p->sample[i]->n_label, 0, "no sample labels");
    }
}


static void
t_check_header(const Google__V1__Profile *p, const char *type,
    const char *unit)
{
    size_t  n;

    PYRO_CHECK_INT(p->n_sample_type, 1, "one sample type");
    if (p->n_sample_type != 1 || p->period_type == NULL) {
        return;
    }

    PYRO_CHECK_STR(t_str(p, p->sample_type[0]->type), type, "sample type");
    PYRO_CHECK_STR(t_str(p, p->sample_type[0]->unit), unit, "sample unit");
    PYRO_CHECK_STR(t_str(p, p->period_type->type), "cpu", "period type");
    PYRO_CHECK_STR(t_str(p, p->period_type->unit), "nanoseconds",
                   "period unit");
    PYRO_CHECK_INT(p->period, 1000000000, "period of process_cpu");
    PYRO_CHECK_INT(p->time_nanos, T_END_MS * 1000000, "time_nanos");
    PYRO_CHECK_INT(p->duration_nanos, 0, "duration_nanos");
    PYRO_CHECK_INT(p->default_sample_type, p->sample_type[0]->type,
                   "default_sample_type");
    PYRO_CHECK(p->n_comment == 0 && p->drop_frames == 0
               && p->keep_frames == 0, "no comments, drop or keep frames");

    /* SetProfileMetadata appends what the symbols lack: unit, type, ... */
    n = p->n_string_table;

    if (strcmp(type, "cpu") == 0) {
        PYRO_CHECK(n > 2 && strcmp(p->string_table[n - 2], "nanoseconds") == 0
                   && strcmp(p->string_table[n - 1], "cpu") == 0,
                   "the string table ends with unit, type");
    } else {
        PYRO_CHECK(n > 4 && strcmp(p->string_table[n - 4], "count") == 0
                   && strcmp(p->string_table[n - 3], "samples") == 0
                   && strcmp(p->string_table[n - 2], "cpu") == 0
                   && strcmp(p->string_table[n - 1], "nanoseconds") == 0,
                   "the string table ends with unit, type, period type, "
                   "period unit");
    }
}


/* The sum of the values, and of those whose stack holds fn (cum) or
 * starts with it, leaf first (flat). */
static void
t_sums(const Google__V1__Profile *p, const char *fn, int64_t *total,
    int64_t *flat, int64_t *cum)
{
    size_t                     i, j;
    const Google__V1__Sample  *s;

    *total = 0;
    *flat = 0;
    *cum = 0;

    for (i = 0; i < p->n_sample; i++) {
        s = p->sample[i];
        *total += s->value[0];

        if (s->n_location_id
            && strcmp(t_loc_name(p, s->location_id[0]), fn) == 0)
        {
            *flat += s->value[0];
        }

        for (j = 0; j < s->n_location_id; j++) {
            if (strcmp(t_loc_name(p, s->location_id[j]), fn) == 0) {
                *cum += s->value[0];
                break;
            }
        }
    }
}


static void
t_check_oracle(const Google__V1__Profile *p, int64_t scale, int64_t unit)
{
    int64_t  total, flat, cum;

    t_sums(p, "main.spin", &total, &flat, &cum);
    PYRO_CHECK_INT(total, 499 * unit * scale, "total");
    PYRO_CHECK_INT(flat, 498 * unit * scale, "main.spin flat (leaf first)");

    t_sums(p, "main.hotLoopA", &total, &flat, &cum);
    PYRO_CHECK_INT(flat, 0, "main.hotLoopA flat");
    PYRO_CHECK_INT(cum, 377 * unit * scale, "main.hotLoopA cum");

    t_sums(p, "main.hotLoopB", &total, &flat, &cum);
    PYRO_CHECK_INT(cum, 121 * unit * scale, "main.hotLoopB cum");

    t_sums(p, "runtime.main", &total, &flat, &cum);
    PYRO_CHECK_INT(cum, 499 * unit * scale, "runtime.main cum");

    t_sums(p, "runtime.step", &total, &flat, &cum);
    PYRO_CHECK_INT(flat, 1 * unit * scale, "runtime.step flat");
}


/* Every sample's stack is distinct and ends (root side) in runtime.main. */
static void
t_check_stacks(const Google__V1__Profile *p)
{
    size_t                     i, j;
    const Google__V1__Sample  *a, *b;

    for (i = 0; i < p->n_sample; i++) {
        a = p->sample[i];

        PYRO_CHECK(a->n_location_id > 0
                   && strcmp(t_loc_name(p, a->location_id[a->n_location_id
                                                           - 1]),
                             "runtime.main") == 0,
                   "sample %zu: the root frame is last", i);

        for (j = i + 1; j < p->n_sample; j++) {
            b = p->sample[j];

            PYRO_CHECK(a->n_location_id != b->n_location_id
                       || memcmp(a->location_id, b->location_id,
                                 a->n_location_id * sizeof(uint64_t)) != 0,
                       "samples %zu and %zu have one stack", i, j);
        }
    }
}


/* main.cpuDriver is at lines 53..56 of main.go: four locations. */
static void
t_check_lines(const Google__V1__Profile *p)
{
    size_t                       i, lines;
    uint64_t                     seen;
    const Google__V1__Location  *l;
    const Google__V1__Function  *f;

    lines = 0;
    seen = 0;

    for (i = 0; i < p->n_location; i++) {
        l = p->location[i];
        f = t_loc_fn(p, l->id);

        if (f == NULL || strcmp(t_str(p, f->name), "main.cpuDriver") != 0) {
            continue;
        }

        PYRO_CHECK_STR(t_str(p, f->filename), T_MAIN_GO, "file name kept");

        if (l->line[0]->line >= 53 && l->line[0]->line <= 56) {
            seen |= 1u << (l->line[0]->line - 53);
        }

        lines++;
    }

    PYRO_CHECK_INT(lines, 4, "main.cpuDriver locations");
    PYRO_CHECK_INT(seen, 0xf, "main.cpuDriver lines 53..56");

    for (i = 0; i < p->n_function; i++) {
        f = p->function[i];

        if (strcmp(t_str(p, f->name), "runtime.main") == 0) {
            PYRO_CHECK_STR(t_str(p, f->filename), "runtime/proc.go",
                           "runtime.main file");
        }
    }
}


/*
 * The string table: "", then the functions' names and files in the
 * order they were first seen (so in function order, name before file,
 * when nothing was truncated away), then the header's missing strings.
 */
static void
t_check_strings(const Google__V1__Profile *p, size_t tail)
{
    int64_t                      next, idx[2];
    size_t                       i, j;
    const Google__V1__Function  *f;

    next = 1;

    for (i = 0; i < p->n_function; i++) {
        f = p->function[i];
        idx[0] = f->name;
        idx[1] = f->filename;

        for (j = 0; j < 2; j++) {
            if (idx[j] == next) {
                next++;
            }

            PYRO_CHECK(idx[j] < next, "function %zu: string %" PRId64
                       " out of first-seen order (next %" PRId64 ")", i,
                       idx[j], next);
        }
    }

    PYRO_CHECK_INT(next + tail, p->n_string_table,
                   "only referenced strings, then the header's");
}


static void
t_check_total(const Google__V1__Profile *p, int64_t want)
{
    int64_t  total, flat, cum;

    t_sums(p, "", &total, &flat, &cum);
    PYRO_CHECK_INT(total, want, "total");
}


static void
test_fixture(void)
{
    t_store_t             st;
    Google__V1__Profile  *p;

    t_store_init(&st);
    t_store_fixture(&st, "cpu.pb.gz");

    p = t_merge(&st, T_PTYPE, 0);

    if (p != NULL) {
        t_check_objects(p);
        t_check_header(p, "cpu", "nanoseconds");
        t_check_oracle(p, 1, 10000000);
        t_check_stacks(p);
        t_check_lines(p);
        t_check_strings(p, 2);
        PYRO_CHECK(p->n_sample <= 21, "at most the fixture's 21 stacks: %zu",
                   p->n_sample);
        google__v1__profile__free_unpacked(p, NULL);
    }

    p = t_merge(&st, T_PTYPE_SMP, 0);

    if (p != NULL) {
        t_check_objects(p);
        t_check_header(p, "samples", "count");
        t_check_oracle(p, 1, 1);
        t_check_strings(p, 4);
        google__v1__profile__free_unpacked(p, NULL);
    }

    /* a second copy in another record: the same stacks, twice the value */
    t_store_fixture(&st, "cpu.pb.gz");

    p = t_merge(&st, T_PTYPE, 0);

    if (p != NULL) {
        t_check_objects(p);
        t_check_oracle(p, 2, 10000000);
        t_check_stacks(p);
        t_check_lines(p);
        google__v1__profile__free_unpacked(p, NULL);
    }

    /* truncation keeps the total and adds the "other" stub */
    p = t_merge(&st, T_PTYPE, 5);

    if (p != NULL) {
        t_check_objects(p);
        t_check_header(p, "cpu", "nanoseconds");
        PYRO_CHECK_STR(t_loc_name(p, p->n_location), "other",
                       "the stub location is last");
        t_check_total(p, 2 * 499 * 10000000LL);
        google__v1__profile__free_unpacked(p, NULL);
    }

    t_store_free(&st);
}


/* Adds the stack "a;b;c" (root first, line = depth) with value v. */
static void
t_batch_stack(pyro_batch_t *b, const char *frames, uint64_t v)
{
    char        buf[128], *tok, *save;
    uint32_t    node, fn, file, line;

    snprintf(buf, sizeof(buf), "%s", frames);
    node = PYRO_NODE_NONE;
    file = pyro_batch_string(b, "t.go", 4);
    line = 0;

    for (tok = strtok_r(buf, ";", &save); tok;
         tok = strtok_r(NULL, ";", &save))
    {
        fn = pyro_batch_function(b, pyro_batch_string(b, tok, strlen(tok)),
                                 file);
        node = pyro_batch_node(b, node, fn, ++line);
    }

    PYRO_CHECK_INT(pyro_batch_sample(b, node, v), PYRO_OK, "sample");
}


/* Stacks worked out by hand for 1.2 (totals: a 12, e 10, f 5, b 2, c 2,
 * d 1, g 1, and the root 0). */
static void
t_store_small(t_store_t *st)
{
    pyro_batch_t   *b;
    pyro_labels_t   ls;

    memset(&ls, 0, sizeof(pyro_labels_t));
    pyro_labels_set_cstr(&ls, "__name__", "process_cpu");
    pyro_labels_set_cstr(&ls, "service_name", "small");
    pyro_labels_add_internal(&ls, "process_cpu", "cpu", "nanoseconds", "cpu",
                             "nanoseconds");

    b = pyro_batch_new();
    PYRO_CHECK_INT(pyro_batch_profile(b, &ls, 1800000000000000000LL, 0),
                   PYRO_OK, "profile");

    t_batch_stack(b, "a;b;c;d", 1);
    t_batch_stack(b, "a;b;c", 1);
    t_batch_stack(b, "a;e", 10);
    t_batch_stack(b, "f", 5);
    t_batch_stack(b, "g", 1);

    t_store_batch(st, b);

    pyro_batch_free(b);
    pyro_labels_free(&ls);
}


/* A sample's frame names, leaf first, as "x;y;z". */
static void
t_sample_names(const Google__V1__Profile *p, const Google__V1__Sample *s,
    char *buf, size_t size)
{
    size_t  i, n;

    n = 0;
    buf[0] = '\0';

    for (i = 0; i < s->n_location_id && n < size; i++) {
        n += snprintf(buf + n, size - n, "%s%s", i ? ";" : "",
                      t_loc_name(p, s->location_id[i]));
    }
}


static Google__V1__Profile *
t_merge_small(t_store_t *st, int64_t max_nodes)
{
    pyro_buf_t            out;
    pyro_err_t            err;
    Google__V1__Profile  *p;

    PYRO_CHECK_INT(t_merge_bytes(st, T_PTYPE, "small", max_nodes, &out,
                                 &err), PYRO_OK, "merge small");

    p = google__v1__profile__unpack(NULL, out.len,
                                    (const uint8_t *) out.data);
    PYRO_CHECK(p != NULL, "small: a google.v1.Profile");

    pyro_buf_free(&out);

    return p;
}


/* The samples as "names=value" lines, in order. */
static void
t_check_samples(const Google__V1__Profile *p, const char *want,
    const char *what)
{
    char        line[256];
    size_t      i;
    pyro_buf_t  got;

    memset(&got, 0, sizeof(pyro_buf_t));

    for (i = 0; i < p->n_sample; i++) {
        t_sample_names(p, p->sample[i], line, sizeof(line));
        pyro_buf_printf(&got, "%s=%" PRId64 "\n", line,
                        p->sample[i]->value[0]);
    }

    PYRO_CHECK_MEM(got.data ? got.data : "", got.len, want, what);
    pyro_buf_free(&got);
}


static void
test_truncate(void)
{
    t_store_t                    st;
    Google__V1__Profile         *p;
    const Google__V1__Location  *l;

    t_store_init(&st);
    t_store_small(&st);

    /* no cut: leaf-first stacks, lines = depth */
    p = t_merge_small(&st, 0);

    if (p != NULL) {
        t_check_objects(p);
        t_check_strings(p, 2);
        t_check_samples(p, "c;b;a=1\nd;c;b;a=1\ne;a=10\nf=5\ng=1\n",
                        "no truncation");
        PYRO_CHECK_INT(p->location[2]->line[0]->line, 3, "c at line 3");
        google__v1__profile__free_unpacked(p, NULL);
    }

    /* 8 nodes with the root: max_nodes 8 keeps everything */
    p = t_merge_small(&st, 8);

    if (p != NULL) {
        t_check_samples(p, "c;b;a=1\nd;c;b;a=1\ne;a=10\nf=5\ng=1\n",
                        "max_nodes = node count");
        PYRO_CHECK_INT(p->n_function, 7, "no stub function");
        google__v1__profile__free_unpacked(p, NULL);
    }

    /* max_nodes 7: minValue 1 marks only the root, yet the stub is added */
    p = t_merge_small(&st, 7);

    if (p != NULL) {
        t_check_samples(p, "c;b;a=1\nd;c;b;a=1\ne;a=10\nf=5\ng=1\n",
                        "minValue 1");
        PYRO_CHECK_INT(p->n_function, 8, "the stub function");
        PYRO_CHECK_STR(t_str(p, p->function[p->n_function - 1]->name),
                       "other", "stub name");
        google__v1__profile__free_unpacked(p, NULL);
    }

    /*
     * max_nodes 3: minValue 5 marks b, c, d and g.  d;c;b;a (k = 3) and
     * c;b;a (k = 2) both become other;b;a; g is wholly marked and goes
     * to the [other] sample, last.  c, d and g are no longer referenced.
     */
    p = t_merge_small(&st, 3);

    if (p != NULL) {
        t_check_objects(p);
        t_check_samples(p, "other;b;a=2\ne;a=10\nf=5\nother=1\n",
                        "max_nodes 3");
        PYRO_CHECK_INT(p->n_function, 5, "a, b, e, f and other");
        PYRO_CHECK_INT(p->n_location, 5, "their locations");
        PYRO_CHECK_INT(p->n_string_table, 9, "strings");

        if (p->n_string_table == 9 && p->n_location == 5) {
            PYRO_CHECK_STR(p->string_table[6], "other", "other after symbols");
            PYRO_CHECK_STR(p->string_table[7], "nanoseconds", "then unit");
            PYRO_CHECK_STR(p->string_table[8], "cpu", "then type");

            l = p->location[4];
            PYRO_CHECK(l->mapping_id == 1 && l->n_line == 1
                       && l->line[0]->function_id == 5
                       && l->line[0]->line == 0, "the stub location");
            PYRO_CHECK_INT(p->function[4]->system_name, 6, "stub system name");
            PYRO_CHECK_INT(p->function[4]->filename, 0, "stub file");
        }

        google__v1__profile__free_unpacked(p, NULL);
    }

    t_store_free(&st);
}


static void
test_empty(void)
{
    pyro_buf_t  out;
    pyro_err_t  err;
    t_store_t   st;

    t_store_init(&st);
    t_store_small(&st);

    /* nothing selected: {sample_type:[{}], period_type:{},
     * string_table:[""]} */
    PYRO_CHECK_INT(t_merge_bytes(&st, T_PTYPE, "nothing", 0, &out, &err),
                   PYRO_OK, "merge nothing");
    PYRO_CHECK(out.len == 6 && memcmp(out.data, "\x0a\x00\x32\x00\x5a\x00", 6)
               == 0, "the empty profile's bytes (%zu)", out.len);
    pyro_buf_free(&out);

    PYRO_CHECK_INT(t_merge_bytes(&st, "process_cpu:cpu", "small", 0, &out,
                                 &err), PYRO_ERROR, "a bad profile type");
    PYRO_CHECK_INT(err.status, 400, "400");
    pyro_buf_free(&out);

    t_store_free(&st);
}


int
main(void)
{
    test_fixture();
    test_truncate();
    test_empty();

    return pyro_test_done("pprof_out");
}


/*
 * Copyright (C) ngx_pyroscope developers
 *
 * DOT output (query-output-formats 1): the formatting helpers against
 * the spec's test vectors (colours, values, percentages, function name
 * shortening), a small synthetic profile (inline and residual edges,
 * the legend without a title) and the Go fixture cpu.pb.gz ingested,
 * stored, merged at srcN = 512 and drawn with dotN = 100, compared with
 * the real excerpt of section 1.9.
 */


#include <stdlib.h>

/* the static helpers are checked directly: the file is compiled in
 * again under another name for its one exported function */
#define pyro_dot_render  t_pyro_dot_render_copy
#include "pyro_dot.c"
#undef pyro_dot_render

int pyro_dot_render(const void *pprof, size_t len, int64_t dot_nodes,
    pyro_buf_t *out, pyro_err_t *err);

#include "pyro_test.h"
#include "pyro_test_store.h"


#define T_PTYPE      "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
#define T_END_MS     4102444800000LL         /* 2100-01-01 */
#define T_TIME_NS    1700000000000000000LL   


/*
 * The DOT of the stored fixture with dotN nodes (srcN = max(512, dotN)),
 * time_nanos set to T_TIME_NS so that "Time:" is fixed.
 */
static void
t_fixture_dot(t_store_t *st, int64_t dot_n, pyro_buf_t *dot)
{
    char                  q[256];
    size_t                n;
    uint8_t              *packed;
    pyro_buf_t            pp;
    pyro_err_t            err;
    pyro_scan_t           s;
    pyro_selector_t      *sel;
    Google__V1__Profile  *p;

    snprintf(q, sizeof(q), "%s{service_name=\"svc\"}", T_PTYPE);
    sel = pyro_selector_parse_query(q, strlen(q), &err);
    PYRO_CHECK(sel != NULL, "selector");

    memset(&s, 0, sizeof(pyro_scan_t));
    s.root = st->root;
    s.tenants = &st->tenants;
    s.end_ms = T_END_MS;
    s.sels = &sel;
    s.nsels = 1;

    memset(&pp, 0, sizeof(pyro_buf_t));
    PYRO_CHECK_INT(pyro_engine_merge_pprof(&s, NULL, T_PTYPE,
                                           dot_n > 512 ? dot_n : 512, &pp,
                                           &err),
                   PYRO_OK, "merge");
    pyro_selector_free(sel);

    p = google__v1__profile__unpack(NULL, pp.len, (uint8_t *) pp.data);
    PYRO_CHECK(p != NULL, "unpack");
    pyro_buf_free(&pp);
    if (p == NULL) {
        return;
    }

    p->time_nanos = T_TIME_NS;
    n = google__v1__profile__get_packed_size(p);
    packed = malloc(n + 1);
    google__v1__profile__pack(p, packed);
    google__v1__profile__free_unpacked(p, NULL);

    memset(dot, 0, sizeof(pyro_buf_t));
    PYRO_CHECK_INT(pyro_dot_render(packed, n, dot_n, dot, &err), PYRO_OK,
                   "render");
    pyro_buf_putc(dot, '\0');
    dot->len--;

    free(packed);
}


/* dotColor test vectors (1.8): score -> fg, bg. */
static void
t_colors(void)
{
    size_t      i;
    pyro_buf_t  b;
    static const struct {
        double       score;
        const char  *fg;
        const char  *bg;
    } v[] = {
        { 0, "#b2b2b2", "#ededed" },
        { 0.002, "#b2b2b0", "#ededec" },
        { 0.05, "#b2a085", "#edeae7" },
        { 0.1, "#b28559", "#ede7e1" },
        { 0.2, "#b24400", "#edded5" },
        { 0.5, "#b22100", "#edd9d5" },
        { 0.7555, "#b20e00", "#edd7d5" },
        { 0.9993, "#b20000", "#edd5d5" },
        { 1.5, "#b20000", "#edd5d5" },
    };

    memset(&b, 0, sizeof(pyro_buf_t));

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        b.len = 0;
        pyro_dot_color(v[i].score, 0, &b);
        pyro_dot_color(v[i].score, 1, &b);
        PYRO_CHECK(b.len == 14 && memcmp(b.data, v[i].fg, 7) == 0
                   && memcmp(b.data + 7, v[i].bg, 7) == 0,
                   "color %g: %.*s", v[i].score, (int) b.len, b.data);
    }

    pyro_buf_free(&b);
}


/* ScaledLabel and Percentage (1.7). */
static void
t_values(void)
{
    size_t      i;
    pyro_dot_t  d;
    pyro_buf_t  b;
    static const struct {
        const char  *unit;
        int64_t      v;
        const char  *want;
    } v[] = {
        { "nanoseconds", 1234567, "0" },
        { "nanoseconds", 4999999, "0" },
        { "nanoseconds", 5000000, "0.01s" },
        { "nanoseconds", 800000000, "0.80s" },
        { "nanoseconds", 3000000000LL, "3s" },
        { "nanoseconds", 3600000000000LL, "3600s" },
        { "bytes", 1048576, "1048576B" },
        { "count", 123, "123" },
        { "microseconds", 1500, "0" },
        { "Nanoseconds", -5000000, "-0.01s" },
        { "kilobytes", 2, "2048B" },
    };
    static const struct {
        int64_t      v;
        int64_t      total;
        const char  *want;
    } p[] = {
        { 2, 1000, "0.2%" },
        { 26, 100000, "0.026%" },
        { 17, 10000000, "0.00017%" },
        { 1, 100000000, "1e-06%" },
        { 0, 100, "0%" },
        { 9994, 10000, "99.94%" },
        { 10006, 10000, "100.06%" },
        { 9995, 10000, "100%" },
        { 5, 0, "0%" },
    };

    memset(&b, 0, sizeof(pyro_buf_t));

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        memset(&d, 0, sizeof(pyro_dot_t));
        pyro_dot_unit(&d, v[i].unit);
        b.len = 0;
        pyro_dot_value(&d, v[i].v, &b);
        PYRO_CHECK_MEM(b.data, b.len, v[i].want, v[i].unit);
    }

    for (i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
        b.len = 0;
        pyro_dot_pct(p[i].v, p[i].total, &b);
        PYRO_CHECK_MEM(b.data, b.len, p[i].want, "percentage");
    }

    pyro_buf_free(&b);
}


/* ShortenFunctionName and the multiline label (1.8). */
static void
t_names(void)
{
    size_t           i;
    pyro_dot_t       d;
    pyro_buf_t       b, out;
    pyro_dot_re_t    re;
    pyro_dot_info_t  ni;
    static const struct {
        const char  *name;
        const char  *shortname;
        const char  *label;
    } v[] = {
        { "github.com/acme/app/v2/pkg/srv.(*Server).Handle",
          "srv.(*Server).Handle", "srv\\n(*Server)\\nHandle\\n" },
        { "java/util/concurrent/ThreadPoolExecutor.runWorker",
          "ThreadPoolExecutor.runWorker", NULL },
        { "org.example.Foo.bar(int)", "Foo.bar", NULL },
        { "absl::Mutex::Lock", "Mutex::Lock", "Mutex\\nLock\\n" },
        { "std::vector<int>::push_back", "std::vector<int>::push_back",
          "std\\nvector<int>\\npush_back\\n" },
        { "(anonymous namespace)::foo", "foo", NULL },
        { "main.Map[...]", "main.Map[...]",
          "main\\nMap[\xe2\x80\xa6]\\n" },
        { "a\"b", "a\"b", "a\\\"b\\n" },
    };

    PYRO_CHECK_INT(pyro_dot_re_init(&re), PYRO_OK, "regexes");
    memset(&b, 0, sizeof(pyro_buf_t));
    memset(&out, 0, sizeof(pyro_buf_t));
    memset(&d, 0, sizeof(pyro_dot_t));
    pyro_buf_putc(&d.strs, '\0');

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        pyro_dot_shorten(&re, v[i].name, &b);
        PYRO_CHECK_STR(b.data, v[i].shortname, v[i].name);

        if (v[i].label) {
            memset(&ni, 0, sizeof(pyro_dot_info_t));
            ni.name = v[i].name;
            ni.objfile = "";
            out.len = 0;
            pyro_dot_multiline(&re, &d, &ni, &b, &out);
            PYRO_CHECK_MEM(out.data, out.len, v[i].label, v[i].name);
        }
    }

    pyro_dot_re_free(&re);
    pyro_buf_free(&b);
    pyro_buf_free(&out);
    pyro_buf_free(&d.strs);
}


/* Whether the DOT text has this exact line (or line prefix). */
static int
t_has_line(const pyro_buf_t *dot, const char *line, int prefix)
{
    size_t       n;
    const char  *p;

    n = strlen(line);

    for (p = dot->data; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p) {
        if (strncmp(p, line, n) == 0 && (prefix || p[n] == '\n')) {
            return 1;
        }
    }

    return 0;
}


/* The real excerpt of 1.9; our stored frames keep no mapping, so the
 * title is "unnamed" and the legend starts with "Type:". */
static void
t_fixture(t_store_t *st)
{
    size_t       i;
    pyro_buf_t   dot;
    static const char  *lines[] = {
        "digraph \"unnamed\" {",
        "node [style=filled fillcolor=\"#f8f8f8\"]",
        "subgraph cluster_L { \"Type: cpu\" [shape=box fontsize=16 "
            "label=\"Type: cpu\\lTime: Nov 14, 2023 at 10:13pm (UTC)\\l"
            "Showing nodes accounting for 4.99s, 100% of 4.99s total\\l\\l"
            "See https://git.io/JfYMW for how to read the graph\\l\"] }",
        "N1 [label=\"main\\nhotLoopA\\nmain.go:41\\n0 of 3.77s (75.55%)\" "
            "id=\"node1\" fontsize=8 shape=box tooltip=\"main.hotLoopA "
            "example.com/pprofgen/main.go:41 (3.77s)\" color=\"#b20e00\" "
            "fillcolor=\"#edd7d5\"]",
        "N4 -> N2 [label=\" 4.99s\" weight=101 penwidth=6 color=\"#b20000\" "
            "tooltip=\"runtime.main runtime/proc.go:250 -> main.main "
            "example.com/pprofgen/main.go:143 (4.99s)\" labeltooltip=\""
            "runtime.main runtime/proc.go:250 -> main.main "
            "example.com/pprofgen/main.go:143 (4.99s)\"]",
        "}",
    };
    static const char  *prefixes[] = {
        "N3 [label=\"main\\nspin\\nmain.go:31\\n2.94s (58.92%)\" "
            "id=\"node3\" fontsize=24 ",
        "N9 [label=\"runtime\\nstep\\nsymtab.go:1121\\n0.01s (0.2%)\" "
            "id=\"node9\" fontsize=9 ",
        "N1 -> N5 [label=\" 0.80s\" weight=17 color=\"#b25f23\" tooltip=",
        "N10 -> N21 [label=\" 0.01s\" color=\"#b2b2b0\" tooltip=",
    };

    t_fixture_dot(st, 100, &dot);

    for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        PYRO_CHECK(t_has_line(&dot, lines[i], 0), "line %s", lines[i]);
    }

    for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        PYRO_CHECK(t_has_line(&dot, prefixes[i], 1), "prefix %s",
                   prefixes[i]);
    }

    PYRO_CHECK(strncmp(dot.data, lines[0], strlen(lines[0])) == 0,
               "the digraph line first");
    PYRO_CHECK(dot.len > 2 && strcmp(dot.data + dot.len - 2, "}\n") == 0,
               "ends with }");
    PYRO_CHECK(strstr(dot.data, "N28 ") == NULL, "27 nodes");

    pyro_buf_free(&dot);

    /* dotN = 8: trimmed, rebuilt, residual edges dotted */
    t_fixture_dot(st, 8, &dot);

    PYRO_CHECK(strstr(dot.data, "\\lShowing top 8 nodes out of 27\\l")
               != NULL, "showing top 8:\n%s", dot.data);
    PYRO_CHECK(strstr(dot.data, "N8 [") != NULL
               && strstr(dot.data, "N9 [") == NULL, "8 nodes");

    pyro_buf_free(&dot);
}


/* A synthetic profile: inline frames, a frame without a name, no
 * mapping file but a build ID, and an empty profile. */
static void
t_synthetic(void)
{
    size_t                 n;
    uint8_t               *packed;
    uint64_t               ids1[] = { 2, 1 }, ids2[] = { 3 };
    int64_t                v1[] = { 3000000000LL }, v2[] = { 5000 };
    char                  *strs[] = { "", "cpu", "nanoseconds", "main.main",
                                      "main.go", "main.inl", "abc123",
                                      "/usr/bin/server" };
    pyro_buf_t             dot;
    pyro_err_t             err;
    Google__V1__Line       l1 = GOOGLE__V1__LINE__INIT;
    Google__V1__Line       l2 = GOOGLE__V1__LINE__INIT;
    Google__V1__Line       l3 = GOOGLE__V1__LINE__INIT;
    Google__V1__Line      *ls1[1], *ls2[2];
    Google__V1__Sample     s1 = GOOGLE__V1__SAMPLE__INIT;
    Google__V1__Sample     s2 = GOOGLE__V1__SAMPLE__INIT;
    Google__V1__Sample    *ss[2];
    Google__V1__Mapping    m = GOOGLE__V1__MAPPING__INIT;
    Google__V1__Mapping   *ms[1];
    Google__V1__Function   f1 = GOOGLE__V1__FUNCTION__INIT;
    Google__V1__Function   f2 = GOOGLE__V1__FUNCTION__INIT;
    Google__V1__Function  *fs[2];
    Google__V1__Location   o1 = GOOGLE__V1__LOCATION__INIT;
    Google__V1__Location   o2 = GOOGLE__V1__LOCATION__INIT;
    Google__V1__Location   o3 = GOOGLE__V1__LOCATION__INIT;
    Google__V1__Location  *os[3];
    Google__V1__ValueType  st = GOOGLE__V1__VALUE_TYPE__INIT;
    Google__V1__ValueType *sts[1];
    Google__V1__Profile    p = GOOGLE__V1__PROFILE__INIT;

    st.type = 1;
    st.unit = 2;
    sts[0] = &st;
    m.id = 1;
    m.build_id = 6;
    ms[0] = &m;
    f1.id = 1;
    f1.name = 3;
    f1.filename = 4;
    f2.id = 2;
    f2.name = 5;
    f2.filename = 4;
    fs[0] = &f1;
    fs[1] = &f2;

    /* location 1: main.main:10; location 2: main.inl:20 inlined into
     * main.main:11; location 3: no lines, address 0x401000 */
    l1.function_id = 1;
    l1.line = 10;
    ls1[0] = &l1;
    o1.id = 1;
    o1.mapping_id = 1;
    o1.n_line = 1;
    o1.line = ls1;
    l2.function_id = 2;
    l2.line = 20;
    l3.function_id = 1;
    l3.line = 11;
    ls2[0] = &l2;
    ls2[1] = &l3;
    o2.id = 2;
    o2.mapping_id = 1;
    o2.n_line = 2;
    o2.line = ls2;
    o3.id = 3;
    o3.mapping_id = 1;
    o3.address = 0x401000;
    os[0] = &o1;
    os[1] = &o2;
    os[2] = &o3;

    s1.n_location_id = 2;
    s1.location_id = ids1;
    s1.n_value = 1;
    s1.value = v1;
    s2.n_location_id = 1;
    s2.location_id = ids2;
    s2.n_value = 1;
    s2.value = v2;
    ss[0] = &s1;
    ss[1] = &s2;

    p.n_sample_type = 1;
    p.sample_type = sts;
    p.n_sample = 2;
    p.sample = ss;
    p.n_mapping = 1;
    p.mapping = ms;
    p.n_location = 3;
    p.location = os;
    p.n_function = 2;
    p.function = fs;
    p.n_string_table = 7;
    p.string_table = strs;

    n = google__v1__profile__get_packed_size(&p);
    packed = malloc(n);
    google__v1__profile__pack(&p, packed);

    memset(&dot, 0, sizeof(pyro_buf_t));
    PYRO_CHECK_INT(pyro_dot_render(packed, n, 0, &dot, &err), PYRO_OK,
                   "render");
    pyro_buf_putc(&dot, '\0');
    dot.len--;

    PYRO_CHECK(t_has_line(&dot, "digraph \"unnamed\" {", 0), "unnamed");
    PYRO_CHECK(t_has_line(&dot, "subgraph cluster_L { \"Build ID: abc123\" "
                          "[shape=box fontsize=16 label=\"Build ID: abc123"
                          "\\lType: cpu\\lShowing nodes accounting for 3s, "
                          "100% of 3s total\\l\\lSee https://git.io/JfYMW "
                          "for how to read the graph\\l\"] }", 0),
               "legend:\n%s", dot.data);
    PYRO_CHECK(strstr(dot.data, "[label=\" 3s\\n (inline)\" weight=100 "
                      "penwidth=5 ") != NULL, "inline edge");
    PYRO_CHECK(strstr(dot.data, "[label=\"0000000000401000\\n<unknown>\\n"
                      "0 (0.00017%)\" ") != NULL, "no-line frame:\n%s",
               dot.data);
    PYRO_CHECK(strstr(dot.data, "tooltip=\"main.inl main.go:20 (3s)\"")
               != NULL, "inlined frame");

    pyro_buf_free(&dot);

    /* an empty profile draws nothing */
    p.n_sample = 0;
    n = google__v1__profile__get_packed_size(&p);
    google__v1__profile__pack(&p, packed);

    memset(&dot, 0, sizeof(pyro_buf_t));
    PYRO_CHECK_INT(pyro_dot_render(packed, n, 0, &dot, &err), PYRO_OK,
                   "empty");
    PYRO_CHECK_INT(dot.len, 0, "empty profile, empty output");

    pyro_buf_free(&dot);
    free(packed);
}


int
main(void)
{
    t_store_t  st;

    /* "Time:" is in the local zone */
    setenv("TZ", "UTC", 1);
    tzset();

    t_colors();
    t_values();
    t_names();
    t_synthetic();

    t_store_init(&st);
    t_store_fixture(&st, "cpu.pb.gz");
    t_fixture(&st);
    t_store_free(&st);

    return pyro_test_done("dot");
}

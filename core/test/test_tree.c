
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * The merged call tree and its outputs: the spec's examples byte for
 * byte (flamebearer, tree bytes, flame graph arrays, diff), the
 * max_nodes threshold, "other" folding, the "total" name collision,
 * deep stacks and exact int64 values.  Every expected string
 * was worked out by hand from the layout rules.
 */


#include <stdlib.h>

#include "pyro.h"
#include "pyro_test.h"


/* Adds v at the stack "a;b;c" (root first); returns the leaf node. */
static int64_t
add_stack(pyro_tree_t *t, const char *frames, int64_t v)
{
    int64_t      node;
    const char  *p, *e;

    node = 0;
    p = frames;

    while (*p) {
        e = strchr(p, ';');
        if (e == NULL) {
            e = p + strlen(p);
        }

        node = pyro_tree_child(t, (uint32_t) node, p, (size_t) (e - p));
        if (node < 0) {
            return -1;
        }

        p = *e ? e + 1 : e;
    }

    pyro_tree_add(t, (uint32_t) node, v);

    return node;
}


static int
starts_with(const pyro_buf_t *b, const char *s)
{
    size_t  n;

    n = strlen(s);

    return b->len >= n && memcmp(b->data, s, n) == 0;
}


static int
ends_with(const pyro_buf_t *b, const char *s)
{
    size_t  n;

    n = strlen(s);

    return b->len >= n && memcmp(b->data + b->len - n, s, n) == 0;
}


/* Builds a tree from "stack=value" pairs and checks its flamebearer. */
static void
check_fb(const char *what, const char **stacks, const int64_t *vals,
    size_t n, int64_t max_nodes, const char *want)
{
    size_t        i;
    pyro_buf_t    out;
    pyro_tree_t  *t;

    memset(&out, 0, sizeof(out));

    t = pyro_tree_new();
    PYRO_CHECK(t != NULL, "%s: pyro_tree_new", what);
    if (t == NULL) {
        return;
    }

    for (i = 0; i < n; i++) {
        PYRO_CHECK(add_stack(t, stacks[i], vals[i]) > 0, "%s: add %s",
                   what, stacks[i]);
    }

    pyro_tree_finish(t);
    pyro_tree_flamebearer_json(t, max_nodes, &out);

    PYRO_CHECK(!out.failed, "%s: buffer failed", what);
    PYRO_CHECK_MEM(out.data, out.len, want, what);

    pyro_buf_free(&out);
    pyro_tree_free(t);
}


static void
test_example_a(void)
{
    static const char     *s[] = { "a;b", "a;c", "d" };
    static const int64_t   v[] = { 3, 2, 1 };

    check_fb("example A", s, v, 3, 0,
             "{\"names\":[\"total\",\"d\",\"a\",\"c\",\"b\"],"
             "\"levels\":[[0,6,0,0],[0,5,0,2,0,1,1,1],[0,3,3,4,0,2,2,3]],"
             "\"numTicks\":6,\"maxSelf\":3}");

    /* the stacks in another order build the same tree */
    {
        static const char     *s2[] = { "d", "a;c", "a;b" };
        static const int64_t   v2[] = { 1, 2, 3 };

        check_fb("example A reordered", s2, v2, 3, 0,
                 "{\"names\":[\"total\",\"d\",\"a\",\"c\",\"b\"],"
                 "\"levels\":[[0,6,0,0],[0,5,0,2,0,1,1,1],"
                 "[0,3,3,4,0,2,2,3]],\"numTicks\":6,\"maxSelf\":3}");
    }
}


/* Totals: a 8, b 5, e 4, c 2, d 1, f 1 (the 3.1 minValue example). */
static const char     *tree_b[] = { "a;b", "a;c", "a;d", "e", "e;f" };
static const int64_t   tree_b_v[] = { 5, 2, 1, 3, 1 };


static void
test_example_b(void)
{
    /* minValue(3) = 4: c, d and f fold into "other" */
    check_fb("example B", tree_b, tree_b_v, 5, 3,
             "{\"names\":[\"total\",\"e\",\"other\",\"a\",\"b\"],"
             "\"levels\":[[0,12,0,0],[0,8,0,3,0,4,3,1],"
             "[0,5,5,4,0,3,3,2,3,1,1,2]],"
             "\"numTicks\":12,\"maxSelf\":5}");
}


static void
test_min_value(void)
{
    /* minValue(4) = 2: c stays, d and f become one "other" each */
    check_fb("minValue(4)", tree_b, tree_b_v, 5, 4,
             "{\"names\":[\"total\",\"e\",\"other\",\"a\",\"c\",\"b\"],"
             "\"levels\":[[0,12,0,0],[0,8,0,3,0,4,3,1],"
             "[0,5,5,5,0,2,2,4,0,1,1,2,3,1,1,2]],"
             "\"numTicks\":12,\"maxSelf\":5}");

    /* minValue(6) = 0: six nodes, no cut */
    check_fb("minValue(6)", tree_b, tree_b_v, 5, 6,
             "{\"names\":[\"total\",\"e\",\"f\",\"a\",\"d\",\"c\",\"b\"],"
             "\"levels\":[[0,12,0,0],[0,8,0,3,0,4,3,1],"
             "[0,5,5,6,0,2,2,5,0,1,1,4,3,1,1,2]],"
             "\"numTicks\":12,\"maxSelf\":5}");

    /* minValue(5) = 1, tied by d and f: both kept, 6 nodes for 5 */
    check_fb("ties at the threshold", tree_b, tree_b_v, 5, 5,
             "{\"names\":[\"total\",\"e\",\"f\",\"a\",\"d\",\"c\",\"b\"],"
             "\"levels\":[[0,12,0,0],[0,8,0,3,0,4,3,1],"
             "[0,5,5,6,0,2,2,5,0,1,1,4,3,1,1,2]],"
             "\"numTicks\":12,\"maxSelf\":5}");

    /* negative and huge max_nodes: no cut */
    check_fb("max_nodes -1", tree_b, tree_b_v, 5, -1,
             "{\"names\":[\"total\",\"e\",\"f\",\"a\",\"d\",\"c\",\"b\"],"
             "\"levels\":[[0,12,0,0],[0,8,0,3,0,4,3,1],"
             "[0,5,5,6,0,2,2,5,0,1,1,4,3,1,1,2]],"
             "\"numTicks\":12,\"maxSelf\":5}");

    check_fb("max_nodes 2^62", tree_b, tree_b_v, 5, INT64_C(1) << 62,
             "{\"names\":[\"total\",\"e\",\"f\",\"a\",\"d\",\"c\",\"b\"],"
             "\"levels\":[[0,12,0,0],[0,8,0,3,0,4,3,1],"
             "[0,5,5,6,0,2,2,5,0,1,1,4,3,1,1,2]],"
             "\"numTicks\":12,\"maxSelf\":5}");

    /* minValue(1) = 8: only a; e folds into "other" under the root */
    check_fb("minValue(1)", tree_b, tree_b_v, 5, 1,
             "{\"names\":[\"total\",\"other\",\"a\"],"
             "\"levels\":[[0,12,0,0],[0,8,0,2,0,4,4,1],[0,8,8,1]],"
             "\"numTicks\":12,\"maxSelf\":8}");
}


static void
test_total_collision(void)
{
    static const char     *s[] = { "total;x", "y" };
    static const int64_t   v[] = { 2, 1 };

    /* a real "total" shares name index 0 with the root */
    check_fb("total collision", s, v, 2, 0,
             "{\"names\":[\"total\",\"y\",\"x\"],"
             "\"levels\":[[0,3,0,0],[0,2,0,0,0,1,1,1],[0,2,2,2]],"
             "\"numTicks\":3,\"maxSelf\":2}");
}


static void
test_other_folding(void)
{
    static const char     *s[] = { "a", "other;z", "other", "b;other", "b" };
    static const int64_t   v[] = { 1, 2, 1, 4, 1 };

    /* existing "other" children fold (subtrees dropped) even with no cut */
    check_fb("other folding", s, v, 5, 0,
             "{\"names\":[\"total\",\"other\",\"b\",\"a\"],"
             "\"levels\":[[0,9,0,0],[0,1,1,3,0,5,1,2,0,3,3,1],[2,4,4,1]],"
             "\"numTicks\":9,\"maxSelf\":4}");
}


static void
test_sort_and_escape(void)
{
    static const char     *s[] = { "a", "ab", "B", "<\"x\">" };
    static const int64_t   v[] = { 1, 1, 1, 1 };

    /* bytewise: "<..." (0x3c) < "B" < "a" < "ab"; visited right to left */
    check_fb("bytewise order", s, v, 4, 0,
             "{\"names\":[\"total\",\"ab\",\"a\",\"B\","
             "\"\\u003c\\\"x\\\"\\u003e\"],"
             "\"levels\":[[0,4,0,0],[0,1,1,4,0,1,1,3,0,1,1,2,0,1,1,1]],"
             "\"numTicks\":4,\"maxSelf\":1}");
}


static void
test_empty(void)
{
    pyro_buf_t    out;
    pyro_tree_t  *t;

    memset(&out, 0, sizeof(out));

    t = pyro_tree_new();
    pyro_tree_finish(t);
    PYRO_CHECK_INT(pyro_tree_total(t), 0, "empty total");

    pyro_tree_flamebearer_json(t, 0, &out);
    PYRO_CHECK_MEM(out.data, out.len,
                   "{\"names\":[\"total\"],\"levels\":[[0,0,0,0]],"
                   "\"numTicks\":0,\"maxSelf\":0}", "empty tree");

    out.len = 0;
    pyro_tree_flamebearer_json(t, 3, &out);
    PYRO_CHECK_MEM(out.data, out.len,
                   "{\"names\":[\"total\"],\"levels\":[[0,0,0,0]],"
                   "\"numTicks\":0,\"maxSelf\":0}", "empty tree, cut");

    pyro_buf_free(&out);
    pyro_tree_free(t);
}


static void
test_big_values(void)
{
    static const char     *s[] = { "a", "b" };
    static const int64_t   v[] = { (INT64_C(1) << 53) + 1, INT64_C(1) << 62 };

    check_fb("values above 2^53", s, v, 2, 0,
             "{\"names\":[\"total\",\"b\",\"a\"],"
             "\"levels\":[[0,4620693217682128897,0,0],"
             "[0,9007199254740993,9007199254740993,2,"
             "0,4611686018427387904,4611686018427387904,1]],"
             "\"numTicks\":4620693217682128897,"
             "\"maxSelf\":4611686018427387904}");
}


/* A 5000-frame stack: the walks must not recurse. */
static void
test_deep(void)
{
    int           i;
    char          name[32];
    int64_t       node;
    pyro_buf_t    out, want;
    pyro_tree_t  *t;

    memset(&out, 0, sizeof(out));
    memset(&want, 0, sizeof(want));

    t = pyro_tree_new();
    node = 0;

    for (i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        node = pyro_tree_child(t, (uint32_t) node, name, strlen(name));
    }

    PYRO_CHECK_INT(node, 5000, "deep leaf id");
    pyro_tree_add(t, (uint32_t) node, 7);
    pyro_tree_finish(t);
    PYRO_CHECK_INT(pyro_tree_total(t), 7, "deep total");

    pyro_tree_flamebearer_json(t, 10, &out);

    pyro_buf_puts(&want, "{\"names\":[\"total\"");
    for (i = 0; i < 5000; i++) {
        pyro_buf_printf(&want, ",\"f%d\"", i);
    }

    pyro_buf_puts(&want, "],\"levels\":[[0,7,0,0]");
    for (i = 1; i < 5000; i++) {
        pyro_buf_printf(&want, ",[0,7,0,%d]", i);
    }

    pyro_buf_puts(&want, ",[0,7,7,5000]],\"numTicks\":7,\"maxSelf\":7}");
    pyro_buf_putc(&want, '\0');

    PYRO_CHECK(out.len == want.len - 1
               && memcmp(out.data, want.data, out.len) == 0,
               "deep flamebearer differs (len %zu, want %zu)", out.len,
               want.len - 1);

    pyro_buf_free(&out);
    pyro_buf_free(&want);
    pyro_tree_free(t);
}


/* Many nodes: lookups survive every rehash and totals add up. */
static void
test_many(void)
{
    int           i, j, bad;
    char          name[32];
    int64_t       id, ids[300];
    pyro_buf_t    out;
    pyro_tree_t  *t;

    memset(&out, 0, sizeof(out));
    t = pyro_tree_new();
    bad = 0;

    for (i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "r%03d", i);
        ids[i] = pyro_tree_child(t, 0, name, strlen(name));

        for (j = 0; j < 1000; j++) {
            snprintf(name, sizeof(name), "c%d", j);
            id = pyro_tree_child(t, (uint32_t) ids[i], name, strlen(name));
            pyro_tree_add(t, (uint32_t) id, 1);
        }
    }

    for (i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "r%03d", i);
        bad += pyro_tree_child(t, 0, name, strlen(name)) != ids[i];

        snprintf(name, sizeof(name), "c%d", 999);
        id = pyro_tree_child(t, (uint32_t) ids[i], name, strlen(name));
        bad += id != ids[i] + 1000;
    }

    PYRO_CHECK_INT(bad, 0, "lookups after rehash");
    PYRO_CHECK_INT(ids[299], 299 * 1001 + 1, "last root id");

    pyro_tree_finish(t);
    PYRO_CHECK_INT(pyro_tree_total(t), 300000, "many total");

    /* max_nodes 300 cuts at total 1000: every root, and one "other" each
     * for its 1000 leaves; names: total, r299, other, r298, ... */
    pyro_tree_flamebearer_json(t, 300, &out);
    PYRO_CHECK(starts_with(&out, "{\"names\":[\"total\",\"r299\","
                           "\"other\",\"r298\","),
               "many names: %.40s", out.data);
    PYRO_CHECK(ends_with(&out, ",0,1000,1000,2]],\"numTicks\":300000,"
                         "\"maxSelf\":1000}"),
               "many tail: %.40s", out.data + out.len - 40);

    pyro_buf_free(&out);
    pyro_tree_free(t);
}


/* Adds after finish are picked up by the next finish; empty names are
 * names like any other. */
static void
test_refinish(void)
{
    int64_t       a, e;
    pyro_buf_t    out;
    pyro_tree_t  *t;

    memset(&out, 0, sizeof(out));
    t = pyro_tree_new();

    a = pyro_tree_child(t, 0, "a", 1);
    PYRO_CHECK_INT(pyro_tree_child(t, 0, "a", 1), a, "same child");
    PYRO_CHECK_INT(pyro_tree_child(t, (uint32_t) a, "a", 1), 2,
                   "a under a is a new node");
    PYRO_CHECK_INT(pyro_tree_child(t, 99, "a", 1), -1, "bad parent");

    pyro_tree_add(t, (uint32_t) a, 2);
    pyro_tree_finish(t);
    PYRO_CHECK_INT(pyro_tree_total(t), 2, "total before");

    e = pyro_tree_child(t, 0, NULL, 0);
    PYRO_CHECK_INT(e, 3, "empty name node");
    pyro_tree_add(t, (uint32_t) e, 5);
    pyro_tree_finish(t);
    PYRO_CHECK_INT(pyro_tree_total(t), 7, "total after");

    /* "" sorts first; the a under a has total 0 and is kept */
    pyro_tree_flamebearer_json(t, 0, &out);
    PYRO_CHECK_MEM(out.data, out.len,
                   "{\"names\":[\"total\",\"a\",\"\"],"
                   "\"levels\":[[0,7,0,0],[0,5,5,2,0,2,2,1],[7,0,0,1]],"
                   "\"numTicks\":7,\"maxSelf\":5}", "refinish");

    pyro_buf_free(&out);
    pyro_tree_free(t);
}


/* Builds a tree from "stack" strings (root first) and values. */
static pyro_tree_t *
make_tree(const char **stacks, const int64_t *vals, size_t n)
{
    size_t        i;
    pyro_tree_t  *t;

    t = pyro_tree_new();

    for (i = 0; t != NULL && i < n; i++) {
        if (add_stack(t, stacks[i], vals[i]) < 0) {
            pyro_tree_free(t);
            return NULL;
        }
    }

    return t;
}


/* Checks tree bytes exactly. */
static void
check_bytes(const char *what, const pyro_buf_t *b, const char *want,
    size_t want_len)
{
    PYRO_CHECK(!b->failed && b->len == want_len
               && (want_len == 0 || memcmp(b->data, want, want_len) == 0),
               "%s: %zu bytes, want %zu", what, b->len, want_len);
}


static void
check_tree_bytes(const char *what, const char **stacks, const int64_t *vals,
    size_t n, int64_t max_nodes, const char *want, size_t want_len)
{
    pyro_buf_t    out;
    pyro_tree_t  *t;

    memset(&out, 0, sizeof(out));
    t = make_tree(stacks, vals, n);
    PYRO_CHECK(t != NULL, "%s: tree", what);
    if (t == NULL) {
        return;
    }

    pyro_tree_finish(t);
    pyro_tree_bytes(t, max_nodes, &out);
    check_bytes(what, &out, want, want_len);

    pyro_buf_free(&out);
    pyro_tree_free(t);
}


#define BYTES(s)  s, sizeof(s) - 1


static void
test_tree_bytes(void)
{
    static const char     *s1[] = { "a;b", "a;c", "d" };
    static const int64_t   v1[] = { 3, 2, 1 };

    /* query-output-formats 2, example 1 */
    check_tree_bytes("tree bytes example 1", s1, v1, 3, 0,
                     BYTES("\x00\x00\x02" "\x01" "d" "\x01\x00"
                           "\x01" "a" "\x00\x02" "\x01" "c" "\x02\x00"
                           "\x01" "b" "\x03\x00"));

    /* example 2: T = 4; "other" at its sorted position after "b" */
    check_tree_bytes("tree bytes example 2", tree_b, tree_b_v, 5, 3,
                     BYTES("\x00\x00\x02" "\x01" "e" "\x03\x01"
                           "\x05" "other" "\x01\x00"
                           "\x01" "a" "\x00\x02" "\x05" "other" "\x03\x00"
                           "\x01" "b" "\x05\x00"));

    /* a synthetic "other" sorts before a kept "p": written after it */
    {
        static const char     *s[] = { "a;p", "a;c" };
        static const int64_t   v[] = { 5, 1 };

        check_tree_bytes("synthetic other before p", s, v, 2, 2,
                         BYTES("\x00\x00\x01" "\x01" "a" "\x00\x02"
                               "\x01" "p" "\x05\x00"
                               "\x05" "other" "\x01\x00"));
    }

    /* an existing "other" is always kept and takes the dropped sum */
    {
        static const char     *s[] = { "a;x", "a;other", "a;y", "a;z" };
        static const int64_t   v[] = { 5, 1, 1, 1 };

        check_tree_bytes("existing other absorbs", s, v, 4, 2,
                         BYTES("\x00\x00\x01" "\x01" "a" "\x00\x02"
                               "\x01" "x" "\x05\x00"
                               "\x05" "other" "\x03\x00"));
    }

    /* no cut: "other" nodes are plain nodes with their subtrees */
    {
        static const char     *s[] = { "a", "other;z", "other", "b;other",
                                       "b" };
        static const int64_t   v[] = { 1, 2, 1, 4, 1 };

        check_tree_bytes("other kept whole", s, v, 5, 0,
                         BYTES("\x00\x00\x03" "\x05" "other" "\x01\x01"
                               "\x01" "z" "\x02\x00"
                               "\x01" "b" "\x01\x01"
                               "\x05" "other" "\x04\x00"
                               "\x01" "a" "\x01\x00"));
    }

    /* uvarint values past one byte */
    {
        static const char     *s[] = { "a" };
        static const int64_t   v[] = { 300 };

        check_tree_bytes("uvarint", s, v, 1, 0,
                         BYTES("\x00\x00\x01" "\x01" "a" "\xac\x02\x00"));
    }

    /* an empty tree is no bytes */
    check_tree_bytes("empty tree bytes", NULL, NULL, 0, 0, "", 0);
}


static void
test_tree_merge_bytes(void)
{
    pyro_buf_t    b, fb1, fb2;
    pyro_tree_t  *t, *u;

    memset(&b, 0, sizeof(b));
    memset(&fb1, 0, sizeof(fb1));
    memset(&fb2, 0, sizeof(fb2));

    /* a round trip keeps the tree */
    t = make_tree(tree_b, tree_b_v, 5);
    pyro_tree_bytes(t, 0, &b);
    u = pyro_tree_new();
    PYRO_CHECK_INT(pyro_tree_merge_bytes(u, b.data, b.len), PYRO_OK,
                   "merge bytes");
    pyro_tree_flamebearer_json(t, 0, &fb1);
    pyro_tree_flamebearer_json(u, 0, &fb2);
    PYRO_CHECK(fb1.len == fb2.len && memcmp(fb1.data, fb2.data, fb1.len) == 0,
               "round trip: %.*s", (int) fb2.len, fb2.data);

    /* merging twice doubles every value */
    PYRO_CHECK_INT(pyro_tree_merge_bytes(u, b.data, b.len), PYRO_OK,
                   "merge bytes again");
    pyro_tree_finish(u);
    PYRO_CHECK_INT(pyro_tree_total(u), 24, "merged twice");
    pyro_tree_free(u);

    /* the v2 path: bytes cut at 3, then a flame graph without a cut,
     * equals example B */
    b.len = 0;
    fb2.len = 0;
    pyro_tree_bytes(t, 3, &b);
    u = pyro_tree_new();
    PYRO_CHECK_INT(pyro_tree_merge_bytes(u, b.data, b.len), PYRO_OK,
                   "merge cut bytes");
    pyro_tree_flamebearer_json(u, 0, &fb2);
    PYRO_CHECK_MEM(fb2.data, fb2.len,
                   "{\"names\":[\"total\",\"e\",\"other\",\"a\",\"b\"],"
                   "\"levels\":[[0,12,0,0],[0,8,0,3,0,4,3,1],"
                   "[0,5,5,4,0,3,3,2,3,1,1,2]],"
                   "\"numTicks\":12,\"maxSelf\":5}", "cut then flame graph");
    pyro_tree_free(u);

    /* short input is an empty tree; truncated input an error */
    u = pyro_tree_new();
    PYRO_CHECK_INT(pyro_tree_merge_bytes(u, "", 0), PYRO_OK, "no bytes");
    PYRO_CHECK_INT(pyro_tree_merge_bytes(u, "\x00", 1), PYRO_OK, "1 byte");
    PYRO_CHECK_INT(pyro_tree_merge_bytes(u, b.data, b.len - 1), PYRO_ERROR,
                   "truncated bytes");
    PYRO_CHECK_INT(pyro_tree_merge_bytes(u, "\x00\x00\x01\x7f", 4),
                   PYRO_ERROR, "name past the end");
    PYRO_CHECK_INT(pyro_tree_merge_bytes(u, "\x00\x00\xff\xff\xff\xff\xff"
                                            "\xff\xff\xff\xff\x01", 12),
                   PYRO_ERROR, "2^64-1 children, none there");
    pyro_tree_free(u);

    pyro_buf_free(&b);
    pyro_buf_free(&fb1);
    pyro_buf_free(&fb2);
    pyro_tree_free(t);
}


/* Formats a flame graph as "names|L0|L1|...|total,max_self[,l,r]". */
static void
fg_format(const pyro_flamegraph_t *fg, int diff, pyro_buf_t *b)
{
    size_t  i, l;

    b->len = 0;

    for (i = 0; i < fg->nnames; i++) {
        pyro_buf_printf(b, "%s%.*s", i ? "," : "", (int) fg->names[i].len,
                        fg->names[i].data);
    }

    for (l = 0; l < fg->nlevels; l++) {
        pyro_buf_putc(b, '|');

        for (i = fg->levels[l]; i < fg->levels[l + 1]; i++) {
            pyro_buf_printf(b, "%s%" PRId64, i > fg->levels[l] ? "," : "",
                            fg->values[i]);
        }
    }

    pyro_buf_printf(b, "|%" PRId64 ",%" PRId64, fg->total, fg->max_self);

    if (diff) {
        pyro_buf_printf(b, ",%" PRId64 ",%" PRId64, fg->left_ticks,
                        fg->right_ticks);
    }
}


static void
check_fg(const char *what, const char **stacks, const int64_t *vals,
    size_t n, int64_t max_nodes, const char *want)
{
    pyro_buf_t         b;
    pyro_tree_t       *t;
    pyro_flamegraph_t  fg;

    memset(&b, 0, sizeof(b));
    t = make_tree(stacks, vals, n);

    PYRO_CHECK_INT(pyro_tree_flamegraph(t, max_nodes, &fg), PYRO_OK, what);
    fg_format(&fg, 0, &b);
    PYRO_CHECK_MEM(b.data, b.len, want, what);

    pyro_flamegraph_free(&fg);
    pyro_buf_free(&b);
    pyro_tree_free(t);
}


static void
test_flamegraph(void)
{
    static const char     *s1[] = { "a;b", "a;c", "d" };
    static const int64_t   v1[] = { 3, 2, 1 };

    check_fg("flame graph example A", s1, v1, 3, 0,
             "total,d,a,c,b|0,6,0,0|0,5,0,2,0,1,1,1|0,3,3,4,0,2,2,3|6,3");

    check_fg("flame graph example B", tree_b, tree_b_v, 5, 3,
             "total,e,other,a,b|0,12,0,0|0,8,0,3,0,4,3,1"
             "|0,5,5,4,0,3,3,2,3,1,1,2|12,5");

    check_fg("flame graph empty", NULL, NULL, 0, 0, "total|0,0,0,0|0,0");

    /* a real "total" shares index 0; an existing "other" folds (its
     * subtree dropped) into a new one right of the kept siblings */
    {
        static const char     *s[] = { "total;x", "other;z", "y" };
        static const int64_t   v[] = { 2, 4, 1 };

        check_fg("flame graph total and other", s, v, 3, 0,
                 "total,other,y,x|0,7,0,0|0,2,0,0,0,1,1,2,0,4,4,1"
                 "|0,2,2,3|7,4");
    }
}


static void
check_diff(const char *what, const char **ls, const int64_t *lv, size_t ln,
    const char **rs, const int64_t *rv, size_t rn, int64_t max_nodes,
    const char *want)
{
    pyro_buf_t         b;
    pyro_err_t         err;
    pyro_tree_t       *l, *r;
    pyro_flamegraph_t  fg;

    memset(&b, 0, sizeof(b));
    l = make_tree(ls, lv, ln);
    r = make_tree(rs, rv, rn);

    if (pyro_tree_diff(l, r, max_nodes, &fg, &err) == PYRO_OK) {
        fg_format(&fg, 1, &b);
    } else {
        pyro_buf_printf(&b, "%d %s: %s", err.status, err.code, err.msg);
    }

    PYRO_CHECK_MEM(b.data, b.len, want, what);

    pyro_flamegraph_free(&fg);
    pyro_buf_free(&b);
    pyro_tree_free(l);
    pyro_tree_free(r);
}


static void
test_diff(void)
{
    static const char     *ls[] = { "a;b", "a;c" };
    static const int64_t   lv[] = { 3, 2 };
    static const char     *rs[] = { "a;b", "d" };
    static const int64_t   rv[] = { 1, 4 };
    static const int64_t   neg[] = { 3, -2 };

    /* query-output-formats 3.4, the worked example */
    check_diff("diff example", ls, lv, 2, rs, rv, 2, 0,
               "total,d,a,c,b|0,5,0,0,5,0,0"
               "|0,5,0,0,1,0,2,0,0,0,0,4,4,1"
               "|0,3,3,0,1,1,4,0,2,2,0,0,0,3|10,4,5,5");

    /* 5 aligned nodes, max 3: minVal = 4 (5, 5, 4, 3, 2); b and c fold
     * into one "other" pair under a */
    check_diff("diff cut", ls, lv, 2, rs, rv, 2, 3,
               "total,d,a,other|0,5,0,0,5,0,0"
               "|0,5,0,0,1,0,2,0,0,0,0,4,4,1"
               "|0,5,5,0,1,1,3|10,5,5,5");

    /* max_nodes >= the aligned size: no cut */
    check_diff("diff no cut", ls, lv, 2, rs, rv, 2, 5,
               "total,d,a,c,b|0,5,0,0,5,0,0"
               "|0,5,0,0,1,0,2,0,0,0,0,4,4,1"
               "|0,3,3,0,1,1,4,0,2,2,0,0,0,3|10,4,5,5");

    /* a real "total" gets its own index; a real "other" is not folded */
    {
        static const char     *s[] = { "total", "other;x" };
        static const int64_t   v[] = { 1, 2 };

        check_diff("diff total and other", s, v, 2, s, v, 1, 0,
                   "total,total,other,x|0,3,0,0,1,0,0"
                   "|0,2,0,0,0,0,2,0,1,1,0,1,1,1|0,2,2,0,0,0,3|4,2,3,1");
    }

    check_diff("diff empty", NULL, NULL, 0, NULL, NULL, 0, 0,
               "total|0,0,0,0,0,0,0|0,0,0,0");

    check_diff("diff negative left", ls, neg, 2, rs, rv, 2, 0,
               "400 invalid_argument: left tree require only positive "
               "values");
    check_diff("diff negative right", ls, lv, 2, rs, neg, 2, 0,
               "400 invalid_argument: left tree require only positive "
               "values");
    check_diff("diff negative both", ls, neg, 2, rs, neg, 2, 0,
               "400 invalid_argument: both trees require only positive "
               "values");
}


int
main(void)
{
    test_example_a();
    test_example_b();
    test_min_value();
    test_total_collision();
    test_other_folding();
    test_sort_and_escape();
    test_empty();
    test_big_values();
    test_deep();
    test_many();
    test_refinish();
    test_tree_bytes();
    test_tree_merge_bytes();
    test_flamegraph();
    test_diff();

    return pyro_test_done("tree");
}

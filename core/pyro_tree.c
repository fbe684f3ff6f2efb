
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * The merged call tree keyed by frame name, and its outputs: the legacy
 * flamebearer JSON, the Connect FlameGraph and FlameGraphDiff as plain
 * arrays, and tree bytes (PROFILE_FORMAT_TREE) with their reader.
 *
 * A query inserts millions of (parent, name) lookups, so nodes live in
 * one growable array (no allocation per node), names are interned once
 * in a byte arena, and two open-addressing tables map a name to its id
 * and a (parent, name id) pair to its node.  Child lists are only built
 * by pyro_tree_finish(), as index arrays sorted by name, so the output
 * can walk children in ascending bytewise name order.
 *
 * Every walk uses explicit stacks: real stacks are thousands of frames
 * deep.  Sums are done in uint64_t so that absurd inputs wrap instead of
 * being undefined behaviour.
 *
 * Memory: the tree owns every array it points to (pyro_tree_free()
 * releases them); the writers' arrays live only during one call, except
 * a pyro_flamegraph_t, which owns its copies of the names and values.
 * On ENOMEM a writer into a buffer sets out->failed, like any append.
 */


#include <stdlib.h>
#include <string.h>

#include "pyro.h"


#define PYRO_TREE_NONE       UINT32_MAX
#define PYRO_TREE_MAX_NODES  (1u << 31)     /* keeps the slot tables sane */
#define PYRO_FB_OTHER        UINT32_MAX     /* the synthetic "other" leaf */


typedef struct {
    size_t          off;            /* into the arena */
    uint32_t        len;
    uint32_t        hash;
} pyro_tree_name_t;

typedef struct {
    uint32_t        parent;
    uint32_t        name;           /* PYRO_TREE_NONE for the root */
    int64_t         self;
    int64_t         total;          /* valid after pyro_tree_finish() */
} pyro_tree_node_t;

/* Open addressing over ids; a slot holds id + 1, 0 is empty. */
typedef struct {
    uint32_t       *slots;
    size_t          mask;
} pyro_tree_ht_t;

/*
 * The node table: a slot holds the low 32 bits of the (parent, name)
 * hash above node id + 1, 0 is empty.  The hash bits settle most
 * mismatches without touching the node array (a cache miss each in a
 * big tree) and let a rehash run without reading any node.
 */
typedef struct {
    uint64_t       *slots;
    size_t          mask;
} pyro_tree_nht_t;

struct pyro_tree_s {
    pyro_tree_node_t  *nodes;
    size_t             nnodes;
    size_t             nodes_cap;
    pyro_tree_nht_t    node_ht;

    pyro_tree_name_t  *names;
    size_t             nnames;
    size_t             names_cap;
    pyro_tree_ht_t     name_ht;

    char              *arena;       /* all name bytes, back to back */
    size_t             arena_len;
    size_t             arena_cap;

    /* Built by pyro_tree_finish(): the children of node i are
     * children[child_start[i] .. child_start[i + 1]), by name. */
    uint32_t          *child_start;
    uint32_t          *children;

    uint64_t           sum;         /* of every self value */
    unsigned           finished:1;
    unsigned           failed:1;
};


/* A name to sort, for ranking names in bytewise order. */
typedef struct {
    const char     *p;
    uint32_t        len;
    uint32_t        id;
} pyro_tree_sname_t;


/* The flamebearer writer's state; every array is malloc'ed and owned
 * here until pyro_fb_free(). */
typedef struct {
    int64_t         x;
    int64_t         total;
    int64_t         self;
    uint32_t        name;           /* output name index */
    uint32_t        level;
} pyro_fb_ent_t;

typedef struct {
    int64_t         x;
    int64_t         other;          /* the value of a synthetic "other" */
    uint32_t        node;           /* or PYRO_FB_OTHER */
    uint32_t        level;
} pyro_fb_frame_t;

typedef struct {
    pyro_tree_t      *tree;
    int64_t           min;          /* the max_nodes threshold */
    uint32_t          total_id;     /* interned "total" or PYRO_TREE_NONE */
    uint32_t          other_id;     /* interned "other" or PYRO_TREE_NONE */

    pyro_fb_ent_t    *ents;         /* emitted nodes, in visit order */
    size_t            nents;
    size_t            ents_cap;

    pyro_fb_frame_t  *stack;
    size_t            nstack;
    size_t            stack_cap;

    uint32_t         *name_idx;     /* tree name id -> output index, 0 none */
    uint32_t         *out_names;    /* output index -> tree name id */
    size_t            nout_names;
    uint32_t          other_idx;    /* 0 until an "other" leaf is seen */

    size_t            nlevels;
    int64_t           max_self;
} pyro_fb_t;


static int64_t
pyro_add64(int64_t a, int64_t b)
{
    return (int64_t) ((uint64_t) a + (uint64_t) b);
}


static uint64_t
pyro_tree_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;

    return h;
}


/* Eight bytes at a time: frame names are often long (Java, C++). */
static uint64_t
pyro_tree_hash(const char *s, size_t len)
{
    uint64_t  h, w;

    h = 0x9e3779b97f4a7c15ULL ^ len;

    while (len >= 8) {
        memcpy(&w, s, 8);
        h ^= w * 0x87c37b91114253d5ULL;
        h = ((h << 31) | (h >> 33)) * 0x4cf5ad432745937fULL;
        s += 8;
        len -= 8;
    }

    if (len) {
        w = 0;
        memcpy(&w, s, len);
        h ^= w * 0x87c37b91114253d5ULL;
    }

    return pyro_tree_mix(h);
}


static uint64_t
pyro_tree_node_hash(uint32_t parent, uint32_t name)
{
    return pyro_tree_mix(((uint64_t) parent << 32) | name);
}


static int
pyro_tree_ht_init(pyro_tree_ht_t *ht, size_t n)
{
    ht->slots = calloc(n, sizeof(uint32_t));
    if (ht->slots == NULL) {
        return PYRO_ERROR;
    }

    ht->mask = n - 1;

    return PYRO_OK;
}


pyro_tree_t *
pyro_tree_new(void)
{
    pyro_tree_t  *t;

    t = calloc(1, sizeof(pyro_tree_t));
    if (t == NULL) {
        return NULL;
    }

    t->node_ht.slots = calloc(2048, sizeof(uint64_t));
    t->node_ht.mask = 2048 - 1;

    if (t->node_ht.slots == NULL
        || pyro_array_reserve((void **) &t->nodes, &t->nodes_cap, 1024,
                              sizeof(pyro_tree_node_t))
           != PYRO_OK
        || pyro_tree_ht_init(&t->name_ht, 512) != PYRO_OK)
    {
        pyro_tree_free(t);
        return NULL;
    }

    t->nodes[0].parent = PYRO_TREE_NONE;
    t->nodes[0].name = PYRO_TREE_NONE;
    t->nodes[0].self = 0;
    t->nodes[0].total = 0;
    t->nnodes = 1;

    return t;
}


static int
pyro_tree_name_eq(pyro_tree_t *t, uint32_t id, uint32_t hash,
    const char *s, size_t len)
{
    pyro_tree_name_t  *nm;

    nm = &t->names[id];

    return nm->hash == hash && nm->len == len
           && (len == 0 || memcmp(t->arena + nm->off, s, len) == 0);
}


/* Returns the slot holding the name, or the empty slot where it goes. */
static size_t
pyro_tree_name_slot(pyro_tree_t *t, uint32_t hash, const char *s,
    size_t len)
{
    size_t    i;
    uint32_t  v;

    i = hash & t->name_ht.mask;

    for ( ;; ) {
        v = t->name_ht.slots[i];

        if (v == 0 || pyro_tree_name_eq(t, v - 1, hash, s, len)) {
            return i;
        }

        i = (i + 1) & t->name_ht.mask;
    }
}


/* Returns the id of an interned name, or PYRO_TREE_NONE. */
static uint32_t
pyro_tree_name_find(pyro_tree_t *t, const char *s, size_t len)
{
    size_t    i;
    uint32_t  hash;

    hash = (uint32_t) pyro_tree_hash(s, len);
    i = pyro_tree_name_slot(t, hash, s, len);

    return t->name_ht.slots[i] ? t->name_ht.slots[i] - 1 : PYRO_TREE_NONE;
}


static int
pyro_tree_name_rehash(pyro_tree_t *t)
{
    size_t          i, j;
    pyro_tree_ht_t  ht;

    if (pyro_tree_ht_init(&ht, (t->name_ht.mask + 1) * 2) != PYRO_OK) {
        return PYRO_ERROR;
    }

    for (i = 0; i < t->nnames; i++) {
        j = t->names[i].hash & ht.mask;

        while (ht.slots[j]) {
            j = (j + 1) & ht.mask;
        }

        ht.slots[j] = (uint32_t) i + 1;
    }

    free(t->name_ht.slots);
    t->name_ht = ht;

    return PYRO_OK;
}


static uint32_t
pyro_tree_name_add(pyro_tree_t *t, size_t slot, uint32_t hash,
    const char *s, size_t len)
{
    pyro_tree_name_t  *nm;

    if (len > UINT32_MAX || t->arena_len + len < t->arena_len
        || pyro_array_reserve((void **) &t->names, &t->names_cap, t->nnames + 1,
                              sizeof(pyro_tree_name_t))
           != PYRO_OK
        || pyro_array_reserve((void **) &t->arena, &t->arena_cap,
                              t->arena_len + len, 1)
           != PYRO_OK)
    {
        return PYRO_TREE_NONE;
    }

    nm = &t->names[t->nnames];
    nm->off = t->arena_len;
    nm->len = (uint32_t) len;
    nm->hash = hash;

    if (len) {
        memcpy(t->arena + t->arena_len, s, len);
        t->arena_len += len;
    }

    t->name_ht.slots[slot] = (uint32_t) ++t->nnames;

    /* keep the load factor at or below one half */
    if (t->nnames * 2 > t->name_ht.mask + 1
        && pyro_tree_name_rehash(t) != PYRO_OK)
    {
        t->name_ht.slots[slot] = 0;
        t->nnames--;
        t->arena_len -= len;
        return PYRO_TREE_NONE;
    }

    return (uint32_t) t->nnames - 1;
}


static uint32_t
pyro_tree_intern(pyro_tree_t *t, const char *s, size_t len)
{
    size_t    slot;
    uint32_t  hash;

    hash = (uint32_t) pyro_tree_hash(s, len);
    slot = pyro_tree_name_slot(t, hash, s, len);

    if (t->name_ht.slots[slot]) {
        return t->name_ht.slots[slot] - 1;
    }

    if (t->nnames >= PYRO_TREE_MAX_NODES) {
        return PYRO_TREE_NONE;
    }

    return pyro_tree_name_add(t, slot, hash, s, len);
}


static int
pyro_tree_node_rehash(pyro_tree_t *t)
{
    size_t     i, j, n;
    uint64_t  *slots, v;

    n = (t->node_ht.mask + 1) * 2;

    slots = calloc(n, sizeof(uint64_t));
    if (slots == NULL) {
        return PYRO_ERROR;
    }

    for (i = 0; i <= t->node_ht.mask; i++) {
        v = t->node_ht.slots[i];

        if (v == 0) {
            continue;
        }

        j = (v >> 32) & (n - 1);

        while (slots[j]) {
            j = (j + 1) & (n - 1);
        }

        slots[j] = v;
    }

    free(t->node_ht.slots);
    t->node_ht.slots = slots;
    t->node_ht.mask = n - 1;

    return PYRO_OK;
}


static int64_t
pyro_tree_node_add(pyro_tree_t *t, size_t slot, uint32_t hash,
    uint32_t parent, uint32_t name)
{
    pyro_tree_node_t  *n;

    if (t->nnodes >= PYRO_TREE_MAX_NODES
        || pyro_array_reserve((void **) &t->nodes, &t->nodes_cap, t->nnodes + 1,
                              sizeof(pyro_tree_node_t))
           != PYRO_OK)
    {
        return -1;
    }

    n = &t->nodes[t->nnodes];
    n->parent = parent;
    n->name = name;
    n->self = 0;
    n->total = 0;

    t->node_ht.slots[slot] = ((uint64_t) hash << 32) | ++t->nnodes;

    if (t->nnodes * 2 > t->node_ht.mask + 1
        && pyro_tree_node_rehash(t) != PYRO_OK)
    {
        t->node_ht.slots[slot] = 0;
        t->nnodes--;
        return -1;
    }

    /* child lists and totals are stale until the next finish */
    t->finished = 0;

    return (int64_t) t->nnodes - 1;
}


int64_t
pyro_tree_child(pyro_tree_t *t, uint32_t parent, const char *name,
    size_t len)
{
    size_t             i;
    uint32_t           id, h, v;
    uint64_t           s;
    pyro_tree_node_t  *n;

    if (parent >= t->nnodes) {
        return -1;
    }

    id = pyro_tree_intern(t, name, len);
    if (id == PYRO_TREE_NONE) {
        return -1;
    }

    h = (uint32_t) pyro_tree_node_hash(parent, id);
    i = h & t->node_ht.mask;

    for ( ;; ) {
        s = t->node_ht.slots[i];

        if (s == 0) {
            return pyro_tree_node_add(t, i, h, parent, id);
        }

        if ((uint32_t) (s >> 32) == h) {
            v = (uint32_t) s;
            n = &t->nodes[v - 1];

            if (n->parent == parent && n->name == id) {
                return v - 1;
            }
        }

        i = (i + 1) & t->node_ht.mask;
    }
}


void
pyro_tree_add(pyro_tree_t *t, uint32_t node, int64_t v)
{
    if (node >= t->nnodes) {
        return;
    }

    t->nodes[node].self = pyro_add64(t->nodes[node].self, v);
    t->sum += (uint64_t) v;
    t->finished = 0;
}


/* The arena is NULL while only empty names exist; memcmp() and friends
 * want a valid pointer even for zero bytes. */
static const char *
pyro_tree_name_ptr(const pyro_tree_t *t, uint32_t id)
{
    return t->arena ? t->arena + t->names[id].off : "";
}


static int
pyro_tree_sname_cmp(const void *a, const void *b)
{
    int                       rc;
    const pyro_tree_sname_t  *x, *y;

    x = a;
    y = b;

    rc = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
    if (rc) {
        return rc;
    }

    return (x->len > y->len) - (x->len < y->len);
}


/* Returns a malloc'ed array: name id -> rank in bytewise order. */
static uint32_t *
pyro_tree_name_ranks(pyro_tree_t *t)
{
    size_t              i;
    uint32_t           *rank;
    pyro_tree_sname_t  *s;

    s = malloc((t->nnames + 1) * sizeof(pyro_tree_sname_t));
    rank = malloc((t->nnames + 1) * sizeof(uint32_t));

    if (s == NULL || rank == NULL) {
        free(s);
        free(rank);
        return NULL;
    }

    for (i = 0; i < t->nnames; i++) {
        s[i].p = pyro_tree_name_ptr(t, (uint32_t) i);
        s[i].len = t->names[i].len;
        s[i].id = (uint32_t) i;
    }

    qsort(s, t->nnames, sizeof(pyro_tree_sname_t), pyro_tree_sname_cmp);

    for (i = 0; i < t->nnames; i++) {
        rank[s[i].id] = (uint32_t) i;
    }

    free(s);

    return rank;
}


/*
 * Builds the sorted child lists in linear time: a counting sort of the
 * nodes by name rank, then a stable placement by parent, so each
 * parent's children come out in ascending name order.
 */
static int
pyro_tree_build_children(pyro_tree_t *t)
{
    size_t     i, n;
    uint32_t  *rank, *cnt, *order, *cur, p;

    n = t->nnodes;

    rank = pyro_tree_name_ranks(t);
    cnt = calloc(t->nnames + 1, sizeof(uint32_t));
    order = malloc(n * sizeof(uint32_t));
    t->child_start = calloc(n + 1, sizeof(uint32_t));
    t->children = malloc(n * sizeof(uint32_t));

    if (rank == NULL || cnt == NULL || order == NULL
        || t->child_start == NULL || t->children == NULL)
    {
        free(rank);
        free(cnt);
        free(order);
        return PYRO_ERROR;
    }

    for (i = 1; i < n; i++) {
        cnt[rank[t->nodes[i].name] + 1]++;
    }

    for (i = 1; i <= t->nnames; i++) {
        cnt[i] += cnt[i - 1];
    }

    for (i = 1; i < n; i++) {
        order[cnt[rank[t->nodes[i].name]]++] = (uint32_t) i;
    }

    for (i = 1; i < n; i++) {
        t->child_start[t->nodes[i].parent + 1]++;
    }

    for (i = 1; i <= n; i++) {
        t->child_start[i] += t->child_start[i - 1];
    }

    free(rank);
    free(cnt);

    /* the per-parent fill cursors */
    cur = malloc(n * sizeof(uint32_t));
    if (cur == NULL) {
        free(order);
        return PYRO_ERROR;
    }

    memcpy(cur, t->child_start, n * sizeof(uint32_t));

    for (i = 0; i < n - 1; i++) {
        p = t->nodes[order[i]].parent;
        t->children[cur[p]++] = order[i];
    }

    free(cur);
    free(order);

    return PYRO_OK;
}


void
pyro_tree_finish(pyro_tree_t *t)
{
    size_t             i;
    pyro_tree_node_t  *n;

    free(t->child_start);
    free(t->children);
    t->child_start = NULL;
    t->children = NULL;

    for (i = 0; i < t->nnodes; i++) {
        t->nodes[i].total = t->nodes[i].self;
    }

    /* a child is always created after its parent: one backward pass */
    for (i = t->nnodes - 1; i > 0; i--) {
        n = &t->nodes[i];
        t->nodes[n->parent].total = pyro_add64(t->nodes[n->parent].total,
                                               n->total);
    }

    t->failed = (pyro_tree_build_children(t) != PYRO_OK);
    t->finished = 1;
}


int64_t
pyro_tree_total(const pyro_tree_t *t)
{
    return (int64_t) t->sum;
}


void
pyro_tree_free(pyro_tree_t *t)
{
    if (t == NULL) {
        return;
    }

    free(t->nodes);
    free(t->node_ht.slots);
    free(t->names);
    free(t->name_ht.slots);
    free(t->arena);
    free(t->child_start);
    free(t->children);
    free(t);
}


static void
pyro_heap_down(int64_t *h, size_t n, size_t i)
{
    size_t   c;
    int64_t  v;

    v = h[i];

    for ( ;; ) {
        c = 2 * i + 1;

        if (c >= n) {
            break;
        }

        if (c + 1 < n && h[c + 1] < h[c]) {
            c++;
        }

        if (h[c] >= v) {
            break;
        }

        h[i] = h[c];
        i = c;
    }

    h[i] = v;
}


static void
pyro_heap_up(int64_t *h, size_t i)
{
    size_t   p;
    int64_t  v;

    v = h[i];

    while (i > 0) {
        p = (i - 1) / 2;

        if (h[p] <= v) {
            break;
        }

        h[i] = h[p];
        i = p;
    }

    h[i] = v;
}


/*
 * The max_nodes threshold: the max_nodes-th largest total over every
 * node but the root (so ties at it are all kept), or 0 when there is no
 * cut.  A min-heap of max_nodes totals; -1 on ENOMEM.
 */
static int
pyro_tree_min_value(pyro_tree_t *t, int64_t max_nodes, int64_t *min)
{
    size_t    i, k, n;
    int64_t  *h, v;

    *min = 0;

    if (max_nodes < 1 || (uint64_t) (t->nnodes - 1) <= (uint64_t) max_nodes) {
        return PYRO_OK;
    }

    k = (size_t) max_nodes;

    h = malloc(k * sizeof(int64_t));
    if (h == NULL) {
        return PYRO_ERROR;
    }

    n = 0;

    for (i = 1; i < t->nnodes; i++) {
        v = t->nodes[i].total;

        if (n < k) {
            h[n] = v;
            pyro_heap_up(h, n++);

        } else if (v > h[0]) {
            h[0] = v;
            pyro_heap_down(h, n, 0);
        }
    }

    *min = h[0];
    free(h);

    return PYRO_OK;
}


static void
pyro_fb_free(pyro_fb_t *fb)
{
    free(fb->ents);
    free(fb->stack);
    free(fb->name_idx);
    free(fb->out_names);
}


/* Returns the output index of a tree name, assigning it on first visit;
 * a real "total" shares index 0 with the root, as upstream's cache is
 * keyed on "total". */
static uint32_t
pyro_fb_name(pyro_fb_t *fb, uint32_t name)
{
    uint32_t  *idx;

    if (name == PYRO_FB_OTHER) {
        idx = &fb->other_idx;

    } else if (name == fb->total_id) {
        return 0;

    } else {
        idx = &fb->name_idx[name];
    }

    if (*idx == 0) {
        *idx = (uint32_t) fb->nout_names;
        fb->out_names[fb->nout_names++] = name;
    }

    return *idx;
}


static int
pyro_fb_push(pyro_fb_t *fb, uint32_t node, int64_t x, uint32_t level,
    int64_t other)
{
    pyro_fb_frame_t  *f;

    if (pyro_array_reserve((void **) &fb->stack, &fb->stack_cap, fb->nstack + 1,
                           sizeof(pyro_fb_frame_t))
        != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    f = &fb->stack[fb->nstack++];
    f->node = node;
    f->x = x;
    f->level = level;
    f->other = other;

    return PYRO_OK;
}


/* Pushes the kept children left to right (so they pop right to left)
 * and then one "other" leaf for the rest, right of the kept ones. */
static int
pyro_fb_push_children(pyro_fb_t *fb, uint32_t node, int64_t x,
    uint32_t level)
{
    size_t             i;
    int64_t            other;
    pyro_tree_t       *t;
    pyro_tree_node_t  *c;

    t = fb->tree;
    other = 0;

    for (i = t->child_start[node]; i < t->child_start[node + 1]; i++) {
        c = &t->nodes[t->children[i]];

        if (c->total >= fb->min && c->name != fb->other_id) {
            if (pyro_fb_push(fb, t->children[i], x, level + 1, 0)
                != PYRO_OK)
            {
                return PYRO_ERROR;
            }

            x = pyro_add64(x, c->total);

        } else {
            other = pyro_add64(other, c->total);
        }
    }

    if (other != 0) {
        return pyro_fb_push(fb, PYRO_FB_OTHER, x, level + 1, other);
    }

    return PYRO_OK;
}


static int
pyro_fb_visit(pyro_fb_t *fb, pyro_fb_frame_t *f)
{
    pyro_fb_ent_t     *e;
    pyro_tree_node_t  *n;

    if (pyro_array_reserve((void **) &fb->ents, &fb->ents_cap, fb->nents + 1,
                           sizeof(pyro_fb_ent_t))
        != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    e = &fb->ents[fb->nents++];
    e->x = f->x;
    e->level = f->level;

    if (f->node == PYRO_FB_OTHER) {
        e->total = f->other;
        e->self = f->other;
        e->name = pyro_fb_name(fb, PYRO_FB_OTHER);

    } else {
        n = &fb->tree->nodes[f->node];
        e->total = n->total;
        e->self = n->self;
        e->name = (f->node == 0) ? 0 : pyro_fb_name(fb, n->name);
    }

    if (e->self > fb->max_self) {
        fb->max_self = e->self;
    }

    if (f->level + 1 > fb->nlevels) {
        fb->nlevels = f->level + 1;
    }

    if (f->node == PYRO_FB_OTHER) {
        return PYRO_OK;
    }

    return pyro_fb_push_children(fb, f->node, pyro_add64(e->x, e->self),
                                 e->level);
}


/* The right-to-left pre-order walk that fixes names and levels. */
static int
pyro_fb_layout(pyro_fb_t *fb)
{
    pyro_fb_frame_t  f;

    fb->name_idx = calloc(fb->tree->nnames + 1, sizeof(uint32_t));
    fb->out_names = malloc((fb->tree->nnames + 2) * sizeof(uint32_t));

    if (fb->name_idx == NULL || fb->out_names == NULL) {
        return PYRO_ERROR;
    }

    fb->out_names[0] = PYRO_TREE_NONE;
    fb->nout_names = 1;

    if (pyro_fb_push(fb, 0, 0, 0, 0) != PYRO_OK) {
        return PYRO_ERROR;
    }

    while (fb->nstack) {
        f = fb->stack[--fb->nstack];

        if (pyro_fb_visit(fb, &f) != PYRO_OK) {
            return PYRO_ERROR;
        }
    }

    return PYRO_OK;
}


static void
pyro_fb_put_int(pyro_buf_t *b, int64_t v)
{
    char      tmp[24], *p;
    uint64_t  u;

    p = tmp + sizeof(tmp);
    u = (v < 0) ? 0 - (uint64_t) v : (uint64_t) v;

    do {
        *--p = (char) ('0' + u % 10);
        u /= 10;
    } while (u);

    if (v < 0) {
        *--p = '-';
    }

    pyro_buf_append(b, p, (size_t) (tmp + sizeof(tmp) - p));
}


static void
pyro_fb_write_names(pyro_fb_t *fb, pyro_buf_t *out)
{
    size_t    i;
    uint32_t  id;

    pyro_buf_puts(out, "{\"names\":[\"total\"");

    for (i = 1; i < fb->nout_names; i++) {
        pyro_buf_putc(out, ',');
        id = fb->out_names[i];

        if (id == PYRO_FB_OTHER) {
            pyro_buf_puts(out, "\"other\"");
            continue;
        }

        pyro_buf_put_json_str(out, pyro_tree_name_ptr(fb->tree, id),
                              fb->tree->names[id].len);
    }

    pyro_buf_putc(out, ']');
}


/*
 * Groups entries by level, keeping the visit order within a level: on
 * return order[start[l] .. start[l + 1]) lists level l.  The level of
 * entry i is the uint32_t at byte "off" of the i-th "size"-byte entry,
 * so the flame graph and the diff share this.  Both arrays are
 * malloc'ed for the caller.
 */
static int
pyro_level_order(const void *ents, size_t size, size_t off, size_t n,
    size_t nlevels, uint32_t **order, size_t **start)
{
    size_t       i, l, *s;
    uint32_t    *o;
    const char  *p;

    s = calloc(nlevels + 1, sizeof(size_t));
    o = malloc((n ? n : 1) * sizeof(uint32_t));

    if (s == NULL || o == NULL) {
        free(s);
        free(o);
        return PYRO_ERROR;
    }

    p = ents;

    for (i = 0; i < n; i++) {
        s[*(const uint32_t *) (p + i * size + off) + 1]++;
    }

    for (l = 1; l <= nlevels; l++) {
        s[l] += s[l - 1];
    }

    /* s[l] is the next free slot of level l ... */
    for (i = 0; i < n; i++) {
        o[s[*(const uint32_t *) (p + i * size + off)]++] = (uint32_t) i;
    }

    /* ... and now the end of level l, the start of level l + 1 */
    for (l = nlevels; l > 0; l--) {
        s[l] = s[l - 1];
    }

    s[0] = 0;

    *order = o;
    *start = s;

    return PYRO_OK;
}


/*
 * The levels as one array of 4 values per node.  A level's nodes were
 * visited right to left, so each level is walked backwards to get
 * ascending x, delta-encoded against the previous node's right edge.
 * *levels gets nlevels + 1 offsets into *values; both are malloc'ed.
 */
static int
pyro_fb_values(pyro_fb_t *fb, int64_t **values, size_t **levels)
{
    size_t          l, j, k, *start;
    int64_t         prev, *v;
    uint32_t       *order;
    pyro_fb_ent_t  *e;

    if (pyro_level_order(fb->ents, sizeof(pyro_fb_ent_t),
                         offsetof(pyro_fb_ent_t, level), fb->nents,
                         fb->nlevels, &order, &start)
        != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    v = malloc((fb->nents ? fb->nents : 1) * 4 * sizeof(int64_t));
    if (v == NULL) {
        free(order);
        free(start);
        return PYRO_ERROR;
    }

    k = 0;

    for (l = 0; l < fb->nlevels; l++) {
        prev = 0;

        for (j = start[l + 1]; j > start[l]; j--) {
            e = &fb->ents[order[j - 1]];

            v[k++] = (int64_t) ((uint64_t) e->x - (uint64_t) prev);
            v[k++] = e->total;
            v[k++] = e->self;
            v[k++] = e->name;

            prev = pyro_add64(e->x, e->total);
        }

        start[l] *= 4;
    }

    start[fb->nlevels] *= 4;

    free(order);

    *values = v;
    *levels = start;

    return PYRO_OK;
}


/* Finishes the tree and lays it out; the caller frees fb. */
static int
pyro_fb_run(pyro_fb_t *fb, pyro_tree_t *t, int64_t max_nodes)
{
    if (!t->finished) {
        pyro_tree_finish(t);
    }

    memset(fb, 0, sizeof(pyro_fb_t));
    fb->tree = t;
    fb->total_id = pyro_tree_name_find(t, "total", 5);
    fb->other_id = pyro_tree_name_find(t, "other", 5);

    if (t->failed
        || pyro_tree_min_value(t, max_nodes, &fb->min) != PYRO_OK
        || pyro_fb_layout(fb) != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


void
pyro_tree_flamebearer_json(pyro_tree_t *t, int64_t max_nodes,
    pyro_buf_t *out)
{
    size_t      l, i, *levels;
    int64_t    *values;
    pyro_fb_t   fb;

    if (pyro_fb_run(&fb, t, max_nodes) != PYRO_OK
        || pyro_fb_values(&fb, &values, &levels) != PYRO_OK)
    {
        pyro_fb_free(&fb);
        out->failed = 1;
        return;
    }

    pyro_fb_write_names(&fb, out);
    pyro_buf_puts(out, ",\"levels\":[");

    for (l = 0; l < fb.nlevels; l++) {
        pyro_buf_puts(out, l ? ",[" : "[");

        for (i = levels[l]; i < levels[l + 1]; i++) {
            if (i > levels[l]) {
                pyro_buf_putc(out, ',');
            }

            pyro_fb_put_int(out, values[i]);
        }

        pyro_buf_putc(out, ']');
    }

    pyro_buf_puts(out, "],\"numTicks\":");
    pyro_fb_put_int(out, t->nodes[0].total);
    pyro_buf_puts(out, ",\"maxSelf\":");
    pyro_fb_put_int(out, fb.max_self);
    pyro_buf_putc(out, '}');

    free(values);
    free(levels);
    pyro_fb_free(&fb);
}


/*
 * Copies the output names into the flame graph's own arena: index 0 is
 * always "total"; ids[i] is a name of tree t, or PYRO_FB_OTHER for a
 * synthetic "other".
 */
static int
pyro_fg_names(pyro_flamegraph_t *fg, const pyro_tree_t *t,
    const uint32_t *ids, size_t n)
{
    char        *p;
    size_t       i, len, total;
    const char  *s;

    total = 0;

    for (i = 0; i < n; i++) {
        total += (i == 0 || ids[i] == PYRO_FB_OTHER) ? 5 : t->names[ids[i]].len;
    }

    fg->names = malloc((n ? n : 1) * sizeof(pyro_str_t));
    fg->arena = malloc(total ? total : 1);

    if (fg->names == NULL || fg->arena == NULL) {
        return PYRO_ERROR;
    }

    p = fg->arena;

    for (i = 0; i < n; i++) {
        if (i == 0) {
            s = "total";
            len = 5;

        } else if (ids[i] == PYRO_FB_OTHER) {
            s = "other";
            len = 5;

        } else {
            s = pyro_tree_name_ptr(t, ids[i]);
            len = t->names[ids[i]].len;
        }

        memcpy(p, s, len);
        fg->names[i].data = p;
        fg->names[i].len = len;
        p += len;
    }

    fg->nnames = n;

    return PYRO_OK;
}


int
pyro_tree_flamegraph(pyro_tree_t *t, int64_t max_nodes,
    pyro_flamegraph_t *fg)
{
    pyro_fb_t  fb;

    memset(fg, 0, sizeof(pyro_flamegraph_t));

    if (pyro_fb_run(&fb, t, max_nodes) != PYRO_OK
        || pyro_fb_values(&fb, &fg->values, &fg->levels) != PYRO_OK
        || pyro_fg_names(fg, t, fb.out_names, fb.nout_names) != PYRO_OK)
    {
        pyro_fb_free(&fb);
        pyro_flamegraph_free(fg);
        return PYRO_ERROR;
    }

    fg->nlevels = fb.nlevels;
    fg->total = t->nodes[0].total;
    fg->max_self = fb.max_self;

    pyro_fb_free(&fb);

    return PYRO_OK;
}


void
pyro_flamegraph_free(pyro_flamegraph_t *fg)
{
    free(fg->names);
    free(fg->values);
    free(fg->levels);
    free(fg->arena);
    memset(fg, 0, sizeof(pyro_flamegraph_t));
}


/*
 * Tree bytes (Tree.MarshalTruncate).  A frame of the writer's stack: a
 * node with the value of folded siblings to add to its self (an
 * existing "other" child), or a synthetic "other" leaf.
 */
typedef struct {
    uint32_t          node;         /* or PYRO_FB_OTHER */
    int64_t           extra;
} pyro_tb_frame_t;

typedef struct {
    pyro_tree_t      *tree;
    int64_t           min;
    uint32_t          other_id;
    pyro_tb_frame_t  *stack;
    size_t            nstack;
    size_t            stack_cap;
    pyro_buf_t       *out;
} pyro_tb_t;


static int
pyro_tb_push(pyro_tb_t *tb, uint32_t node, int64_t extra)
{
    if (pyro_array_reserve((void **) &tb->stack, &tb->stack_cap, tb->nstack + 1,
                           sizeof(pyro_tb_frame_t))
        != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    tb->stack[tb->nstack].node = node;
    tb->stack[tb->nstack].extra = extra;
    tb->nstack++;

    return PYRO_OK;
}


/* Compares a tree name with "other" bytewise. */
static int
pyro_tb_cmp_other(const pyro_tree_t *t, uint32_t name)
{
    int      rc;
    size_t   len;

    len = t->names[name].len;
    rc = memcmp(pyro_tree_name_ptr(t, name), "other", len < 5 ? len : 5);

    if (rc) {
        return rc;
    }

    return (len > 5) - (len < 5);
}


static void
pyro_tb_record(pyro_buf_t *out, const char *name, size_t len, int64_t self,
    uint64_t nchildren)
{
    pyro_buf_put_uvarint(out, len);
    pyro_buf_append(out, name, len);
    pyro_buf_put_uvarint(out, (uint64_t) self);
    pyro_buf_put_uvarint(out, nchildren);
}


/*
 * Writes one node and pushes its kept children in ascending order, so
 * they pop (and are written) in descending name order.  Dropped
 * children fold into an existing "other" child, or else into a
 * synthetic one at its sorted position.
 */
static int
pyro_tb_node(pyro_tb_t *tb, pyro_tb_frame_t f)
{
    int                 synth;
    size_t              i, kept;
    int64_t             other;
    uint32_t            c;
    pyro_tree_t        *t;
    pyro_tree_node_t   *n;

    t = tb->tree;

    if (f.node == PYRO_FB_OTHER) {
        pyro_tb_record(tb->out, "other", 5, f.extra, 0);
        return PYRO_OK;
    }

    n = &t->nodes[f.node];
    other = 0;
    kept = 0;
    synth = 1;

    for (i = t->child_start[f.node]; i < t->child_start[f.node + 1]; i++) {
        c = t->children[i];

        if (t->nodes[c].name == tb->other_id) {
            synth = 0;
            kept++;

        } else if (t->nodes[c].total >= tb->min) {
            kept++;

        } else {
            other = pyro_add64(other, t->nodes[c].total);
        }
    }

    synth = synth && other != 0;

    if (f.node == 0) {
        pyro_tb_record(tb->out, "", 0, pyro_add64(n->self, f.extra),
                       kept + synth);
    } else {
        pyro_tb_record(tb->out, pyro_tree_name_ptr(t, n->name),
                       t->names[n->name].len, pyro_add64(n->self, f.extra),
                       kept + synth);
    }

    for (i = t->child_start[f.node]; i < t->child_start[f.node + 1]; i++) {
        c = t->children[i];

        if (t->nodes[c].total < tb->min && t->nodes[c].name != tb->other_id) {
            continue;
        }

        if (synth && pyro_tb_cmp_other(t, t->nodes[c].name) > 0) {
            if (pyro_tb_push(tb, PYRO_FB_OTHER, other) != PYRO_OK) {
                return PYRO_ERROR;
            }

            synth = 0;
        }

        if (pyro_tb_push(tb, c, t->nodes[c].name == tb->other_id ? other : 0)
            != PYRO_OK)
        {
            return PYRO_ERROR;
        }
    }

    if (synth) {
        return pyro_tb_push(tb, PYRO_FB_OTHER, other);
    }

    return PYRO_OK;
}


void
pyro_tree_bytes(pyro_tree_t *t, int64_t max_nodes, pyro_buf_t *out)
{
    pyro_tb_t  tb;

    if (!t->finished) {
        pyro_tree_finish(t);
    }

    /* an empty tree is no bytes at all (the field is omitted) */
    if (t->nnodes < 2) {
        return;
    }

    memset(&tb, 0, sizeof(pyro_tb_t));
    tb.tree = t;
    tb.out = out;
    tb.other_id = pyro_tree_name_find(t, "other", 5);

    if (t->failed
        || pyro_tree_min_value(t, max_nodes, &tb.min) != PYRO_OK
        || pyro_tb_push(&tb, 0, 0) != PYRO_OK)
    {
        free(tb.stack);
        out->failed = 1;
        return;
    }

    while (tb.nstack) {
        tb.nstack--;

        if (pyro_tb_node(&tb, tb.stack[tb.nstack]) != PYRO_OK) {
            out->failed = 1;
            break;
        }
    }

    free(tb.stack);
}


/* A node being read back from tree bytes and its children still due. */
typedef struct {
    uint32_t        node;
    uint64_t        left;
} pyro_tr_frame_t;


int
pyro_tree_merge_bytes(pyro_tree_t *t, const void *p, size_t len)
{
    int               rc;
    size_t            n, cap;
    int64_t           id;
    uint64_t          nlen, self, nchildren;
    pyro_rd_t         rd;
    const char       *name;
    pyro_tr_frame_t  *stack;

    /* upstream reads fewer than 2 bytes as an empty tree */
    if (len < 2) {
        return PYRO_OK;
    }

    rd.p = p;
    rd.end = rd.p + len;
    rd.failed = 0;

    /* the virtual root: its name is ignored, its self kept at the root */
    nlen = pyro_rd_uvarint(&rd);
    (void) pyro_rd_bytes(&rd, nlen > len ? len + 1 : (size_t) nlen);
    self = pyro_rd_uvarint(&rd);
    nchildren = pyro_rd_uvarint(&rd);

    if (rd.failed) {
        return PYRO_ERROR;
    }

    pyro_tree_add(t, 0, (int64_t) self);

    stack = NULL;
    cap = 0;
    n = 0;
    rc = PYRO_OK;

    if (nchildren) {
        rc = pyro_array_reserve((void **) &stack, &cap, 1,
                                sizeof(pyro_tr_frame_t));
        if (rc == PYRO_OK) {
            stack[0].node = 0;
            stack[0].left = nchildren;
            n = 1;
        }
    }

    while (n && rc == PYRO_OK) {
        if (stack[n - 1].left == 0) {
            n--;
            continue;
        }

        stack[n - 1].left--;

        nlen = pyro_rd_uvarint(&rd);
        name = pyro_rd_bytes(&rd, nlen > len ? len + 1 : (size_t) nlen);
        self = pyro_rd_uvarint(&rd);
        nchildren = pyro_rd_uvarint(&rd);

        if (rd.failed) {
            rc = PYRO_ERROR;
            break;
        }

        id = pyro_tree_child(t, stack[n - 1].node, name, (size_t) nlen);
        if (id < 0) {
            rc = PYRO_ERROR;
            break;
        }

        pyro_tree_add(t, (uint32_t) id, (int64_t) self);

        if (nchildren == 0) {
            continue;
        }

        rc = pyro_array_reserve((void **) &stack, &cap, n + 1,
                                sizeof(pyro_tr_frame_t));
        if (rc == PYRO_OK) {
            stack[n].node = (uint32_t) id;
            stack[n].left = nchildren;
            n++;
        }
    }

    free(stack);

    return rc;
}


/*
 * The diff (NewFlamegraphDiff).  Both trees are first aligned into one
 * tree of pairs, breadth first, by merge-joining each pair's sorted
 * children by name; a side without the node gets zeros.  The aligned
 * nodes live in one array in BFS order, so a node's children are
 * contiguous.  Memory: every array is owned by pyro_diff_t and freed
 * by pyro_diff_free().
 */
typedef struct {
    const char       *name;         /* in one of the trees' arenas */
    uint32_t          len;
    uint32_t          child;        /* first child */
    uint32_t          nchild;
    uint32_t          src[2];       /* the node on each side, or NONE */
    int64_t           total[2];
    int64_t           self[2];
} pyro_dn_t;

typedef struct {
    int64_t           x[2];
    int64_t           other[2];
    uint32_t          node;         /* or PYRO_FB_OTHER */
    uint32_t          level;
} pyro_df_frame_t;

typedef struct {
    int64_t           x[2];
    int64_t           total[2];
    int64_t           self[2];
    uint32_t          name;
    uint32_t          level;
} pyro_df_ent_t;

typedef struct {
    pyro_tree_t      *side[2];
    int64_t           min;

    pyro_dn_t        *nodes;
    size_t            nnodes;
    size_t            nodes_cap;

    pyro_df_frame_t  *stack;
    size_t            nstack;
    size_t            stack_cap;

    pyro_df_ent_t    *ents;
    size_t            nents;
    size_t            ents_cap;

    /* output names are interned in a scratch tree: id -> index + 1 */
    pyro_tree_t      *names;
    uint32_t         *idx;
    size_t            idx_cap;
    uint32_t         *out_ids;
    size_t            nout;
    size_t            out_cap;

    size_t            nlevels;
    int64_t           max_self;
} pyro_diff_t;


static void
pyro_diff_free(pyro_diff_t *d)
{
    free(d->nodes);
    free(d->stack);
    free(d->ents);
    free(d->idx);
    free(d->out_ids);
    pyro_tree_free(d->names);
}


static int
pyro_diff_append(pyro_diff_t *d, uint32_t l, uint32_t r)
{
    int           s;
    uint32_t      src[2];
    pyro_dn_t    *dn;
    pyro_tree_t  *t;

    if (pyro_array_reserve((void **) &d->nodes, &d->nodes_cap, d->nnodes + 1,
                           sizeof(pyro_dn_t))
        != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    src[0] = l;
    src[1] = r;

    dn = &d->nodes[d->nnodes++];
    memset(dn, 0, sizeof(pyro_dn_t));
    dn->name = "";

    for (s = 1; s >= 0; s--) {
        dn->src[s] = src[s];

        if (src[s] == PYRO_TREE_NONE) {
            continue;
        }

        t = d->side[s];
        dn->total[s] = t->nodes[src[s]].total;
        dn->self[s] = t->nodes[src[s]].self;

        if (src[s] != 0) {
            dn->name = pyro_tree_name_ptr(t, t->nodes[src[s]].name);
            dn->len = t->names[t->nodes[src[s]].name].len;
        }
    }

    return PYRO_OK;
}


/* Bytewise order of the names of left node a and right node b. */
static int
pyro_diff_cmp(pyro_diff_t *d, uint32_t a, uint32_t b)
{
    int                 rc;
    uint32_t            an, bn;
    const pyro_tree_t  *l, *r;

    l = d->side[0];
    r = d->side[1];
    an = l->names[l->nodes[a].name].len;
    bn = r->names[r->nodes[b].name].len;

    rc = memcmp(pyro_tree_name_ptr(l, l->nodes[a].name),
                pyro_tree_name_ptr(r, r->nodes[b].name), an < bn ? an : bn);
    if (rc) {
        return rc;
    }

    return (an > bn) - (an < bn);
}


/* Appends the merge-join of the children of aligned node i. */
static int
pyro_diff_children(pyro_diff_t *d, size_t i)
{
    int                 cmp;
    uint32_t            a, b, ae, be, lc, rc;
    const pyro_tree_t  *l, *r;

    l = d->side[0];
    r = d->side[1];
    a = ae = b = be = 0;

    if (d->nodes[i].src[0] != PYRO_TREE_NONE) {
        a = l->child_start[d->nodes[i].src[0]];
        ae = l->child_start[d->nodes[i].src[0] + 1];
    }

    if (d->nodes[i].src[1] != PYRO_TREE_NONE) {
        b = r->child_start[d->nodes[i].src[1]];
        be = r->child_start[d->nodes[i].src[1] + 1];
    }

    d->nodes[i].child = (uint32_t) d->nnodes;

    while (a < ae || b < be) {
        if (a < ae && b < be) {
            cmp = pyro_diff_cmp(d, l->children[a], r->children[b]);
        } else {
            cmp = (a < ae) ? -1 : 1;
        }

        lc = (cmp <= 0) ? l->children[a++] : PYRO_TREE_NONE;
        rc = (cmp >= 0) ? r->children[b++] : PYRO_TREE_NONE;

        if (pyro_diff_append(d, lc, rc) != PYRO_OK) {
            return PYRO_ERROR;
        }
    }

    d->nodes[i].nchild = (uint32_t) d->nnodes - d->nodes[i].child;

    return PYRO_OK;
}


static int
pyro_diff_align(pyro_diff_t *d)
{
    size_t  i;

    if (pyro_diff_append(d, 0, 0) != PYRO_OK) {
        return PYRO_ERROR;
    }

    for (i = 0; i < d->nnodes; i++) {
        if (pyro_diff_children(d, i) != PYRO_OK) {
            return PYRO_ERROR;
        }
    }

    return PYRO_OK;
}


/* The max_nodes-th largest max(left, right) total over every aligned
 * node, the fake root included; 0 when there is no cut. */
static int
pyro_diff_min(pyro_diff_t *d, int64_t max_nodes)
{
    size_t    i, k, n;
    int64_t  *h, v;

    d->min = 0;

    if (max_nodes < 1 || (uint64_t) d->nnodes <= (uint64_t) max_nodes) {
        return PYRO_OK;
    }

    k = (size_t) max_nodes;

    h = malloc(k * sizeof(int64_t));
    if (h == NULL) {
        return PYRO_ERROR;
    }

    n = 0;

    for (i = 0; i < d->nnodes; i++) {
        v = d->nodes[i].total[0] > d->nodes[i].total[1]
            ? d->nodes[i].total[0] : d->nodes[i].total[1];

        if (n < k) {
            h[n] = v;
            pyro_heap_up(h, n++);

        } else if (v > h[0]) {
            h[0] = v;
            pyro_heap_down(h, n, 0);
        }
    }

    d->min = h[0];
    free(h);

    return PYRO_OK;
}


/* The output index of a name; the fake root's "" is index 0, so a real
 * "total" gets its own index, as upstream's cache is keyed on "". */
static int64_t
pyro_diff_name(pyro_diff_t *d, const char *name, size_t len)
{
    size_t     old;
    int64_t    id;
    uint32_t  *slot;

    id = pyro_tree_child(d->names, 0, name, len);
    if (id < 0) {
        return -1;
    }

    if ((size_t) id >= d->idx_cap) {
        old = d->idx_cap;

        if (pyro_array_reserve((void **) &d->idx, &d->idx_cap, (size_t) id + 1,
                               sizeof(uint32_t))
            != PYRO_OK)
        {
            return -1;
        }

        memset(d->idx + old, 0, (d->idx_cap - old) * sizeof(uint32_t));
    }

    slot = &d->idx[id];

    if (*slot == 0) {
        if (pyro_array_reserve((void **) &d->out_ids, &d->out_cap, d->nout + 1,
                               sizeof(uint32_t))
            != PYRO_OK)
        {
            return -1;
        }

        /* the scratch tree's node id - 1 is its name id */
        d->out_ids[d->nout] = (uint32_t) id - 1;
        *slot = (uint32_t) ++d->nout;
    }

    return *slot - 1;
}


static int
pyro_diff_push(pyro_diff_t *d, uint32_t node, const int64_t *x,
    const int64_t *other, uint32_t level)
{
    pyro_df_frame_t  *f;

    if (pyro_array_reserve((void **) &d->stack, &d->stack_cap, d->nstack + 1,
                           sizeof(pyro_df_frame_t))
        != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    f = &d->stack[d->nstack++];
    f->node = node;
    f->x[0] = x[0];
    f->x[1] = x[1];
    f->other[0] = other ? other[0] : 0;
    f->other[1] = other ? other[1] : 0;
    f->level = level;

    return PYRO_OK;
}


/* Pushes the kept child pairs left to right, then one "other" pair for
 * the dropped ones; real "other" nodes are not folded in a diff. */
static int
pyro_diff_push_children(pyro_diff_t *d, const pyro_df_ent_t *e,
    uint32_t node)
{
    int         s;
    size_t      i;
    int64_t     x[2], other[2];
    pyro_dn_t  *c;

    for (s = 0; s < 2; s++) {
        x[s] = pyro_add64(e->x[s], e->self[s]);
        other[s] = 0;
    }

    for (i = 0; i < d->nodes[node].nchild; i++) {
        c = &d->nodes[d->nodes[node].child + i];

        if (c->total[0] >= d->min || c->total[1] >= d->min) {
            if (pyro_diff_push(d, d->nodes[node].child + (uint32_t) i, x,
                               NULL, e->level + 1)
                != PYRO_OK)
            {
                return PYRO_ERROR;
            }

            x[0] = pyro_add64(x[0], c->total[0]);
            x[1] = pyro_add64(x[1], c->total[1]);
            continue;
        }

        other[0] = pyro_add64(other[0], c->total[0]);
        other[1] = pyro_add64(other[1], c->total[1]);
    }

    if (other[0] != 0 || other[1] != 0) {
        return pyro_diff_push(d, PYRO_FB_OTHER, x, other, e->level + 1);
    }

    return PYRO_OK;
}


static int
pyro_diff_visit(pyro_diff_t *d, pyro_df_frame_t f)
{
    int             s;
    int64_t         name;
    pyro_dn_t      *n;
    pyro_df_ent_t  *e;

    if (pyro_array_reserve((void **) &d->ents, &d->ents_cap, d->nents + 1,
                           sizeof(pyro_df_ent_t))
        != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    e = &d->ents[d->nents];
    n = (f.node == PYRO_FB_OTHER) ? NULL : &d->nodes[f.node];

    for (s = 0; s < 2; s++) {
        e->x[s] = f.x[s];
        e->total[s] = n ? n->total[s] : f.other[s];
        e->self[s] = n ? n->self[s] : f.other[s];

        if (e->self[s] > d->max_self) {
            d->max_self = e->self[s];
        }
    }

    name = n ? pyro_diff_name(d, n->name, n->len)
             : pyro_diff_name(d, "other", 5);
    if (name < 0) {
        return PYRO_ERROR;
    }

    e->name = (uint32_t) name;
    e->level = f.level;
    d->nents++;

    if (f.level + 1 > d->nlevels) {
        d->nlevels = f.level + 1;
    }

    if (n == NULL) {
        return PYRO_OK;
    }

    return pyro_diff_push_children(d, e, f.node);
}


static int
pyro_diff_layout(pyro_diff_t *d)
{
    int64_t  zero[2];

    zero[0] = 0;
    zero[1] = 0;

    if (pyro_diff_push(d, 0, zero, NULL, 0) != PYRO_OK) {
        return PYRO_ERROR;
    }

    while (d->nstack) {
        d->nstack--;

        if (pyro_diff_visit(d, d->stack[d->nstack]) != PYRO_OK) {
            return PYRO_ERROR;
        }
    }

    return PYRO_OK;
}


/* 7 values per node: x, total, self on the left, the same on the right
 * (each x delta-encoded against its own side), then the name index. */
static int
pyro_diff_values(pyro_diff_t *d, pyro_flamegraph_t *fg)
{
    int             s;
    size_t          l, j, k, *start;
    int64_t         prev[2], *v;
    uint32_t       *order;
    pyro_df_ent_t  *e;

    if (pyro_level_order(d->ents, sizeof(pyro_df_ent_t),
                         offsetof(pyro_df_ent_t, level), d->nents,
                         d->nlevels, &order, &start)
        != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    v = malloc((d->nents ? d->nents : 1) * 7 * sizeof(int64_t));
    if (v == NULL) {
        free(order);
        free(start);
        return PYRO_ERROR;
    }

    k = 0;

    for (l = 0; l < d->nlevels; l++) {
        prev[0] = 0;
        prev[1] = 0;

        for (j = start[l + 1]; j > start[l]; j--) {
            e = &d->ents[order[j - 1]];

            for (s = 0; s < 2; s++) {
                v[k++] = (int64_t) ((uint64_t) e->x[s] - (uint64_t) prev[s]);
                v[k++] = e->total[s];
                v[k++] = e->self[s];
                prev[s] = pyro_add64(e->x[s], e->total[s]);
            }

            v[k++] = e->name;
        }

        start[l] *= 7;
    }

    start[d->nlevels] *= 7;
    free(order);

    fg->values = v;
    fg->levels = start;
    fg->nlevels = d->nlevels;

    return PYRO_OK;
}


/* Upstream's check: any negative self value on either side. */
static int
pyro_tree_negative(const pyro_tree_t *t)
{
    size_t  i;

    for (i = 0; i < t->nnodes; i++) {
        if (t->nodes[i].self < 0) {
            return 1;
        }
    }

    return 0;
}


int
pyro_tree_diff(pyro_tree_t *left, pyro_tree_t *right, int64_t max_nodes,
    pyro_flamegraph_t *fg, pyro_err_t *err)
{
    int          neg_l, neg_r;
    pyro_diff_t  d;

    memset(fg, 0, sizeof(pyro_flamegraph_t));

    neg_l = pyro_tree_negative(left);
    neg_r = pyro_tree_negative(right);

    if (neg_l || neg_r) {
        /* upstream names the left tree when only the right one is bad */
        pyro_err_invalid(err, "%s require only positive values",
                         (neg_l && neg_r) ? "both trees" : "left tree");
        return PYRO_ERROR;
    }

    if (!left->finished) {
        pyro_tree_finish(left);
    }

    if (!right->finished) {
        pyro_tree_finish(right);
    }

    memset(&d, 0, sizeof(pyro_diff_t));
    d.side[0] = left;
    d.side[1] = right;
    d.names = pyro_tree_new();

    if (left->failed || right->failed || d.names == NULL
        || pyro_diff_name(&d, "", 0) != 0
        || pyro_diff_align(&d) != PYRO_OK
        || pyro_diff_min(&d, max_nodes) != PYRO_OK
        || pyro_diff_layout(&d) != PYRO_OK
        || pyro_diff_values(&d, fg) != PYRO_OK
        || pyro_fg_names(fg, d.names, d.out_ids, d.nout) != PYRO_OK)
    {
        pyro_diff_free(&d);
        pyro_flamegraph_free(fg);
        pyro_err_internal(err, "out of memory");
        return PYRO_ERROR;
    }

    fg->left_ticks = left->nodes[0].total;
    fg->right_ticks = right->nodes[0].total;
    fg->total = pyro_add64(fg->left_ticks, fg->right_ticks);
    fg->max_self = d.max_self;

    pyro_diff_free(&d);

    return PYRO_OK;
}

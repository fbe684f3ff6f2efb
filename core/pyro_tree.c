
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * The merged call tree keyed by frame name, and its legacy flamebearer
 * output.
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
 * releases them); the flamebearer writer's arrays live only during one
 * call.  On ENOMEM the writer sets out->failed, like any buffer append.
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
pyro_tree_grow(void **arr, size_t *cap, size_t n, size_t sz)
{
    void    *p;
    size_t   c;

    if (n <= *cap) {
        return PYRO_OK;
    }

    c = *cap ? *cap : 64;

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
        || pyro_tree_grow((void **) &t->nodes, &t->nodes_cap, 1024,
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
        || pyro_tree_grow((void **) &t->names, &t->names_cap, t->nnames + 1,
                          sizeof(pyro_tree_name_t))
           != PYRO_OK
        || pyro_tree_grow((void **) &t->arena, &t->arena_cap,
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
        || pyro_tree_grow((void **) &t->nodes, &t->nodes_cap, t->nnodes + 1,
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

    if (pyro_tree_grow((void **) &fb->stack, &fb->stack_cap, fb->nstack + 1,
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

    if (pyro_tree_grow((void **) &fb->ents, &fb->ents_cap, fb->nents + 1,
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


/* Writes one level: its nodes were visited right to left, so "order"
 * (visit order within the level) is walked backwards to get ascending
 * x, delta-encoded against the previous node's right edge. */
static void
pyro_fb_write_level(pyro_fb_t *fb, const uint32_t *order, size_t n,
    pyro_buf_t *out)
{
    int64_t         prev;
    pyro_fb_ent_t  *e;

    prev = 0;
    pyro_buf_putc(out, '[');

    while (n--) {
        e = &fb->ents[order[n]];

        pyro_fb_put_int(out, (int64_t) ((uint64_t) e->x - (uint64_t) prev));
        pyro_buf_putc(out, ',');
        pyro_fb_put_int(out, e->total);
        pyro_buf_putc(out, ',');
        pyro_fb_put_int(out, e->self);
        pyro_buf_putc(out, ',');
        pyro_fb_put_int(out, e->name);

        if (n) {
            pyro_buf_putc(out, ',');
        }

        prev = pyro_add64(e->x, e->total);
    }

    pyro_buf_putc(out, ']');
}


static int
pyro_fb_write_levels(pyro_fb_t *fb, pyro_buf_t *out)
{
    size_t     i, *start;
    uint32_t  *order;

    start = calloc(fb->nlevels + 1, sizeof(size_t));
    order = malloc(fb->nents * sizeof(uint32_t));

    if (start == NULL || order == NULL) {
        free(start);
        free(order);
        return PYRO_ERROR;
    }

    /* a stable counting sort of the visit order by level */
    for (i = 0; i < fb->nents; i++) {
        start[fb->ents[i].level + 1]++;
    }

    for (i = 1; i <= fb->nlevels; i++) {
        start[i] += start[i - 1];
    }

    for (i = 0; i < fb->nents; i++) {
        order[start[fb->ents[i].level]++] = (uint32_t) i;
    }

    /* start[l] is now the end of level l, and the start of level l + 1 */
    pyro_buf_puts(out, ",\"levels\":[");

    for (i = 0; i < fb->nlevels; i++) {
        if (i) {
            pyro_buf_putc(out, ',');
        }

        pyro_fb_write_level(fb, order + (i ? start[i - 1] : 0),
                            start[i] - (i ? start[i - 1] : 0), out);
    }

    pyro_buf_putc(out, ']');

    free(start);
    free(order);

    return PYRO_OK;
}


void
pyro_tree_flamebearer_json(pyro_tree_t *t, int64_t max_nodes,
    pyro_buf_t *out)
{
    pyro_fb_t  fb;

    if (!t->finished) {
        pyro_tree_finish(t);
    }

    memset(&fb, 0, sizeof(pyro_fb_t));
    fb.tree = t;
    fb.total_id = pyro_tree_name_find(t, "total", 5);
    fb.other_id = pyro_tree_name_find(t, "other", 5);

    if (t->failed
        || pyro_tree_min_value(t, max_nodes, &fb.min) != PYRO_OK
        || pyro_fb_layout(&fb) != PYRO_OK)
    {
        pyro_fb_free(&fb);
        out->failed = 1;
        return;
    }

    pyro_fb_write_names(&fb, out);

    if (pyro_fb_write_levels(&fb, out) != PYRO_OK) {
        out->failed = 1;
    }

    pyro_buf_puts(out, ",\"numTicks\":");
    pyro_fb_put_int(out, t->nodes[0].total);
    pyro_buf_puts(out, ",\"maxSelf\":");
    pyro_fb_put_int(out, fb.max_self);
    pyro_buf_putc(out, '}');

    pyro_fb_free(&fb);
}


/*
 * Copyright (C) ngx_pyroscope developers
 *
 * The merged pprof of SelectMergeProfile and PROFILE_FORMAT_PPROF
 * (query-output-formats 5, truncation 1.2): the selected profiles'
 * samples summed per distinct stack and written as one uncompressed
 * google.v1.Profile.
 *
 * Identity: a function is its (name, file) and a location its
 * (function, line), so equal frames of different records are one
 * object.  Stacks are interned as a trie of (parent stack, location):
 * a distinct stack is one trie node, and its leaf-first location list
 * is the walk up to the root.  Objects are numbered in first-seen order,
 * our storage order.
 *
 * Memory: the interned strings, functions, locations and stack nodes
 * (the result) plus per-record memo arrays, all malloc'ed here and freed
 * before returning; only "out" is the caller's.
 */


#include <stdlib.h>
#include <string.h>

#include "pyro.h"


#define PYRO_PP_NONE   UINT32_MAX          /* no parent: a root frame */
#define PYRO_PP_STUB   (UINT32_MAX - 1)    /* the "other" location */
#define PYRO_PP_UNSET  UINT32_MAX          /* memo or remap: none yet */
#define PYRO_PP_BROKEN UINT32_MAX          /* a stack off the call site */
#define PYRO_PP_MAX    (UINT32_MAX - 2)    /* objects per table */
#define PYRO_PP_EXTRA  5                   /* strings added after symbols */


/* u64 key -> dense index in first-seen order; open addressing over
 * index + 1, the keys array doubles as the table's data. */
typedef struct {
    uint64_t              *keys;
    size_t                 n;
    size_t                 cap;
    uint32_t              *slots;
    size_t                 mask;
} pyro_pp_map_t;

/* Byte strings -> dense index; the bytes live in one pool. */
typedef struct {
    pyro_buf_t             pool;
    size_t                *off;         /* n + 1 offsets into pool */
    size_t                 n;
    size_t                 cap;
    uint32_t              *slots;
    size_t                 mask;
} pyro_pp_strs_t;

/* Interned stacks with their summed values; samples lists the nodes
 * that carry a value, in first-seen order. */
typedef struct {
    pyro_pp_map_t          trie;        /* parent << 32 | location */
    uint64_t              *values;
    size_t                 nvalues;
    size_t                 values_cap;
    uint32_t              *samples;
    size_t                 nsamples;
    size_t                 samples_cap;
} pyro_pp_stacks_t;

typedef struct {
    const pyro_merge_opts_t  *o;
    uint64_t                 *spans;    /* sorted copy */
    size_t                    nspans;
    pyro_pp_strs_t            strs;     /* "" first */
    pyro_pp_map_t             funcs;    /* name << 32 | file */
    pyro_pp_map_t             locs;     /* function << 32 | line */
    pyro_pp_stacks_t          merged;
    uint64_t                  seq;      /* the record the memos are for */
    int                       ready;
    uint32_t                 *node_memo;    /* record node -> stack */
    size_t                    node_cap;
    uint32_t                 *fn_memo;      /* record function -> funcs */
    size_t                    fn_cap;
    uint32_t                 *site;         /* record node -> call site */
    size_t                    site_cap;
    uint32_t                 *walk;
    size_t                    walk_cap;
} pyro_pp_ctx_t;

/* The function-keyed trie of 1.2 over the merged stacks. */
typedef struct {
    pyro_pp_map_t          trie;        /* parent << 32 | function */
    uint64_t              *total;
    size_t                 total_cap;
    uint32_t              *of;          /* merged stack -> trie node */
    uint64_t               min;         /* marked: total < min */
} pyro_pp_ftree_t;

/* What the output references and its numbering. */
typedef struct {
    uint32_t              *loc;         /* location -> id, 0: unused */
    uint32_t              *fn;          /* function -> id, 0: unused */
    uint32_t              *str;         /* string -> index or UNSET */
    size_t                 nloc;
    size_t                 nfn;
    size_t                 nstr;
    int                    stub;        /* add the "other" objects */
    pyro_str_t             extra[PYRO_PP_EXTRA];
    size_t                 nextra;
    uint64_t               other;       /* string indexes */
    uint64_t               type;
    uint64_t               unit;
    uint64_t               ptype;
    uint64_t               punit;
} pyro_pp_refs_t;


static int
pyro_pp_nomem(pyro_err_t *err)
{
    pyro_err_internal(err, "out of memory");

    return PYRO_ERROR;
}


static uint64_t
pyro_pp_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;

    return k ^ (k >> 33);
}


static uint64_t
pyro_pp_hash_bytes(const char *s, size_t len)
{
    size_t    i;
    uint64_t  h;

    h = 0xcbf29ce484222325ULL;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char) s[i];
        h *= 0x100000001b3ULL;
    }

    return pyro_pp_hash(h);
}


/* A new slot array twice the size (64 at first), refilled by hash. */
static uint32_t *
pyro_pp_slots(size_t old_mask, int have, size_t *mask)
{
    size_t  n;

    n = have ? (old_mask + 1) * 2 : 64;
    *mask = n - 1;

    return calloc(n, sizeof(uint32_t));
}


static int
pyro_pp_map_rehash(pyro_pp_map_t *m)
{
    size_t     i, j, mask;
    uint32_t  *slots;

    slots = pyro_pp_slots(m->mask, m->slots != NULL, &mask);
    if (slots == NULL) {
        return PYRO_ERROR;
    }

    for (i = 0; i < m->n; i++) {
        j = pyro_pp_hash(m->keys[i]) & mask;

        while (slots[j]) {
            j = (j + 1) & mask;
        }

        slots[j] = (uint32_t) i + 1;
    }

    free(m->slots);
    m->slots = slots;
    m->mask = mask;

    return PYRO_OK;
}


/* The index of key, added if new; -1 on ENOMEM or overflow. */
static int64_t
pyro_pp_map_add(pyro_pp_map_t *m, uint64_t key)
{
    size_t    i;
    uint32_t  v;

    if ((m->slots == NULL || (m->n + 1) * 2 > m->mask + 1)
        && (m->n >= PYRO_PP_MAX || pyro_pp_map_rehash(m) != PYRO_OK))
    {
        return -1;
    }

    i = pyro_pp_hash(key) & m->mask;

    while ((v = m->slots[i]) != 0) {
        if (m->keys[v - 1] == key) {
            return v - 1;
        }

        i = (i + 1) & m->mask;
    }

    if (pyro_array_reserve((void **) &m->keys, &m->cap, m->n + 1,
                           sizeof(uint64_t))
        != PYRO_OK)
    {
        return -1;
    }

    m->keys[m->n] = key;
    m->slots[i] = (uint32_t) ++m->n;

    return (int64_t) m->n - 1;
}


static void
pyro_pp_map_free(pyro_pp_map_t *m)
{
    free(m->keys);
    free(m->slots);
}


static pyro_str_t
pyro_pp_str(const pyro_pp_strs_t *set, size_t i)
{
    pyro_str_t  s;

    s.data = set->pool.data + set->off[i];
    s.len = set->off[i + 1] - set->off[i];

    return s;
}


static int
pyro_pp_strs_rehash(pyro_pp_strs_t *set)
{
    size_t       i, j, mask;
    uint32_t    *slots;
    pyro_str_t   s;

    slots = pyro_pp_slots(set->mask, set->slots != NULL, &mask);
    if (slots == NULL) {
        return PYRO_ERROR;
    }

    for (i = 0; i < set->n; i++) {
        s = pyro_pp_str(set, i);
        j = pyro_pp_hash_bytes(s.data, s.len) & mask;

        while (slots[j]) {
            j = (j + 1) & mask;
        }

        slots[j] = (uint32_t) i + 1;
    }

    free(set->slots);
    set->slots = slots;
    set->mask = mask;

    return PYRO_OK;
}


/* The slot of a string: its index + 1 there, or 0 where it would go. */
static size_t
pyro_pp_strs_slot(const pyro_pp_strs_t *set, const char *s, size_t len)
{
    size_t      i;
    uint32_t    v;
    pyro_str_t  k;

    i = pyro_pp_hash_bytes(s, len) & set->mask;

    while ((v = set->slots[i]) != 0) {
        k = pyro_pp_str(set, v - 1);

        if (k.len == len && (len == 0 || memcmp(k.data, s, len) == 0)) {
            break;
        }

        i = (i + 1) & set->mask;
    }

    return i;
}


static int64_t
pyro_pp_strs_find(const pyro_pp_strs_t *set, const char *s, size_t len)
{
    uint32_t  v;

    v = set->slots ? set->slots[pyro_pp_strs_slot(set, s, len)] : 0;

    return (int64_t) v - 1;
}


static int64_t
pyro_pp_strs_add(pyro_pp_strs_t *set, const char *s, size_t len)
{
    size_t  i;

    if ((set->slots == NULL || (set->n + 1) * 2 > set->mask + 1)
        && (set->n >= PYRO_PP_MAX || pyro_pp_strs_rehash(set) != PYRO_OK))
    {
        return -1;
    }

    i = pyro_pp_strs_slot(set, s, len);

    if (set->slots[i]) {
        return (int64_t) set->slots[i] - 1;
    }

    if (pyro_array_reserve((void **) &set->off, &set->cap, set->n + 2,
                           sizeof(size_t))
        != PYRO_OK)
    {
        return -1;
    }

    set->off[0] = 0;
    pyro_buf_append(&set->pool, s, len);
    if (set->pool.failed) {
        return -1;
    }

    set->off[set->n + 1] = set->pool.len;
    set->slots[i] = (uint32_t) ++set->n;

    return (int64_t) set->n - 1;
}


static void
pyro_pp_strs_free(pyro_pp_strs_t *set)
{
    pyro_buf_free(&set->pool);
    free(set->off);
    free(set->slots);
}


/* The stack node of (parent, location), created with value 0. */
static int64_t
pyro_pp_stack_add(pyro_pp_stacks_t *st, uint32_t parent, uint32_t loc)
{
    int64_t  i;

    i = pyro_pp_map_add(&st->trie, (uint64_t) parent << 32 | loc);
    if (i < 0) {
        return -1;
    }

    /* a new node is always the next index */
    if ((size_t) i == st->nvalues) {
        if (pyro_array_reserve((void **) &st->values, &st->values_cap,
                               st->nvalues + 1, sizeof(uint64_t))
            != PYRO_OK)
        {
            return -1;
        }

        st->values[st->nvalues++] = 0;
    }

    return i;
}


/* Adds v (> 0) to a stack; the first value makes it a sample. */
static int
pyro_pp_stack_value(pyro_pp_stacks_t *st, uint32_t node, uint64_t v)
{
    if (st->values[node] == 0) {
        if (pyro_array_reserve((void **) &st->samples, &st->samples_cap,
                               st->nsamples + 1, sizeof(uint32_t))
            != PYRO_OK)
        {
            return PYRO_ERROR;
        }

        st->samples[st->nsamples++] = node;
    }

    st->values[node] += v;

    return PYRO_OK;
}


static void
pyro_pp_stacks_free(pyro_pp_stacks_t *st)
{
    pyro_pp_map_free(&st->trie);
    free(st->values);
    free(st->samples);
}


static int64_t
pyro_pp_function(pyro_pp_ctx_t *ctx, const pyro_record_t *rec, uint32_t fn)
{
    int64_t             name, file, i;
    const pyro_str_t   *s;

    if (ctx->fn_memo[fn] != PYRO_PP_UNSET) {
        return ctx->fn_memo[fn];
    }

    s = &rec->strings[rec->funcs[fn].name];
    name = pyro_pp_strs_add(&ctx->strs, s->data, s->len);

    s = &rec->strings[rec->funcs[fn].file];
    file = (name < 0) ? -1 : pyro_pp_strs_add(&ctx->strs, s->data, s->len);

    if (file < 0) {
        return -1;
    }

    i = pyro_pp_map_add(&ctx->funcs, (uint64_t) name << 32 | (uint64_t) file);
    if (i >= 0) {
        ctx->fn_memo[fn] = (uint32_t) i;
    }

    return i;
}


static int64_t
pyro_pp_location(pyro_pp_ctx_t *ctx, const pyro_record_t *rec,
    const pyro_node_t *node)
{
    int64_t  fn;

    fn = pyro_pp_function(ctx, rec, node->fn);
    if (fn < 0) {
        return -1;
    }

    return pyro_pp_map_add(&ctx->locs, (uint64_t) fn << 32 | node->line);
}


/* The merged stack of a record's stack node (its leaf), memoized. */
static int64_t
pyro_pp_node(pyro_pp_ctx_t *ctx, const pyro_record_t *rec, uint32_t node)
{
    size_t    n;
    int64_t   loc, t;
    uint32_t  parent;

    n = 0;

    while (node != PYRO_NODE_NONE && ctx->node_memo[node] == PYRO_PP_UNSET) {
        ctx->walk[n++] = node;
        node = rec->nodes[node].parent;
    }

    parent = (node == PYRO_NODE_NONE) ? PYRO_PP_NONE : ctx->node_memo[node];

    while (n > 0) {
        node = ctx->walk[--n];

        loc = pyro_pp_location(ctx, rec, &rec->nodes[node]);
        t = (loc < 0) ? -1
            : pyro_pp_stack_add(&ctx->merged, parent, (uint32_t) loc);

        if (t < 0) {
            return -1;
        }

        parent = (uint32_t) t;
        ctx->node_memo[node] = parent;
    }

    return parent;
}


/*
 * How much of the call site each record node's stack (root first)
 * matches: ncall_site for all of it, PYRO_PP_BROKEN once a frame
 * differs.  A parent always precedes its children in a record.
 */
static void
pyro_pp_sites(pyro_pp_ctx_t *ctx, const pyro_record_t *rec)
{
    size_t              i, n;
    uint32_t            p, ps;
    const pyro_str_t   *name, *cs;

    n = ctx->o->ncall_site;

    for (i = 0; i < rec->nnodes; i++) {
        p = rec->nodes[i].parent;
        ps = (p == PYRO_NODE_NONE) ? 0 : ctx->site[p];

        if (ps == PYRO_PP_BROKEN || ps == n) {
            ctx->site[i] = ps;
            continue;
        }

        name = &rec->strings[rec->funcs[rec->nodes[i].fn].name];
        cs = &ctx->o->call_site[ps];

        ctx->site[i] = (name->len == cs->len
                        && (cs->len == 0
                            || memcmp(name->data, cs->data, cs->len) == 0))
                       ? ps + 1 : PYRO_PP_BROKEN;
    }
}


/* Resets the per-record memos for a new record. */
static int
pyro_pp_record(pyro_pp_ctx_t *ctx, const pyro_record_t *rec)
{
    size_t  n;

    n = rec->nnodes + 1;

    if (pyro_array_reserve((void **) &ctx->node_memo, &ctx->node_cap, n,
                           sizeof(uint32_t)) != PYRO_OK
        || pyro_array_reserve((void **) &ctx->walk, &ctx->walk_cap, n,
                              sizeof(uint32_t)) != PYRO_OK
        || pyro_array_reserve((void **) &ctx->site, &ctx->site_cap, n,
                              sizeof(uint32_t)) != PYRO_OK
        || pyro_array_reserve((void **) &ctx->fn_memo, &ctx->fn_cap,
                              rec->nfuncs + 1, sizeof(uint32_t)) != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    memset(ctx->node_memo, 0xff, n * sizeof(uint32_t));
    memset(ctx->fn_memo, 0xff, (rec->nfuncs + 1) * sizeof(uint32_t));

    if (ctx->o->ncall_site) {
        pyro_pp_sites(ctx, rec);
    }

    return PYRO_OK;
}


static int
pyro_pp_u64_cmp(const void *a, const void *b)
{
    uint64_t  x, y;

    x = *(const uint64_t *) a;
    y = *(const uint64_t *) b;

    return (x > y) - (x < y);
}


/* The scan callback: every kept sample into the merged stacks. */
static int
pyro_pp_profile(void *data, const pyro_scan_item_t *it, pyro_err_t *err)
{
    size_t                i;
    int64_t               node;
    const pyro_sample_t  *smp;
    pyro_pp_ctx_t        *ctx = data;

    if (!ctx->ready || ctx->seq != it->seq) {
        if (pyro_pp_record(ctx, it->rec) != PYRO_OK) {
            return pyro_pp_nomem(err);
        }

        ctx->seq = it->seq;
        ctx->ready = 1;
    }

    for (i = 0; i < it->prof->nsamples; i++) {
        smp = &it->prof->samples[i];

        if (smp->value == 0
            || (ctx->nspans
                && bsearch(&smp->span, ctx->spans, ctx->nspans,
                           sizeof(uint64_t), pyro_pp_u64_cmp) == NULL)
            || (ctx->o->ncall_site
                && ctx->site[smp->node] != ctx->o->ncall_site))
        {
            continue;
        }

        node = pyro_pp_node(ctx, it->rec, smp->node);

        if (node < 0
            || pyro_pp_stack_value(&ctx->merged, (uint32_t) node, smp->value)
               != PYRO_OK)
        {
            return pyro_pp_nomem(err);
        }
    }

    return PYRO_OK;
}


/*
 * The function trie of 1.2: one node per (parent, function) over the
 * merged stacks (parents are always created before their children, so
 * indexes ascend root to leaf) with the totals through each node.
 */
static int
pyro_pp_ftree_build(pyro_pp_ctx_t *ctx, pyro_pp_ftree_t *ft)
{
    size_t     i, n;
    int64_t    j;
    uint32_t   p, fp, fn;
    uint64_t   key;

    n = ctx->merged.trie.n;

    ft->of = malloc((n ? n : 1) * sizeof(uint32_t));
    if (ft->of == NULL) {
        return PYRO_ERROR;
    }

    for (i = 0; i < n; i++) {
        key = ctx->merged.trie.keys[i];
        p = (uint32_t) (key >> 32);
        fn = (uint32_t) (ctx->locs.keys[(uint32_t) key] >> 32);
        fp = (p == PYRO_PP_NONE) ? PYRO_PP_NONE : ft->of[p];

        j = pyro_pp_map_add(&ft->trie, (uint64_t) fp << 32 | fn);

        if (j < 0
            || pyro_array_reserve((void **) &ft->total, &ft->total_cap,
                                  ft->trie.n, sizeof(uint64_t)) != PYRO_OK)
        {
            return PYRO_ERROR;
        }

        if ((size_t) j == ft->trie.n - 1) {
            ft->total[j] = 0;
        }

        ft->of[i] = (uint32_t) j;
    }

    for (i = 0; i < ctx->merged.nsamples; i++) {
        p = ctx->merged.samples[i];
        ft->total[ft->of[p]] += ctx->merged.values[p];
    }

    for (i = ft->trie.n; i-- > 0; /* void */ ) {
        p = (uint32_t) (ft->trie.keys[i] >> 32);

        if (p != PYRO_PP_NONE) {
            ft->total[p] += ft->total[i];
        }
    }

    return PYRO_OK;
}


static int
pyro_pp_desc_cmp(const void *a, const void *b)
{
    return pyro_pp_u64_cmp(b, a);
}


/* minValue: the max_nodes-th largest total counting the root (total
 * 0); 0, no truncation, when the trie has no more nodes than that. */
static int
pyro_pp_ftree_min(pyro_pp_ftree_t *ft, int64_t max_nodes)
{
    size_t     n;
    uint64_t  *v;

    n = ft->trie.n + 1;
    ft->min = 0;

    if ((uint64_t) max_nodes >= n) {
        return PYRO_OK;
    }

    v = malloc(n * sizeof(uint64_t));
    if (v == NULL) {
        return PYRO_ERROR;
    }

    memcpy(v, ft->total, ft->trie.n * sizeof(uint64_t));
    v[n - 1] = 0;

    qsort(v, n, sizeof(uint64_t), pyro_pp_desc_cmp);
    ft->min = v[max_nodes - 1];

    free(v);

    return PYRO_OK;
}


static void
pyro_pp_ftree_free(pyro_pp_ftree_t *ft)
{
    pyro_pp_map_free(&ft->trie);
    free(ft->total);
    free(ft->of);
}


/*
 * Collects a merged stack's locations leaf first into ctx->walk and
 * counts its marked functions at the leaf end (*k).
 */
static int
pyro_pp_stack_locs(pyro_pp_ctx_t *ctx, const pyro_pp_ftree_t *ft,
    uint32_t node, size_t *depth, size_t *k)
{
    size_t    n, marked;
    uint32_t  f;
    uint64_t  key;

    n = 0;
    marked = 0;

    for (f = ft->of[node]; node != PYRO_PP_NONE; n++) {
        if (pyro_array_reserve((void **) &ctx->walk, &ctx->walk_cap, n + 1,
                               sizeof(uint32_t))
            != PYRO_OK)
        {
            return PYRO_ERROR;
        }

        /* marks form the leaf end: totals never grow toward the leaf */
        if (marked == n && ft->total[f] < ft->min) {
            marked++;
        }

        key = ctx->merged.trie.keys[node];
        ctx->walk[n] = (uint32_t) key;
        node = (uint32_t) (key >> 32);
        f = (uint32_t) (ft->trie.keys[f] >> 32);
    }

    *depth = n;
    *k = marked;

    return PYRO_OK;
}


/*
 * Rewrites one sample (1.2 step 4): k <= 1 marked frames keep the
 * stack; more become [other, <root-most marked>, <kept...>] leaf first.
 */
static int
pyro_pp_rewrite(pyro_pp_ctx_t *ctx, const pyro_pp_ftree_t *ft,
    uint32_t node, pyro_pp_stacks_t *out, uint64_t *stub)
{
    size_t    i, n, k, first;
    int64_t   t;
    uint64_t  v;

    v = ctx->merged.values[node];

    if (pyro_pp_stack_locs(ctx, ft, node, &n, &k) != PYRO_OK) {
        return PYRO_ERROR;
    }

    if (k == n) {
        *stub += v;
        return PYRO_OK;
    }

    first = (k >= 2) ? k - 1 : 0;
    t = PYRO_PP_NONE;

    for (i = n; i-- > first && t >= 0; /* void */ ) {
        t = pyro_pp_stack_add(out, (uint32_t) t, ctx->walk[i]);
    }

    if (k >= 2 && t >= 0) {
        t = pyro_pp_stack_add(out, (uint32_t) t, PYRO_PP_STUB);
    }

    if (t < 0) {
        return PYRO_ERROR;
    }

    return pyro_pp_stack_value(out, (uint32_t) t, v);
}


/*
 * 1.2's truncation into "out"; *stub is set when it applies (the
 * "other" objects are added then, whether a sample uses them or not).
 */
static int
pyro_pp_truncate(pyro_pp_ctx_t *ctx, int64_t max_nodes,
    pyro_pp_stacks_t *out, int *stub)
{
    int              rc;
    size_t           i;
    int64_t          t;
    uint64_t         rest;
    pyro_pp_ftree_t  ft;

    memset(&ft, 0, sizeof(pyro_pp_ftree_t));
    *stub = 0;
    rest = 0;

    rc = pyro_pp_ftree_build(ctx, &ft);

    if (rc == PYRO_OK) {
        rc = pyro_pp_ftree_min(&ft, max_nodes);
    }

    /* the trie's root (total 0) is below any minValue: it is always
     * marked, so upstream adds the stub whenever minValue > 0 */
    *stub = (rc == PYRO_OK && ft.min > 0);

    for (i = 0; rc == PYRO_OK && *stub && i < ctx->merged.nsamples; i++) {
        rc = pyro_pp_rewrite(ctx, &ft, ctx->merged.samples[i], out, &rest);
    }

    /* the fully truncated stacks: one [other] sample, last */
    if (rc == PYRO_OK && rest) {
        t = pyro_pp_stack_add(out, PYRO_PP_NONE, PYRO_PP_STUB);
        rc = (t < 0) ? PYRO_ERROR
                     : pyro_pp_stack_value(out, (uint32_t) t, rest);
    }

    pyro_pp_ftree_free(&ft);

    return rc;
}


/* Marks what the samples reference and numbers it in storage order. */
static int
pyro_pp_refs(const pyro_pp_ctx_t *ctx, const pyro_pp_stacks_t *st,
    pyro_pp_refs_t *r)
{
    size_t          i;
    uint32_t        node, loc;
    uint64_t        key;
    unsigned char  *seen;

    seen = calloc(st->trie.n + 1, 1);
    r->loc = calloc(ctx->locs.n + 1, sizeof(uint32_t));
    r->fn = calloc(ctx->funcs.n + 1, sizeof(uint32_t));
    r->str = malloc((ctx->strs.n + 1) * sizeof(uint32_t));

    if (seen == NULL || r->loc == NULL || r->fn == NULL || r->str == NULL) {
        free(seen);
        return PYRO_ERROR;
    }

    /* a stack node seen means its ancestors were too */
    for (i = 0; i < st->nsamples; i++) {
        for (node = st->samples[i]; node != PYRO_PP_NONE && !seen[node];
             node = (uint32_t) (key >> 32))
        {
            seen[node] = 1;
            key = st->trie.keys[node];
            loc = (uint32_t) key;

            if (loc != PYRO_PP_STUB) {
                r->loc[loc] = 1;
            }
        }
    }

    free(seen);

    for (i = 0; i < ctx->locs.n; i++) {
        if (r->loc[i]) {
            r->loc[i] = (uint32_t) ++r->nloc;
            r->fn[ctx->locs.keys[i] >> 32] = 1;
        }
    }

    memset(r->str, 0xff, (ctx->strs.n + 1) * sizeof(uint32_t));
    r->str[0] = 0;

    for (i = 0; i < ctx->funcs.n; i++) {
        if (r->fn[i]) {
            r->fn[i] = (uint32_t) ++r->nfn;
            r->str[ctx->funcs.keys[i] >> 32] = 0;
            r->str[(uint32_t) ctx->funcs.keys[i]] = 0;
        }
    }

    for (i = 0; i < ctx->strs.n; i++) {
        if (r->str[i] != PYRO_PP_UNSET) {
            r->str[i] = (uint32_t) r->nstr++;
        }
    }

    return PYRO_OK;
}


/* The output index of a string, appended after the symbols' if new. */
static uint64_t
pyro_pp_out_str(const pyro_pp_ctx_t *ctx, pyro_pp_refs_t *r, pyro_str_t s)
{
    size_t   j;
    int64_t  i;

    i = pyro_pp_strs_find(&ctx->strs, s.data, s.len);

    if (i >= 0 && r->str[i] != PYRO_PP_UNSET) {
        return r->str[i];
    }

    for (j = 0; j < r->nextra; j++) {
        if (r->extra[j].len == s.len
            && (s.len == 0 || memcmp(r->extra[j].data, s.data, s.len) == 0))
        {
            return r->nstr + j;
        }
    }

    r->extra[r->nextra++] = s;

    return r->nstr + r->nextra - 1;
}


/* "other" (the stub's), then SetProfileMetadata's strings in its order. */
static void
pyro_pp_header_strs(const pyro_pp_ctx_t *ctx, pyro_pp_refs_t *r,
    const pyro_str_t *pt)
{
    static const pyro_str_t  other = pyro_str_lit("other");

    if (r->stub) {
        r->other = pyro_pp_out_str(ctx, r, other);
    }

    r->unit = pyro_pp_out_str(ctx, r, pt[2]);
    r->type = pyro_pp_out_str(ctx, r, pt[1]);
    r->ptype = pyro_pp_out_str(ctx, r, pt[3]);
    r->punit = pyro_pp_out_str(ctx, r, pt[4]);
}


static void
pyro_pp_refs_free(pyro_pp_refs_t *r)
{
    free(r->loc);
    free(r->fn);
    free(r->str);
}


/* Protobuf wire format: a varint field (omitted when 0, as proto3). */
static void
pyro_pb_uint(pyro_buf_t *b, unsigned field, uint64_t v)
{
    if (v) {
        pyro_buf_put_uvarint(b, (uint64_t) field << 3);
        pyro_buf_put_uvarint(b, v);
    }
}


/* A length-delimited field: a message, packed varints or a string. */
static void
pyro_pb_bytes(pyro_buf_t *b, unsigned field, const void *p, size_t n)
{
    pyro_buf_put_uvarint(b, (uint64_t) field << 3 | 2);
    pyro_buf_put_uvarint(b, n);
    pyro_buf_append(b, p, n);
}


static void
pyro_pb_buf(pyro_buf_t *b, unsigned field, const pyro_buf_t *m)
{
    pyro_pb_bytes(b, field, m->data, m->len);
}


/* Profile.sample: location ids leaf first and the one value. */
static void
pyro_pp_put_samples(const pyro_pp_stacks_t *st, const pyro_pp_refs_t *r,
    pyro_buf_t *out, pyro_buf_t *m, pyro_buf_t *ids)
{
    size_t    i;
    uint32_t  node, loc;
    uint64_t  key;

    for (i = 0; i < st->nsamples; i++) {
        ids->len = 0;

        for (node = st->samples[i]; node != PYRO_PP_NONE;
             node = (uint32_t) (key >> 32))
        {
            key = st->trie.keys[node];
            loc = (uint32_t) key;
            pyro_buf_put_uvarint(ids, (loc == PYRO_PP_STUB) ? r->nloc + 1
                                                             : r->loc[loc]);
        }

        m->len = 0;
        pyro_pb_buf(m, 1, ids);

        ids->len = 0;
        pyro_buf_put_uvarint(ids, st->values[st->samples[i]]);
        pyro_pb_buf(m, 2, ids);

        pyro_pb_buf(out, 2, m);
    }
}


/* One Location {id, mapping_id 1, line {function_id, line}}. */
static void
pyro_pp_put_location(pyro_buf_t *out, pyro_buf_t *m, pyro_buf_t *ln,
    uint64_t id, uint64_t fn, uint64_t line)
{
    ln->len = 0;
    pyro_pb_uint(ln, 1, fn);
    pyro_pb_uint(ln, 2, line);

    m->len = 0;
    pyro_pb_uint(m, 1, id);
    pyro_pb_uint(m, 2, 1);
    pyro_pb_buf(m, 4, ln);

    pyro_pb_buf(out, 4, m);
}


/* One Function {id, name, system_name = name, filename}. */
static void
pyro_pp_put_function(pyro_buf_t *out, pyro_buf_t *m, uint64_t id,
    uint64_t name, uint64_t file)
{
    m->len = 0;
    pyro_pb_uint(m, 1, id);
    pyro_pb_uint(m, 2, name);
    pyro_pb_uint(m, 3, name);
    pyro_pb_uint(m, 4, file);

    pyro_pb_buf(out, 5, m);
}


/*
 * Profile.mapping, location and function.  Frames keep no mapping in
 * storage: one mapping {id 1} that says they are symbolized, so pprof
 * tools do not look for the binary.
 */
static void
pyro_pp_put_symbols(const pyro_pp_ctx_t *ctx, const pyro_pp_refs_t *r,
    pyro_buf_t *out, pyro_buf_t *m, pyro_buf_t *ln)
{
    size_t    i;
    uint64_t  key;

    m->len = 0;
    pyro_pb_uint(m, 1, 1);
    pyro_pb_uint(m, 7, 1);
    pyro_pb_uint(m, 8, 1);
    pyro_pb_uint(m, 9, 1);
    pyro_pb_buf(out, 3, m);

    for (i = 0; i < ctx->locs.n; i++) {
        if (r->loc[i]) {
            key = ctx->locs.keys[i];
            pyro_pp_put_location(out, m, ln, r->loc[i], r->fn[key >> 32],
                                 (uint32_t) key);
        }
    }

    if (r->stub) {
        pyro_pp_put_location(out, m, ln, r->nloc + 1, r->nfn + 1, 0);
    }

    for (i = 0; i < ctx->funcs.n; i++) {
        if (r->fn[i]) {
            key = ctx->funcs.keys[i];
            pyro_pp_put_function(out, m, r->fn[i], r->str[key >> 32],
                                 r->str[(uint32_t) key]);
        }
    }

    if (r->stub) {
        pyro_pp_put_function(out, m, r->nfn + 1, r->other, 0);
    }
}


static void
pyro_pp_put_strings(const pyro_pp_ctx_t *ctx, const pyro_pp_refs_t *r,
    pyro_buf_t *out)
{
    size_t      i;
    pyro_str_t  s;

    for (i = 0; i < ctx->strs.n; i++) {
        if (r->str[i] != PYRO_PP_UNSET) {
            s = pyro_pp_str(&ctx->strs, i);
            pyro_pb_bytes(out, 6, s.data, s.len);
        }
    }

    for (i = 0; i < r->nextra; i++) {
        pyro_pb_bytes(out, 6, r->extra[i].data, r->extra[i].len);
    }
}


/* The Profile fields after the string table (section 5's header). */
static void
pyro_pp_put_header(const pyro_pp_refs_t *r, const pyro_str_t *pt,
    int64_t end_ms, pyro_buf_t *out, pyro_buf_t *m)
{
    int64_t   t, period;

    if (__builtin_mul_overflow(end_ms, (int64_t) 1000000, &t)) {
        t = end_ms < 0 ? INT64_MIN : INT64_MAX;
    }

    period = 1;

    if (pt[0].len == 11 && memcmp(pt[0].data, "process_cpu", 11) == 0) {
        period = 1000000000;

    } else if (pt[0].len == 6 && memcmp(pt[0].data, "memory", 6) == 0) {
        period = 524288;
    }

    pyro_pb_uint(out, 9, (uint64_t) t);

    m->len = 0;
    pyro_pb_uint(m, 1, r->ptype);
    pyro_pb_uint(m, 2, r->punit);
    pyro_pb_buf(out, 11, m);

    pyro_pb_uint(out, 12, (uint64_t) period);
    pyro_pb_uint(out, 14, r->type);
}


/* The whole Profile for the stacks st (the merged or truncated ones). */
static int
pyro_pp_write(const pyro_pp_ctx_t *ctx, const pyro_pp_stacks_t *st,
    int stub, const pyro_str_t *pt, int64_t end_ms, pyro_buf_t *out)
{
    pyro_buf_t      m, ln;
    pyro_pp_refs_t  r;

    memset(&r, 0, sizeof(pyro_pp_refs_t));
    memset(&m, 0, sizeof(pyro_buf_t));
    memset(&ln, 0, sizeof(pyro_buf_t));
    r.stub = stub;

    if (pyro_pp_refs(ctx, st, &r) != PYRO_OK) {
        pyro_pp_refs_free(&r);
        return PYRO_ERROR;
    }

    pyro_pp_header_strs(ctx, &r, pt);

    m.len = 0;
    pyro_pb_uint(&m, 1, r.type);
    pyro_pb_uint(&m, 2, r.unit);
    pyro_pb_buf(out, 1, &m);

    pyro_pp_put_samples(st, &r, out, &m, &ln);
    pyro_pp_put_symbols(ctx, &r, out, &m, &ln);
    pyro_pp_put_strings(ctx, &r, out);
    pyro_pp_put_header(&r, pt, end_ms, out, &m);

    pyro_pp_refs_free(&r);

    if (m.failed || ln.failed) {
        out->failed = 1;
    }

    pyro_buf_free(&m);
    pyro_buf_free(&ln);

    return out->failed ? PYRO_ERROR : PYRO_OK;
}


/* ParseProfileTypeSelector: 5 or 6 ':'-separated parts (a 6th dropped). */
static int
pyro_pp_ptype(const char *id, pyro_str_t *pt, pyro_err_t *err)
{
    size_t       i, n;
    const char  *p, *c;

    for (i = 0, n = 1; id[i]; i++) {
        n += (id[i] == ':');
    }

    if (n != 5 && n != 6) {
        pyro_err_invalid(err, "profile-type selection must be of the form "
                         "<name>:<sample-type>:<sample-unit>:<period-type>:"
                         "<period-unit>(:delta), got(%zu): \"%s\"", n, id);
        return PYRO_ERROR;
    }

    p = id;

    for (i = 0; i < 5; i++) {
        c = strchr(p, ':');
        pt[i].data = p;
        pt[i].len = c ? (size_t) (c - p) : strlen(p);
        p = c ? c + 1 : p + pt[i].len;
    }

    return PYRO_OK;
}


/* Nothing merged: {sample_type:[{}], period_type:{}, string_table:[""]}. */
static void
pyro_pp_write_empty(pyro_buf_t *out)
{
    pyro_pb_bytes(out, 1, "", 0);
    pyro_pb_bytes(out, 6, "", 0);
    pyro_pb_bytes(out, 11, "", 0);
}


static int
pyro_pp_result(pyro_pp_ctx_t *ctx, const pyro_str_t *pt, int64_t end_ms,
    int64_t max_nodes, pyro_buf_t *out, pyro_err_t *err)
{
    int               rc, stub;
    pyro_pp_stacks_t  cut;

    if (ctx->merged.nsamples == 0) {
        pyro_pp_write_empty(out);
        return out->failed ? pyro_pp_nomem(err) : PYRO_OK;
    }

    memset(&cut, 0, sizeof(pyro_pp_stacks_t));
    stub = 0;
    rc = PYRO_OK;

    if (max_nodes > 0) {
        rc = pyro_pp_truncate(ctx, max_nodes, &cut, &stub);
    }

    if (rc == PYRO_OK) {
        rc = pyro_pp_write(ctx, stub ? &cut : &ctx->merged, stub, pt,
                           end_ms, out);
    }

    pyro_pp_stacks_free(&cut);

    return rc == PYRO_OK ? PYRO_OK : pyro_pp_nomem(err);
}


static void
pyro_pp_ctx_free(pyro_pp_ctx_t *ctx)
{
    free(ctx->spans);
    pyro_pp_strs_free(&ctx->strs);
    pyro_pp_map_free(&ctx->funcs);
    pyro_pp_map_free(&ctx->locs);
    pyro_pp_stacks_free(&ctx->merged);
    free(ctx->node_memo);
    free(ctx->fn_memo);
    free(ctx->site);
    free(ctx->walk);
}


static int
pyro_pp_ctx_init(pyro_pp_ctx_t *ctx, const pyro_merge_opts_t *o)
{
    ctx->o = o;

    /* string 0 is "" in every pprof */
    if (pyro_pp_strs_add(&ctx->strs, "", 0) != 0) {
        return PYRO_ERROR;
    }

    if (o->nspans == 0) {
        return PYRO_OK;
    }

    ctx->spans = malloc(o->nspans * sizeof(uint64_t));
    if (ctx->spans == NULL) {
        return PYRO_ERROR;
    }

    memcpy(ctx->spans, o->spans, o->nspans * sizeof(uint64_t));
    qsort(ctx->spans, o->nspans, sizeof(uint64_t), pyro_pp_u64_cmp);
    ctx->nspans = o->nspans;

    return PYRO_OK;
}


int
pyro_engine_merge_pprof(const pyro_scan_t *s, const pyro_merge_opts_t *o,
    const char *profile_type_id, int64_t max_nodes, pyro_buf_t *out,
    pyro_err_t *err)
{
    int                rc;
    int64_t            lo, hi;
    pyro_str_t         pt[5];
    pyro_pp_ctx_t      ctx;
    pyro_merge_opts_t  none;

    if (pyro_pp_ptype(profile_type_id, pt, err) != PYRO_OK) {
        return PYRO_ERROR;
    }

    memset(&none, 0, sizeof(pyro_merge_opts_t));
    memset(&ctx, 0, sizeof(pyro_pp_ctx_t));

    if (pyro_pp_ctx_init(&ctx, o ? o : &none) != PYRO_OK) {
        pyro_pp_ctx_free(&ctx);
        return pyro_pp_nomem(err);
    }

    if (__builtin_mul_overflow(s->start_ms, (int64_t) 1000000, &lo)) {
        lo = s->start_ms < 0 ? INT64_MIN : INT64_MAX;
    }

    if (__builtin_mul_overflow(s->end_ms, (int64_t) 1000000, &hi)) {
        hi = s->end_ms < 0 ? INT64_MIN : INT64_MAX;
    }

    rc = pyro_scan(s, lo, hi, 1, pyro_pp_profile, &ctx, err);

    if (rc == PYRO_OK) {
        rc = pyro_pp_result(&ctx, pt, s->end_ms, max_nodes, out, err);
    }

    pyro_pp_ctx_free(&ctx);

    return rc;
}

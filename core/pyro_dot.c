
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * DOT output (query-output-formats 1): the merged pprof drawn as
 * Pyroscope's copy of pprof's report draws it.  One node per distinct
 * frame (function, file, line, address), cum/flat values and edges
 * built per sample (1.4), the dotN nodes of highest entropy score kept
 * and the graph rebuilt over them (1.5, 1.6), then the DOT text (1.7,
 * 1.8).
 *
 * Memory: the unpacked profile, the frame table, both graphs and the
 * strings (one buffer, addressed by offset while it grows) are
 * malloc'ed here and freed before returning; only "out" is the
 * caller's.
 */


#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "pyro.h"
#include "google/v1/profile.pb-c.h"


#define PYRO_DOT_NONE  UINT32_MAX


/* One frame, pprof's NodeInfo; strings are offsets into d->strs. */
typedef struct {
    const char           *name;         /* into the profile */
    const char           *objfile;      /* into the profile */
    size_t                file;         /* cleaned file name */
    size_t                pname;        /* PrintableName */
    uint64_t              address;
    int64_t               start_line;
    int64_t               lineno;
    uint64_t              hash;
} pyro_dot_info_t;


typedef struct {
    uint32_t              src;
    uint32_t              dst;
    int64_t               weight;
    size_t                stamp;        /* the last sample that added */
    const char           *sname;        /* PrintableName of src, dst */
    const char           *dname;
    unsigned              residual:1;
    unsigned              inline_:1;
    unsigned              deleted:1;
} pyro_dot_edge_t;


typedef struct {
    uint32_t              info;
    uint32_t              id;           /* N<id>, 0: not shown */
    int64_t               flat;
    int64_t               cum;
    int64_t               score;
    size_t                stamp;        /* the last sample that added */
    size_t                in;           /* offsets into g->in_v */
    size_t                nin;
    size_t                out;          /* offsets into g->out_v */
    size_t                nout;
    const char           *pname;
    const pyro_dot_info_t  *ni;
    const char           *strs;         /* the frames' strings */
} pyro_dot_node_t;


/* Open addressing over (hash, index + 1) pairs. */
typedef struct {
    uint64_t             *hash;
    uint32_t             *idx;
    size_t                mask;
    size_t                n;
} pyro_dot_tab_t;


typedef struct {
    pyro_dot_node_t      *nodes;        /* by info */
    pyro_dot_edge_t      *edges;
    size_t                nedges;
    size_t                cedges;
    pyro_dot_tab_t        etab;
    uint32_t             *in_v;         /* edge indices per node (CSR) */
    uint32_t             *out_v;
    pyro_dot_node_t     **order;        /* the graph's nodes, sorted */
    size_t                norder;
} pyro_dot_graph_t;


/* A location by id: its frames (offsets into d->linfo). */
typedef struct {
    uint64_t              id;
    size_t                first;
    size_t                n;
} pyro_dot_loc_t;


typedef struct {
    Google__V1__Profile  *p;
    size_t                vi;           /* the value index: the last type */
    int64_t               total;
    pyro_buf_t            strs;
    pyro_dot_info_t      *infos;
    size_t                ninfos;
    size_t                cinfos;
    pyro_dot_tab_t        itab;
    pyro_dot_loc_t       *locs;         /* sorted by id */
    size_t                nlocs;
    uint32_t             *linfo;        /* frames of every location */
    size_t                nlinfo;
    const char           *unit;         /* canonical unit or "" */
    double                factor;
    double                divisor;
    int                   scaled;       /* the unit is in a family */
} pyro_dot_t;


static uint64_t
pyro_dot_hash(uint64_t h, const void *p, size_t n)
{
    size_t                i;
    const unsigned char  *s = p;

    for (i = 0; i < n; i++) {
        h = (h ^ s[i]) * 1099511628211ULL;
    }

    return h;
}


static const char *
pyro_dot_str(const pyro_dot_t *d, int64_t i)
{
    if (i <= 0 || (size_t) i >= d->p->n_string_table) {
        return "";
    }

    return d->p->string_table[i];
}


/* Absolute value with Go's wrap-around (abs64 of MinInt64 stays). */
static int64_t
pyro_dot_abs(int64_t v)
{
    return v < 0 ? (int64_t) (0 - (uint64_t) v) : v;
}


static int
pyro_dot_tab_init(pyro_dot_tab_t *t, size_t cap)
{
    t->hash = malloc(cap * sizeof(uint64_t));
    t->idx = calloc(cap, sizeof(uint32_t));
    t->mask = cap - 1;
    t->n = 0;

    return (t->hash && t->idx) ? PYRO_OK : PYRO_ERROR;
}


static void
pyro_dot_tab_free(pyro_dot_tab_t *t)
{
    free(t->hash);
    free(t->idx);
}


/* Inserts an index known to be absent; doubles at half load. */
static int
pyro_dot_tab_put(pyro_dot_tab_t *t, uint64_t h, uint32_t idx)
{
    size_t          i;
    pyro_dot_tab_t  nt;

    if ((t->n + 1) * 2 > t->mask + 1) {
        if (pyro_dot_tab_init(&nt, (t->mask + 1) * 2) != PYRO_OK) {
            pyro_dot_tab_free(&nt);
            return PYRO_ERROR;
        }

        for (i = 0; i <= t->mask; i++) {
            if (t->idx[i]) {
                (void) pyro_dot_tab_put(&nt, t->hash[i], t->idx[i] - 1);
            }
        }

        pyro_dot_tab_free(t);
        *t = nt;
    }

    for (i = h & t->mask; t->idx[i]; i = (i + 1) & t->mask) {
        /* void */
    }

    t->hash[i] = h;
    t->idx[i] = idx + 1;
    t->n++;

    return PYRO_OK;
}


/* ------------------------------------------------------------------ */
/* Frames (NodeInfo)                                                   */
/* ------------------------------------------------------------------ */


/* Go's filepath.Clean of a non-empty slash path, appended to b. */
static void
pyro_dot_clean(pyro_buf_t *b, const char *p, size_t n)
{
    size_t  start, i, j, dotdot, len;
    int     rooted;

    start = b->len;
    rooted = (p[0] == '/');
    i = rooted;
    dotdot = rooted;

    if (rooted) {
        pyro_buf_putc(b, '/');
    }

    while (i < n && !b->failed) {
        if (p[i] == '/') {
            i++;

        } else if (p[i] == '.' && (i + 1 == n || p[i + 1] == '/')) {
            i++;

        } else if (p[i] == '.' && p[i + 1] == '.'
                   && (i + 2 == n || p[i + 2] == '/'))
        {
            i += 2;
            len = b->len - start;

            if (len > dotdot) {
                /* drop the last element */
                for (j = b->len - 1; j > start + dotdot
                                     && b->data[j] != '/'; j--)
                {
                    /* void */
                }
                b->len = j;

            } else if (!rooted) {
                if (len > 0) {
                    pyro_buf_putc(b, '/');
                }
                pyro_buf_puts(b, "..");
                dotdot = b->len - start;
            }

        } else {
            len = b->len - start;
            if ((rooted && len != 1) || (!rooted && len != 0)) {
                pyro_buf_putc(b, '/');
            }

            for ( /* void */ ; i < n && p[i] != '/'; i++) {
                pyro_buf_putc(b, p[i]);
            }
        }
    }

    if (b->len == start) {
        pyro_buf_putc(b, '.');
    }
}


/* The file of a frame: /proc/self/cwd prefixes trimmed, then cleaned;
 * returns its offset in d->strs. */
static size_t
pyro_dot_file(pyro_dot_t *d, const char *f)
{
    size_t  off, n;

    off = d->strs.len;
    n = strlen(f);

    if (strncmp(f, "/proc/self/cwd/./", 17) == 0) {
        f += 17;
        n -= 17;

    } else if (strncmp(f, "/proc/self/cwd/", 15) == 0) {
        f += 15;
        n -= 15;
    }

    if (n) {
        pyro_dot_clean(&d->strs, f, n);
    }

    pyro_buf_putc(&d->strs, '\0');

    return off;
}


static int
pyro_dot_info_eq(const pyro_dot_info_t *a, const pyro_dot_info_t *b,
    const char *strs)
{
    return a->address == b->address && a->lineno == b->lineno
           && a->start_line == b->start_line
           && strcmp(a->name, b->name) == 0
           && strcmp(a->objfile, b->objfile) == 0
           && strcmp(strs + a->file, strs + b->file) == 0;
}


/* Interns a frame; its file string is dropped again if known. */
static uint32_t
pyro_dot_intern(pyro_dot_t *d, pyro_dot_info_t *ni)
{
    size_t            i;
    uint64_t          h;
    pyro_dot_info_t  *v;

    h = 14695981039346656037ULL;
    h = pyro_dot_hash(h, ni->name, strlen(ni->name) + 1);
    h = pyro_dot_hash(h, ni->objfile, strlen(ni->objfile) + 1);
    h = pyro_dot_hash(h, d->strs.data + ni->file,
                      strlen(d->strs.data + ni->file));
    h = pyro_dot_hash(h, &ni->address, sizeof(uint64_t));
    h = pyro_dot_hash(h, &ni->lineno, sizeof(int64_t));
    h = pyro_dot_hash(h, &ni->start_line, sizeof(int64_t));
    ni->hash = h;

    for (i = h & d->itab.mask; d->itab.idx[i]; i = (i + 1) & d->itab.mask) {
        if (d->itab.hash[i] == h
            && pyro_dot_info_eq(&d->infos[d->itab.idx[i] - 1], ni,
                                d->strs.data))
        {
            d->strs.len = ni->file;
            return d->itab.idx[i] - 1;
        }
    }

    if (d->ninfos == d->cinfos) {
        d->cinfos = d->cinfos ? d->cinfos * 2 : 256;
        v = realloc(d->infos, d->cinfos * sizeof(pyro_dot_info_t));
        if (v == NULL) {
            return PYRO_DOT_NONE;
        }
        d->infos = v;
    }

    if (pyro_dot_tab_put(&d->itab, h, d->ninfos) != PYRO_OK) {
        return PYRO_DOT_NONE;
    }

    d->infos[d->ninfos] = *ni;

    return d->ninfos++;
}


static int
pyro_dot_by_id(const void *a, const void *b)
{
    const pyro_dot_loc_t  *x = a, *y = b;

    return x->id < y->id ? -1 : x->id > y->id;
}


static const pyro_dot_loc_t *
pyro_dot_loc(const pyro_dot_t *d, uint64_t id)
{
    pyro_dot_loc_t  key;

    key.id = id;

    return bsearch(&key, d->locs, d->nlocs, sizeof(pyro_dot_loc_t),
                   pyro_dot_by_id);
}


static const Google__V1__Function *
pyro_dot_function(const pyro_dot_t *d, uint64_t id)
{
    size_t  i;

    /* ids are 1..n in order in our pprof; others are searched */
    if (id >= 1 && id <= d->p->n_function
        && d->p->function[id - 1]->id == id)
    {
        return d->p->function[id - 1];
    }

    for (i = 0; id && i < d->p->n_function; i++) {
        if (d->p->function[i]->id == id) {
            return d->p->function[i];
        }
    }

    return NULL;
}


static const char *
pyro_dot_objfile(const pyro_dot_t *d, uint64_t mapping_id)
{
    size_t  i;

    for (i = 0; mapping_id && i < d->p->n_mapping; i++) {
        if (d->p->mapping[i]->id == mapping_id) {
            return pyro_dot_str(d, d->p->mapping[i]->filename);
        }
    }

    return "";
}


/* The frame of one line (fn NULL: a location without lines). */
static uint32_t
pyro_dot_line_info(pyro_dot_t *d, const Google__V1__Location *l,
    const Google__V1__Line *ln, const char *objfile)
{
    pyro_dot_info_t              ni;
    const Google__V1__Function  *fn;

    memset(&ni, 0, sizeof(pyro_dot_info_t));
    ni.address = l->address;
    ni.name = "";
    ni.objfile = "";

    fn = ln ? pyro_dot_function(d, ln->function_id) : NULL;

    if (fn == NULL) {
        ni.objfile = objfile;
        ni.file = pyro_dot_file(d, "");
        return pyro_dot_intern(d, &ni);
    }

    ni.name = pyro_dot_str(d, fn->name);
    ni.lineno = ln->line;
    ni.file = pyro_dot_file(d, pyro_dot_str(d, fn->filename));

    if (ni.name[0] == '\0') {
        ni.objfile = objfile;
        ni.start_line = fn->start_line;
    }

    return pyro_dot_intern(d, &ni);
}


/* Every location's frames, in line order (inlined first). */
static int
pyro_dot_locations(pyro_dot_t *d)
{
    size_t                       i, j, n;
    uint32_t                     info;
    const char                  *obj;
    const Google__V1__Location  *l;

    n = 0;
    for (i = 0; i < d->p->n_location; i++) {
        n += d->p->location[i]->n_line ? d->p->location[i]->n_line : 1;
    }

    d->locs = calloc(d->p->n_location + 1, sizeof(pyro_dot_loc_t));
    d->linfo = calloc(n + 1, sizeof(uint32_t));
    if (d->locs == NULL || d->linfo == NULL) {
        return PYRO_ERROR;
    }

    for (i = 0; i < d->p->n_location; i++) {
        l = d->p->location[i];
        obj = pyro_dot_objfile(d, l->mapping_id);

        d->locs[i].id = l->id;
        d->locs[i].first = d->nlinfo;
        d->locs[i].n = l->n_line ? l->n_line : 1;

        for (j = 0; j < d->locs[i].n; j++) {
            info = pyro_dot_line_info(d, l, l->n_line ? l->line[j] : NULL,
                                      obj);
            if (info == PYRO_DOT_NONE || d->strs.failed) {
                return PYRO_ERROR;
            }
            d->linfo[d->nlinfo++] = info;
        }
    }

    d->nlocs = d->p->n_location;
    qsort(d->locs, d->nlocs, sizeof(pyro_dot_loc_t), pyro_dot_by_id);

    return PYRO_OK;
}


/* NameComponents joined by sep (" " or "\n"), with name and file as
 * given (the caller shortens and escapes them for a label). */
static void
pyro_dot_components(pyro_buf_t *b, const pyro_dot_info_t *ni,
    const char *name, const char *file, const char *sep)
{
    const char  *s, *base;

    s = "";

    if (ni->address) {
        pyro_buf_printf(b, "%016llx", (unsigned long long) ni->address);
        s = sep;
    }

    if (name[0]) {
        pyro_buf_printf(b, "%s%s", s, name);
        s = sep;
    }

    if (ni->lineno) {
        pyro_buf_printf(b, "%s%s:%lld", s, file, (long long) ni->lineno);

    } else if (file[0]) {
        pyro_buf_printf(b, "%s%s", s, file);

    } else if (name[0]) {
        /* nothing */

    } else if (ni->objfile[0]) {
        base = strrchr(ni->objfile, '/');
        /* Go's filepath.Base: a trailing slash is rare enough to keep */
        pyro_buf_printf(b, "%s[%s]", s, base && base[1] ? base + 1
                                                        : ni->objfile);

    } else {
        pyro_buf_printf(b, "%s<unknown>", s);
    }
}


/* PrintableName of every frame, then pointers that stay valid: the
 * string buffer does not grow after this. */
static int
pyro_dot_names(pyro_dot_t *d)
{
    size_t            i;
    pyro_buf_t        tmp;
    pyro_dot_info_t  *ni;

    /* built aside: the file name lives in the buffer that grows */
    memset(&tmp, 0, sizeof(pyro_buf_t));

    for (i = 0; i < d->ninfos; i++) {
        ni = &d->infos[i];
        tmp.len = 0;
        pyro_dot_components(&tmp, ni, ni->name, d->strs.data + ni->file,
                            " ");
        pyro_buf_putc(&tmp, '\0');

        ni->pname = d->strs.len;
        pyro_buf_append(&d->strs, tmp.data, tmp.len);
    }

    i = tmp.failed;
    pyro_buf_free(&tmp);

    return (i || d->strs.failed) ? PYRO_ERROR : PYRO_OK;
}


/* ------------------------------------------------------------------ */
/* Graph                                                               */
/* ------------------------------------------------------------------ */


static void
pyro_dot_graph_free(pyro_dot_graph_t *g)
{
    free(g->nodes);
    free(g->edges);
    free(g->in_v);
    free(g->out_v);
    free(g->order);
    pyro_dot_tab_free(&g->etab);
    memset(g, 0, sizeof(pyro_dot_graph_t));
}


/* The edge src -> dst, created if absent; NULL on ENOMEM. */
static pyro_dot_edge_t *
pyro_dot_edge(pyro_dot_graph_t *g, uint32_t src, uint32_t dst, int *created)
{
    size_t            i;
    uint64_t          h;
    pyro_dot_edge_t  *e, *v;

    h = ((uint64_t) src << 32 | dst) * 0x9e3779b97f4a7c15ULL;
    h ^= h >> 29;

    for (i = h & g->etab.mask; g->etab.idx[i]; i = (i + 1) & g->etab.mask) {
        e = &g->edges[g->etab.idx[i] - 1];
        if (e->src == src && e->dst == dst) {
            *created = 0;
            return e;
        }
    }

    if (g->nedges == g->cedges) {
        g->cedges = g->cedges ? g->cedges * 2 : 256;
        v = realloc(g->edges, g->cedges * sizeof(pyro_dot_edge_t));
        if (v == NULL) {
            return NULL;
        }
        g->edges = v;
    }

    if (pyro_dot_tab_put(&g->etab, h, g->nedges) != PYRO_OK) {
        return NULL;
    }

    e = &g->edges[g->nedges++];
    memset(e, 0, sizeof(pyro_dot_edge_t));
    e->src = src;
    e->dst = dst;
    e->sname = g->nodes[src].pname;
    e->dname = g->nodes[dst].pname;
    *created = 1;

    return e;
}


/* parent -> info for one sample, as AddToEdge: once per sample. */
static int
pyro_dot_add_edge(pyro_dot_graph_t *g, uint32_t parent, uint32_t info,
    int64_t w, size_t stamp, int residual, int inl)
{
    int               created;
    pyro_dot_edge_t  *e;

    e = pyro_dot_edge(g, parent, info, &created);
    if (e == NULL) {
        return PYRO_ERROR;
    }

    if (created) {
        e->residual = residual;
        e->inline_ = inl;

    } else if (e->stamp == stamp) {
        return PYRO_OK;

    } else {
        e->residual |= residual;
        e->inline_ &= inl;
    }

    e->weight = (int64_t) ((uint64_t) e->weight + (uint64_t) w);
    e->stamp = stamp;

    return PYRO_OK;
}


/* One sample, root first; stamp is unique per sample. */
static int
pyro_dot_sample(pyro_dot_t *d, const uint8_t *keep, pyro_dot_graph_t *g,
    const Google__V1__Sample *s, int64_t w, size_t stamp)
{
    int                    residual;
    size_t                 i, k;
    uint32_t               info, parent;
    pyro_dot_node_t       *n;
    const pyro_dot_loc_t  *l;

    parent = PYRO_DOT_NONE;
    residual = 0;

    for (i = s->n_location_id; i-- > 0; /* void */) {
        l = pyro_dot_loc(d, s->location_id[i]);
        if (l == NULL) {
            continue;
        }

        for (k = l->n; k-- > 0; /* void */) {
            info = d->linfo[l->first + k];

            if (keep && !keep[info]) {
                residual = 1;
                continue;
            }

            n = &g->nodes[info];

            if (n->stamp != stamp) {
                n->stamp = stamp;
                n->cum = (int64_t) ((uint64_t) n->cum + (uint64_t) w);
            }

            if (parent != PYRO_DOT_NONE && parent != info
                && pyro_dot_add_edge(g, parent, info, w, stamp, residual,
                                     k != l->n - 1)
                   != PYRO_OK)
            {
                return PYRO_ERROR;
            }

            parent = info;
            residual = 0;
        }
    }

    if (parent != PYRO_DOT_NONE && !residual) {
        n = &g->nodes[parent];
        n->flat = (int64_t) ((uint64_t) n->flat + (uint64_t) w);
    }

    return PYRO_OK;
}


/* In and out edge lists (CSR, in creation order) of every node. */
static int
pyro_dot_adjacency(pyro_dot_t *d, pyro_dot_graph_t *g)
{
    size_t            i, in, out;
    pyro_dot_edge_t  *e;

    g->in_v = malloc((g->nedges + 1) * sizeof(uint32_t));
    g->out_v = malloc((g->nedges + 1) * sizeof(uint32_t));
    if (g->in_v == NULL || g->out_v == NULL) {
        return PYRO_ERROR;
    }

    for (i = 0; i < g->nedges; i++) {
        g->nodes[g->edges[i].dst].nin++;
        g->nodes[g->edges[i].src].nout++;
    }

    in = 0;
    out = 0;

    for (i = 0; i < d->ninfos; i++) {
        g->nodes[i].in = in;
        g->nodes[i].out = out;
        in += g->nodes[i].nin;
        out += g->nodes[i].nout;
        g->nodes[i].nin = 0;
        g->nodes[i].nout = 0;
    }

    for (i = 0; i < g->nedges; i++) {
        e = &g->edges[i];
        g->in_v[g->nodes[e->dst].in + g->nodes[e->dst].nin++] = i;
        g->out_v[g->nodes[e->src].out + g->nodes[e->src].nout++] = i;
    }

    return PYRO_OK;
}


/* Go's math.Log2: exact for powers of two. */
static double
pyro_dot_log2(double x)
{
    int     exp;
    double  frac;

    frac = frexp(x, &exp);

    if (frac == 0.5) {
        return (double) (exp - 1);
    }

    return log(frac) * M_LOG2E + (double) exp;
}


static double
pyro_dot_term(int64_t w, int64_t total)
{
    double  f;

    f = (double) pyro_dot_abs(w) / (double) total;

    return -f * pyro_dot_log2(f);
}


static double
pyro_dot_entropy(const pyro_dot_graph_t *g, const uint32_t *v, size_t n,
    int64_t self)
{
    size_t   i;
    double   score;
    int64_t  total, w;

    total = self;

    for (i = 0; i < n; i++) {
        w = g->edges[v[i]].weight;
        if (w > 0) {
            total += pyro_dot_abs(w);
        }
    }

    if (total == 0) {
        return 0;
    }

    score = 0;

    for (i = 0; i < n; i++) {
        score += pyro_dot_term(g->edges[v[i]].weight, total);
    }

    if (self > 0) {
        score += pyro_dot_term(self, total);
    }

    return score;
}


static int64_t
pyro_dot_score(const pyro_dot_graph_t *g, const pyro_dot_node_t *n)
{
    double  s, v;

    s = n->nin ? pyro_dot_entropy(g, g->in_v + n->in, n->nin, 0) : 1;
    s += n->nout ? pyro_dot_entropy(g, g->out_v + n->out, n->nout, n->flat)
                 : 1;

    v = s * (double) n->cum;

    /* Go's conversion of an out-of-range float is not portable either */
    if (!(v > -9.2e18 && v < 9.2e18)) {
        v = 0;
    }

    return (int64_t) v + n->flat;
}


/* fmt.Sprint(NodeInfo) into b: "{Name Address File StartLine Lineno
 * Objfile}". */
static void
pyro_dot_sprint(const pyro_dot_node_t *n, pyro_buf_t *b)
{
    const pyro_dot_info_t  *ni = n->ni;

    pyro_buf_printf(b, "{%s %llu %s %lld %lld %s}", ni->name,
                    (unsigned long long) ni->address, n->strs + ni->file,
                    (long long) ni->start_line, (long long) ni->lineno,
                    ni->objfile);
    pyro_buf_putc(b, '\0');
}


/* The last tie-break, for frames whose PrintableName is equal. */
static int
pyro_dot_sprint_cmp(const pyro_dot_node_t *a, const pyro_dot_node_t *b)
{
    int         rc;
    pyro_buf_t  x, y;

    memset(&x, 0, sizeof(pyro_buf_t));
    memset(&y, 0, sizeof(pyro_buf_t));

    pyro_dot_sprint(a, &x);
    pyro_dot_sprint(b, &y);

    rc = (x.failed || y.failed) ? 0 : strcmp(x.data, y.data);

    pyro_buf_free(&x);
    pyro_buf_free(&y);

    return rc;
}


/* EntropyOrder: |score| desc, PrintableName, |flat| desc, NodeInfo. */
static int
pyro_dot_node_cmp(const void *pa, const void *pb)
{
    int64_t                 x, y;
    const pyro_dot_node_t  *a = *(pyro_dot_node_t *const *) pa;
    const pyro_dot_node_t  *b = *(pyro_dot_node_t *const *) pb;
    int                     rc;

    x = pyro_dot_abs(a->score);
    y = pyro_dot_abs(b->score);
    if (x != y) {
        return x > y ? -1 : 1;
    }

    rc = strcmp(a->pname, b->pname);
    if (rc) {
        return rc;
    }

    x = pyro_dot_abs(a->flat);
    y = pyro_dot_abs(b->flat);
    if (x != y) {
        return x > y ? -1 : 1;
    }

    return pyro_dot_sprint_cmp(a, b);
}


/* Edge order: |weight| desc, source name, destination name. */
static int
pyro_dot_edge_cmp(const void *pa, const void *pb)
{
    int64_t                 x, y;
    const pyro_dot_edge_t  *a = *(pyro_dot_edge_t *const *) pa;
    const pyro_dot_edge_t  *b = *(pyro_dot_edge_t *const *) pb;
    int                     rc;

    x = pyro_dot_abs(a->weight);
    y = pyro_dot_abs(b->weight);
    if (a->weight != b->weight && x != y) {
        return x > y ? -1 : 1;
    }

    rc = strcmp(a->sname, b->sname);
    if (rc) {
        return rc;
    }

    return strcmp(a->dname, b->dname);
}


/* Scores every node of the graph and sorts them. */
static void
pyro_dot_sort(pyro_dot_t *d, pyro_dot_graph_t *g)
{
    size_t  i;

    for (i = 0; i < g->norder; i++) {
        g->order[i]->score = pyro_dot_score(g, g->order[i]);
    }

    qsort(g->order, g->norder, sizeof(pyro_dot_node_t *), pyro_dot_node_cmp);
}


/*
 * graph.New over the samples, keeping only the frames in "keep" (NULL:
 * all), then the nodes with a value, sorted in EntropyOrder.
 */
static int
pyro_dot_graph(pyro_dot_t *d, const uint8_t *keep, pyro_dot_graph_t *g)
{
    size_t                     i;
    const Google__V1__Sample  *s;

    memset(g, 0, sizeof(pyro_dot_graph_t));

    g->nodes = calloc(d->ninfos + 1, sizeof(pyro_dot_node_t));
    g->order = calloc(d->ninfos + 1, sizeof(pyro_dot_node_t *));
    if (g->nodes == NULL || g->order == NULL
        || pyro_dot_tab_init(&g->etab, 1024) != PYRO_OK)
    {
        return PYRO_ERROR;
    }

    for (i = 0; i < d->ninfos; i++) {
        g->nodes[i].info = i;
        g->nodes[i].ni = &d->infos[i];
        g->nodes[i].strs = d->strs.data;
        g->nodes[i].pname = d->strs.data + d->infos[i].pname;
    }

    for (i = 0; i < d->p->n_sample; i++) {
        s = d->p->sample[i];

        if (s->value[d->vi] != 0
            && pyro_dot_sample(d, keep, g, s, s->value[d->vi], i + 1)
               != PYRO_OK)
        {
            return PYRO_ERROR;
        }
    }

    if (pyro_dot_adjacency(d, g) != PYRO_OK) {
        return PYRO_ERROR;
    }

    for (i = 0; i < d->ninfos; i++) {
        if (g->nodes[i].cum != 0 || g->nodes[i].flat != 0) {
            g->order[g->norder++] = &g->nodes[i];
        }
    }

    pyro_dot_sort(d, g);

    return PYRO_OK;
}


/* The live in-edges of a node, sorted. */
static size_t
pyro_dot_in_sorted(pyro_dot_graph_t *g, const pyro_dot_node_t *n,
    pyro_dot_edge_t **v)
{
    size_t  i, k;

    k = 0;

    for (i = 0; i < n->nin; i++) {
        if (!g->edges[g->in_v[n->in + i]].deleted) {
            v[k++] = &g->edges[g->in_v[n->in + i]];
        }
    }

    qsort(v, k, sizeof(pyro_dot_edge_t *), pyro_dot_edge_cmp);

    return k;
}


/* Whether e's source reaches its destination through other in-edges
 * (a breadth-first walk backwards); seen is a zeroed scratch array. */
static int
pyro_dot_redundant(pyro_dot_graph_t *g, const pyro_dot_edge_t *e,
    uint32_t *queue, uint8_t *seen, size_t ninfos)
{
    int                     found;
    size_t                  head, tail, i;
    const pyro_dot_edge_t  *ie;
    const pyro_dot_node_t  *n;

    memset(seen, 0, ninfos);
    head = 0;
    tail = 0;
    found = 0;
    queue[tail++] = e->dst;
    seen[e->dst] = 1;

    while (head < tail && !found) {
        n = &g->nodes[queue[head++]];

        for (i = 0; i < n->nin; i++) {
            ie = &g->edges[g->in_v[n->in + i]];

            if (ie->deleted || ie == e || seen[ie->src]) {
                continue;
            }

            if (ie->src == e->src) {
                found = 1;
                break;
            }

            seen[ie->src] = 1;
            queue[tail++] = ie->src;
        }
    }

    return found;
}


/* RemoveRedundantEdges: residual in-edges, lightest first, up to the
 * first non-residual one. */
static int
pyro_dot_prune(pyro_dot_t *d, pyro_dot_graph_t *g)
{
    size_t             i, j, k;
    uint8_t           *seen;
    uint32_t          *queue;
    pyro_dot_edge_t  **in;

    in = malloc((g->nedges + 1) * sizeof(pyro_dot_edge_t *));
    queue = malloc((d->ninfos + 1) * sizeof(uint32_t));
    seen = malloc(d->ninfos + 1);

    if (in == NULL || queue == NULL || seen == NULL) {
        free(in);
        free(queue);
        free(seen);
        return PYRO_ERROR;
    }

    for (i = g->norder; i-- > 0; /* void */) {
        k = pyro_dot_in_sorted(g, g->order[i], in);

        for (j = k; j-- > 0; /* void */) {
            if (!in[j]->residual) {
                break;
            }

            if (pyro_dot_redundant(g, in[j], queue, seen, d->ninfos)) {
                in[j]->deleted = 1;
            }
        }
    }

    free(in);
    free(queue);
    free(seen);

    return PYRO_OK;
}


/* ------------------------------------------------------------------ */
/* Values (measurement)                                                */
/* ------------------------------------------------------------------ */


typedef struct {
    const char           *alias;
    double                factor;
} pyro_dot_unit_t;


static const pyro_dot_unit_t  pyro_dot_memory[] = {
    { "b", 1 }, { "byte", 1 },
    { "kb", 1024.0 }, { "kbyte", 1024.0 }, { "kilobyte", 1024.0 },
    { "mb", 1048576.0 }, { "mbyte", 1048576.0 }, { "megabyte", 1048576.0 },
    { "gb", 1073741824.0 }, { "gbyte", 1073741824.0 },
    { "gigabyte", 1073741824.0 },
    { "tb", 1099511627776.0 }, { "tbyte", 1099511627776.0 },
    { "terabyte", 1099511627776.0 },
    { "pb", 1125899906842624.0 }, { "pbyte", 1125899906842624.0 },
    { "petabyte", 1125899906842624.0 },
    { NULL, 0 }
};

static const pyro_dot_unit_t  pyro_dot_times[] = {
    { "ns", 1 }, { "nanosecond", 1 },
    { "\xce\xbcs", 1e3 }, { "us", 1e3 }, { "microsecond", 1e3 },
    { "ms", 1e6 }, { "millisecond", 1e6 },
    { "s", 1e9 }, { "sec", 1e9 }, { "second", 1e9 },
    { "hour", 3.6e12 }, { "hr", 3.6e12 },
    { NULL, 0 }
};

static const pyro_dot_unit_t  pyro_dot_gcu[] = {
    { "nanogcu", 1e-9 }, { "microgcu", 1e-6 }, { "milligcu", 1e-3 },
    { "gcu", 1 }, { "kilogcu", 1e3 }, { "megagcu", 1e6 },
    { "gigagcu", 1e9 }, { "teragcu", 1e12 }, { "petagcu", 1e15 },
    { NULL, 0 }
};


static int
pyro_dot_find_unit(const pyro_dot_unit_t *u, const char *s, double *factor)
{
    for ( /* void */ ; u->alias; u++) {
        if (strcmp(u->alias, s) == 0) {
            *factor = u->factor;
            return 1;
        }
    }

    return 0;
}


/* The sample unit's family: values go to its default unit (B, s, GCU). */
static void
pyro_dot_unit(pyro_dot_t *d, const char *unit)
{
    char    u[64];
    size_t  i, n;

    n = strlen(unit);
    n = n < sizeof(u) - 1 ? n : sizeof(u) - 1;

    for (i = 0; i < n; i++) {
        u[i] = (unit[i] >= 'A' && unit[i] <= 'Z') ? unit[i] + 32 : unit[i];
    }

    if (n > 2 && u[n - 1] == 's') {
        n--;
    }

    u[n] = '\0';

    d->scaled = 1;

    if (pyro_dot_find_unit(pyro_dot_memory, u, &d->factor)) {
        d->unit = "B";
        d->divisor = 1;

    } else if (pyro_dot_find_unit(pyro_dot_times, u, &d->factor)) {
        d->unit = "s";
        d->divisor = 1e9;

    } else if (pyro_dot_find_unit(pyro_dot_gcu, u, &d->factor)) {
        d->unit = "GCU";
        d->divisor = 1;

    } else {
        d->unit = "";
        d->scaled = 0;
    }
}


/* ScaledLabel(v, unit, ""): "%.2f" without ".00", plus the unit. */
static void
pyro_dot_value(const pyro_dot_t *d, int64_t v, pyro_buf_t *out)
{
    char    s[64];
    double  x;
    size_t  n;

    x = d->scaled ? (double) v * d->factor / d->divisor : (double) v;

    n = snprintf(s, sizeof(s), "%.2f", x);

    if (n > 3 && n < sizeof(s) && strcmp(s + n - 3, ".00") == 0) {
        s[n - 3] = '\0';
    }

    if (strcmp(s, "0") == 0 || strcmp(s, "-0") == 0) {
        pyro_buf_putc(out, '0');
        return;
    }

    pyro_buf_printf(out, "%s%s", s, d->unit);
}


/* measurement.Percentage, already trimmed of spaces. */
static void
pyro_dot_pct(int64_t v, int64_t total, pyro_buf_t *out)
{
    char        s[64];
    double      r;
    const char  *p;

    r = total ? fabs((double) v / (double) total) * 100 : 0;

    if (r >= 99.95 && r <= 100.05) {
        pyro_buf_puts(out, "100%");
        return;
    }

    snprintf(s, sizeof(s), r >= 1.0 ? "%5.2f%%" : "%5.2g%%", r);

    for (p = s; *p == ' '; p++) {
        /* void */
    }

    pyro_buf_puts(out, p);
}


/* dotColor: grey to red by score; bg for the fill. */
static void
pyro_dot_color(double score, int bg, pyro_buf_t *out)
{
    double  sat, val, r, g, b;

    sat = bg ? 0.1 : 1.0;
    val = bg ? 0.93 : 0.7;

    if (isnan(score)) {
        pyro_buf_puts(out, "#000000");
        return;
    }

    score = score > 1.0 ? 1.0 : (score < -1.0 ? -1.0 : score);

    if (fabs(score) < 0.2) {
        sat *= fabs(score) / 0.2;
    }

    if (score > 0.0) {
        score = pow(score, 0.3);

    } else if (score < 0.0) {
        score = -pow(-score, 0.3);
    }

    if (score < 0.0) {
        g = val;
        r = val * (1 + sat * score);

    } else {
        r = val;
        g = val * (1 - sat * score);
    }

    b = val * (1 - sat);

    pyro_buf_printf(out, "#%02x%02x%02x", (unsigned) (uint8_t) (r * 255.0),
                    (unsigned) (uint8_t) (g * 255.0),
                    (unsigned) (uint8_t) (b * 255.0));
}


/* escapeForDot: \ and " escaped, a newline left-justified (\l). */
static void
pyro_dot_esc(pyro_buf_t *out, const char *s)
{
    for ( /* void */ ; *s; s++) {
        if (*s == '\\' || *s == '"') {
            pyro_buf_putc(out, '\\');
            pyro_buf_putc(out, *s);

        } else if (*s == '\n') {
            pyro_buf_puts(out, "\\l");

        } else {
            pyro_buf_putc(out, *s);
        }
    }
}


/* ------------------------------------------------------------------ */
/* Labels                                                              */
/* ------------------------------------------------------------------ */


/* ShortenFunctionName's patterns, in order of use. */
static const char  *pyro_dot_res[] = {
    "^\\(anonymous namespace\\)::",
    "^(.*?)/v(?:[2-9]|[1-9][0-9]+)([./].*)$",
    "^(?:[\\w\\-\\.]+\\/)+([^.]+\\..+)",
    "^(?:[a-z]\\w*\\.)*([A-Z][\\w\\$]*\\.(?:<init>|[a-z][\\w\\$]*"
        "(?:\\$\\d+)?))(?:(?:\\()|$)",
    "^(?:[_a-zA-Z]\\w*::)+(_*[A-Z]\\w*::~?[_a-zA-Z]\\w*(?:<.*>)?)"
};

#define PYRO_DOT_NRES  (sizeof(pyro_dot_res) / sizeof(pyro_dot_res[0]))


typedef struct {
    pcre2_code           *re[PYRO_DOT_NRES];
    pcre2_match_data     *md;
} pyro_dot_re_t;


static int
pyro_dot_re_init(pyro_dot_re_t *r)
{
    int          ec;
    size_t       i;
    PCRE2_SIZE   eo;

    memset(r, 0, sizeof(pyro_dot_re_t));

    for (i = 0; i < PYRO_DOT_NRES; i++) {
        r->re[i] = pcre2_compile((PCRE2_SPTR) pyro_dot_res[i],
                                 PCRE2_ZERO_TERMINATED,
                                 PCRE2_DOLLAR_ENDONLY, &ec, &eo, NULL);
        if (r->re[i] == NULL) {
            return PYRO_ERROR;
        }
    }

    r->md = pcre2_match_data_create(4, NULL);

    return r->md ? PYRO_OK : PYRO_ERROR;
}


static void
pyro_dot_re_free(pyro_dot_re_t *r)
{
    size_t  i;

    for (i = 0; i < PYRO_DOT_NRES; i++) {
        pcre2_code_free(r->re[i]);
    }

    pcre2_match_data_free(r->md);
}


/* Whether pattern i matches s[0..n); ov gets the offsets. */
static int
pyro_dot_match(pyro_dot_re_t *r, size_t i, const char *s, size_t n,
    PCRE2_SIZE **ov)
{
    if (pcre2_match(r->re[i], (PCRE2_SPTR) s, n, 0, 0, r->md, NULL) < 0) {
        return 0;
    }

    *ov = pcre2_get_ovector_pointer(r->md);

    return 1;
}


/* ShortenFunctionName into b (a scratch buffer, reset here). */
static void
pyro_dot_shorten(pyro_dot_re_t *r, const char *name, pyro_buf_t *b)
{
    char         *s;
    size_t        n, i;
    pyro_buf_t    t;
    PCRE2_SIZE   *ov;

    b->len = 0;
    n = strlen(name);

    if (pyro_dot_match(r, 0, name, n, &ov)) {
        name += ov[1];
        n -= ov[1];
    }

    memset(&t, 0, sizeof(pyro_buf_t));

    if (pyro_dot_match(r, 1, name, n, &ov)) {
        pyro_buf_append(&t, name + ov[2], ov[3] - ov[2]);
        pyro_buf_append(&t, name + ov[4], ov[5] - ov[4]);

    } else {
        pyro_buf_append(&t, name, n);
    }

    s = t.data ? t.data : "";
    n = t.len;

    for (i = 2; i < PYRO_DOT_NRES; i++) {
        if (pyro_dot_match(r, i, s, n, &ov)) {
            pyro_buf_append(b, s + ov[2], ov[3] - ov[2]);
            break;
        }
    }

    if (i == PYRO_DOT_NRES) {
        pyro_buf_append(b, s, n);
    }

    pyro_buf_putc(b, '\0');
    pyro_buf_free(&t);
}


/* multilinePrintableName: the escaped short name split at "::" and ".",
 * "[...]" kept as "[…]", the file's base name. */
static void
pyro_dot_multiline(pyro_dot_re_t *r, const pyro_dot_t *d,
    const pyro_dot_info_t *ni, pyro_buf_t *tmp, pyro_buf_t *out)
{
    const char  *s, *file, *base;
    pyro_buf_t   name;

    memset(&name, 0, sizeof(pyro_buf_t));
    pyro_dot_shorten(r, ni->name, tmp);

    s = tmp->failed ? "" : tmp->data;
    pyro_buf_reserve(&name, 1);

    for ( /* void */ ; *s; s++) {
        if (*s == '\\' || *s == '"') {
            pyro_buf_putc(&name, '\\');
            pyro_buf_putc(&name, *s);

        } else if (*s == '\n') {
            pyro_buf_puts(&name, "\\l");

        } else if (s[0] == ':' && s[1] == ':') {
            pyro_buf_puts(&name, "\\n");
            s++;

        } else if (strncmp(s, "[...]", 5) == 0) {
            pyro_buf_puts(&name, "[\xe2\x80\xa6]");
            s += 4;

        } else if (*s == '.') {
            pyro_buf_puts(&name, "\\n");

        } else {
            pyro_buf_putc(&name, *s);
        }
    }

    pyro_buf_putc(&name, '\0');

    file = d->strs.data + ni->file;
    base = strrchr(file, '/');
    if (base && base[1]) {
        file = base + 1;
    }

    if (!name.failed) {
        pyro_dot_components(out, ni, name.data, file, "\\n");
    }

    pyro_buf_puts(out, "\\n");
    pyro_buf_free(&name);
}


/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */


/* "Jan 2, 2006 at 3:04pm (MST)" in the server's local zone. */
static void
pyro_dot_time(int64_t ns, pyro_buf_t *out)
{
    char         zone[64];
    time_t       t;
    struct tm    tm;
    int          h;
    static const char  *mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

    t = (time_t) (ns / 1000000000);
    if (ns % 1000000000 < 0) {
        t--;
    }

    if (localtime_r(&t, &tm) == NULL) {
        return;
    }

    if (strftime(zone, sizeof(zone), "%Z", &tm) == 0) {
        zone[0] = '\0';
    }

    h = tm.tm_hour % 12;

    pyro_buf_printf(out, "%s %d, %04d at %d:%02d%s (%s)", mon[tm.tm_mon],
                    tm.tm_mday, tm.tm_year + 1900, h ? h : 12, tm.tm_min,
                    tm.tm_hour < 12 ? "am" : "pm", zone);
}


/* Go's filepath.Base, appended; "" for an empty path (no title). */
static void
pyro_dot_base(const char *p, pyro_buf_t *out)
{
    size_t  n, i;

    n = strlen(p);
    if (n == 0) {
        return;
    }

    while (n > 0 && p[n - 1] == '/') {
        n--;
    }

    if (n == 0) {
        pyro_buf_putc(out, '/');
        return;
    }

    for (i = n; i > 0 && p[i - 1] != '/'; i--) {
        /* void */
    }

    pyro_buf_append(out, p + i, n - i);
}


/* The legend lines, each NUL-terminated in b. */
static size_t
pyro_dot_legend(pyro_dot_t *d, pyro_dot_graph_t *g, size_t orig,
    const char *title, pyro_buf_t *b)
{
    size_t                      i, n;
    int64_t                     flat;
    const char                  *s;
    const Google__V1__Mapping  *m;

    n = 0;
    m = d->p->n_mapping ? d->p->mapping[0] : NULL;

    if (title[0]) {
        pyro_buf_printf(b, "File: %s", title);
        pyro_buf_putc(b, '\0');
        n++;
    }

    s = m ? pyro_dot_str(d, m->build_id) : "";
    if (s[0]) {
        pyro_buf_printf(b, "Build ID: %s", s);
        pyro_buf_putc(b, '\0');
        n++;
    }

    for (i = 0; i < d->p->n_comment; i++) {
        s = pyro_dot_str(d, d->p->comment[i]);
        if (s[0] != '#') {
            pyro_buf_puts(b, s);
            pyro_buf_putc(b, '\0');
            n++;
        }
    }

    pyro_buf_printf(b, "Type: %s",
                    pyro_dot_str(d, d->p->sample_type[d->vi]->type));
    pyro_buf_putc(b, '\0');
    n++;

    if (d->p->time_nanos != 0) {
        pyro_buf_puts(b, "Time: ");
        pyro_dot_time(d->p->time_nanos, b);
        pyro_buf_putc(b, '\0');
        n++;
    }

    /* no "Duration:" line: the merged pprof's duration is always 0 */

    flat = 0;
    for (i = 0; i < g->norder; i++) {
        flat += g->order[i]->flat;
    }

    pyro_buf_puts(b, "Showing nodes accounting for ");
    pyro_dot_value(d, flat, b);
    pyro_buf_puts(b, ", ");
    pyro_dot_pct(flat, d->total, b);
    pyro_buf_puts(b, " of ");
    pyro_dot_value(d, d->total, b);
    pyro_buf_puts(b, " total");
    pyro_buf_putc(b, '\0');
    n++;

    if (d->total != 0 && g->norder > 0 && g->norder < orig) {
        pyro_buf_printf(b, "Showing top %zu nodes out of %zu", g->norder,
                        orig);
        pyro_buf_putc(b, '\0');
        n++;
    }

    pyro_buf_puts(b, "\nSee https://git.io/JfYMW for how to read the graph");
    pyro_buf_putc(b, '\0');

    return n + 1;
}


static void
pyro_dot_header(pyro_dot_t *d, pyro_dot_graph_t *g, size_t orig,
    pyro_buf_t *out)
{
    size_t       i, n;
    const char  *s;
    pyro_buf_t   title, legend;

    memset(&title, 0, sizeof(pyro_buf_t));
    memset(&legend, 0, sizeof(pyro_buf_t));

    if (d->p->n_mapping) {
        pyro_dot_base(pyro_dot_str(d, d->p->mapping[0]->filename), &title);
    }

    pyro_buf_putc(&title, '\0');

    n = pyro_dot_legend(d, g, orig, title.failed ? "" : title.data, &legend);

    if (title.failed || legend.failed) {
        out->failed = 1;

    } else {
        pyro_buf_printf(out, "digraph \"%s\" {\n",
                        title.data[0] ? title.data : "unnamed");
        pyro_buf_puts(out, "node [style=filled fillcolor=\"#f8f8f8\"]\n");
        pyro_buf_puts(out, "subgraph cluster_L { \"");
        pyro_dot_esc(out, legend.data);
        pyro_buf_puts(out, "\" [shape=box fontsize=16 label=\"");

        for (i = 0, s = legend.data; i < n; i++, s += strlen(s) + 1) {
            pyro_dot_esc(out, s);
            pyro_buf_puts(out, "\\l");
        }

        pyro_buf_putc(out, '"');

        if (title.data[0]) {
            pyro_buf_printf(out, " tooltip=\"%s\"", title.data);
        }

        pyro_buf_puts(out, "] }\n");
    }

    pyro_buf_free(&title);
    pyro_buf_free(&legend);
}


static void
pyro_dot_node(pyro_dot_t *d, pyro_dot_re_t *re, const pyro_dot_node_t *n,
    double max_flat, pyro_buf_t *tmp, pyro_buf_t *out)
{
    int     font;
    double  score;

    pyro_buf_printf(out, "N%u [label=\"", n->id);
    pyro_dot_multiline(re, d, &d->infos[n->info], tmp, out);

    if (n->flat != 0) {
        pyro_dot_value(d, n->flat, out);
        pyro_buf_puts(out, " (");
        pyro_dot_pct(n->flat, d->total, out);
        pyro_buf_putc(out, ')');

    } else {
        pyro_buf_putc(out, '0');
    }

    if (n->cum != n->flat) {
        pyro_buf_puts(out, n->flat != 0 ? "\\nof " : " of ");
        pyro_dot_value(d, n->cum, out);
        pyro_buf_puts(out, " (");
        pyro_dot_pct(n->cum, d->total, out);
        pyro_buf_putc(out, ')');
    }

    font = 8;
    if (max_flat > 0 && n->flat != 0) {
        font += (int) ceil(16 * sqrt(fabs((double) n->flat / max_flat)));
    }

    pyro_buf_printf(out, "\" id=\"node%u\" fontsize=%d shape=box tooltip=\"",
                    n->id, font);
    pyro_dot_esc(out, n->pname);
    pyro_buf_puts(out, " (");
    pyro_dot_value(d, n->cum, out);
    pyro_buf_puts(out, ")\" color=\"");

    score = (double) n->cum / (double) pyro_dot_abs(d->total);
    pyro_dot_color(score, 0, out);
    pyro_buf_puts(out, "\" fillcolor=\"");
    pyro_dot_color(score, 1, out);
    pyro_buf_puts(out, "\"]\n");
}


/* 1 + min(|w * k / total|, k), with Go's int64 wrap-around. */
static int64_t
pyro_dot_scale(int64_t w, int64_t k, int64_t total)
{
    int64_t  v;

    v = pyro_dot_abs((int64_t) ((uint64_t) w * (uint64_t) k) / total);

    return 1 + (v < k ? v : k);
}


static void
pyro_dot_edge_line(pyro_dot_t *d, const pyro_dot_graph_t *g,
    const pyro_dot_edge_t *e, pyro_buf_t *out)
{
    int64_t      v;
    pyro_buf_t   tip;

    memset(&tip, 0, sizeof(pyro_buf_t));
    pyro_buf_putc(&tip, '"');
    pyro_dot_esc(&tip, g->nodes[e->src].pname);
    pyro_buf_puts(&tip, e->residual ? " ... " : " -> ");
    pyro_dot_esc(&tip, g->nodes[e->dst].pname);
    pyro_buf_puts(&tip, " (");
    pyro_dot_value(d, e->weight, &tip);
    pyro_buf_puts(&tip, ")\"");

    pyro_buf_printf(out, "N%u -> N%u [label=\" ", g->nodes[e->src].id,
                    g->nodes[e->dst].id);
    pyro_dot_value(d, e->weight, out);
    pyro_buf_puts(out, e->inline_ ? "\\n (inline)\"" : "\"");

    if (d->total != 0) {
        v = pyro_dot_scale(e->weight, 100, d->total);
        if (v > 1) {
            pyro_buf_printf(out, " weight=%lld", (long long) v);
        }

        v = pyro_dot_scale(e->weight, 5, d->total);
        if (v > 1) {
            pyro_buf_printf(out, " penwidth=%lld", (long long) v);
        }

        pyro_buf_puts(out, " color=\"");
        pyro_dot_color((double) e->weight / (double) pyro_dot_abs(d->total),
                       0, out);
        pyro_buf_putc(out, '"');
    }

    if (!tip.failed) {
        pyro_buf_puts(out, " tooltip=");
        pyro_buf_append(out, tip.data, tip.len);
        pyro_buf_puts(out, " labeltooltip=");
        pyro_buf_append(out, tip.data, tip.len);
    }

    pyro_buf_puts(out, e->residual ? " style=\"dotted\"]\n" : "]\n");
    pyro_buf_free(&tip);
}


/* The edges between shown nodes, sorted; NULL on ENOMEM. */
static pyro_dot_edge_t **
pyro_dot_edges(pyro_dot_t *d, pyro_dot_graph_t *g, size_t *n)
{
    size_t             i;
    pyro_dot_edge_t  **v, *e;

    v = malloc((g->nedges + 1) * sizeof(pyro_dot_edge_t *));
    if (v == NULL) {
        return NULL;
    }

    *n = 0;

    for (i = 0; i < g->nedges; i++) {
        e = &g->edges[i];

        if (!e->deleted && g->nodes[e->src].id && g->nodes[e->dst].id) {
            v[(*n)++] = e;
        }
    }

    qsort(v, *n, sizeof(pyro_dot_edge_t *), pyro_dot_edge_cmp);

    return v;
}


static void
pyro_dot_write(pyro_dot_t *d, pyro_dot_graph_t *g, size_t orig,
    pyro_buf_t *out)
{
    size_t             i, n;
    double             max_flat;
    pyro_buf_t         tmp;
    pyro_dot_re_t      re;
    pyro_dot_edge_t  **edges;

    pyro_dot_header(d, g, orig, out);

    max_flat = 0;

    for (i = 0; i < g->norder; i++) {
        g->order[i]->id = i + 1;
        if ((double) pyro_dot_abs(g->order[i]->flat) > max_flat) {
            max_flat = (double) pyro_dot_abs(g->order[i]->flat);
        }
    }

    memset(&tmp, 0, sizeof(pyro_buf_t));

    if (pyro_dot_re_init(&re) != PYRO_OK) {
        out->failed = 1;
    }

    for (i = 0; i < g->norder && !out->failed; i++) {
        pyro_dot_node(d, &re, g->order[i], max_flat, &tmp, out);
    }

    pyro_dot_re_free(&re);
    pyro_buf_free(&tmp);

    edges = pyro_dot_edges(d, g, &n);
    if (edges == NULL) {
        out->failed = 1;
        return;
    }

    for (i = 0; i < n && !out->failed; i++) {
        pyro_dot_edge_line(d, g, edges[i], out);
    }

    free(edges);

    pyro_buf_puts(out, "}\n");
}


/* The sample type, the total and the frames. */
static int
pyro_dot_prepare(pyro_dot_t *d, pyro_err_t *err)
{
    size_t   i;
    int64_t  v;

    d->vi = d->p->n_sample_type - 1;

    for (i = 0; i < d->p->n_sample; i++) {
        if (d->p->sample[i]->n_value != d->p->n_sample_type) {
            pyro_err_internal(err, "malformed profile: sample has %zu "
                              "values vs. %zu types",
                              d->p->sample[i]->n_value,
                              d->p->n_sample_type);
            return PYRO_ERROR;
        }

        v = d->p->sample[i]->value[d->vi];
        d->total = (int64_t) ((uint64_t) d->total
                              + (uint64_t) pyro_dot_abs(v));
    }

    pyro_dot_unit(d, pyro_dot_str(d, d->p->sample_type[d->vi]->unit));

    if (pyro_dot_tab_init(&d->itab, 1024) != PYRO_OK
        || pyro_dot_locations(d) != PYRO_OK
        || pyro_dot_names(d) != PYRO_OK)
    {
        pyro_err_internal(err, "out of memory");
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


/* newTrimmedGraph, then the text. */
static int
pyro_dot_run(pyro_dot_t *d, int64_t dot_nodes, pyro_buf_t *out)
{
    int               rc;
    size_t            i, orig;
    uint8_t          *keep;
    pyro_dot_graph_t  g;

    keep = NULL;

    rc = pyro_dot_graph(d, NULL, &g);
    orig = g.norder;

    if (rc == PYRO_OK && (uint64_t) dot_nodes < g.norder) {
        keep = calloc(d->ninfos + 1, 1);
        rc = keep ? PYRO_OK : PYRO_ERROR;

        for (i = 0; rc == PYRO_OK && i < (size_t) dot_nodes; i++) {
            keep[g.order[i]->info] = 1;
        }

        if (rc == PYRO_OK) {
            pyro_dot_graph_free(&g);
            rc = pyro_dot_graph(d, keep, &g);
        }
    }

    if (rc == PYRO_OK) {
        rc = pyro_dot_prune(d, &g);
    }

    if (rc == PYRO_OK) {
        pyro_dot_write(d, &g, orig, out);
    }

    free(keep);
    pyro_dot_graph_free(&g);

    return rc;
}


int
pyro_dot_render(const void *pprof, size_t len, int64_t dot_nodes,
    pyro_buf_t *out, pyro_err_t *err)
{
    int         rc;
    pyro_dot_t  d;

    memset(&d, 0, sizeof(pyro_dot_t));

    d.p = google__v1__profile__unpack(NULL, len, pprof);
    if (d.p == NULL) {
        pyro_err_internal(err, "cannot decode the merged profile");
        return PYRO_ERROR;
    }

    if (d.p->n_sample == 0) {
        google__v1__profile__free_unpacked(d.p, NULL);
        return PYRO_OK;
    }

    if (d.p->n_sample_type == 0) {
        pyro_err_internal(err, "malformed profile: no sample types");
        google__v1__profile__free_unpacked(d.p, NULL);
        return PYRO_ERROR;
    }

    rc = pyro_dot_prepare(&d, err);

    if (rc == PYRO_OK) {
        rc = pyro_dot_run(&d, dot_nodes > 0 ? dot_nodes : 100, out);
        if (rc != PYRO_OK) {
            pyro_err_internal(err, "out of memory");
        }
    }

    if (rc == PYRO_OK && out->failed) {
        pyro_err_internal(err, "out of memory");
        rc = PYRO_ERROR;
    }

    pyro_dot_tab_free(&d.itab);
    free(d.infos);
    free(d.locs);
    free(d.linfo);
    pyro_buf_free(&d.strs);
    google__v1__profile__free_unpacked(d.p, NULL);

    return rc;
}

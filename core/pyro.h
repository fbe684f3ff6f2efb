
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * The public interface of the ngx_pyroscope engine.  Nothing here
 * depends on nginx: the engine is plain C99 + POSIX and is unit-tested
 * on its own.  Every exported symbol starts with "pyro_".
 *
 * Threading: no function keeps hidden global state, so any function may
 * run in any thread as long as one object is used by one thread at a time.
 */

#ifndef _PYRO_H_INCLUDED_
#define _PYRO_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>


#define PYRO_OK         0
#define PYRO_ERROR     -1
#define PYRO_AGAIN     -2
#define PYRO_DECLINED  -3


/*
 * Once per process, before any thread uses the engine: fixes the JSON
 * library's hash seed (its only lazily set global).
 */
void pyro_init(void);


/* A byte string that is not NUL-terminated; it never owns its data. */
typedef struct {
    size_t          len;
    const char     *data;
} pyro_str_t;

#define pyro_str_lit(s)  { sizeof(s) - 1, s }


/*
 * An error in upstream's shape: the HTTP status, the Connect code string
 * ("invalid_argument", "unknown", ...) and a message.  The message is
 * truncated to fit; it is always NUL-terminated.
 */
typedef struct {
    int             status;
    const char     *code;
    char            msg[512];
} pyro_err_t;

void pyro_err_set(pyro_err_t *err, int status, const char *code,
    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Shorthands for the statuses upstream uses most. */
#define pyro_err_invalid(err, ...)                                           \
    pyro_err_set(err, 400, "invalid_argument", __VA_ARGS__)
#define pyro_err_unprocessable(err, ...)                                     \
    pyro_err_set(err, 422, "unknown", __VA_ARGS__)
#define pyro_err_internal(err, ...)                                          \
    pyro_err_set(err, 500, "internal", __VA_ARGS__)


/*
 * A growable byte buffer owned by whoever created it (malloc'ed memory).
 * After an allocation failure "failed" is set and further appends are
 * ignored, so a writer can append many pieces and check once at the end.
 */
typedef struct {
    char           *data;
    size_t          len;
    size_t          cap;
    int             failed;
} pyro_buf_t;

int pyro_buf_reserve(pyro_buf_t *b, size_t extra);
/* Makes room for n elements of size sz in a malloc'ed array, doubling. */
int pyro_array_reserve(void **arr, size_t *cap, size_t n, size_t sz);
void pyro_buf_append(pyro_buf_t *b, const void *p, size_t n);
void pyro_buf_putc(pyro_buf_t *b, char c);
void pyro_buf_puts(pyro_buf_t *b, const char *s);
void pyro_buf_printf(pyro_buf_t *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void pyro_buf_put_uvarint(pyro_buf_t *b, uint64_t v);
void pyro_buf_put_u32le(pyro_buf_t *b, uint32_t v);
void pyro_buf_put_u64le(pyro_buf_t *b, uint64_t v);
/* Appends s as a JSON string literal, quotes included, escaped as Go's
 * encoding/json does (<, >, & and U+2028/9 escaped; bad UTF-8 -> U+FFFD). */
void pyro_buf_put_json_str(pyro_buf_t *b, const char *s, size_t n);
void pyro_buf_free(pyro_buf_t *b);


/* A bounded reader over a byte range; "failed" is set on overrun. */
typedef struct {
    const unsigned char  *p;
    const unsigned char  *end;
    int                   failed;
} pyro_rd_t;

uint64_t pyro_rd_uvarint(pyro_rd_t *rd);
uint32_t pyro_rd_u32le(pyro_rd_t *rd);
uint64_t pyro_rd_u64le(pyro_rd_t *rd);
const char *pyro_rd_bytes(pyro_rd_t *rd, size_t n);

uint32_t pyro_get_u32le(const void *p);
uint64_t pyro_get_u64le(const void *p);


/*
 * Label sets.  Names and values are malloc'ed copies owned by the set.
 * pyro_labels_sort() orders by name (bytewise), the order used on disk
 * and by the selector matcher.
 */
typedef struct {
    char           *name;
    char           *value;
} pyro_label_t;

typedef struct {
    pyro_label_t   *v;
    size_t          n;
    size_t          cap;
} pyro_labels_t;

/* Replaces the value of an existing name, or appends a new label. */
int pyro_labels_set(pyro_labels_t *ls, const char *name, size_t nlen,
    const char *value, size_t vlen);
int pyro_labels_set_cstr(pyro_labels_t *ls, const char *name,
    const char *value);
/* Returns the label's value or NULL. */
const char *pyro_labels_get(const pyro_labels_t *ls, const char *name);
void pyro_labels_del(pyro_labels_t *ls, const char *name);
void pyro_labels_sort(pyro_labels_t *ls);
/* upstream's CompareLabelPairs over sorted sets: -1, 0 or 1 */
int pyro_labels_cmp(const pyro_labels_t *a, const pyro_labels_t *b);
void pyro_labels_free(pyro_labels_t *ls);


/* A random (version 4) UUID, 8-4-4-4-12 lowercase hex and a NUL, as
 * upstream's uuid.NewString(); PYRO_ERROR (out = "") if the system has
 * no randomness to give. */
#define PYRO_UUID_LEN  36

int pyro_uuid_v4(char out[PYRO_UUID_LEN + 1]);


/* UTF-8 validity as Go's utf8.Valid defines it. */
int pyro_utf8_valid(const char *s, size_t n);
/* Decodes one rune at s (n > 0 bytes) as Go's utf8.DecodeRune: returns
 * its length, or 1 with *r = U+FFFD for an invalid byte. */
size_t pyro_utf8_decode(const char *s, size_t n, uint32_t *r);
/* Appends a rune as UTF-8. */
void pyro_buf_put_rune(pyro_buf_t *b, uint32_t r);


/* Time: nanoseconds since the Unix epoch, UTC.  Implemented in pyro_time.c */

/* ms to ns, saturating instead of overflowing. */
int64_t pyro_ms_to_ns(int64_t ms);

/*
 * Parses a legacy "from"/"until" value exactly as upstream's attime.Parse:
 * whitespace, '_' and ',' removed; 8 digits forming a valid YYYYMMDD is
 * that date (UTC midnight); other all-digit strings by length: 13 ms,
 * 16 us, 19 ns, anything else seconds; otherwise "now" followed by
 * +/-<int><unit> (the unit is everything after the digits, matched by
 * prefix as upstream's code does: s, min|m, h, d, w, mon|M, y; so
 * "now-3h30m" is now-3h; an unknown unit counts as 0).  Returns PYRO_OK
 * with *out set, or PYRO_ERROR for a value it cannot read (then *out is
 * now_ns).
 */
int pyro_attime_parse(const char *s, size_t len, int64_t now_ns,
    int64_t *out);

/* The render timeline step in seconds for a range (CalcPointInterval). */
int64_t pyro_render_step_sec(int64_t start_ms, int64_t end_ms);


/*
 * The legacy app-name grammar: name{k=v,...}.  On success "app" is the
 * trimmed app name (malloc'ed, owned by the caller through
 * pyro_appname_free) and "labels" holds every key/value given inside the
 * braces (trimmed), including reserved "__" keys; a "__name__" key
 * overrides the app name.  On failure err holds upstream's message,
 * e.g. "invalid service name: a b: character is not allowed: ' '".
 * Implemented in pyro_appname.c.
 */
typedef struct {
    char           *app;
    pyro_labels_t   labels;
} pyro_appname_t;

int pyro_appname_parse(const char *s, size_t len, pyro_appname_t *out,
    pyro_err_t *err);
void pyro_appname_free(pyro_appname_t *an);


/*
 * Tenant IDs, validated exactly as upstream (dskit): ASCII letters,
 * digits and ! - _ . * ' ( ); at most 150 bytes; not "." or "..".
 * Returns PYRO_OK, or PYRO_ERROR with a 400 in err.
 */
#define PYRO_TENANT_MAX  150

int pyro_tenant_validate(const char *id, size_t len, pyro_err_t *err);

/*
 * An X-Scope-OrgID value: "a|b" names several tenants (federated reads),
 * each with an optional ":<metadata>" suffix; the result is sorted and
 * deduplicated.  No ID at all is 401 "no org id".
 */
#define PYRO_TENANTS_MAX  16

typedef struct {
    char            id[PYRO_TENANTS_MAX][PYRO_TENANT_MAX + 1];
    size_t          n;
} pyro_tenants_t;

int pyro_tenants_parse(const char *s, size_t len, pyro_tenants_t *t,
    pyro_err_t *err);


/*
 * Label selectors (Prometheus syntax).  Implemented in pyro_selector.c
 * with PCRE2 for =~ and !~ (fully anchored).
 */
typedef enum {
    PYRO_MATCH_EQ = 0,
    PYRO_MATCH_NE,
    PYRO_MATCH_RE,
    PYRO_MATCH_NRE
} pyro_match_op_e;

typedef struct pyro_selector_s  pyro_selector_t;

/* Parses "{...}" (may be empty "{}" or an empty string: match all). */
pyro_selector_t *pyro_selector_parse(const char *s, size_t len,
    pyro_err_t *err);
/*
 * Parses a render query "<profileTypeID>{...}": the profile type ID must
 * have 5 or 6 ':'-separated parts (a 6th is dropped); it becomes the
 * matcher __profile_type__="<first five parts>".
 */
pyro_selector_t *pyro_selector_parse_query(const char *s, size_t len,
    pyro_err_t *err);
int pyro_selector_add(pyro_selector_t *sel, const char *name,
    pyro_match_op_e op, const char *value, pyro_err_t *err);
/* The profile type ID given to pyro_selector_parse_query, or NULL. */
const char *pyro_selector_profile_type(const pyro_selector_t *sel);
/* 1 if the labels (any order) satisfy every matcher; a missing label
 * matches as the empty string, as in Prometheus. */
int pyro_selector_match(const pyro_selector_t *sel, const pyro_label_t *v,
    size_t n);
void pyro_selector_free(pyro_selector_t *sel);


/*
 * A merged call tree keyed by frame name, the shape every query output
 * is built from.  Node 0 is the root.  Implemented in pyro_tree.c.
 */
typedef struct pyro_tree_s  pyro_tree_t;

pyro_tree_t *pyro_tree_new(void);
/* Returns the id of parent's child called name, creating it; -1 on ENOMEM. */
int64_t pyro_tree_child(pyro_tree_t *t, uint32_t parent, const char *name,
    size_t len);
/* Adds v to the node's self value. */
void pyro_tree_add(pyro_tree_t *t, uint32_t node, int64_t v);
/* Computes totals; call once after the last add, before any output. */
void pyro_tree_finish(pyro_tree_t *t);
int64_t pyro_tree_total(const pyro_tree_t *t);
/*
 * Appends the legacy flamebearer object
 * {"names":[...],"levels":[[...],...],"numTicks":N,"maxSelf":N}
 * built with upstream's layout and max_nodes truncation into "other"
 * (max_nodes <= 0: no cut, but existing "other" children still fold).
 */
void pyro_tree_flamebearer_json(pyro_tree_t *t, int64_t max_nodes,
    pyro_buf_t *out);
void pyro_tree_free(pyro_tree_t *t);

/*
 * A flame graph as plain arrays, for the Connect FlameGraph and
 * FlameGraphDiff messages.  names[0] is "total"; level i is
 * values[levels[i] .. levels[i + 1]): 4 values per node ([x delta,
 * total, self, name index], the flamebearer layout) or, in a diff, 7
 * ([x delta, total, self] left, the same right, name index).  The
 * struct owns every array (names point into "arena"); release it with
 * pyro_flamegraph_free().
 */
typedef struct {
    pyro_str_t     *names;
    size_t          nnames;
    int64_t        *values;
    size_t         *levels;        /* nlevels + 1 offsets into values */
    size_t          nlevels;
    int64_t         total;
    int64_t         max_self;
    int64_t         left_ticks;    /* diff only */
    int64_t         right_ticks;   /* diff only */
    char           *arena;
} pyro_flamegraph_t;

/* model.NewFlameGraph (query-output-formats 3.2); PYRO_ERROR on ENOMEM. */
int pyro_tree_flamegraph(pyro_tree_t *t, int64_t max_nodes,
    pyro_flamegraph_t *fg);
/*
 * NewFlamegraphDiff (query-output-formats 3.4): both trees aligned by
 * name, max_nodes over max(left, right) totals.  A negative self value
 * is 400 "both trees require only positive values" or "left tree
 * require only positive values" (upstream's wording for either side).
 */
int pyro_tree_diff(pyro_tree_t *left, pyro_tree_t *right, int64_t max_nodes,
    pyro_flamegraph_t *fg, pyro_err_t *err);
void pyro_flamegraph_free(pyro_flamegraph_t *fg);
/*
 * Appends tree bytes (PROFILE_FORMAT_TREE, Tree.MarshalTruncate,
 * query-output-formats 2) truncated at max_nodes (<= 0: no cut); an
 * empty tree appends nothing.  ENOMEM sets out->failed.
 */
void pyro_tree_bytes(pyro_tree_t *t, int64_t max_nodes, pyro_buf_t *out);
/* Adds tree bytes into t (fewer than 2 bytes: an empty tree); PYRO_ERROR
 * on malformed input or ENOMEM. */
int pyro_tree_merge_bytes(pyro_tree_t *t, const void *p, size_t len);


/*
 * Time series for the render timeline.  Points are added in any order;
 * pyro_timeline_json() buckets them as upstream's SelectSeries
 * (right-edge buckets of step, grid start + k*step <= end, sum) and then
 * lays them out as timeline.New does, appending
 * {"startTime":S,"samples":[...],"durationDelta":D,"watermarks":null}.
 * Implemented in pyro_timeline.c.
 */
typedef struct {
    int64_t         ts_ms;
    double          value;
} pyro_point_t;

typedef struct {
    pyro_point_t   *v;
    size_t          n;
    size_t          cap;
} pyro_points_t;

int pyro_points_add(pyro_points_t *pts, int64_t ts_ms, double value);
void pyro_points_free(pyro_points_t *pts);
/* start_ms/end_ms: the query range; step_sec from pyro_render_step_sec().
 * pts may be NULL (an empty timeline). */
void pyro_timeline_json(const pyro_points_t *pts, int64_t start_ms,
    int64_t end_ms, int64_t step_sec, pyro_buf_t *out);


/*
 * Batches: the unit the ingest path hands to storage.  A batch interns
 * strings, functions (name, file) and stack nodes (parent, function,
 * line) and holds one or more profiles (a series label set, a time and
 * samples: stack node -> value).  pyro_batch_encode() turns it into one
 * checksummed record, the unit appended to a segment file.  A batch is
 * used by one thread at a time.  Implemented in pyro_batch.c.
 */
typedef struct pyro_batch_s  pyro_batch_t;

#define PYRO_NODE_NONE  UINT32_MAX

pyro_batch_t *pyro_batch_new(void);
/* The interned index, or UINT32_MAX on ENOMEM. */
uint32_t pyro_batch_string(pyro_batch_t *b, const char *s, size_t len);
uint32_t pyro_batch_function(pyro_batch_t *b, uint32_t name, uint32_t file);
/* parent is PYRO_NODE_NONE for a root frame. */
uint32_t pyro_batch_node(pyro_batch_t *b, uint32_t parent, uint32_t fn,
    uint32_t line);
/* Starts a profile; labels are copied, sorted by name. */
int pyro_batch_profile(pyro_batch_t *b, const pyro_labels_t *labels,
    int64_t time_ns, int64_t duration_ns);
/* Sets the current profile's ID (a UUID as given, or any string; the
 * empty string is none), copied. */
int pyro_batch_profile_id(pyro_batch_t *b, const char *id, size_t len);
/* Adds value to the current profile's sample at node (summed). */
int pyro_batch_sample(pyro_batch_t *b, uint32_t node, uint64_t value);
/* The same for a sample that carries a span ID (pprof span_id label);
 * samples are summed per (node, span).  span 0 means none. */
int pyro_batch_sample_span(pyro_batch_t *b, uint32_t node, uint64_t span,
    uint64_t value);
/* Number of profiles that have at least one sample. */
size_t pyro_batch_nprofiles(const pyro_batch_t *b);
/* Appends a whole record (header + payload) to out. */
int pyro_batch_encode(pyro_batch_t *b, pyro_buf_t *out);
void pyro_batch_free(pyro_batch_t *b);


/*
 * Records and segment files; the format is in doc/storage-format.md.
 */
#define PYRO_FILE_MAGIC      "PYROSEG1"
#define PYRO_FILE_VERSION    1
#define PYRO_FILE_HDR_SIZE   16
#define PYRO_REC_MAGIC       0x52525950      /* "PYRR" little endian */
#define PYRO_REC_HDR_SIZE    48
#define PYRO_REC_ZLIB        0x1
#define PYRO_REC_MAX         (256u << 20)    /* sanity bound on one record */

/*
 * A record is a header, a "meta" section (per profile: time, duration,
 * series labels, sample count; never compressed, so a query can select
 * profiles without inflating anything) and a "body" (symbols, stack
 * nodes and samples; zlib-deflated when that pays).
 */
typedef struct {
    uint32_t        crc;
    uint32_t        meta_len;
    uint32_t        body_len;       /* as stored */
    uint32_t        body_raw_len;   /* after inflate */
    uint32_t        flags;
    uint32_t        nprofiles;
    int64_t         min_time_ns;
    int64_t         max_time_ns;
} pyro_rec_hdr_t;

/* A decoded record; every pointer points into arrays owned by the
 * record (freed by pyro_record_free). */
typedef struct {
    uint32_t        name;
    uint32_t        file;
} pyro_func_t;

typedef struct {
    uint32_t        parent;        /* PYRO_NODE_NONE for a root frame */
    uint32_t        fn;
    uint32_t        line;
} pyro_node_t;

typedef struct {
    uint32_t        node;
    uint64_t        value;
    uint64_t        span;          /* 0: none */
} pyro_sample_t;

typedef struct {
    int64_t         time_ns;
    int64_t         duration_ns;
    const char     *id;            /* profile ID, "" if none (metabuf) */
    pyro_label_t   *labels;        /* sorted by name, NUL-terminated */
    size_t          nlabels;
    pyro_sample_t  *samples;       /* NULL until the body is decoded */
    size_t          nsamples;
    uint64_t        total;
} pyro_prof_t;

typedef struct {
    pyro_prof_t    *profs;
    size_t          nprofs;
    char           *metabuf;       /* label and profile ID strings */
    const char     *start;         /* the record and its stored body, in */
    const char     *body;          /* the caller's buffer, until the body
                                      is decoded */
    pyro_rec_hdr_t  hdr;
    char           *raw;           /* the inflated body */
    char           *strbuf;        /* NUL-terminated copies of strings */
    pyro_str_t     *strings;
    size_t          nstrings;
    pyro_func_t    *funcs;
    size_t          nfuncs;
    pyro_node_t    *nodes;
    size_t          nnodes;
} pyro_record_t;

/* Checks the header at p (avail bytes); PYRO_AGAIN if incomplete. */
int pyro_rec_hdr_parse(const void *p, size_t avail, pyro_rec_hdr_t *h);
/* Verifies the CRC and decodes a whole record (header at p). */
int pyro_record_decode(const void *p, size_t len, pyro_record_t *rec,
    pyro_err_t *err);
/* Decodes the meta section only (bounds-checked, not yet checksummed);
 * the bytes at p must stay valid until pyro_record_decode_body() or
 * pyro_record_free(). */
int pyro_record_decode_meta(const void *p, size_t len, pyro_record_t *rec,
    pyro_err_t *err);
/* Verifies the record's CRC, inflates and decodes the body: symbols,
 * nodes and every sample. */
int pyro_record_decode_body(pyro_record_t *rec, pyro_err_t *err);
void pyro_record_free(pyro_record_t *rec);

/*
 * Calls cb for every complete, checksum-valid record of a segment file
 * whose time range overlaps [min_ns, max_ns].  A torn or corrupt tail
 * ends the scan (the rest of a file being appended is not yet durable).
 * Returns PYRO_OK, or PYRO_ERROR if the file is unreadable or not ours.
 */
typedef int (*pyro_rec_cb_pt)(void *ctx, const pyro_rec_hdr_t *h,
    const char *rec, size_t len);

int pyro_segment_scan(const char *path, int64_t min_ns, int64_t max_ns,
    pyro_rec_cb_pt cb, void *ctx, pyro_err_t *err);


/*
 * The per-worker segment writer.  Not thread-safe: the glue guarantees
 * that one thread at a time calls it (one commit task in flight).
 * Files: <root>/<tenant>/<stamp>-<pid>-<seq>.open while appended,
 * renamed to .seg when sealed.
 */
typedef struct pyro_writer_s  pyro_writer_t;

/* The wall clock in ns; safe in any thread (nginx's cached time is the
 * event loop's). */
int64_t pyro_now_ns(void);

pyro_writer_t *pyro_writer_new(const char *root, uint64_t seal_bytes,
    int64_t seal_age_ns);
/* Appends a record for a tenant (not yet durable). */
int pyro_writer_append(pyro_writer_t *w, const char *tenant,
    const void *rec, size_t len, pyro_err_t *err);
/* Makes every append since the last commit durable (fdatasync); on
 * failure rolls the files back to their last durable size. */
int pyro_writer_commit(pyro_writer_t *w, pyro_err_t *err);
/* Seals segments past their size or age (all of them if force). */
int pyro_writer_seal(pyro_writer_t *w, int64_t now_ns, int force,
    pyro_err_t *err);
void pyro_writer_free(pyro_writer_t *w);


/*
 * Limits, with upstream's defaults (pkg/validation/limits.go); each one is
 * a directive in the glue.
 */
typedef struct {
    size_t          max_profile_size;       /* 4 MiB, uncompressed */
    size_t          max_samples;            /* 16000 per profile */
    size_t          max_depth;              /* 1000: deeper stacks truncated */
    size_t          max_symbol_len;         /* 65535: longer kept as suffix */
    size_t          max_sample_labels;      /* 100 per sample */
    size_t          max_label_names;        /* 30 per series */
    size_t          max_label_name_len;     /* 1024 */
    size_t          max_label_value_len;    /* 2048 */
} pyro_limits_t;

void pyro_limits_default(pyro_limits_t *l);

/* Upstream's ValidateLabels (spec 4.5); 400 invalid_argument. */
int pyro_labels_validate(const pyro_labels_t *ls, const pyro_limits_t *l,
    pyro_err_t *err);
/* Adds __profile_type__, __type__, __unit__, __period_type__,
 * __period_unit__ and __service_name__ (a copy of service_name). */
int pyro_labels_add_internal(pyro_labels_t *ls, const char *metric,
    const char *type, const char *unit, const char *ptype, const char *punit);


/*
 * gzip: if data starts with the gzip magic (1f 8b) it is inflated into
 * out, never past max bytes (then 400 "uncompressed profile payload size
 * exceeds limit of <max>"); otherwise PYRO_DECLINED and out is untouched.
 * Implemented in pyro_gzip.c.
 */
int pyro_gunzip(const char *data, size_t len, size_t max, pyro_buf_t *out,
    pyro_err_t *err);
/* Appends data compressed as one gzip member. */
int pyro_gzip(const char *data, size_t len, pyro_buf_t *out);


/*
 * multipart/form-data over a contiguous body (RFC 7578).  Parts point
 * into the body.  Implemented in pyro_multipart.c.
 */
typedef struct {
    pyro_str_t      name;
    pyro_str_t      filename;       /* len 0 and data NULL: not a file part */
    pyro_str_t      content_type;
    pyro_str_t      data;
} pyro_part_t;

#define PYRO_PARTS_MAX  16

/* content_type is the request's Content-Type value (with the boundary). */
int pyro_multipart_parse(const char *content_type, size_t ctlen,
    const char *body, size_t len, pyro_part_t *parts, size_t *nparts,
    pyro_err_t *err);
/* The first file part called name, or NULL (upstream reads file parts
 * only). */
const pyro_part_t *pyro_multipart_file(const pyro_part_t *parts,
    size_t nparts, const char *name);


/*
 * pprof ingestion (spec section 4).  Implemented in pyro_pprof.c with a
 * bounded, allocation-light reader of the protobuf wire format.
 */
typedef struct {
    /* the series labels: Push labels, or /ingest's from the name */
    const pyro_labels_t  *labels;
    /* /ingest: derive __name__ from the sample types (spec 4.2) */
    int                   derive_name;
    /* sample_type_config: sample type -> display-name, or NULL */
    const pyro_labels_t  *display_names;
    /* time for profiles whose time_nanos is 0 or in 1970 */
    int64_t               default_time_ns;
    const pyro_limits_t  *limits;
    /* the profile ID of every profile made (NULL: none) */
    const char           *profile_id;
} pyro_pprof_opts_t;

/*
 * Decodes one pprof profile (gzip or plain) and adds it to the batch:
 * one profile per sample type and per set of string sample labels
 * (existing series labels win; span_id / profile_id kept per sample as
 * span IDs, trace_id ignored), validated and normalized as upstream's
 * distributor.  Errors are 400 invalid_argument with upstream's
 * messages.
 */
int pyro_pprof_ingest(pyro_batch_t *b, const char *data, size_t len,
    const pyro_pprof_opts_t *opts, pyro_err_t *err);
/* A span ID, 16 hex digits read as little-endian bytes as upstream does;
 * 0 when it is not one. */
uint64_t pyro_span_id(const pyro_str_t *s);


/*
 * push.v1.PusherService/Push requests, binary (protobuf-c) or JSON
 * (jansson, protojson rules).  The decoded request owns its memory.
 * Implemented in pyro_push.c.
 */
typedef struct {
    pyro_str_t      raw;            /* raw_profile bytes (gzip or plain) */
    pyro_str_t      id;             /* RawSample.ID, a UUID (may be ""),
                                       NUL-terminated */
} pyro_push_sample_t;

typedef struct {
    pyro_labels_t        labels;
    pyro_push_sample_t  *samples;
    size_t               nsamples;
} pyro_push_series_t;

typedef struct {
    pyro_push_series_t  *series;
    size_t               nseries;
    void                *owner;     /* decoder memory behind raw bytes */
} pyro_push_t;

/* json: 1 for application/json.  Errors: 400 invalid_argument. */
int pyro_push_decode(const char *body, size_t len, int json,
    pyro_push_t *push, pyro_err_t *err);
void pyro_push_free(pyro_push_t *push);


/*
 * protojson over protobuf-c descriptors, for the Connect query API.
 * Implemented in pyro_pbjson.c.
 */

/* Encodes msg as protojson (connect-go's defaults): lowerCamelCase JSON
 * names, int64/uint64/fixed64 as decimal strings, int32/uint32/double as
 * numbers, enums as their names, bytes as standard padded base64,
 * default/zero fields omitted (proto3 scalars; oneof members and message
 * fields present when set), repeated fields as arrays (omitted when
 * empty), NaN/Infinity as "NaN"/"Infinity"/"-Infinity". */
void pyro_pbjson_encode(const ProtobufCMessage *msg, pyro_buf_t *out);
/* Decodes JSON into a new message of the descriptor's type (free with
 * protobuf_c_message_free_unpacked(msg, NULL)); accepts proto and JSON
 * names, int64 as string or number, enums as name or number, bytes as
 * std or URL-safe base64 with or without padding, null as default,
 * unknown fields ignored.  Errors: 400 invalid_argument. */
ProtobufCMessage *pyro_pbjson_decode(const ProtobufCMessageDescriptor *d,
    const char *json, size_t len, pyro_err_t *err);


/*
 * JFR (Java Flight Recorder) files, read as jfr-format.md describes.
 * Implemented in pyro_jfr.c.  pyro_jfr_parse() reads every chunk's
 * header, metadata and constant pools; it keeps its own copy of data and
 * refuses absurd sizes and out-of-range or cyclic references with a 422
 * in err.
 */
typedef struct pyro_jfr_s  pyro_jfr_t;

pyro_jfr_t *pyro_jfr_parse(const char *data, size_t len, pyro_err_t *err);

/*
 * Called for each event that Pyroscope turns into a profile: the event
 * type name ("jdk.ExecutionSample"), the frames root first as
 * "Class.method" (class names with '/'), each frame's line number (as
 * unsigned 32 bits: -1 is 4294967295), the value (1 for ExecutionSample
 * and LiveObject; tlabSize, allocationSize, weight, samples, size; the
 * raw duration ticks of JavaMonitorEnter and ThreadPark), and the start
 * time in ns since the epoch.  A missing stack gives depth 0.  frames
 * and lines are valid during the call only.  Non-zero stops the walk.
 */
typedef int (*pyro_jfr_event_pt)(void *ctx, const char *type,
    const pyro_str_t *frames, const uint32_t *lines, size_t depth,
    int64_t value, int64_t time_ns);

int pyro_jfr_events(pyro_jfr_t *j, pyro_jfr_event_pt cb, void *ctx,
    pyro_err_t *err);
void pyro_jfr_free(pyro_jfr_t *j);


/*
 * Legacy /ingest text formats (folded, lines) into a batch, with every
 * rule of upstream's text path (spec section 3).  Implemented in
 * pyro_ingest.c.
 */
typedef enum {
    PYRO_FMT_FOLDED = 0,
    PYRO_FMT_LINES,
    PYRO_FMT_PPROF,                /* format=pprof: the body is a pprof */
    PYRO_FMT_MULTIPART,            /* no format, multipart/form-data */
    PYRO_FMT_JFR                   /* format=jfr: raw or multipart "jfr" */
} pyro_text_format_e;

typedef struct {
    pyro_str_t      name;          /* the raw "name" parameter */
    pyro_str_t      spy_name;      /* "" -> "unknown" */
    int64_t         sample_rate;   /* already defaulted: 100 */
    int64_t         from_ns;
    int64_t         until_ns;
    const pyro_limits_t  *limits;  /* NULL: upstream's defaults */
    /* the request's profile ID (pyro_uuid_v4), "" for none */
    char            profile_id[PYRO_UUID_LEN + 1];
} pyro_ingest_meta_t;

/*
 * Builds the series labels of a text upload.  Returns PYRO_OK,
 * PYRO_DECLINED when upstream silently ignores the upload (profile_id
 * label), or PYRO_ERROR with err set.  *period is 0 when values are not
 * scaled.
 */
int pyro_ingest_text_labels(const pyro_ingest_meta_t *m, pyro_labels_t *ls,
    uint64_t *period, pyro_err_t *err);
/* Parses a folded or lines body into the batch's current profile. */
int pyro_ingest_text_parse(pyro_batch_t *b, pyro_text_format_e fmt,
    const char *body, size_t len, uint64_t period, pyro_err_t *err);

/*
 * One /ingest request body in any supported format into the batch.
 * content_type is the request's (for multipart).  Returns PYRO_OK,
 * PYRO_DECLINED when upstream stores nothing but answers 200, or
 * PYRO_ERROR with err in upstream's status and shape.  Implemented in
 * pyro_ingest_pprof.c (text formats in pyro_ingest.c).
 */
int pyro_ingest_body(pyro_batch_t *b, const pyro_ingest_meta_t *m,
    pyro_text_format_e fmt, pyro_str_t content_type, const char *body,
    size_t len, pyro_err_t *err);

/* format=jfr (spec 5); implemented in pyro_ingest_jfr.c. */
int pyro_ingest_jfr(pyro_batch_t *b, const pyro_ingest_meta_t *m,
    pyro_str_t content_type, const char *body, size_t len, pyro_err_t *err);
/* A client error as upstream's /ingest 422 "unknown" with a prefix ("%s"
 * in it is the original code); server errors pass unchanged. */
void pyro_ingest_wrap_error(pyro_err_t *err, const char *prefix);

/*
 * A Connect push.v1.PusherService/Push request body (already gunzipped
 * when it came with Content-Encoding: gzip) into the batch.  Errors are
 * Connect errors: 400 invalid_argument, e.g. "no profiles received".
 */
int pyro_ingest_push(pyro_batch_t *b, const char *body, size_t len,
    int json, int64_t now_ns, const pyro_limits_t *l, pyro_err_t *err);


/*
 * Queries.  Implemented in pyro_query.c; they run in a thread-pool
 * thread and read only files.
 */
typedef struct {
    pyro_str_t      query;         /* <profileTypeID>{selectors} */
    int64_t         from_ms;
    int64_t         until_ms;
    int64_t         max_nodes;     /* validated: 0 -> default */
    pyro_str_t      group_by;      /* the first groupBy, or empty */
} pyro_render_req_t;

#define PYRO_MAX_NODES_DEFAULT  8192
#define PYRO_MAX_NODES_MAX      1048576

/* Appends the /pyroscope/render JSON over the tenants' directories
 * under the storage root. */
int pyro_query_render(const char *root, const pyro_tenants_t *tenants,
    const pyro_render_req_t *req, pyro_buf_t *out, pyro_err_t *err);
/* The flamebearer "metadata" member for a profile type ID
 * (ExportToFlamebearer); format is "single" or "double". */
void pyro_render_metadata(const char *ptype, const char *format,
    pyro_buf_t *out);
/* /pyroscope/render-diff: two render queries of one profile type as a
 * "double" flamebearer with leftTicks and rightTicks.  Implemented in
 * pyro_legacy.c. */
int pyro_query_render_diff(const char *root, const pyro_tenants_t *tenants,
    const pyro_render_req_t *left, const pyro_render_req_t *right,
    int64_t max_nodes, pyro_buf_t *out, pyro_err_t *err);
/* /pyroscope/label-values: a JSON array; label __name__ lists the
 * profile type IDs. */
int pyro_query_label_values(const char *root, const pyro_tenants_t *tenants,
    const char *label, int64_t from_ms, int64_t until_ms, pyro_buf_t *out,
    pyro_err_t *err);


/*
 * Query engine: the querier.v1.QuerierService queries as plain C
 * results (the glue encodes them).  Implemented in pyro_engine.c; every
 * function runs in a query thread, reads only files and keeps no shared
 * state.  Results are malloc'ed and owned by the caller, who releases
 * them with the matching free function (also after an error); memory is
 * bounded by the result, not by the data scanned.
 */

/*
 * What to read: the tenants' segment files (tenants in sorted order,
 * files in name order) and the profiles whose series labels match one
 * of the selectors (all of them with match_all; every profile when
 * nsels is 0).  Times are Unix ms, inclusive: a profile is in range when
 * start_ms * 1e6 <= time_ns <= end_ms * 1e6, as upstream's backend.
 */
typedef struct {
    const char            *root;          /* storage root */
    const pyro_tenants_t  *tenants;
    int64_t                start_ms;
    int64_t                end_ms;
    pyro_selector_t      **sels;          /* OR'ed; NULL/0: all */
    size_t                 nsels;
    int                    match_all;     /* AND them (v2 frontend) */
    /* profile_id_selector: only profiles with one of these IDs (NULL/0:
     * any profile) */
    const char *const     *profile_ids;
    size_t                 nprofile_ids;
} pyro_scan_t;

/* One selected profile, as the scanner hands it to a callback; "seq"
 * changes with every record, so per-record caches know when to reset. */
typedef struct {
    const pyro_record_t   *rec;
    const pyro_prof_t     *prof;          /* samples set with "body" */
    uint64_t               seq;
    const char            *tenant;
} pyro_scan_item_t;

/* Returns PYRO_OK to go on, or PYRO_ERROR (with err set) to stop. */
typedef int (*pyro_scan_pt)(void *ctx, const pyro_scan_item_t *it,
    pyro_err_t *err);

/*
 * The scanner under every query (and the render): calls cb for every
 * selected profile with time_ns in [min_ns, max_ns] (s->start_ms and
 * s->end_ms are not used here).  With body, records holding a selected
 * profile are checksummed and decoded; otherwise only the uncompressed
 * meta section is read.  Corrupt records are skipped.
 */
int pyro_scan(const pyro_scan_t *s, int64_t min_ns, int64_t max_ns,
    int body, pyro_scan_pt cb, void *ctx, pyro_err_t *err);

/*
 * Maps record stack nodes to nodes of a name tree, memoized per record
 * (reset when it->seq changes).  Zero it, set "tree", and free it with
 * pyro_stackmap_free() (which leaves the tree alone).
 */
typedef struct {
    pyro_tree_t           *tree;
    uint32_t              *memo;          /* record node -> tree node */
    uint32_t              *stack;
    size_t                 cap;
    uint64_t               seq;
    int                    ready;
} pyro_stackmap_t;

/* The tree node of a record's stack node (its leaf), or -1 on ENOMEM. */
int64_t pyro_stackmap_node(pyro_stackmap_t *m, const pyro_scan_item_t *it,
    uint32_t node);
void pyro_stackmap_free(pyro_stackmap_t *m);

/*
 * Time rules of every Connect query (spec 6.2), applied in upstream's
 * order: start or end 0 is 400 "missing time range in the query"
 * (except, with PYRO_RANGE_LAST_HOUR, both 0 become [now - 1h, now], as
 * ProfileTypes does); start > end is "query start time is after end
 * time"; with max_lookback_ms (0: none) an end before now - lookback
 * gives PYRO_DECLINED (an empty result, no error) and an earlier start
 * is clamped; with max_length_ms (0: unlimited) a longer range is "the
 * query time range exceeds the limit (max_query_length, actual: 25h0m0s,
 * limit: 1d)" (actual as Go's time.Duration, limit as Prometheus'
 * model.Duration, exactly as upstream formats them).
 */
#define PYRO_RANGE_LAST_HOUR  0x1

int pyro_query_range(int64_t *start_ms, int64_t *end_ms, int64_t now_ms,
    int64_t max_length_ms, int64_t max_lookback_ms, unsigned flags,
    pyro_err_t *err);

/* A list of strings, each malloc'ed, owned by the list. */
typedef struct {
    char                 **v;
    size_t                 n;
} pyro_strs_t;

void pyro_strs_free(pyro_strs_t *l);

/* ProfileTypes: the distinct __profile_type__ values, parsed as
 * upstream's ParseProfileTypeSelector (5 or 6 ':'-separated parts; other
 * values are skipped), sorted by ID.  One allocation per entry ("id";
 * the other fields point into it). */
typedef struct {
    char                  *id;
    const char            *name;
    const char            *sample_type;
    const char            *sample_unit;
    const char            *period_type;
    const char            *period_unit;
} pyro_ptype_t;

typedef struct {
    pyro_ptype_t          *v;
    size_t                 n;
} pyro_ptypes_t;

int pyro_engine_profile_types(const pyro_scan_t *s, pyro_ptypes_t *out,
    pyro_err_t *err);
void pyro_ptypes_free(pyro_ptypes_t *l);

/*
 * LabelNames: sorted unique names (internal "__" labels included).
 * legacy_only hides names that fail upstream's SanitizeLegacyLabelName
 * (what the read path does unless the client allows UTF-8 names).
 */
int pyro_engine_label_names(const pyro_scan_t *s, int legacy_only,
    pyro_strs_t *out, pyro_err_t *err);
/* LabelValues: sorted unique non-empty values of one label; an empty
 * name is 400 "name is required". */
int pyro_engine_label_values(const pyro_scan_t *s, const char *name,
    pyro_strs_t *out, pyro_err_t *err);

/*
 * Series: the distinct label sets of the selected profiles, restricted
 * to "names" (none: every label), each set sorted by name, the list
 * sorted by labels (CompareLabelPairs).  With legacy_only the names are
 * filtered as LabelNames does first (and, as upstream, a list that
 * filters down to nothing means every label).
 */
typedef struct {
    pyro_labels_t         *v;
    size_t                 n;
} pyro_labelsets_t;

int pyro_engine_series(const pyro_scan_t *s, const char *const *names,
    size_t nnames, int legacy_only, pyro_labelsets_t *out, pyro_err_t *err);
void pyro_labelsets_free(pyro_labelsets_t *l);

/*
 * SelectMergeStacktraces into "tree" (the caller's, new or not):
 * call_site keeps only stacks that start (root first) with those frame
 * names (StackTraceSelector.call_site); spans keeps only samples whose
 * span ID is in the list (span_selector, already parsed).
 */
typedef struct {
    const pyro_str_t      *call_site;     /* NULL/0: every stack */
    size_t                 ncall_site;
    const uint64_t        *spans;         /* NULL/0: every sample */
    size_t                 nspans;
} pyro_merge_opts_t;

int pyro_engine_merge(const pyro_scan_t *s, const pyro_merge_opts_t *o,
    pyro_tree_t *tree, pyro_err_t *err);

/*
 * SelectMergeProfile (query-output-formats 5): the same selection merged
 * by stack into one pprof, appended to "out" as uncompressed
 * google.v1.Profile bytes.  A function is a (name, file), a location a
 * (function, line); one sample per distinct stack, leaf first; header
 * from the profile type ID (5 or 6 parts, else 400), time_nanos =
 * s->end_ms * 1e6.  max_nodes > 0 truncates as section 1.2 ("other"
 * stub); nothing selected gives {sample_type:[{}], period_type:{},
 * string_table:[""]}.  Implemented in pyro_pprof_out.c.
 */
int pyro_engine_merge_pprof(const pyro_scan_t *s, const pyro_merge_opts_t *o,
    const char *profile_type_id, int64_t max_nodes, pyro_buf_t *out,
    pyro_err_t *err);

/*
 * DOT (query-output-formats 1): a merged pprof (the bytes above, made
 * with max_nodes = max(512, dot_nodes)) drawn as Pyroscope's report
 * does: frames per function + line, the dot_nodes (<= 0: 100) nodes of
 * highest entropy score, the DOT text appended to "out".  A profile
 * without samples appends nothing.  The "Time:" legend is in the
 * server's local zone.  Implemented in pyro_dot.c.
 */
int pyro_dot_render(const void *pprof, size_t len, int64_t dot_nodes,
    pyro_buf_t *out, pyro_err_t *err);
/* GET /pyroscope/render?format=dot: the DOT of the render query, with
 * req->max_nodes as dotN (<= 0: 100); nothing for an empty profile. */
int pyro_query_render_dot(const char *root, const pyro_tenants_t *tenants,
    const pyro_render_req_t *req, pyro_buf_t *out, pyro_err_t *err);

/*
 * SelectSeries (query-output-formats 4): profiles from start - step to
 * end, each worth its total, summed (or averaged per profile) into
 * buckets whose right edges start + k * step <= end are the point
 * timestamps; series labels are the group_by labels present, in
 * group_by order; series ordered by the sum of their points descending
 * then by labels, the first "limit" kept (<= 0: all).  step_ms < 1 is
 * 400 "step must be >= 1ms".
 */
typedef enum {
    PYRO_AGG_SUM = 0,
    PYRO_AGG_AVERAGE
} pyro_agg_e;

typedef struct {
    int64_t                step_ms;
    const char *const     *group_by;
    size_t                 ngroup_by;
    pyro_agg_e             aggregation;
    int64_t                limit;
    int                    exemplars;     /* EXEMPLAR_TYPE_INDIVIDUAL */
} pyro_series_opts_t;

/*
 * With o->exemplars, each point carries the profile of its bucket with
 * the largest total (the first one on a tie; profiles without an ID are
 * never exemplars): its ID, total, time and the labels of its series
 * that the series' own labels do not already name.
 */
typedef struct {
    char                  *profile_id;    /* NULL: the point has none */
    int64_t                value;
    int64_t                ts_ms;
    pyro_labels_t          labels;
} pyro_exemplar_t;

typedef struct {
    pyro_labels_t          labels;
    pyro_point_t          *points;        /* ascending timestamps */
    size_t                 npoints;
    pyro_exemplar_t       *exemplars;     /* one per point, or NULL */
} pyro_tseries_t;

typedef struct {
    pyro_tseries_t        *v;
    size_t                 n;
} pyro_tseries_list_t;

int pyro_engine_select_series(const pyro_scan_t *s,
    const pyro_series_opts_t *o, pyro_tseries_list_t *out, pyro_err_t *err);
void pyro_tseries_list_free(pyro_tseries_list_t *l);

/* GetProfileStats for exactly one tenant (else 400 "expected 1 tenant,
 * got N"): the oldest and newest profile times in ms, 0 without data. */
typedef struct {
    int                    data_ingested;
    int64_t                oldest_ms;
    int64_t                newest_ms;
} pyro_pstats_t;

int pyro_engine_profile_stats(const char *root, const pyro_tenants_t *t,
    pyro_pstats_t *out, pyro_err_t *err);

/*
 * A tenant directory's segment files (.open and .seg) in name order,
 * each name and the list malloc'ed, owned by the caller; a missing
 * directory is an empty list.  Shared with pyro_engine_extra.c.
 */
int pyro_list_segments(const char *dir, char ***names, size_t *n);

/*
 * SelectHeatmap (upstream v2, pkg/model/heatmap): points fetched from
 * start - step to end, one per profile worth its total (INDIVIDUAL) or
 * one per (time, span ID) of the samples that carry a span, summed
 * (SPAN); series are the group_by labels present, in name order, sorted
 * by labels.  Every slot shares PYRO_HEATMAP_BUCKETS value buckets
 * spread evenly between the smallest and largest point of all series
 * (y_min, upstream's RangeHeatmap); time slots are right edges
 * start + k * step <= end, a point going to the first edge >= its time
 * (so earlier points to the first), and only slots with a point are
 * listed.  "limit" > 0 keeps the series with the most points (then by
 * labels).  step_ms < 1 is 400 "step must be >= 1ms".  Implemented in
 * pyro_engine_extra.c.
 */
#define PYRO_HEATMAP_BUCKETS  20

typedef enum {
    PYRO_HEATMAP_INDIVIDUAL = 1,
    PYRO_HEATMAP_SPAN
} pyro_heatmap_type_e;

typedef struct {
    int64_t                step_ms;
    const char *const     *group_by;
    size_t                 ngroup_by;
    pyro_heatmap_type_e    type;
    int64_t                limit;
} pyro_heatmap_opts_t;

typedef struct {
    int64_t                ts_ms;
    int32_t                counts[PYRO_HEATMAP_BUCKETS];
} pyro_hslot_t;

typedef struct {
    pyro_labels_t          labels;
    pyro_hslot_t          *slots;         /* ascending timestamps */
    size_t                 nslots;
} pyro_hseries_t;

typedef struct {
    pyro_hseries_t        *v;
    size_t                 n;
    double                 y_min[PYRO_HEATMAP_BUCKETS];
} pyro_heatmap_t;

int pyro_engine_heatmap(const pyro_scan_t *s, const pyro_heatmap_opts_t *o,
    pyro_heatmap_t *out, pyro_err_t *err);
void pyro_heatmap_free(pyro_heatmap_t *h);

/*
 * AnalyzeQuery: what a query over [start, end] reads.  Our "blocks" are
 * segment files with a record overlapping the range: open ones (still
 * appended, upstream's short term storage) and sealed ones (long term);
 * a component is a tenant with such files.  Counts cover those records
 * whole (as upstream's block stats cover whole blocks, whatever the
 * selector): distinct series, profiles, samples, index bytes (record
 * headers and meta sections) and profile bytes (bodies as stored; they
 * hold the symbols too, so symbol bytes stay 0).  queried_series is the
 * number of series the selectors match in range, as Series counts them.
 */
typedef struct {
    uint64_t               components;
    uint64_t               blocks;
    uint64_t               series;
    uint64_t               profiles;
    uint64_t               samples;
    uint64_t               index_bytes;
    uint64_t               profile_bytes;
    uint64_t               symbol_bytes;
} pyro_qscope_t;

typedef struct {
    pyro_qscope_t          short_term;    /* .open segments */
    pyro_qscope_t          long_term;     /* .seg segments */
    uint64_t               queried_series;
} pyro_analysis_t;

int pyro_engine_analyze(const pyro_scan_t *s, pyro_analysis_t *out,
    pyro_err_t *err);


/*
 * Connect unary RPCs of querier.v1.QuerierService: decode the request
 * (protobuf or protojson), run the query, encode the response in the
 * same codec.  Implemented in pyro_rpc.c; runs in a query thread.
 */
typedef struct {
    pyro_str_t             method;        /* e.g. "ProfileTypes" */
    const char            *root;          /* storage root */
    const pyro_tenants_t  *tenants;
    int                    json;          /* application/json */
    int64_t                now_ms;
    int64_t                max_query_length_ms;   /* 0: unlimited */
} pyro_rpc_t;

/* Errors are Connect errors (e.g. 404 "unimplemented" for an unknown
 * method, 400 "invalid_argument"). */
int pyro_rpc_call(const pyro_rpc_t *rpc, const char *body, size_t len,
    pyro_buf_t *out, pyro_err_t *err);


#endif /* _PYRO_H_INCLUDED_ */

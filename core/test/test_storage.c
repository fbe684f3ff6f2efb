
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * Batches, records and segment files: the round trip, the durability
 * rules of the scanner (torn tails, corrupt records) and the writer's
 * sealing.
 */


#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pyro.h"
#include "pyro_test.h"


typedef struct {
    unsigned        records;
    unsigned        decoded;
    uint64_t        total;
} scan_ctx_t;


static uint32_t
stack(pyro_batch_t *b, const char *frames)
{
    char        buf[256], *tok, *save;
    uint32_t    node, fn;

    snprintf(buf, sizeof(buf), "%s", frames);
    node = PYRO_NODE_NONE;

    for (tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save))
    {
        fn = pyro_batch_function(b, pyro_batch_string(b, tok, strlen(tok)),
                                 0);
        node = pyro_batch_node(b, node, fn, 0);
    }

    return node;
}


#define PROF_ID  "0b6e1a3c-2f4d-4e5a-9b8c-7d6e5f4a3b2c"


static pyro_batch_t *
make_batch(int64_t t, uint64_t scale, int big)
{
    int             i;
    char            name[64];
    pyro_batch_t   *b;
    pyro_labels_t   ls;

    memset(&ls, 0, sizeof(ls));
    pyro_labels_set_cstr(&ls, "service_name", "app");
    pyro_labels_set_cstr(&ls, "__name__", "process_cpu");

    b = pyro_batch_new();
    pyro_batch_profile(b, &ls, t, 0);
    pyro_batch_profile_id(b, PROF_ID "trailing", 36);
    pyro_batch_sample(b, stack(b, "main;a;b"), 3 * scale);
    pyro_batch_sample(b, stack(b, "main;a;c"), 2 * scale);
    pyro_batch_sample(b, stack(b, "main;a;b"), 1 * scale);

    for (i = 0; big && i < 200; i++) {
        snprintf(name, sizeof(name), "main;filler_function_%d", i);
        pyro_batch_sample(b, stack(b, name), 1);
    }

    /* a second profile sharing the stacks, and an empty one (dropped) */
    pyro_labels_set_cstr(&ls, "__name__", "memory");
    pyro_batch_profile(b, &ls, t + 5, 7);
    pyro_batch_sample(b, stack(b, "main;a;c"), 10);
    pyro_batch_profile(b, &ls, t + 6, 0);

    pyro_labels_free(&ls);

    return b;
}


static void
test_round_trip(int big)
{
    size_t          i;
    pyro_buf_t      out;
    pyro_err_t      err;
    pyro_batch_t   *b;
    pyro_record_t   rec;
    pyro_rec_hdr_t  h;
    const char     *name;

    memset(&out, 0, sizeof(out));
    b = make_batch(1000, 1, big);

    PYRO_CHECK_INT(pyro_batch_nprofiles(b), 2, "profiles with samples");
    PYRO_CHECK_INT(pyro_batch_encode(b, &out), PYRO_OK, "encode");
    pyro_batch_free(b);

    PYRO_CHECK_INT(pyro_rec_hdr_parse(out.data, out.len, &h), PYRO_OK, "hdr");
    PYRO_CHECK_INT(h.nprofiles, 2, "header profiles");
    PYRO_CHECK_INT(h.min_time_ns, 1000, "min time");
    PYRO_CHECK_INT(h.max_time_ns, 1005, "max time");
    PYRO_CHECK_INT(h.flags & PYRO_REC_ZLIB, big ? 1 : 0, "compressed");
    PYRO_CHECK_INT(pyro_rec_hdr_parse(out.data, out.len - 1, &h), PYRO_AGAIN,
                   "short record");

    PYRO_CHECK_INT(pyro_record_decode(out.data, out.len, &rec, &err), PYRO_OK,
                   "decode");
    PYRO_CHECK_INT(rec.nprofs, 2, "decoded profiles");
    PYRO_CHECK_INT(rec.profs[0].total, big ? 206 : 6, "total 0");
    PYRO_CHECK_INT(rec.profs[0].nsamples, big ? 202 : 2, "merged samples");
    PYRO_CHECK_INT(rec.profs[1].total, 10, "total 1");
    PYRO_CHECK_INT(rec.profs[1].duration_ns, 7, "duration");
    PYRO_CHECK_INT(rec.profs[0].nlabels, 2, "labels");
    PYRO_CHECK_STR(rec.profs[0].id, PROF_ID, "profile ID");
    PYRO_CHECK_STR(rec.profs[1].id, "", "no profile ID");

    /* labels come back sorted by name */
    name = rec.profs[0].labels[0].name;
    PYRO_CHECK_STR(name, "__name__", "first label");
    PYRO_CHECK_STR(rec.profs[1].labels[0].value, "memory",
                   "second profile's __name__");

    for (i = 0; i < rec.nnodes; i++) {
        PYRO_CHECK(rec.nodes[i].parent == PYRO_NODE_NONE
                   || rec.nodes[i].parent < i, "node %zu parent order", i);
    }

    pyro_record_free(&rec);

    /* any flipped byte is caught by the checksum */
    out.data[out.len - 1] ^= 0x40;
    PYRO_CHECK_INT(pyro_record_decode(out.data, out.len, &rec, &err),
                   PYRO_ERROR, "corrupt payload");
    out.data[out.len - 1] ^= 0x40;
    out.data[34] ^= 1;
    PYRO_CHECK_INT(pyro_record_decode(out.data, out.len, &rec, &err),
                   PYRO_ERROR, "corrupt header");

    pyro_buf_free(&out);
}


static int
count_record(void *data, const pyro_rec_hdr_t *h, const char *buf, size_t len)
{
    size_t          i;
    scan_ctx_t     *sc = data;
    pyro_err_t      err;
    pyro_record_t   rec;

    sc->records++;

    if (pyro_record_decode(buf, len, &rec, &err) != PYRO_OK) {
        return PYRO_OK;
    }

    sc->decoded++;

    for (i = 0; i < rec.nprofs; i++) {
        sc->total += rec.profs[i].total;
    }

    pyro_record_free(&rec);

    return PYRO_OK;
}


static int
list_dir(const char *dir, const char *ext, char *first, size_t size)
{
    int             n;
    DIR            *d;
    size_t          len;
    struct dirent  *de;

    n = 0;
    d = opendir(dir);
    if (d == NULL) {
        return -1;
    }

    while ((de = readdir(d)) != NULL) {
        len = strlen(de->d_name);
        if (len > strlen(ext)
            && strcmp(de->d_name + len - strlen(ext), ext) == 0)
        {
            if (n++ == 0) {
                snprintf(first, size, "%s/%s", dir, de->d_name);
            }
        }
    }

    closedir(d);

    return n;
}


static void
append_batch(pyro_writer_t *w, const char *tenant, int64_t t, uint64_t scale)
{
    pyro_buf_t     out;
    pyro_err_t     err;
    pyro_batch_t  *b;

    memset(&out, 0, sizeof(out));
    b = make_batch(t, scale, 0);
    pyro_batch_encode(b, &out);
    pyro_batch_free(b);

    PYRO_CHECK_INT(pyro_writer_append(w, tenant, out.data, out.len, &err),
                   PYRO_OK, "append");
    pyro_buf_free(&out);
}


static void
test_writer(void)
{
    int             fd;
    char            root[] = "/tmp/pyro-test-XXXXXX", dir[512], file[600];
    off_t           size;
    scan_ctx_t      sc;
    pyro_err_t      err;
    struct stat     st;
    pyro_writer_t  *w;

    PYRO_CHECK(mkdtemp(root) != NULL, "mkdtemp");
    snprintf(dir, sizeof(dir), "%s/t1", root);

    w = pyro_writer_new(root, 1 << 20, 3600000000000LL);
    append_batch(w, "t1", 100, 1);
    append_batch(w, "t1", 200, 2);
    PYRO_CHECK_INT(pyro_writer_commit(w, &err), PYRO_OK, "commit");

    PYRO_CHECK_INT(list_dir(dir, ".open", file, sizeof(file)), 1,
                   "one open segment");

    /* the open segment is readable while it is appended */
    memset(&sc, 0, sizeof(sc));
    PYRO_CHECK_INT(pyro_segment_scan(file, 0, INT64_MAX, count_record, &sc,
                                     &err), PYRO_OK, "scan open");
    PYRO_CHECK_INT(sc.decoded, 2, "records in open segment");
    PYRO_CHECK_INT(sc.total, 6 + 10 + 12 + 10, "values");

    /* time filtering by record header */
    memset(&sc, 0, sizeof(sc));
    pyro_segment_scan(file, 150, 300, count_record, &sc, &err);
    PYRO_CHECK_INT(sc.records, 1, "records in [150, 300]");

    /* a torn tail (a crash mid-append) ends the scan, nothing else lost */
    stat(file, &st);
    size = st.st_size;
    fd = open(file, O_WRONLY | O_APPEND);
    PYRO_CHECK(write(fd, "PYRR\1\2\3\4\0\0\1\0garbage", 19) == 19, "tear");
    close(fd);

    memset(&sc, 0, sizeof(sc));
    pyro_segment_scan(file, 0, INT64_MAX, count_record, &sc, &err);
    PYRO_CHECK_INT(sc.decoded, 2, "records before a torn tail");
    PYRO_CHECK(truncate(file, size) == 0, "untear");

    /* sealing renames .open to .seg; an empty segment is removed */
    PYRO_CHECK_INT(pyro_writer_seal(w, 0, 1, &err), PYRO_OK, "seal");
    PYRO_CHECK_INT(list_dir(dir, ".open", file, sizeof(file)), 0,
                   "no open segment after seal");
    PYRO_CHECK_INT(list_dir(dir, ".seg", file, sizeof(file)), 1,
                   "one sealed segment");

    append_batch(w, "t2", 300, 1);
    PYRO_CHECK_INT(pyro_writer_commit(w, &err), PYRO_OK, "commit t2");
    snprintf(dir, sizeof(dir), "%s/t2", root);
    PYRO_CHECK_INT(list_dir(dir, ".open", file, sizeof(file)), 1,
                   "tenant directories are separate");

    pyro_writer_free(w);

    /* a second writer (a new worker) never reuses a name */
    w = pyro_writer_new(root, 1 << 20, 3600000000000LL);
    append_batch(w, "t2", 400, 1);
    PYRO_CHECK_INT(pyro_writer_commit(w, &err), PYRO_OK, "commit 2");
    PYRO_CHECK_INT(pyro_writer_seal(w, 0, 1, &err), PYRO_OK, "seal 2");
    PYRO_CHECK_INT(list_dir(dir, ".open", file, sizeof(file)), 1,
                   "the first writer's open file is left alone");
    PYRO_CHECK_INT(list_dir(dir, ".seg", file, sizeof(file)), 1,
                   "the second writer sealed its own");
    pyro_writer_free(w);

    /* not a segment file */
    snprintf(file, sizeof(file), "%s/t2/bogus.seg", root);
    fd = open(file, O_WRONLY | O_CREAT, 0644);
    PYRO_CHECK(write(fd, "hello world, not a segment", 26) == 26, "bogus");
    close(fd);
    PYRO_CHECK_INT(pyro_segment_scan(file, 0, INT64_MAX, count_record, &sc,
                                     &err), PYRO_ERROR, "bogus file");

    snprintf(file, sizeof(file), "rm -rf %s", root);
    PYRO_CHECK(system(file) == 0, "cleanup");
}


static void
test_spans(void)
{
    size_t          i;
    uint64_t        with_span;
    pyro_buf_t      out;
    pyro_err_t      err;
    pyro_batch_t   *b;
    pyro_record_t   rec;
    pyro_labels_t   ls;
    uint32_t        n;

    memset(&ls, 0, sizeof(ls));
    memset(&out, 0, sizeof(out));
    pyro_labels_set_cstr(&ls, "service_name", "app");

    b = pyro_batch_new();
    pyro_batch_profile(b, &ls, 1, 0);
    n = stack(b, "main;a");
    pyro_batch_sample(b, n, 1);
    pyro_batch_sample_span(b, n, 0xabcdef, 2);
    pyro_batch_sample_span(b, n, 0xabcdef, 3);
    pyro_batch_sample_span(b, n, 7, 4);
    pyro_batch_sample_span(b, n, 0, 5);
    PYRO_CHECK_INT(pyro_batch_encode(b, &out), PYRO_OK, "encode spans");
    pyro_batch_free(b);
    pyro_labels_free(&ls);

    PYRO_CHECK_INT(pyro_record_decode(out.data, out.len, &rec, &err),
                   PYRO_OK, "decode spans");
    PYRO_CHECK_INT(rec.profs[0].nsamples, 3, "samples per (stack, span)");
    PYRO_CHECK_INT(rec.profs[0].total, 15, "total with spans");

    with_span = 0;

    for (i = 0; i < rec.profs[0].nsamples; i++) {
        if (rec.profs[0].samples[i].span == 0xabcdef) {
            with_span = rec.profs[0].samples[i].value;
        }
    }

    PYRO_CHECK_INT(with_span, 5, "same span summed");

    pyro_record_free(&rec);
    pyro_buf_free(&out);
}


/* IDs survive a meta-only decode too, and the last one set wins. */
static void
test_profile_ids(void)
{
    int             ok;
    char            id[PYRO_UUID_LEN + 1], id2[PYRO_UUID_LEN + 1];
    size_t          i;
    pyro_buf_t      out;
    pyro_err_t      err;
    pyro_batch_t   *b;
    pyro_record_t   rec;
    pyro_labels_t   ls;

    memset(&ls, 0, sizeof(ls));
    memset(&out, 0, sizeof(out));
    pyro_labels_set_cstr(&ls, "service_name", "app");

    b = pyro_batch_new();
    PYRO_CHECK_INT(pyro_batch_profile_id(b, "x", 1), PYRO_ERROR,
                   "ID without a profile");
    pyro_batch_profile(b, &ls, 1, 0);
    pyro_batch_profile_id(b, "first", 5);
    pyro_batch_profile_id(b, "second", 6);
    pyro_batch_sample(b, stack(b, "main;a"), 1);
    pyro_batch_profile(b, &ls, 2, 0);
    pyro_batch_profile_id(b, "", 0);
    pyro_batch_sample(b, stack(b, "main;b"), 1);
    PYRO_CHECK_INT(pyro_batch_encode(b, &out), PYRO_OK, "encode IDs");
    pyro_batch_free(b);
    pyro_labels_free(&ls);

    PYRO_CHECK_INT(pyro_record_decode_meta(out.data, out.len, &rec, &err),
                   PYRO_OK, "decode meta with IDs");
    PYRO_CHECK_STR(rec.profs[0].id, "second", "last ID set");
    PYRO_CHECK_STR(rec.profs[1].id, "", "empty ID");
    PYRO_CHECK_STR(rec.profs[0].labels[0].value, "app", "labels after ID");
    pyro_record_free(&rec);
    pyro_buf_free(&out);

    PYRO_CHECK_INT(pyro_uuid_v4(id), PYRO_OK, "uuid");
    PYRO_CHECK_INT(pyro_uuid_v4(id2), PYRO_OK, "uuid 2");
    PYRO_CHECK_INT(strlen(id), 36, "uuid length");
    PYRO_CHECK(strcmp(id, id2) != 0, "uuids differ");
    PYRO_CHECK(id[14] == '4', "uuid version: %s", id);
    PYRO_CHECK(strchr("89ab", id[19]) != NULL, "uuid variant: %s", id);

    ok = 1;

    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            ok &= (id[i] == '-');
        } else {
            ok &= (strchr("0123456789abcdef", id[i]) != NULL);
        }
    }

    PYRO_CHECK(ok, "uuid shape: %s", id);
}


int
main(void)
{
    test_round_trip(0);
    test_round_trip(1);
    test_writer();
    test_spans();
    test_profile_ids();

    return pyro_test_done("storage");
}


/*
 * Copyright (C) ngx_pyroscope developers
 *
 * A tenant "t1" in a temporary storage root, filled with batches or with
 * a go/ fixture ingested as service "svc": shared by the query tests.
 */

#ifndef _PYRO_TEST_STORE_H_INCLUDED_
#define _PYRO_TEST_STORE_H_INCLUDED_


#include <stdlib.h>

#include "pyro.h"
#include "pyro_test.h"


typedef struct {
    char            root[64];
    pyro_tenants_t  tenants;
} t_store_t;


static inline void
t_store_init(t_store_t *st)
{
    snprintf(st->root, sizeof(st->root), "/tmp/pyro-store-XXXXXX");
    PYRO_CHECK(mkdtemp(st->root) != NULL, "mkdtemp");

    memset(&st->tenants, 0, sizeof(pyro_tenants_t));
    snprintf(st->tenants.id[0], sizeof(st->tenants.id[0]), "t1");
    st->tenants.n = 1;
}


static inline void
t_store_free(t_store_t *st)
{
    char  cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", st->root);
    PYRO_CHECK(system(cmd) == 0, "cleanup");
}


/* Encodes the batch as one record of tenant t1 and makes it durable. */
static inline void
t_store_batch(t_store_t *st, pyro_batch_t *b)
{
    pyro_buf_t      rec;
    pyro_err_t      err;
    pyro_writer_t  *w;

    memset(&rec, 0, sizeof(pyro_buf_t));
    PYRO_CHECK_INT(pyro_batch_encode(b, &rec), PYRO_OK, "encode");

    w = pyro_writer_new(st->root, 1 << 24, 3600000000000LL);
    PYRO_CHECK(w != NULL, "writer");

    PYRO_CHECK_INT(pyro_writer_append(w, "t1", rec.data, rec.len, &err),
                   PYRO_OK, "append");
    PYRO_CHECK_INT(pyro_writer_commit(w, &err), PYRO_OK, "commit");

    pyro_writer_free(w);
    pyro_buf_free(&rec);
}


/* Ingests go/<file> as service "svc" and writes it as tenant t1. */
static inline void
t_store_fixture(t_store_t *st, const char *file)
{
    char               path[512], *gz;
    size_t             len;
    pyro_err_t         err;
    pyro_batch_t      *b;
    pyro_labels_t      ls;
    pyro_limits_t      lim;
    pyro_pprof_opts_t  opts;

    snprintf(path, sizeof(path), "%s/go/%s", pyro_test_fixtures(), file);
    gz = pyro_test_read_file(path, &len);
    PYRO_CHECK(gz != NULL, "missing fixture %s", path);
    if (gz == NULL) {
        return;
    }

    memset(&ls, 0, sizeof(pyro_labels_t));
    pyro_labels_set_cstr(&ls, "__name__", "process_cpu");
    pyro_labels_set_cstr(&ls, "service_name", "svc");
    pyro_limits_default(&lim);

    memset(&opts, 0, sizeof(pyro_pprof_opts_t));
    opts.labels = &ls;
    opts.limits = &lim;
    opts.default_time_ns = 1800000000000000000LL;

    b = pyro_batch_new();
    PYRO_CHECK_INT(pyro_pprof_ingest(b, gz, len, &opts, &err), PYRO_OK,
                   "ingest");

    t_store_batch(st, b);

    pyro_batch_free(b);
    pyro_labels_free(&ls);
    free(gz);
}


#endif /* _PYRO_TEST_STORE_H_INCLUDED_ */

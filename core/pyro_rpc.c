
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * querier.v1.QuerierService over Connect: the method table, request
 * decoding and response encoding in either codec.  Each handler builds
 * its response message in a per-call arena, so nothing of it needs to
 * be freed piece by piece.  Runs in a query thread.
 */


#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "pyro.h"
#include "pyro_rpc.h"
#include "querier/v1/querier.pb-c.h"
#include "types/v1/types.pb-c.h"


typedef struct pyro_arena_block_s  pyro_arena_block_t;

struct pyro_arena_block_s {
    pyro_arena_block_t  *next;
};


void *
pyro_arena_alloc(pyro_arena_t *a, size_t size)
{
    pyro_arena_block_t  *b;

    if (size > SIZE_MAX - sizeof(pyro_arena_block_t) - 16) {
        a->failed = 1;
        return NULL;
    }

    /* the header keeps the block list; 16 keeps the payload aligned */
    b = calloc(1, sizeof(pyro_arena_block_t) + 16 + size);
    if (b == NULL) {
        a->failed = 1;
        return NULL;
    }

    b->next = a->blocks;
    a->blocks = b;

    return (char *) b + 16;
}


char *
pyro_arena_strdup(pyro_arena_t *a, const char *s, size_t n)
{
    char  *p;

    p = pyro_arena_alloc(a, n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
    }

    return p;
}


static void
pyro_arena_free(pyro_arena_t *a)
{
    pyro_arena_block_t  *b, *next;

    for (b = a->blocks; b; b = next) {
        next = b->next;
        free(b);
    }

    a->blocks = NULL;
}


static const pyro_rpc_method_t *
pyro_rpc_find(pyro_str_t name)
{
    const pyro_rpc_method_t  *m;

    for (m = pyro_rpc_methods; m->name; m++) {
        if (strlen(m->name) == name.len
            && memcmp(m->name, name.data, name.len) == 0)
        {
            return m;
        }
    }

    return NULL;
}


static ProtobufCMessage *
pyro_rpc_decode(const pyro_rpc_t *rpc, const pyro_rpc_method_t *m,
    const char *body, size_t len, pyro_err_t *err)
{
    ProtobufCMessage  *req;

    if (rpc->json) {
        /* an empty JSON body is the empty message, as protojson reads "" */
        return pyro_pbjson_decode(m->request, len ? body : "{}",
                                  len ? len : 2, err);
    }

    req = protobuf_c_message_unpack(m->request, NULL, len,
                                    (const uint8_t *) body);
    if (req == NULL) {
        pyro_err_invalid(err, "unmarshal into %s: invalid wire-format data",
                         m->request->name);
    }

    return req;
}


static int
pyro_rpc_encode(const pyro_rpc_t *rpc, const ProtobufCMessage *resp,
    pyro_buf_t *out)
{
    size_t  n;

    if (rpc->json) {
        pyro_pbjson_encode(resp, out);
        return out->failed ? PYRO_ERROR : PYRO_OK;
    }

    n = protobuf_c_message_get_packed_size(resp);

    if (pyro_buf_reserve(out, n + 1) != PYRO_OK) {
        return PYRO_ERROR;
    }

    out->len += protobuf_c_message_pack(resp,
                                        (uint8_t *) out->data + out->len);

    return PYRO_OK;
}


int
pyro_rpc_call(const pyro_rpc_t *rpc, const char *body, size_t len,
    pyro_buf_t *out, pyro_err_t *err)
{
    int                        rc;
    pyro_arena_t               arena;
    ProtobufCMessage          *req, *resp;
    const pyro_rpc_method_t   *m;

    m = pyro_rpc_find(rpc->method);
    if (m == NULL) {
        pyro_err_set(err, 404, "unimplemented", "%.*s is not implemented",
                     (int) rpc->method.len, rpc->method.data);
        return PYRO_ERROR;
    }

    req = pyro_rpc_decode(rpc, m, body, len, err);
    if (req == NULL) {
        return PYRO_ERROR;
    }

    memset(&arena, 0, sizeof(pyro_arena_t));
    resp = NULL;

    rc = m->handler(rpc, req, &arena, &resp, err);

    if (rc == PYRO_OK && (arena.failed || resp == NULL
                          || pyro_rpc_encode(rpc, resp, out) != PYRO_OK))
    {
        pyro_err_internal(err, "out of memory");
        rc = PYRO_ERROR;
    }

    protobuf_c_message_free_unpacked(req, NULL);
    pyro_arena_free(&arena);

    return rc;
}

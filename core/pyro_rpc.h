
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * Internal to the Connect query service: the per-call arena and the
 * method table shared by pyro_rpc.c (plumbing) and pyro_rpc_methods.c
 * (one handler per QuerierService method).
 */

#ifndef _PYRO_RPC_H_INCLUDED_
#define _PYRO_RPC_H_INCLUDED_


#include <protobuf-c/protobuf-c.h>

#include "pyro.h"


/* Zeroed allocations freed all at once after the response is encoded. */
typedef struct {
    void           *blocks;
    int             failed;
} pyro_arena_t;

void *pyro_arena_alloc(pyro_arena_t *a, size_t size);
/* A NUL-terminated copy of n bytes. */
char *pyro_arena_strdup(pyro_arena_t *a, const char *s, size_t n);


/* Builds *resp (in the arena) for a decoded request. */
typedef int (*pyro_rpc_handler_pt)(const pyro_rpc_t *rpc,
    const ProtobufCMessage *req, pyro_arena_t *a, ProtobufCMessage **resp,
    pyro_err_t *err);

typedef struct {
    const char                         *name;
    const ProtobufCMessageDescriptor   *request;
    pyro_rpc_handler_pt                 handler;
} pyro_rpc_method_t;

/* Terminated by an entry with a NULL name. */
extern const pyro_rpc_method_t  pyro_rpc_methods[];


#endif /* _PYRO_RPC_H_INCLUDED_ */


/*
 * Copyright (C) ngx_pyroscope developers
 *
 * Bounded gzip decoding of profile payloads.  Inflation is streamed into
 * a buffer that never grows past the limit (plus one byte to notice the
 * overrun), so a small "gzip bomb" costs at most that much memory and
 * stops there.  Concatenated gzip members are read one after another, as
 * Go's gzip reader does; anything after a member that is not another
 * member is an error.
 */


#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "pyro.h"


#define PYRO_GZIP_STEP  (64 * 1024)


static int pyro_gunzip_run(z_stream *zs, size_t len, size_t max,
    pyro_buf_t *out, size_t start, pyro_err_t *err);
static int pyro_gunzip_room(pyro_buf_t *out, size_t end, pyro_err_t *err);
static void pyro_gunzip_corrupt(z_stream *zs, pyro_err_t *err);


/*
 * max == 0 means no limit (the caller's limit is disabled).  On error out
 * is restored to its length on entry.
 */
int
pyro_gunzip(const char *data, size_t len, size_t max, pyro_buf_t *out,
    pyro_err_t *err)
{
    int       rc;
    size_t    start;
    z_stream  zs;

    if (len < 2
        || (unsigned char) data[0] != 0x1f
        || (unsigned char) data[1] != 0x8b)
    {
        return PYRO_DECLINED;
    }

    if (out->failed) {
        pyro_err_internal(err, "out of memory");
        return PYRO_ERROR;
    }

    memset(&zs, 0, sizeof(z_stream));

    /* 16 + MAX_WBITS: the gzip wrapper only, with its CRC-32 and size */
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        pyro_err_internal(err, "failed to initialize gzip decoder");
        return PYRO_ERROR;
    }

    /* zlib never writes through next_in */
    zs.next_in = (Bytef *) (uintptr_t) data;
    start = out->len;

    rc = pyro_gunzip_run(&zs, len, max, out, start, err);

    inflateEnd(&zs);

    if (rc != PYRO_OK) {
        out->len = start;
    }

    return rc;
}


/*
 * The inflate loop.  "left" is the input not yet handed to zlib: avail_in
 * is a uInt, so a huge input is fed in pieces.
 */
static int
pyro_gunzip_run(z_stream *zs, size_t len, size_t max, pyro_buf_t *out,
    size_t start, pyro_err_t *err)
{
    int     zrc;
    size_t  left, n, room, end;

    left = len;
    zs->avail_in = 0;

    /* out->len may reach end: one byte past the limit tells an overrun */
    end = (max != 0 && max < SIZE_MAX - start) ? start + max + 1 : SIZE_MAX;

    for ( ;; ) {
        if (zs->avail_in == 0 && left > 0) {
            n = left < UINT_MAX ? left : UINT_MAX;
            zs->avail_in = (uInt) n;
            left -= n;
        }

        if (pyro_gunzip_room(out, end, err) != PYRO_OK) {
            return PYRO_ERROR;
        }

        room = out->cap - out->len;

        if (room > end - out->len) {
            room = end - out->len;
        }

        if (room > UINT_MAX) {
            room = UINT_MAX;
        }

        zs->next_out = (Bytef *) out->data + out->len;
        zs->avail_out = (uInt) room;

        zrc = inflate(zs, Z_NO_FLUSH);

        out->len += room - zs->avail_out;

        if (max != 0 && out->len - start > max) {
            pyro_err_invalid(err, "uncompressed profile payload size "
                             "exceeds limit of %zu", max);
            return PYRO_ERROR;
        }

        switch (zrc) {

        case Z_OK:
            continue;

        case Z_STREAM_END:
            if (zs->avail_in == 0 && left == 0) {
                return PYRO_OK;
            }

            /* another member follows; its header is checked by inflate */
            if (inflateReset(zs) != Z_OK) {
                pyro_err_internal(err, "failed to reset gzip decoder");
                return PYRO_ERROR;
            }

            continue;

        case Z_BUF_ERROR:
            /* no progress: either out of output room (grow and retry) or
             * out of input in the middle of a member */
            if (zs->avail_out == 0) {
                continue;
            }

            if (zs->avail_in == 0 && left == 0) {
                pyro_err_invalid(err, "failed to decompress gzip data: "
                                 "unexpected EOF (truncated input)");
                return PYRO_ERROR;
            }

            continue;

        case Z_MEM_ERROR:
            pyro_err_internal(err, "out of memory");
            return PYRO_ERROR;

        default:
            pyro_gunzip_corrupt(zs, err);
            return PYRO_ERROR;
        }
    }
}


/*
 * Makes sure there is output room: the buffer doubles (growing by at
 * least PYRO_GZIP_STEP) but is never allocated past "end" bytes.
 */
static int
pyro_gunzip_room(pyro_buf_t *out, size_t end, pyro_err_t *err)
{
    char    *p;
    size_t   cap;

    if (out->cap > out->len) {
        return PYRO_OK;
    }

    cap = out->cap;

    if (cap < PYRO_GZIP_STEP) {
        cap += PYRO_GZIP_STEP;

    } else {
        cap = cap <= SIZE_MAX / 2 ? cap * 2 : SIZE_MAX;
    }

    if (cap > end) {
        cap = end;
    }

    p = realloc(out->data, cap);
    if (p == NULL) {
        out->failed = 1;
        pyro_err_internal(err, "out of memory");
        return PYRO_ERROR;
    }

    out->data = p;
    out->cap = cap;

    return PYRO_OK;
}


static void
pyro_gunzip_corrupt(z_stream *zs, pyro_err_t *err)
{
    pyro_err_invalid(err, "failed to decompress gzip data: %s",
                     zs->msg ? zs->msg : "corrupt input");
}


/*
 * Compresses data into out as one gzip member (Connect responses when
 * the client accepts gzip).  Level 1: these are query results sent once.
 */
int
pyro_gzip(const char *data, size_t len, pyro_buf_t *out)
{
    int       rc;
    z_stream  zs;

    memset(&zs, 0, sizeof(z_stream));

    if (deflateInit2(&zs, 1, Z_DEFLATED, MAX_WBITS + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
    {
        return PYRO_ERROR;
    }

    if (len > UINT_MAX
        || pyro_buf_reserve(out, deflateBound(&zs, (uLong) len)) != PYRO_OK)
    {
        deflateEnd(&zs);
        return PYRO_ERROR;
    }

    zs.next_in = (Bytef *) data;
    zs.avail_in = (uInt) len;
    zs.next_out = (Bytef *) out->data + out->len;
    zs.avail_out = (uInt) (out->cap - out->len);

    rc = deflate(&zs, Z_FINISH);

    if (rc == Z_STREAM_END) {
        out->len += zs.total_out;
    }

    deflateEnd(&zs);

    return rc == Z_STREAM_END ? PYRO_OK : PYRO_ERROR;
}


/*
 * Copyright (C) ngx_pyroscope developers
 *
 * pyro_gunzip(): round trips, multi-member input, the size limit (a gzip
 * bomb must stop at the limit without allocating past it), truncated and
 * corrupt input, and the real gzipped profiles of the fixtures (their
 * gzip trailers give the expected sizes).
 *
 * Fixtures are read from ../../shared/fixtures (run from core/), or from
 * $PYRO_FIXTURES; a missing fixture is a failure.
 */


#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <zlib.h>

#include "pyro.h"
#include "pyro_test.h"


#define MiB  (1024 * 1024)


/* gzip-compresses with zlib into a malloc'ed buffer. */
static char *
gzip(const void *data, size_t len, int level, size_t *outlen)
{
    char      *out;
    size_t     cap;
    z_stream   zs;

    memset(&zs, 0, sizeof(z_stream));

    if (deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 9,
                     Z_DEFAULT_STRATEGY) != Z_OK)
    {
        return NULL;
    }

    cap = deflateBound(&zs, len);
    out = malloc(cap);
    if (out == NULL) {
        deflateEnd(&zs);
        return NULL;
    }

    zs.next_in = (Bytef *) (uintptr_t) data;
    zs.avail_in = len;
    zs.next_out = (Bytef *) out;
    zs.avail_out = cap;

    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
        deflateEnd(&zs);
        free(out);
        return NULL;
    }

    *outlen = zs.total_out;
    deflateEnd(&zs);

    return out;
}


static void
fill(unsigned char *p, size_t n, uint32_t seed)
{
    size_t  i;

    /* text-like, compressible but not trivially */
    for (i = 0; i < n; i++) {
        seed = seed * 1103515245 + 12345;
        p[i] = "abcdefgh;main.fn\n0123"[(seed >> 16) % 21];
    }
}


static void
test_roundtrip(void)
{
    int             rc;
    char           *gz;
    size_t          gzlen, sizes[] = { 0, 1, 100, 65536, 65537, 300000 };
    size_t          i;
    pyro_err_t      err;
    pyro_buf_t      out;
    unsigned char  *data;

    data = malloc(300000);
    fill(data, 300000, 7);

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        gz = gzip(data, sizes[i], 6, &gzlen);
        memset(&out, 0, sizeof(pyro_buf_t));

        rc = pyro_gunzip(gz, gzlen, 4 * MiB, &out, &err);

        PYRO_CHECK_INT(rc, PYRO_OK, "roundtrip rc");
        PYRO_CHECK(out.len == sizes[i]
                   && (sizes[i] == 0 || memcmp(out.data, data, sizes[i]) == 0),
                   "roundtrip of %zu bytes: got %zu", sizes[i], out.len);

        pyro_buf_free(&out);
        free(gz);
    }

    /* appends after what out already holds */
    gz = gzip(data, 1000, 9, &gzlen);
    memset(&out, 0, sizeof(pyro_buf_t));
    pyro_buf_puts(&out, "prefix");

    rc = pyro_gunzip(gz, gzlen, 1000, &out, &err);

    PYRO_CHECK_INT(rc, PYRO_OK, "append rc");
    PYRO_CHECK(out.len == 1006 && memcmp(out.data, "prefix", 6) == 0
               && memcmp(out.data + 6, data, 1000) == 0, "append");

    /* a failure gives the buffer back as it was */
    rc = pyro_gunzip(gz, gzlen - 5, 1000, &out, &err);
    PYRO_CHECK_INT(rc, PYRO_ERROR, "append truncated rc");
    PYRO_CHECK_INT(out.len, 1006, "append truncated keeps length");

    pyro_buf_free(&out);
    free(gz);
    free(data);
}


static void
test_declined(void)
{
    int          rc;
    pyro_err_t   err;
    pyro_buf_t   out;

    memset(&out, 0, sizeof(pyro_buf_t));

    rc = pyro_gunzip("\x0a\x0b\x0c", 3, 100, &out, &err);
    PYRO_CHECK_INT(rc, PYRO_DECLINED, "plain data declined");

    rc = pyro_gunzip("\x1f", 1, 100, &out, &err);
    PYRO_CHECK_INT(rc, PYRO_DECLINED, "one byte declined");

    rc = pyro_gunzip("", 0, 100, &out, &err);
    PYRO_CHECK_INT(rc, PYRO_DECLINED, "empty declined");

    PYRO_CHECK(out.data == NULL && out.len == 0, "out untouched");
}


static void
test_multimember(void)
{
    int          rc;
    char        *a, *b, *ab;
    size_t       alen, blen;
    pyro_err_t   err;
    pyro_buf_t   out;

    a = gzip("hello, ", 7, 6, &alen);
    b = gzip("world", 5, 1, &blen);
    ab = malloc(alen + blen + 1);
    memcpy(ab, a, alen);
    memcpy(ab + alen, b, blen);

    memset(&out, 0, sizeof(pyro_buf_t));
    rc = pyro_gunzip(ab, alen + blen, 100, &out, &err);

    PYRO_CHECK_INT(rc, PYRO_OK, "two members rc");
    PYRO_CHECK_MEM(out.data, out.len, "hello, world", "two members");
    pyro_buf_free(&out);

    /* the limit counts every member */
    memset(&out, 0, sizeof(pyro_buf_t));
    rc = pyro_gunzip(ab, alen + blen, 11, &out, &err);
    PYRO_CHECK_INT(rc, PYRO_ERROR, "two members over the limit");
    PYRO_CHECK_STR(err.msg, "uncompressed profile payload size exceeds "
                   "limit of 11", "two members limit message");
    pyro_buf_free(&out);

    /* garbage after a member is not another member */
    ab[alen] = 'x';
    memset(&out, 0, sizeof(pyro_buf_t));
    rc = pyro_gunzip(ab, alen + 1, 100, &out, &err);
    PYRO_CHECK_INT(rc, PYRO_ERROR, "trailing garbage rc");
    PYRO_CHECK_INT(err.status, 400, "trailing garbage status");
    pyro_buf_free(&out);

    /* a lone first byte of another member is a truncated member */
    ab[alen] = 0x1f;
    memset(&out, 0, sizeof(pyro_buf_t));
    rc = pyro_gunzip(ab, alen + 1, 100, &out, &err);
    PYRO_CHECK_INT(rc, PYRO_ERROR, "truncated second member rc");
    pyro_buf_free(&out);

    free(a);
    free(b);
    free(ab);
}


static void
test_limit(void)
{
    int             rc;
    char           *gz;
    size_t          gzlen, n;
    pyro_err_t      err;
    pyro_buf_t      out;
    unsigned char  *zeros;

    /* a bomb: 64 MiB of zeros in about 64 KiB */
    n = 64 * MiB;
    zeros = calloc(1, n);
    gz = gzip(zeros, n, 9, &gzlen);
    free(zeros);

    PYRO_CHECK(gzlen < n / 500, "bomb is small: %zu", gzlen);

    memset(&out, 0, sizeof(pyro_buf_t));
    memset(&err, 0, sizeof(pyro_err_t));

    rc = pyro_gunzip(gz, gzlen, 4 * MiB, &out, &err);

    PYRO_CHECK_INT(rc, PYRO_ERROR, "bomb rc");
    PYRO_CHECK_INT(err.status, 400, "bomb status");
    PYRO_CHECK_STR(err.code, "invalid_argument", "bomb code");
    PYRO_CHECK_STR(err.msg, "uncompressed profile payload size exceeds "
                   "limit of 4194304", "bomb message");
    PYRO_CHECK(out.cap <= 4 * MiB + 1, "bomb allocation bounded: %zu",
               out.cap);
    PYRO_CHECK_INT(out.len, 0, "bomb output dropped");
    pyro_buf_free(&out);

    free(gz);

    /* exactly at the limit is fine, one byte over is not */
    zeros = calloc(1, 1000);
    gz = gzip(zeros, 1000, 9, &gzlen);

    memset(&out, 0, sizeof(pyro_buf_t));
    rc = pyro_gunzip(gz, gzlen, 1000, &out, &err);
    PYRO_CHECK_INT(rc, PYRO_OK, "at the limit");
    PYRO_CHECK_INT(out.len, 1000, "at the limit length");
    pyro_buf_free(&out);

    memset(&out, 0, sizeof(pyro_buf_t));
    rc = pyro_gunzip(gz, gzlen, 999, &out, &err);
    PYRO_CHECK_INT(rc, PYRO_ERROR, "one over the limit");
    PYRO_CHECK_STR(err.msg, "uncompressed profile payload size exceeds "
                   "limit of 999", "one over message");
    PYRO_CHECK(out.cap <= 1000, "one over allocation: %zu", out.cap);
    pyro_buf_free(&out);

    /* 0: no limit */
    memset(&out, 0, sizeof(pyro_buf_t));
    rc = pyro_gunzip(gz, gzlen, 0, &out, &err);
    PYRO_CHECK_INT(rc, PYRO_OK, "no limit");
    PYRO_CHECK_INT(out.len, 1000, "no limit length");
    pyro_buf_free(&out);

    free(gz);
    free(zeros);
}


static void
test_bad(void)
{
    int             rc;
    char           *gz;
    size_t          gzlen, cut, ok;
    pyro_err_t      err;
    pyro_buf_t      out;
    unsigned char  *data;

    data = malloc(20000);
    fill(data, 20000, 3);
    gz = gzip(data, 20000, 6, &gzlen);

    /* every truncation fails (the last 8 bytes are CRC-32 and size) */
    ok = 0;

    for (cut = 2; cut < gzlen; cut++) {
        memset(&out, 0, sizeof(pyro_buf_t));
        memset(&err, 0, sizeof(pyro_err_t));

        rc = pyro_gunzip(gz, cut, 4 * MiB, &out, &err);

        if (rc == PYRO_ERROR && err.status == 400 && out.len == 0) {
            ok++;
        }

        pyro_buf_free(&out);
    }

    PYRO_CHECK_INT(ok, gzlen - 2, "every truncation is a 400");

    memset(&out, 0, sizeof(pyro_buf_t));
    rc = pyro_gunzip(gz, gzlen / 2, 4 * MiB, &out, &err);
    PYRO_CHECK_INT(rc, PYRO_ERROR, "truncated rc");
    PYRO_CHECK_STR(err.msg, "failed to decompress gzip data: unexpected "
                   "EOF (truncated input)", "truncated message");
    pyro_buf_free(&out);

    /* a bad CRC-32 */
    gz[gzlen - 8] ^= 0x55;
    memset(&out, 0, sizeof(pyro_buf_t));
    rc = pyro_gunzip(gz, gzlen, 4 * MiB, &out, &err);
    PYRO_CHECK_INT(rc, PYRO_ERROR, "bad crc rc");
    PYRO_CHECK_INT(err.status, 400, "bad crc status");
    PYRO_CHECK(strstr(err.msg, "failed to decompress gzip data: ") == err.msg,
               "bad crc message: %s", err.msg);
    PYRO_CHECK_INT(out.len, 0, "bad crc output dropped");
    pyro_buf_free(&out);
    gz[gzlen - 8] ^= 0x55;

    /* a bad compression method in the header */
    gz[2] = 7;
    memset(&out, 0, sizeof(pyro_buf_t));
    rc = pyro_gunzip(gz, gzlen, 4 * MiB, &out, &err);
    PYRO_CHECK_INT(rc, PYRO_ERROR, "bad method rc");
    PYRO_CHECK_INT(err.status, 400, "bad method status");
    pyro_buf_free(&out);
    gz[2] = 8;

    /* garbage in the deflate data */
    memset(gz + 10, 0xff, 16);
    memset(&out, 0, sizeof(pyro_buf_t));
    rc = pyro_gunzip(gz, gzlen, 4 * MiB, &out, &err);
    PYRO_CHECK_INT(rc, PYRO_ERROR, "corrupt data rc");
    PYRO_CHECK_INT(err.status, 400, "corrupt data status");
    pyro_buf_free(&out);

    /* just the magic */
    memset(&out, 0, sizeof(pyro_buf_t));
    rc = pyro_gunzip("\x1f\x8b", 2, 4 * MiB, &out, &err);
    PYRO_CHECK_INT(rc, PYRO_ERROR, "magic only");
    pyro_buf_free(&out);

    free(gz);
    free(data);
}


/*
 * The fixtures' gzipped profiles inflate to the size in their gzip
 * trailer (ISIZE) and start with a protobuf tag of a Profile field.
 */
static void
test_fixture_file(const char *path, unsigned *count)
{
    int          rc;
    char        *gz;
    size_t       gzlen;
    uint32_t     isize;
    pyro_err_t   err;
    pyro_buf_t   out;

    gz = pyro_test_read_file(path, &gzlen);

    PYRO_CHECK(gz != NULL && gzlen > 18, "fixture %s is missing", path);
    if (gz == NULL) {
        return;
    }

    isize = pyro_get_u32le(gz + gzlen - 4);

    memset(&out, 0, sizeof(pyro_buf_t));
    rc = pyro_gunzip(gz, gzlen, 4 * MiB, &out, &err);

    PYRO_CHECK(rc == PYRO_OK, "%s: %s", path, err.msg);
    PYRO_CHECK(out.len == isize, "%s: %zu bytes, trailer says %u", path,
               out.len, isize);
    PYRO_CHECK(out.len > 0 && ((unsigned char) out.data[0] >> 3) >= 1
               && ((unsigned char) out.data[0] >> 3) <= 14,
               "%s: not a pprof", path);

    pyro_buf_free(&out);
    free(gz);

    (*count)++;
}


static void
test_fixtures(void)
{
    char            path[1024];
    DIR            *dir;
    unsigned        count;
    const char     *names[] = { "cpu", "heap", "goroutine", "mutex",
                                "block", "cpu-mid", "cpu-large" };
    size_t          i;
    struct dirent  *de;

    count = 0;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/go/%s.pb.gz", pyro_test_fixtures(), names[i]);
        test_fixture_file(path, &count);
    }

    /* @pyroscope/nodejs 0.6.4 posts raw gzipped pprof bodies */
    snprintf(path, sizeof(path), "%s/captured/nodejs-0.6.4", pyro_test_fixtures());
    dir = opendir(path);

    PYRO_CHECK(dir != NULL, "fixture directory %s is missing", path);
    if (dir == NULL) {
        return;
    }

    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9') {
            continue;
        }

        snprintf(path, sizeof(path), "%s/captured/nodejs-0.6.4/%s/body.bin",
                 pyro_test_fixtures(), de->d_name);
        test_fixture_file(path, &count);
    }

    closedir(dir);

    PYRO_CHECK(count >= 7 + 9, "fixture files read: %u", count);
}


int
main(void)
{
    test_roundtrip();
    test_declined();
    test_multimember();
    test_limit();
    test_bad();
    test_fixtures();

    return pyro_test_done("gzip");
}

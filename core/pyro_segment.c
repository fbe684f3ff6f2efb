
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * Segment files: the per-worker writer (append, group commit, seal) and
 * the scanner used by queries.  The format is in doc/storage-format.md.
 *
 * Durability rules: a record is acknowledged only after fdatasync() of
 * its file; a new file and a rename are made durable by fsync() of the
 * directory; a failed write or sync truncates the file back to its last
 * durable size so that nothing unacknowledged stays behind.
 */


#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pyro.h"


typedef struct {
    char           *tenant;
    char           *path;           /* the .open path */
    int             fd;
    uint64_t        size;           /* bytes written so far */
    uint64_t        synced;         /* bytes known durable */
    int64_t         created_ns;
} pyro_wseg_t;

struct pyro_writer_s {
    char           *root;
    uint64_t        seal_bytes;
    int64_t         seal_age_ns;
    char            stamp[48];      /* "<start ms>-<pid>": unique per process */
    uint64_t        seq;
    pyro_wseg_t    *segs;
    size_t          nsegs;
    size_t          cap;
};


int64_t
pyro_now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);

    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}


static int
pyro_fsync_dir(const char *path)
{
    int  fd, rc;

    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1) {
        return PYRO_ERROR;
    }

    rc = fsync(fd);
    close(fd);

    return rc == 0 ? PYRO_OK : PYRO_ERROR;
}


static int
pyro_write_all(int fd, const char *p, size_t n)
{
    ssize_t  k;

    while (n > 0) {
        k = write(fd, p, n);

        if (k == -1) {
            if (errno == EINTR) {
                continue;
            }
            return PYRO_ERROR;
        }

        p += k;
        n -= (size_t) k;
    }

    return PYRO_OK;
}


/* 503 for conditions that pass (a full or read-only disk), else 500. */
static void
pyro_err_io(pyro_err_t *err, const char *what, const char *path)
{
    int  e = errno;

    if (e == ENOSPC || e == EDQUOT || e == EROFS || e == EIO) {
        pyro_err_set(err, 503, "unavailable", "%s \"%s\" failed: %s", what,
                     path, strerror(e));
        return;
    }

    pyro_err_set(err, 500, "internal", "%s \"%s\" failed: %s", what, path,
                 strerror(e));
}


pyro_writer_t *
pyro_writer_new(const char *root, uint64_t seal_bytes, int64_t seal_age_ns)
{
    pyro_writer_t  *w;

    w = calloc(1, sizeof(pyro_writer_t));
    if (w == NULL) {
        return NULL;
    }

    w->root = strdup(root);
    if (w->root == NULL) {
        free(w);
        return NULL;
    }

    w->seal_bytes = seal_bytes;
    w->seal_age_ns = seal_age_ns;

    snprintf(w->stamp, sizeof(w->stamp), "%lld-%ld",
             (long long) (pyro_now_ns() / 1000000), (long) getpid());

    return w;
}


static char *
pyro_path_join(const char *a, const char *b, const char *c)
{
    char    *p;
    size_t   n;

    n = strlen(a) + strlen(b) + (c ? strlen(c) : 0) + 3;

    p = malloc(n);
    if (p == NULL) {
        return NULL;
    }

    if (c) {
        snprintf(p, n, "%s/%s/%s", a, b, c);

    } else {
        snprintf(p, n, "%s/%s", a, b);
    }

    return p;
}


static int
pyro_tenant_dir(pyro_writer_t *w, const char *tenant, pyro_err_t *err)
{
    char  *dir;
    int    rc;

    dir = pyro_path_join(w->root, tenant, NULL);
    if (dir == NULL) {
        pyro_err_internal(err, "out of memory");
        return PYRO_ERROR;
    }

    rc = PYRO_OK;

    if (mkdir(dir, 0755) == 0) {
        if (pyro_fsync_dir(w->root) != PYRO_OK) {
            pyro_err_io(err, "fsync()", w->root);
            rc = PYRO_ERROR;
        }

    } else if (errno != EEXIST) {
        pyro_err_io(err, "mkdir()", dir);
        rc = PYRO_ERROR;
    }

    free(dir);

    return rc;
}


/* Creates <root>/<tenant>/<stamp>-<seq>.open with its file header. */
static int
pyro_wseg_create(pyro_writer_t *w, pyro_wseg_t *s, pyro_err_t *err)
{
    char           name[96], *dir;
    unsigned char  hdr[PYRO_FILE_HDR_SIZE];

    if (pyro_tenant_dir(w, s->tenant, err) != PYRO_OK) {
        return PYRO_ERROR;
    }

    for ( ;; ) {
        snprintf(name, sizeof(name), "%s-%llu.open", w->stamp,
                 (unsigned long long) w->seq++);

        free(s->path);
        s->path = pyro_path_join(w->root, s->tenant, name);
        if (s->path == NULL) {
            pyro_err_internal(err, "out of memory");
            return PYRO_ERROR;
        }

        s->fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (s->fd != -1) {
            break;
        }

        if (errno != EEXIST) {
            pyro_err_io(err, "open()", s->path);
            return PYRO_ERROR;
        }
    }

    memset(hdr, 0, sizeof(hdr));
    memcpy(hdr, PYRO_FILE_MAGIC, 8);
    hdr[8] = PYRO_FILE_VERSION;

    if (pyro_write_all(s->fd, (const char *) hdr, sizeof(hdr)) != PYRO_OK
        || fdatasync(s->fd) != 0)
    {
        pyro_err_io(err, "write()", s->path);
        goto failed;
    }

    dir = pyro_path_join(w->root, s->tenant, NULL);
    if (dir == NULL || pyro_fsync_dir(dir) != PYRO_OK) {
        free(dir);
        pyro_err_io(err, "fsync()", s->path);
        goto failed;
    }

    free(dir);

    s->size = PYRO_FILE_HDR_SIZE;
    s->synced = PYRO_FILE_HDR_SIZE;
    s->created_ns = pyro_now_ns();

    return PYRO_OK;

failed:

    close(s->fd);
    s->fd = -1;
    unlink(s->path);

    return PYRO_ERROR;
}


static pyro_wseg_t *
pyro_writer_seg(pyro_writer_t *w, const char *tenant, pyro_err_t *err)
{
    size_t        i;
    pyro_wseg_t  *s, *segs;

    for (i = 0; i < w->nsegs; i++) {
        if (strcmp(w->segs[i].tenant, tenant) == 0) {
            return &w->segs[i];
        }
    }

    if (w->nsegs == w->cap) {
        segs = realloc(w->segs, (w->cap ? w->cap * 2 : 8)
                                * sizeof(pyro_wseg_t));
        if (segs == NULL) {
            pyro_err_internal(err, "out of memory");
            return NULL;
        }
        w->segs = segs;
        w->cap = w->cap ? w->cap * 2 : 8;
    }

    s = &w->segs[w->nsegs];
    memset(s, 0, sizeof(pyro_wseg_t));
    s->fd = -1;

    s->tenant = strdup(tenant);
    if (s->tenant == NULL) {
        pyro_err_internal(err, "out of memory");
        return NULL;
    }

    if (pyro_wseg_create(w, s, err) != PYRO_OK) {
        free(s->tenant);
        free(s->path);
        return NULL;
    }

    w->nsegs++;

    return s;
}


int
pyro_writer_append(pyro_writer_t *w, const char *tenant, const void *rec,
    size_t len, pyro_err_t *err)
{
    pyro_wseg_t  *s;

    s = pyro_writer_seg(w, tenant, err);
    if (s == NULL) {
        return PYRO_ERROR;
    }

    if (pyro_write_all(s->fd, rec, len) != PYRO_OK) {
        pyro_err_io(err, "write()", s->path);
        /* drop the partial record now; commit() rolls back the rest */
        if (ftruncate(s->fd, (off_t) s->size) == 0) {
            lseek(s->fd, (off_t) s->size, SEEK_SET);
        }
        return PYRO_ERROR;
    }

    s->size += len;

    return PYRO_OK;
}


static void
pyro_writer_rollback(pyro_writer_t *w)
{
    size_t        i;
    pyro_wseg_t  *s;

    for (i = 0; i < w->nsegs; i++) {
        s = &w->segs[i];

        if (s->size != s->synced && ftruncate(s->fd, (off_t) s->synced) == 0)
        {
            lseek(s->fd, (off_t) s->synced, SEEK_SET);
            s->size = s->synced;
        }
    }
}


int
pyro_writer_commit(pyro_writer_t *w, pyro_err_t *err)
{
    size_t        i;
    pyro_wseg_t  *s;

    for (i = 0; i < w->nsegs; i++) {
        s = &w->segs[i];

        if (s->size != s->synced && fdatasync(s->fd) != 0) {
            pyro_err_io(err, "fdatasync()", s->path);
            pyro_writer_rollback(w);
            return PYRO_ERROR;
        }
    }

    for (i = 0; i < w->nsegs; i++) {
        w->segs[i].synced = w->segs[i].size;
    }

    return PYRO_OK;
}


/* Renames x.open to x.seg (or removes an empty one) and forgets it. */
static int
pyro_wseg_seal(pyro_writer_t *w, pyro_wseg_t *s, pyro_err_t *err)
{
    int     rc;
    char   *sealed, *dir;
    size_t  n;

    rc = PYRO_OK;

    if (s->synced == PYRO_FILE_HDR_SIZE) {
        unlink(s->path);
        close(s->fd);
        return PYRO_OK;
    }

    n = strlen(s->path);
    sealed = strdup(s->path);
    dir = pyro_path_join(w->root, s->tenant, NULL);

    if (sealed == NULL || dir == NULL || n < 5) {
        pyro_err_internal(err, "out of memory");
        rc = PYRO_ERROR;
        goto done;
    }

    memcpy(sealed + n - 4, "seg", 4);

    if (fdatasync(s->fd) != 0 || rename(s->path, sealed) != 0
        || pyro_fsync_dir(dir) != PYRO_OK)
    {
        pyro_err_io(err, "sealing", s->path);
        rc = PYRO_ERROR;
    }

done:

    close(s->fd);
    free(sealed);
    free(dir);

    return rc;
}


int
pyro_writer_seal(pyro_writer_t *w, int64_t now_ns, int force,
    pyro_err_t *err)
{
    int           rc;
    size_t        i;
    pyro_wseg_t  *s;

    rc = PYRO_OK;
    i = 0;

    while (i < w->nsegs) {
        s = &w->segs[i];

        if (!force && s->size < w->seal_bytes
            && now_ns - s->created_ns < w->seal_age_ns)
        {
            i++;
            continue;
        }

        /* unsynced bytes are never sealed: they belong to a batch */
        if (s->size != s->synced) {
            i++;
            continue;
        }

        if (pyro_wseg_seal(w, s, err) != PYRO_OK) {
            rc = PYRO_ERROR;
        }

        free(s->tenant);
        free(s->path);
        w->segs[i] = w->segs[--w->nsegs];
    }

    return rc;
}


void
pyro_writer_free(pyro_writer_t *w)
{
    size_t  i;

    if (w == NULL) {
        return;
    }

    for (i = 0; i < w->nsegs; i++) {
        if (w->segs[i].fd != -1) {
            close(w->segs[i].fd);
        }
        free(w->segs[i].tenant);
        free(w->segs[i].path);
    }

    free(w->segs);
    free(w->root);
    free(w);
}


static char *
pyro_read_file(const char *path, size_t *len, pyro_err_t *err)
{
    int          fd;
    char        *buf;
    size_t       n;
    ssize_t      k;
    struct stat  st;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        pyro_err_io(err, "open()", path);
        return NULL;
    }

    if (fstat(fd, &st) != 0 || st.st_size < 0) {
        pyro_err_io(err, "fstat()", path);
        close(fd);
        return NULL;
    }

    buf = malloc((size_t) st.st_size + 1);
    if (buf == NULL) {
        pyro_err_internal(err, "out of memory reading \"%s\"", path);
        close(fd);
        return NULL;
    }

    /* the file may still grow: what was there at fstat() time is enough */
    for (n = 0; n < (size_t) st.st_size; n += (size_t) k) {
        k = pread(fd, buf + n, (size_t) st.st_size - n, (off_t) n);

        if (k == -1 && errno == EINTR) {
            k = 0;
            continue;
        }

        if (k <= 0) {
            break;
        }
    }

    close(fd);
    *len = n;

    return buf;
}


int
pyro_segment_scan(const char *path, int64_t min_ns, int64_t max_ns,
    pyro_rec_cb_pt cb, void *ctx, pyro_err_t *err)
{
    int             rc;
    char           *buf;
    size_t          len, off, rlen;
    pyro_rec_hdr_t  h;

    buf = pyro_read_file(path, &len, err);
    if (buf == NULL) {
        return PYRO_ERROR;
    }

    if (len < PYRO_FILE_HDR_SIZE || memcmp(buf, PYRO_FILE_MAGIC, 8) != 0
        || buf[8] != PYRO_FILE_VERSION)
    {
        pyro_err_internal(err, "\"%s\" is not a segment file", path);
        free(buf);
        return PYRO_ERROR;
    }

    rc = PYRO_OK;

    for (off = PYRO_FILE_HDR_SIZE; off < len; off += rlen) {

        /* an incomplete or foreign tail is not durable yet: stop there */
        if (pyro_rec_hdr_parse(buf + off, len - off, &h) != PYRO_OK) {
            break;
        }

        rlen = PYRO_REC_HDR_SIZE + (size_t) h.meta_len + h.body_len;

        if (h.nprofiles == 0 || h.max_time_ns < min_ns
            || h.min_time_ns > max_ns)
        {
            continue;
        }

        rc = cb(ctx, &h, buf + off, rlen);
        if (rc != PYRO_OK) {
            break;
        }
    }

    free(buf);

    return rc;
}

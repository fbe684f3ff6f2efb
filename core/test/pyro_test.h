
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * A minimal table-friendly test helper for core unit tests, in the
 * spirit of njs's src/test: each check prints on failure, and
 * pyro_test_done() prints "N passed, M failed" and gives the exit code.
 */

#ifndef _PYRO_TEST_H_INCLUDED_
#define _PYRO_TEST_H_INCLUDED_


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <inttypes.h>


static unsigned  pyro_test_passed;
static unsigned  pyro_test_failed;


#define PYRO_CHECK(cond, ...)                                                \
    do {                                                                     \
        if (cond) {                                                          \
            pyro_test_passed++;                                              \
        } else {                                                             \
            pyro_test_failed++;                                              \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);           \
            printf(__VA_ARGS__);                                             \
            printf("\n");                                                    \
        }                                                                    \
    } while (0)

#define PYRO_CHECK_INT(got, want, what)                                      \
    do {                                                                     \
        int64_t  g_ = (int64_t) (got), w_ = (int64_t) (want);                \
        PYRO_CHECK(g_ == w_, "%s: got %" PRId64 ", want %" PRId64,           \
                   what, g_, w_);                                            \
    } while (0)

#define PYRO_CHECK_STR(got, want, what)                                      \
    do {                                                                     \
        const char  *g_ = (got), *w_ = (want);                               \
        PYRO_CHECK(g_ != NULL && strcmp(g_, w_) == 0,                        \
                   "%s: got \"%s\", want \"%s\"", what,                      \
                   g_ ? g_ : "(null)", w_);                                  \
    } while (0)

#define PYRO_CHECK_MEM(got, glen, want, what)                                \
    do {                                                                     \
        size_t       wl_ = strlen(want);                                     \
        PYRO_CHECK((glen) == wl_ && memcmp(got, want, wl_) == 0,             \
                   "%s:\n  got  %.*s\n  want %s", what, (int) (glen),        \
                   (const char *) (got), want);                              \
    } while (0)


/* A whole file, malloc'ed (the caller frees it); NULL if unreadable. */
static inline char *
pyro_test_read_file(const char *path, size_t *len)
{
    FILE    *f;
    char    *buf;
    long     n;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        fclose(f);
        return NULL;
    }

    buf = malloc(n ? (size_t) n : 1);

    if (buf == NULL || fread(buf, 1, n, f) != (size_t) n) {
        free(buf);
        fclose(f);
        return NULL;
    }

    fclose(f);
    *len = n;

    return buf;
}


/* The shared fixtures: beside the checkout, or $PYRO_FIXTURES. */
static inline const char *
pyro_test_fixtures(void)
{
    const char  *d;

    d = getenv("PYRO_FIXTURES");

    return d ? d : "../../shared/fixtures";
}


#if defined(JANSSON_H)

/* The value of a header in request.json ("headers": [[name, value]...]). */
static inline const char *
pyro_test_request_header(json_t *req, const char *name)
{
    size_t   i;
    json_t  *h;

    for (i = 0; i < json_array_size(json_object_get(req, "headers")); i++) {
        h = json_array_get(json_object_get(req, "headers"), i);

        if (strcasecmp(json_string_value(json_array_get(h, 0)), name) == 0) {
            return json_string_value(json_array_get(h, 1));
        }
    }

    return NULL;
}

#endif


static int
pyro_test_done(const char *suite)
{
    printf("%s: %u passed, %u failed\n", suite, pyro_test_passed,
           pyro_test_failed);

    return pyro_test_failed ? 1 : 0;
}


#endif /* _PYRO_TEST_H_INCLUDED_ */

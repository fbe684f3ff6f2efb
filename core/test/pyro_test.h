
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
#include <string.h>
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


static int
pyro_test_done(const char *suite)
{
    printf("%s: %u passed, %u failed\n", suite, pyro_test_passed,
           pyro_test_failed);

    return pyro_test_failed ? 1 : 0;
}


#endif /* _PYRO_TEST_H_INCLUDED_ */

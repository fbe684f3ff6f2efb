
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * pyro_appname_parse() against upstream's labelset.Parse: the grammar,
 * its quirks and every error message.
 */


#include <stdlib.h>

#include "pyro.h"
#include "pyro_test.h"


typedef struct {
    const char  *in;
    const char  *app;          /* NULL: an error is expected */
    const char  *labels;       /* "k=v;k=v;" in input order, or the error */
} appname_case_t;


static const appname_case_t  appname_cases[] = {

    /* plain names, braces, trimming (upstream's own tests first) */
    { "foo", "foo", "" },
    { "foo{bar=1,baz=2}", "foo", "bar=1;baz=2;" },
    { " foo { bar = 1 , baz = 2 } ", "foo", "bar=1;baz=2;" },
    { "foo{}", "foo", "" },
    { "foo{ }", "foo", "" },
    { "my.app.cpu", "my.app.cpu", "" },
    { "a-b/c_d.E9", "a-b/c_d.E9", "" },
    { "\t\n\v\f\r foo \r\n", "foo", "" },
    { "\xc2\xa0" "foo" "\xe3\x80\x80", "foo", "" },
    { "foo{a.b_C9=1}", "foo", "a.b_C9=1;" },
    { "foo{__x=1}", "foo", "__x=1;" },

    /* values: anything but ',' and '}', trimmed, no escapes */
    { "foo{bar=}", "foo", "bar=;" },
    { "foo{bar= x y }", "foo", "bar=x y;" },
    { "foo{bar=a=b}", "foo", "bar=a=b;" },
    { "foo{bar={x}", "foo", "bar={x;" },
    { "foo{bar=\"q\\\"}", "foo", "bar=\"q\\\";" },
    { "foo{k=\xc2\xa0v\xc2\xa0}", "foo", "k=v;" },
    { "foo{ \xc2\xa0k\xc2\xa0 =1}", "foo", "k=1;" },

    /* a later value for the same key wins */
    { "foo{a=1,a=2}", "foo", "a=2;" },

    /* a '}' after a value goes back to reading keys */
    { "foo{a=1}b=2,", "foo", "a=1;b=2;" },
    { "foo{a=1}b=2}", "foo", "a=1;b=2;" },
    { "foo{a=1}b=2", "foo", "a=1;" },
    { "foo{a=1}}b=2,", "foo", "a=1;" },
    { "foo{a=1} trailing", "foo", "a=1;" },
    { "foo{}b=2,", "foo", "" },

    /* keys without a value, and unfinished pairs, are dropped */
    { "foo{a}", "foo", "" },
    { "foo{a=1,b}", "foo", "a=1;" },
    { "foo{a=1", "foo", "" },
    { "foo{a=1,b=2", "foo", "a=1;" },
    { "foo{", "foo", "" },

    /* reserved keys are kept; __name__ renames the app, unvalidated */
    { "foo{__name__=bar}", "bar", "__name__=bar;" },
    { "foo{__name__= b a r ,x=1}", "b a r", "__name__=b a r;x=1;" },
    { "foo{__name__=}", "", "__name__=;" },
    { "foo{__session_id__=s,profile_id=p}", "foo",
      "__session_id__=s;profile_id=p;" },

    /* invalid UTF-8 is read as U+FFFD, as Go's range over a string */
    { "foo{a=\xff}", "foo", "a=\xef\xbf\xbd;" },
    { "foo{a=x\xe2\x82}", "foo", "a=x\xef\xbf\xbd\xef\xbf\xbd;" },

    /* errors: the service name */
    { "", NULL, "service name is required" },
    { "   ", NULL, "service name is required" },
    { "{a=b}", NULL, "service name is required" },
    { " {a=b}", NULL, "service name is required" },
    { "a b", NULL, "invalid service name: a b: character is not allowed: "
                   "' '" },
    { "a:b", NULL, "invalid service name: a:b: character is not allowed: "
                   "':'" },
    { "a}", NULL, "invalid service name: a}: character is not allowed: "
                  "'}'" },
    { "a=b", NULL, "invalid service name: a=b: character is not allowed: "
                   "'='" },
    { "a\"b", NULL, "invalid service name: a\"b: character is not allowed: "
                    "'\"'" },
    { "a'b", NULL, "invalid service name: a'b: character is not allowed: "
                   "'\\''" },
    { "a\\b", NULL, "invalid service name: a\\b: character is not "
                    "allowed: '\\\\'" },
    { "a\tb", NULL, "invalid service name: a\tb: character is not "
                    "allowed: '\\t'" },
    { "a\x07", NULL, "invalid service name: a\x07: character is not "
                     "allowed: '\\a'" },
    { "a\x01" "b", NULL, "invalid service name: a\x01" "b: character is "
                         "not allowed: '\\x01'" },
    { "a\x7f", NULL, "invalid service name: a\x7f: character is not "
                     "allowed: '\\x7f'" },
    { "a\xc2\x80", NULL, "invalid service name: a\xc2\x80: character is "
                         "not allowed: '\\u0080'" },
    { "a\xc2\xa0" "b", NULL, "invalid service name: a\xc2\xa0" "b: "
                             "character is not allowed: '\\u00a0'" },
    { "a\xe2\x80\x8b", NULL, "invalid service name: a\xe2\x80\x8b: "
                             "character is not allowed: '\\u200b'" },
    { "a\xf3\xa0\x80\x81", NULL, "invalid service name: a\xf3\xa0\x80\x81: "
                                 "character is not allowed: "
                                 "'\\U000e0001'" },
    { "a\xc3\xb1", NULL, "invalid service name: a\xc3\xb1: character is "
                         "not allowed: '\xc3\xb1'" },
    { "\xff" "a", NULL, "invalid service name: \xef\xbf\xbd" "a: "
                        "character is not allowed: '\xef\xbf\xbd'" },

    /* errors: label names */
    { "foo{=1}", NULL, "label name is required" },
    { "foo{ =1}", NULL, "label name is required" },
    { "foo{a=1,=2}", NULL, "label name is required" },
    { "foo{a b=1}", NULL, "invalid label name: a b: character is not "
                          "allowed: ' '" },
    { "foo{a-b=1}", NULL, "invalid label name: a-b: character is not "
                          "allowed: '-'" },
    { "foo{a/b=1}", NULL, "invalid label name: a/b: character is not "
                          "allowed: '/'" },
    { "foo{a,b=1}", NULL, "invalid label name: a,b: character is not "
                          "allowed: ','" },
    { "foo{a=1,,b=2}", NULL, "invalid label name: ,b: character is not "
                             "allowed: ','" },
    { "foo{a{=1}", NULL, "invalid label name: a{: character is not "
                         "allowed: '{'" },
    { "foo{__name=1}", "foo", "__name=1;" },
    { "foo{__name__x=1}", "foo", "__name__x=1;" },
    { "foo{\xc3\xa9=1}", NULL, "invalid label name: \xc3\xa9: character "
                               "is not allowed: '\xc3\xa9'" },
};


/* "k=v;" for every label, in order. */
static void
labels_str(const pyro_labels_t *ls, char *buf, size_t size)
{
    size_t  i, n;

    buf[0] = '\0';
    n = 0;

    for (i = 0; i < ls->n && n < size; i++) {
        n += snprintf(buf + n, size - n, "%s=%s;", ls->v[i].name,
                      ls->v[i].value);
    }
}


static void
test_table(void)
{
    int              rc;
    char             got[256], what[256];
    size_t           i;
    pyro_err_t       err;
    pyro_appname_t   an;

    for (i = 0; i < sizeof(appname_cases) / sizeof(appname_cases[0]); i++) {
        const appname_case_t  *c = &appname_cases[i];

        memset(&err, 0, sizeof(pyro_err_t));
        rc = pyro_appname_parse(c->in, strlen(c->in), &an, &err);

        snprintf(what, sizeof(what), "appname \"%s\"", c->in);

        if (c->app != NULL) {
            PYRO_CHECK(rc == PYRO_OK, "%s: error \"%s\"", what, err.msg);
            PYRO_CHECK_STR(an.app, c->app, what);
            labels_str(&an.labels, got, sizeof(got));
            PYRO_CHECK_STR(got, c->labels, what);

        } else {
            PYRO_CHECK_INT(rc, PYRO_ERROR, what);
            PYRO_CHECK_STR(err.msg, c->labels, what);
            PYRO_CHECK_INT(err.status, 400, what);
            PYRO_CHECK_STR(err.code, "invalid_argument", what);
            /* nothing is left behind on failure */
            PYRO_CHECK(an.app == NULL && an.labels.n == 0
                       && an.labels.v == NULL, "%s: output not cleared",
                       what);
        }

        pyro_appname_free(&an);
        /* a second free is harmless, as pyro_ingest.c relies on */
        pyro_appname_free(&an);
    }
}


static void
test_misc(void)
{
    char            *big;
    size_t           i, n;
    pyro_err_t       err;
    pyro_appname_t   an;

    /* the length is honoured */
    PYRO_CHECK_INT(pyro_appname_parse("app{a=1} x", 3, &an, &err), PYRO_OK,
                   "prefix rc");
    PYRO_CHECK_STR(an.app, "app", "prefix app");
    PYRO_CHECK_INT(an.labels.n, 0, "prefix labels");
    pyro_appname_free(&an);

    /* the app is writable (pyro_ingest.c cuts the suffix in place) */
    PYRO_CHECK_INT(pyro_appname_parse("my.app.cpu", 10, &an, &err), PYRO_OK,
                   "writable rc");
    an.app[6] = '\0';
    PYRO_CHECK_STR(an.app, "my.app", "writable app");
    pyro_appname_free(&an);

    /* many labels */
    n = 2000;
    big = malloc(n * 12 + 8);
    PYRO_CHECK(big != NULL, "malloc");
    if (big == NULL) {
        return;
    }

    i = (size_t) sprintf(big, "app{");
    for (n = 0; n < 2000; n++) {
        i += sprintf(big + i, "k%zu=v%zu,", n, n);
    }
    big[i - 1] = '}';

    PYRO_CHECK_INT(pyro_appname_parse(big, i, &an, &err), PYRO_OK,
                   "many rc");
    PYRO_CHECK_INT(an.labels.n, 2000, "many labels");
    PYRO_CHECK_STR(pyro_labels_get(&an.labels, "k1999"), "v1999",
                   "many last");
    pyro_appname_free(&an);
    free(big);
}


int
main(void)
{
    test_table();
    test_misc();

    return pyro_test_done("appname");
}

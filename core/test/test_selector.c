
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * Label selectors: Prometheus syntax, string literals, matching semantics
 * (anchored regexes, a missing label reads as ""), render queries with a
 * profile type, and every parse error.
 */


#include <stdlib.h>

#include "pyro.h"
#include "pyro_test.h"


#define PT  "process_cpu:cpu:nanoseconds:cpu:nanoseconds"


typedef struct {
    const char  *sel;
    const char  *l[9];         /* name, value, ..., NULL */
    int          want;
} match_case_t;


static const match_case_t  match_cases[] = {

    /* empty selectors match everything */
    { "", { NULL }, 1 },
    { "", { "a", "b", NULL }, 1 },
    { "{}", { "a", "b", NULL }, 1 },
    { " \t\r\n{ \n } \n", { NULL }, 1 },
    { "# just a comment\n", { "a", "b", NULL }, 1 },

    /* = and != ; a missing label is "" */
    { "{a=\"b\"}", { "a", "b", NULL }, 1 },
    { "{a=\"b\"}", { "a", "c", NULL }, 0 },
    { "{a=\"b\"}", { "a", "bb", NULL }, 0 },
    { "{a=\"b\"}", { "ab", "b", NULL }, 0 },
    { "{a=\"b\"}", { "x", "b", NULL }, 0 },
    { "{a=\"b\"}", { NULL }, 0 },
    { "{a!=\"b\"}", { "a", "c", NULL }, 1 },
    { "{a!=\"b\"}", { "a", "b", NULL }, 0 },
    { "{a!=\"b\"}", { NULL }, 1 },
    { "{a=\"\"}", { NULL }, 1 },
    { "{a=\"\"}", { "a", "", NULL }, 1 },
    { "{a=\"\"}", { "a", "x", NULL }, 0 },
    { "{a!=\"\"}", { NULL }, 0 },
    { "{a!=\"\"}", { "a", "x", NULL }, 1 },

    /* regexes are fully anchored, "." matches "\n" */
    { "{a=~\"b.*\"}", { "a", "bcd", NULL }, 1 },
    { "{a=~\"b.*\"}", { "a", "b", NULL }, 1 },
    { "{a=~\"b.*\"}", { "a", "abc", NULL }, 0 },
    { "{a=~\"b\"}", { "a", "bc", NULL }, 0 },
    { "{a=~\"a|ab\"}", { "a", "ab", NULL }, 1 },
    { "{a=~\"a|ab\"}", { "a", "abc", NULL }, 0 },
    { "{a=~\".*\"}", { NULL }, 1 },
    { "{a=~\".+\"}", { NULL }, 0 },
    { "{a=~\"\"}", { NULL }, 1 },
    { "{a=~\"\"}", { "a", "x", NULL }, 0 },
    { "{a=~\"x.y\"}", { "a", "x\ny", NULL }, 1 },
    { "{a=~\"x$\"}", { "a", "x\n", NULL }, 0 },
    { "{a=~\"(?i)FOO\"}", { "a", "foo", NULL }, 1 },
    { "{a=~\"\\\\d+\"}", { "a", "123", NULL }, 1 },
    { "{a=~\"\\\\d+\"}", { "a", "12a", NULL }, 0 },
    { "{a=~`\\d+`}", { "a", "123", NULL }, 1 },
    { "{a=~\"\xc3\xa9.\"}", { "a", "\xc3\xa9\xc3\xa9", NULL }, 1 },
    { "{a=~\"..\"}", { "a", "\xc3\xa9\xc3\xa9", NULL }, 1 },
    { "{a!~\"b.*\"}", { "a", "bc", NULL }, 0 },
    { "{a!~\"b.*\"}", { "a", "c", NULL }, 1 },
    { "{a!~\"b.*\"}", { NULL }, 1 },
    { "{a!~\".*\"}", { NULL }, 0 },

    /* several matchers, any label order, separators and spacing */
    { "{a=\"b\",c=\"d\"}", { "c", "d", "a", "b", NULL }, 1 },
    { "{a=\"b\",c=\"d\"}", { "a", "b", NULL }, 0 },
    { "{a=\"b\",}", { "a", "b", NULL }, 1 },
    { " { a = \"b\" , c != \"d\" , } ", { "a", "b", "c", "x", NULL }, 1 },
    { " { a = \"b\" , c != \"d\" , } ", { "a", "b", "c", "d", NULL }, 0 },
    { "{\n a=\"b\" # the app\n , c=~\"d|e\" # comment, with } inside\n}",
      { "a", "b", "c", "e", NULL }, 1 },
    { "{a=\"b\",a=\"c\"}", { "a", "b", NULL }, 0 },
    { "{a=~\"b|c\",a!=\"c\"}", { "a", "b", NULL }, 1 },
    { "{_A_9=\"1\"}", { "_A_9", "1", NULL }, 1 },

    /* quoted (UTF-8) label names */
    { "{\"service.name\"=\"x\"}", { "service.name", "x", NULL }, 1 },
    { "{'service.name'=\"x\"}", { "service.name", "x", NULL }, 1 },
    { "{`k8s/ns`!=\"x\"}", { "k8s/ns", "y", NULL }, 1 },
    { "{\"\xc3\xa9\"=\"x\"}", { "\xc3\xa9", "x", NULL }, 1 },

    /* string literals */
    { "{a='b'}", { "a", "b", NULL }, 1 },
    { "{a=`b`}", { "a", "b", NULL }, 1 },
    { "{a=\"it's\"}", { "a", "it's", NULL }, 1 },
    { "{a='it\\'s'}", { "a", "it's", NULL }, 1 },
    { "{a='say \"hi\"'}", { "a", "say \"hi\"", NULL }, 1 },
    { "{a=\"say \\\"hi\\\"\"}", { "a", "say \"hi\"", NULL }, 1 },
    { "{a=`b\\n`}", { "a", "b\\n", NULL }, 1 },
    { "{a=`b\\n`}", { "a", "b\n", NULL }, 0 },
    { "{a=`x\ny`}", { "a", "x\ny", NULL }, 1 },
    { "{a=`x\"y'z`}", { "a", "x\"y'z", NULL }, 1 },
    { "{a=\"\\a\\b\\f\\n\\r\\t\\v\\\\\"}", { "a", "\a\b\f\n\r\t\v\\", NULL },
      1 },
    { "{a=\"\\x41\\101\\u00e9\\U0001F600\\x7a\\x7A\"}",
      { "a", "AA\xc3\xa9\xf0\x9f\x98\x80zz", NULL }, 1 },
    { "{a=\"\\xc3\\xa9\"}", { "a", "\xc3\xa9", NULL }, 1 },
    { "{a=\"\\377\"}", { "a", "\xff", NULL }, 1 },
    { "{a=\"\\uFFFF\\U0010ffff\"}",
      { "a", "\xef\xbf\xbf\xf4\x8f\xbf\xbf", NULL }, 1 },
    { "{a=\"\xe2\x82\xac\"}", { "a", "\xe2\x82\xac", NULL }, 1 },
    /* a NUL from an escape never equals a label value */
    { "{a=\"x\\x00y\"}", { "a", "x", NULL }, 0 },
    { "{a!=\"x\\000y\"}", { "a", "x", NULL }, 1 },
    { "{\"a\\x00b\"=\"\"}", { "a", "x", NULL }, 1 },

    /* a metric name is a __name__ matcher */
    { "metric", { "__name__", "metric", NULL }, 1 },
    { "metric", { "__name__", "metric2", NULL }, 0 },
    { "metric{a=\"b\"}", { "__name__", "metric", "a", "b", NULL }, 1 },
    { "metric{a=\"b\"}", { "a", "b", NULL }, 0 },
    { " metric { } ", { "__name__", "metric", NULL }, 1 },
    { ":a:b_1:c", { "__name__", ":a:b_1:c", NULL }, 1 },
    { "{\"metric\"}", { "__name__", "metric", NULL }, 1 },
    { "{\"metric\", a=\"b\"}", { "__name__", "metric", "a", "b", NULL }, 1 },
    { "{a=\"b\", 'm.x',}", { "__name__", "m.x", "a", "b", NULL }, 1 },
    { "{\"\"}", { "a", "b", NULL }, 1 },
    { "{\"\"}", { "__name__", "m", NULL }, 0 },
    { "{__name__=\"m\"}", { "__name__", "m", NULL }, 1 },
    { "{__name__=~\"m.*\"}", { "__name__", "mx", NULL }, 1 },
    { "{__name__!=\"m\"}", { "__name__", "m", NULL }, 0 },
};


static void
to_labels(const char *const *l, pyro_label_t *v, size_t *n)
{
    for (*n = 0; l[*n * 2] != NULL; (*n)++) {
        v[*n].name = (char *) l[*n * 2];
        v[*n].value = (char *) l[*n * 2 + 1];
    }
}


static void
test_match(void)
{
    size_t            i, n;
    char              what[256];
    pyro_err_t        err;
    pyro_label_t      v[4];
    pyro_selector_t  *sel;

    for (i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
        snprintf(what, sizeof(what), "case %zu: %s", i, match_cases[i].sel);

        memset(&err, 0, sizeof(pyro_err_t));
        sel = pyro_selector_parse(match_cases[i].sel,
                                  strlen(match_cases[i].sel), &err);

        PYRO_CHECK(sel != NULL, "%s: error \"%s\"", what, err.msg);
        if (sel == NULL) {
            continue;
        }

        to_labels(match_cases[i].l, v, &n);
        PYRO_CHECK_INT(pyro_selector_match(sel, v, n), match_cases[i].want,
                       what);
        PYRO_CHECK(pyro_selector_profile_type(sel) == NULL,
                   "%s: profile type set", what);

        pyro_selector_free(sel);
    }
}


typedef struct {
    const char  *in;
    const char  *msg;
} error_case_t;


static const error_case_t  error_cases[] = {

    /* structure */
    { "{", "1:2: parse error: unexpected end of input inside braces" },
    { "{a=\"b\"", "1:7: parse error: unexpected end of input inside "
                  "braces" },
    { "{a=\"b\",", "1:8: parse error: unexpected end of input inside "
                   "braces" },
    { "{a", "1:3: parse error: unexpected end of input in label matching, "
            "expected label matching operator" },
    { "{a}", "1:3: parse error: unexpected character '}' in label "
             "matching, expected label matching operator" },
    { "{a.b=\"c\"}", "1:3: parse error: unexpected character '.' in label "
                     "matching, expected label matching operator" },
    { "{a:b=\"c\"}", "1:3: parse error: unexpected character ':' in label "
                     "matching, expected label matching operator" },
    { "{a!\"b\"}", "1:3: parse error: unexpected character '!' in label "
                   "matching, expected label matching operator" },
    { "{a~\"b\"}", "1:3: parse error: unexpected character '~' in label "
                   "matching, expected label matching operator" },
    { "{a=}", "1:4: parse error: unexpected character '}' in label "
              "matching, expected string" },
    { "{a=b}", "1:4: parse error: unexpected identifier \"b\" in label "
               "matching, expected string" },
    { "{a==\"b\"}", "1:4: parse error: unexpected character '=' in label "
                    "matching, expected string" },
    { "{a=", "1:4: parse error: unexpected end of input in label matching, "
             "expected string" },
    { "{a=\"b\" c=\"d\"}", "1:8: parse error: unexpected identifier \"c\" "
                           "in label matching, expected \",\" or \"}\"" },
    { "{a=\"b\"\x01}", "1:7: parse error: unexpected byte 0x01 in label "
                       "matching, expected \",\" or \"}\"" },
    { "{a=\"b\" \"c\"}", "1:8: parse error: unexpected string in label "
                         "matching, expected \",\" or \"}\"" },
    { "{,}", "1:2: parse error: unexpected character ',' in label "
             "matching, expected label name or \"}\"" },
    { "{a=\"b\",,}", "1:8: parse error: unexpected character ',' in label "
                     "matching, expected label name or \"}\"" },
    { "{1a=\"b\"}", "1:2: parse error: unexpected character '1' in label "
                    "matching, expected label name or \"}\"" },
    { "{{}", "1:2: parse error: unexpected character '{' in label "
             "matching, expected label name or \"}\"" },
    { "{\xc3\xa9=\"b\"}", "1:2: parse error: unexpected byte 0xc3 in label "
                          "matching, expected label name or \"}\"" },
    { "m n", "1:3: parse error: unexpected identifier \"n\"" },
    { "m{} x", "1:5: parse error: unexpected identifier \"x\"" },
    { "m{}}", "1:4: parse error: unexpected character '}'" },
    { "\"m\"", "1:1: parse error: unexpected string" },
    { "1", "1:1: parse error: unexpected character '1'" },
    { "{a=\"b\"}\n  {c=\"d\"}", "2:3: parse error: unexpected character "
                               "'{'" },
    { "{}{}", "1:3: parse error: unexpected character '{'" },

    /* label names */
    { "{\"\"=\"x\"}", "1:2: parse error: invalid label name" },
    { "{\"\\xff\"=\"x\"}", "1:2: parse error: invalid label name" },

    /* the metric name at most once */
    { "m{__name__=\"x\"}", "1:3: parse error: metric name must not be set "
                           "twice" },
    { "m{\"x\"}", "1:3: parse error: metric name must not be set twice" },
    { "{\"a\", \"b\"}", "1:7: parse error: metric name must not be set "
                        "twice" },
    { "{__name__=\"x\", \"b\"}", "1:16: parse error: metric name must not "
                                 "be set twice" },

    /* strings */
    { "{a=\"b}", "1:4: parse error: unterminated quoted string" },
    { "{a='b}", "1:4: parse error: unterminated quoted string" },
    { "{a=\"b\nc\"}", "1:4: parse error: unterminated quoted string" },
    { "{a=`b}", "1:4: parse error: unterminated raw string" },
    { "{a=\"\\q\"}", "1:5: parse error: unknown escape sequence '\\q'" },
    { "{a=\"\\8\"}", "1:5: parse error: unknown escape sequence '\\8'" },
    { "{a=\"\\'\"}", "1:5: parse error: unknown escape sequence '\\''" },
    { "{a='\\\"'}", "1:5: parse error: unknown escape sequence '\\\"'" },
    { "{a=\"\\\x01\"}", "1:5: parse error: unknown escape sequence (byte "
                        "0x01)" },
    { "{a=\"\\x4\"}", "1:8: parse error: illegal character '\"' in escape "
                      "sequence" },
    { "{a=\"\\u12g4\"}", "1:9: parse error: illegal character 'g' in "
                         "escape sequence" },
    { "{a=\"\\18\"}", "1:7: parse error: illegal character '8' in escape "
                      "sequence" },
    { "{a=\"\\x4", "1:8: parse error: escape sequence not terminated" },
    { "{a=\"\\", "1:5: parse error: escape sequence not terminated" },
    { "{a=\"\\ud800\"}", "1:5: parse error: escape sequence is an invalid "
                         "Unicode code point" },
    { "{a=\"\\U00110000\"}", "1:5: parse error: escape sequence is an "
                             "invalid Unicode code point" },
    { "{a=\"\\400\"}", "1:5: parse error: escape sequence is an invalid "
                       "Unicode code point" },
    { "{a=\"\xff\"}", "1:4: parse error: invalid UTF-8 rune in string" },
    { "{a=`\xc3`}", "1:4: parse error: invalid UTF-8 rune in string" },
    { "{\"\xed\xa0\x80\"=\"x\"}", "1:2: parse error: invalid UTF-8 rune in "
                                  "string" },

    /* regexes */
    { "{a=~\"(\"}", "1:5: parse error: invalid regular expression \"(\": "
                    "missing closing parenthesis at offset 1" },
    { "{a !~ \"a)|(b\"}", "1:7: parse error: invalid regular expression "
                          "\"a)|(b\": unmatched closing parenthesis at "
                          "offset 1" },
    { "{b=\"\",\n a=~`[z-a]`}", "2:5: parse error: invalid regular "
                                "expression \"[z-a]\": range out of order "
                                "in character class at offset 3" },
};


static void
test_errors(void)
{
    size_t            i;
    char              what[256];
    pyro_err_t        err;
    pyro_selector_t  *sel;

    for (i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        snprintf(what, sizeof(what), "error case %zu: %s", i,
                 error_cases[i].in);

        memset(&err, 0, sizeof(pyro_err_t));
        sel = pyro_selector_parse(error_cases[i].in,
                                  strlen(error_cases[i].in), &err);

        PYRO_CHECK(sel == NULL, "%s: parsed", what);
        PYRO_CHECK_STR(err.msg, error_cases[i].msg, what);
        PYRO_CHECK_INT(err.status, 400, what);
        PYRO_CHECK_STR(err.code, "invalid_argument", what);

        pyro_selector_free(sel);
    }
}


typedef struct {
    const char  *in;
    const char  *pt;           /* NULL: msg is the error */
    const char  *msg;
    const char  *l[9];         /* labels that must match (with pt) */
} query_case_t;


static const query_case_t  query_cases[] = {
    { PT "{service_name=\"app\"}", PT, NULL,
      { "__profile_type__", PT, "service_name", "app", NULL } },
    { PT, PT, NULL, { "__profile_type__", PT, NULL } },
    { "  " PT " { } ", PT, NULL, { "__profile_type__", PT, NULL } },
    { "a:b:c:d:e:delta{x=\"y\"}", "a:b:c:d:e", NULL,
      { "__profile_type__", "a:b:c:d:e", "x", "y", NULL } },
    { "a:b:c:d:e:f", "a:b:c:d:e", NULL,
      { "__profile_type__", "a:b:c:d:e", NULL } },
    { "memory:alloc_space:bytes::", "memory:alloc_space:bytes::", NULL,
      { "__profile_type__", "memory:alloc_space:bytes::", NULL } },
    { "::::", "::::", NULL, { "__profile_type__", "::::", NULL } },

    /* the name may come from inside the braces; __name__ is no matcher */
    { "{__name__=\"a:b:c:d:e\", x=\"y\"}", "a:b:c:d:e", NULL,
      { "__profile_type__", "a:b:c:d:e", "x", "y", NULL } },
    { "{__name__=~\"a:b:c:d:e\"}", "a:b:c:d:e", NULL,
      { "__profile_type__", "a:b:c:d:e", NULL } },
    { "{__name__=\"x\", __name__=\"a:b:c:d:e\"}", "a:b:c:d:e", NULL,
      { "__profile_type__", "a:b:c:d:e", NULL } },
    { "{\"a.b:c:d:e:f\", x=\"y\"}", "a.b:c:d:e:f", NULL,
      { "__profile_type__", "a.b:c:d:e:f", "x", "y", NULL } },

    /* errors */
    { "", NULL, "\"query\" must contain a profile-type selection",
      { NULL } },
    { "  \n ", NULL, "\"query\" must contain a profile-type selection",
      { NULL } },
    { "{}", NULL, "\"query\" must contain a profile-type selection",
      { NULL } },
    { "{service_name=\"x\"}", NULL,
      "\"query\" must contain a profile-type selection", { NULL } },
    { "a:b:c:d", NULL,
      "profile-type selection must be of the form <name>:<sample-type>:"
      "<sample-unit>:<period-type>:<period-unit>(:delta), got(4): "
      "\"a:b:c:d\"", { NULL } },
    { "a:b:c:d:e:f:g{}", NULL,
      "profile-type selection must be of the form <name>:<sample-type>:"
      "<sample-unit>:<period-type>:<period-unit>(:delta), got(7): "
      "\"a:b:c:d:e:f:g\"", { NULL } },
    { "a{}", NULL,
      "profile-type selection must be of the form <name>:<sample-type>:"
      "<sample-unit>:<period-type>:<period-unit>(:delta), got(1): \"a\"",
      { NULL } },
    { "{__name__=\"\"}", NULL,
      "profile-type selection must be of the form <name>:<sample-type>:"
      "<sample-unit>:<period-type>:<period-unit>(:delta), got(1): \"\"",
      { NULL } },
    { "{__name__=\"a\\\"b\\\\\\n\\x01\xc3\xa9\"}", NULL,
      "profile-type selection must be of the form <name>:<sample-type>:"
      "<sample-unit>:<period-type>:<period-unit>(:delta), got(1): "
      "\"a\\\"b\\\\\\n\\x01\xc3\xa9\"", { NULL } },
    { "{__name__=\"\\xff:\"}", NULL,
      "profile-type selection must be of the form <name>:<sample-type>:"
      "<sample-unit>:<period-type>:<period-unit>(:delta), got(2): "
      "\"\\xff:\"", { NULL } },
    { PT "{a=\"b\"", NULL,
      "1:50: parse error: unexpected end of input inside braces", { NULL } },
    { PT "{__name__=\"" PT "\"}", NULL,
      "1:45: parse error: metric name must not be set twice", { NULL } },
};


static void
test_query(void)
{
    size_t            i, n;
    char              what[256];
    pyro_err_t        err;
    pyro_label_t      v[4];
    pyro_selector_t  *sel;

    for (i = 0; i < sizeof(query_cases) / sizeof(query_cases[0]); i++) {
        const query_case_t  *c = &query_cases[i];

        snprintf(what, sizeof(what), "query case %zu: %s", i, c->in);

        memset(&err, 0, sizeof(pyro_err_t));
        sel = pyro_selector_parse_query(c->in, strlen(c->in), &err);

        if (c->pt == NULL) {
            PYRO_CHECK(sel == NULL, "%s: parsed", what);
            PYRO_CHECK_STR(err.msg, c->msg, what);
            PYRO_CHECK_INT(err.status, 400, what);
            PYRO_CHECK_STR(err.code, "invalid_argument", what);
            pyro_selector_free(sel);
            continue;
        }

        PYRO_CHECK(sel != NULL, "%s: error \"%s\"", what, err.msg);
        if (sel == NULL) {
            continue;
        }

        PYRO_CHECK_STR(pyro_selector_profile_type(sel), c->pt, what);

        to_labels(c->l, v, &n);
        PYRO_CHECK_INT(pyro_selector_match(sel, v, n), 1, what);

        /* another profile type never matches */
        v[0].value = (char *) "other:a:b:c:d";
        PYRO_CHECK_INT(pyro_selector_match(sel, v, n), 0, what);

        /* nor does a series without one */
        PYRO_CHECK_INT(pyro_selector_match(sel, v + 1, n - 1), 0, what);

        pyro_selector_free(sel);
    }
}


static void
test_add(void)
{
    pyro_err_t        err;
    pyro_label_t      v[2];
    pyro_selector_t  *sel;

    sel = pyro_selector_parse("{a=\"b\"}", 7, &err);
    PYRO_CHECK(sel != NULL, "parse: %s", err.msg);
    if (sel == NULL) {
        return;
    }

    v[0].name = (char *) "__profile_type__";
    v[0].value = (char *) PT;
    v[1].name = (char *) "a";
    v[1].value = (char *) "b";

    PYRO_CHECK_INT(pyro_selector_add(sel, "__profile_type__", PYRO_MATCH_EQ,
                                     PT, &err), PYRO_OK, "add eq");
    PYRO_CHECK_INT(pyro_selector_match(sel, v, 2), 1, "add eq match");
    PYRO_CHECK_INT(pyro_selector_match(sel, v + 1, 1), 0, "add eq missing");

    PYRO_CHECK_INT(pyro_selector_add(sel, "a", PYRO_MATCH_RE, "b|c", &err),
                   PYRO_OK, "add re");
    PYRO_CHECK_INT(pyro_selector_add(sel, "a", PYRO_MATCH_NRE, "c", &err),
                   PYRO_OK, "add nre");
    PYRO_CHECK_INT(pyro_selector_add(sel, "z", PYRO_MATCH_NE, "x", &err),
                   PYRO_OK, "add ne");
    PYRO_CHECK_INT(pyro_selector_match(sel, v, 2), 1, "add all match");

    PYRO_CHECK_INT(pyro_selector_add(sel, "a", PYRO_MATCH_NE, "b", &err),
                   PYRO_OK, "add ne b");
    PYRO_CHECK_INT(pyro_selector_match(sel, v, 2), 0, "add ne b match");

    PYRO_CHECK_INT(pyro_selector_add(sel, "a", PYRO_MATCH_RE, "(", &err),
                   PYRO_ERROR, "add bad re");
    PYRO_CHECK_STR(err.msg, "invalid regular expression \"(\": missing "
                   "closing parenthesis at offset 1", "add bad re");
    PYRO_CHECK_INT(err.status, 400, "add bad re status");

    PYRO_CHECK_INT(pyro_selector_add(sel, "a", (pyro_match_op_e) 9, "b",
                                     &err), PYRO_ERROR, "add bad op");
    PYRO_CHECK_INT(err.status, 500, "add bad op status");

    PYRO_CHECK(pyro_selector_profile_type(NULL) == NULL, "NULL type");

    pyro_selector_free(sel);
    pyro_selector_free(NULL);
}


static void
test_limits(void)
{
    char             *big;
    size_t            i, n;
    pyro_err_t        err;
    pyro_label_t      v;
    pyro_selector_t  *sel;
    char              subj[64];

    /* catastrophic backtracking stops at the match limit: no match */
    sel = pyro_selector_parse("{a=~\"(a|aa)*(b|c)\"}", 19, &err);
    PYRO_CHECK(sel != NULL, "backtracking parse: %s", err.msg);

    memset(subj, 'a', sizeof(subj) - 1);
    subj[sizeof(subj) - 1] = '\0';
    v.name = (char *) "a";
    v.value = subj;

    if (sel != NULL) {
        PYRO_CHECK_INT(pyro_selector_match(sel, &v, 1), 0, "backtracking");
        pyro_selector_free(sel);
    }

    sel = pyro_selector_parse("{a!~\"(a|aa)*(b|c)\"}", 19, &err);
    if (sel != NULL) {
        PYRO_CHECK_INT(pyro_selector_match(sel, &v, 1), 1,
                       "backtracking negated");
        pyro_selector_free(sel);
    }

    /* many matchers and deep nesting are handled without recursion */
    n = 20000;
    big = malloc(n * 8 + 8);
    PYRO_CHECK(big != NULL, "malloc");
    if (big == NULL) {
        return;
    }

    i = 0;
    big[i++] = '{';
    for (n = 0; n < 20000; n++) {
        memcpy(big + i, "a!=\"b\",", 7);
        i += 7;
    }
    big[i++] = '}';

    sel = pyro_selector_parse(big, i, &err);
    PYRO_CHECK(sel != NULL, "many matchers: %s", err.msg);
    v.value = (char *) "c";
    if (sel != NULL) {
        PYRO_CHECK_INT(pyro_selector_match(sel, &v, 1), 1, "many match");
        pyro_selector_free(sel);
    }

    /* a deeply nested regex is PCRE2's to refuse, not a crash */
    memcpy(big, "{a=~\"", 5);
    for (i = 5; i < 5 + 10000; i++) {
        big[i] = '(';
    }
    memcpy(big + i, "\"}", 2);
    i += 2;

    sel = pyro_selector_parse(big, i, &err);
    PYRO_CHECK(sel == NULL && strstr(err.msg, "invalid regular expression")
               != NULL, "nested regex: %s", err.msg);
    pyro_selector_free(sel);

    /* the length given is honoured */
    sel = pyro_selector_parse("{a=\"b\"} garbage", 7, &err);
    PYRO_CHECK(sel != NULL, "prefix: %s", err.msg);
    pyro_selector_free(sel);

    free(big);
}


int
main(void)
{
    test_match();
    test_errors();
    test_query();
    test_add();
    test_limits();

    return pyro_test_done("selector");
}


/*
 * Copyright (C) ngx_pyroscope developers
 *
 * pyro_tenant_validate() against dskit's ValidTenantID.
 */


#include "pyro.h"
#include "pyro_test.h"


typedef struct {
    const char  *id;
    size_t       len;          /* 0: strlen(id) */
    const char  *msg;          /* NULL: valid */
} tenant_case_t;


static const tenant_case_t  tenant_cases[] = {
    { "anonymous", 0, NULL },
    { "a", 0, NULL },
    { "Tenant-1_x.y", 0, NULL },
    { "!-_.*'()", 0, NULL },
    { "...", 0, NULL },
    { ".a", 0, NULL },
    { "0123456789", 0, NULL },

    { "", 0, "tenant ID is empty" },
    { ".", 0, "tenant ID is '.' or '..'" },
    { "..", 0, "tenant ID is '.' or '..'" },

    { "a b", 0, "tenant ID 'a b' contains unsupported character ' '" },
    { "a/b", 0, "tenant ID 'a/b' contains unsupported character '/'" },
    { "a|b", 0, "tenant ID 'a|b' contains unsupported character '|'" },
    { "a:b", 0, "tenant ID 'a:b' contains unsupported character ':'" },
    { "x\\", 0, "tenant ID 'x\\' contains unsupported character '\\'" },
    { "a\"", 0, "tenant ID 'a\"' contains unsupported character '\"'" },
    { "%2e", 0, "tenant ID '%2e' contains unsupported character '%'" },
    /* the first bad byte is reported */
    { "a#b$", 0, "tenant ID 'a#b$' contains unsupported character '#'" },
    /* Go's %c of a byte >= 0x80 prints U+0080..U+00FF as UTF-8 */
    { "\xc3\xa9", 0,
      "tenant ID '\xc3\xa9' contains unsupported character '\xc3\x83'" },
    { "a\xff", 0,
      "tenant ID 'a\xff' contains unsupported character '\xc3\xbf'" },
    { "a\tb", 0, "tenant ID 'a\tb' contains unsupported character '\t'" },
};


static void
test_table(void)
{
    int         rc;
    size_t      i, len;
    char        what[256];
    pyro_err_t  err;

    for (i = 0; i < sizeof(tenant_cases) / sizeof(tenant_cases[0]); i++) {
        len = tenant_cases[i].len ? tenant_cases[i].len
                                  : strlen(tenant_cases[i].id);

        memset(&err, 0, sizeof(pyro_err_t));
        rc = pyro_tenant_validate(tenant_cases[i].id, len, &err);

        snprintf(what, sizeof(what), "tenant \"%s\"", tenant_cases[i].id);

        if (tenant_cases[i].msg == NULL) {
            PYRO_CHECK_INT(rc, PYRO_OK, what);
            continue;
        }

        PYRO_CHECK_INT(rc, PYRO_ERROR, what);
        PYRO_CHECK_STR(err.msg, tenant_cases[i].msg, what);
        PYRO_CHECK_INT(err.status, 400, what);
        PYRO_CHECK_STR(err.code, "invalid_argument", what);
    }
}


static void
test_length(void)
{
    char        id[PYRO_TENANT_MAX + 2];
    pyro_err_t  err;

    memset(id, 'a', sizeof(id));

    PYRO_CHECK_INT(pyro_tenant_validate(id, PYRO_TENANT_MAX, &err), PYRO_OK,
                   "150 bytes");

    PYRO_CHECK_INT(pyro_tenant_validate(id, PYRO_TENANT_MAX + 1, &err),
                   PYRO_ERROR, "151 bytes");
    PYRO_CHECK_STR(err.msg, "tenant ID is too long: max 150 characters",
                   "151 bytes");

    /* characters are checked before the length, as in dskit */
    id[PYRO_TENANT_MAX] = '/';
    PYRO_CHECK_INT(pyro_tenant_validate(id, PYRO_TENANT_MAX + 1, &err),
                   PYRO_ERROR, "151 bytes with '/'");
    PYRO_CHECK(strstr(err.msg, "contains unsupported character '/'")
               != NULL, "got \"%s\"", err.msg);

    /* the length given is honoured: a NUL or '/' past it is not read */
    PYRO_CHECK_INT(pyro_tenant_validate("ab/c", 2, &err), PYRO_OK,
                   "prefix of \"ab/c\"");

    /* a NUL byte is not a tenant character */
    PYRO_CHECK_INT(pyro_tenant_validate("a\0b", 3, &err), PYRO_ERROR,
                   "NUL byte");
}


static void
test_tenants_parse(void)
{
    pyro_err_t      err;
    pyro_tenants_t  t;

    PYRO_CHECK_INT(pyro_tenants_parse("b|a:meta=1|b", 12, &t, &err), PYRO_OK,
                   "b|a:meta=1|b");
    PYRO_CHECK_INT(t.n, 2, "deduplicated");
    PYRO_CHECK_STR(t.id[0], "a", "sorted first, metadata dropped");
    PYRO_CHECK_STR(t.id[1], "b", "sorted second");

    PYRO_CHECK_INT(pyro_tenants_parse("dup|dup", 7, &t, &err), PYRO_OK,
                   "dup|dup");
    PYRO_CHECK_INT(t.n, 1, "dup|dup is one tenant");

    PYRO_CHECK_INT(pyro_tenants_parse("a||", 3, &t, &err), PYRO_OK, "a||");
    PYRO_CHECK_INT(t.n, 1, "empty parts skipped");

    PYRO_CHECK_INT(pyro_tenants_parse("|", 1, &t, &err), PYRO_ERROR, "|");
    PYRO_CHECK_INT(err.status, 401, "no ID at all");

    PYRO_CHECK_INT(pyro_tenants_parse("ok|../x", 7, &t, &err), PYRO_ERROR,
                   "one bad part");
    PYRO_CHECK_INT(err.status, 400, "bad part status");
    PYRO_CHECK(strstr(err.msg, "unsupported character '/'") != NULL, "%s",
               err.msg);

    PYRO_CHECK_INT(pyro_tenants_parse("a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q",
                                      33, &t, &err), PYRO_ERROR, "17 IDs");
}


int
main(void)
{
    test_table();
    test_length();

    test_tenants_parse();

    return pyro_test_done("tenant");
}

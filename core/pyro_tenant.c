
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * Tenant ID validation with dskit's rules and messages (spec section 7).
 * A valid ID is also a safe directory name: no '/', no NUL, not "." or "..".
 */


#include <stdlib.h>
#include <string.h>

#include "pyro.h"


static int
pyro_tenant_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9')
           || (c != '\0' && strchr("!-_.*'()", c) != NULL);
}


int
pyro_tenant_validate(const char *id, size_t len, pyro_err_t *err)
{
    size_t         i;
    unsigned char  c;

    /*
     * dskit lets an empty part through (e.g. "a|"), but an empty ID would
     * name the storage root itself, so it is refused here.
     */
    if (len == 0) {
        pyro_err_invalid(err, "tenant ID is empty");
        return PYRO_ERROR;
    }

    /* the checks run in dskit's order: characters, length, dots */
    for (i = 0; i < len; i++) {
        c = (unsigned char) id[i];

        if (pyro_tenant_char(c)) {
            continue;
        }

        /*
         * Go's %c prints the byte as the rune U+00xx, so a byte past
         * 0x7f comes out as two UTF-8 bytes.
         */
        if (c < 0x80) {
            pyro_err_invalid(err, "tenant ID '%.*s' contains unsupported "
                             "character '%c'", (int) len, id, c);

        } else {
            pyro_err_invalid(err, "tenant ID '%.*s' contains unsupported "
                             "character '%c%c'", (int) len, id,
                             0xc0 | (c >> 6), 0x80 | (c & 0x3f));
        }

        return PYRO_ERROR;
    }

    if (len > PYRO_TENANT_MAX) {
        pyro_err_invalid(err, "tenant ID is too long: max %d characters",
                         PYRO_TENANT_MAX);
        return PYRO_ERROR;
    }

    if ((len == 1 && id[0] == '.') || (len == 2 && memcmp(id, "..", 2) == 0))
    {
        pyro_err_invalid(err, "tenant ID is '.' or '..'");
        return PYRO_ERROR;
    }

    return PYRO_OK;
}


static int
pyro_tenant_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}


/*
 * Splits "a|b:meta|a" the way dskit's MultiResolver does: parts split on
 * '|', a ":<metadata>" suffix dropped, each part validated, the IDs
 * sorted and deduplicated.  Empty parts are skipped.
 */
int
pyro_tenants_parse(const char *s, size_t len, pyro_tenants_t *t,
    pyro_err_t *err)
{
    size_t       i, n, k;
    const char  *p, *end, *bar, *colon;

    t->n = 0;
    end = s + len;

    for (p = s; p < end; p = bar + 1) {
        bar = memchr(p, '|', (size_t) (end - p));
        if (bar == NULL) {
            bar = end;
        }

        colon = memchr(p, ':', (size_t) (bar - p));
        n = (size_t) ((colon ? colon : bar) - p);

        if (n == 0) {
            continue;
        }

        if (pyro_tenant_validate(p, n, err) != PYRO_OK) {
            return PYRO_ERROR;
        }

        if (t->n == PYRO_TENANTS_MAX) {
            pyro_err_invalid(err, "too many tenant IDs: max %d",
                             PYRO_TENANTS_MAX);
            return PYRO_ERROR;
        }

        memcpy(t->id[t->n], p, n);
        t->id[t->n][n] = '\0';
        t->n++;
    }

    if (t->n == 0) {
        pyro_err_set(err, 401, "unauthenticated", "no org id");
        return PYRO_ERROR;
    }

    qsort(t->id, t->n, sizeof(t->id[0]), pyro_tenant_cmp);

    for (i = 1, k = 1; i < t->n; i++) {
        if (strcmp(t->id[i], t->id[k - 1]) != 0) {
            memmove(t->id[k++], t->id[i], sizeof(t->id[0]));
        }
    }

    t->n = k;

    return PYRO_OK;
}

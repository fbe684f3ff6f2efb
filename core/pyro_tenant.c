
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * Tenant ID validation with dskit's rules and messages (spec section 7).
 * A valid ID is also a safe directory name: no '/', no NUL, not "." or "..".
 */


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

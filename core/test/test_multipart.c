
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * pyro_multipart_parse() and pyro_multipart_file(): every captured
 * multipart request of the fixtures must split into exactly the parts
 * extracted next to it (names, filenames, part Content-Types from
 * summary.json, bytes from part-*.bin), plus hand-made bodies for the
 * rules of Go's mime/multipart and malformed input.
 *
 * Fixtures are read from ../../shared/fixtures (run from core/), or from
 * $PYRO_FIXTURES; a missing fixture is a failure.
 */


#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>

#include "pyro.h"
#include "pyro_test.h"


#define CT(b)  "multipart/form-data; boundary=" b


static int
str_eq(pyro_str_t s, const char *want)
{
    return want != NULL && s.len == strlen(want)
           && (s.len == 0 || memcmp(s.data, want, s.len) == 0);
}


/* One captured request against its summary entry. */
static void
test_capture(const char *client, json_t *entry, unsigned *nparts_checked)
{
    int                 rc;
    char                dir[1024], path[1200];
    char               *body, *want;
    size_t              blen, wlen, i, nparts;
    json_t             *req, *fields, *fl;
    pyro_err_t          err;
    const char         *ct;
    pyro_part_t         parts[PYRO_PARTS_MAX];
    const pyro_part_t  *p;

    snprintf(dir, sizeof(dir), "%s/captured/%s/%04d", pyro_test_fixtures(), client,
             (int) json_integer_value(json_object_get(entry, "index")));

    snprintf(path, sizeof(path), "%s/request.json", dir);
    req = json_load_file(path, 0, NULL);
    PYRO_CHECK(req != NULL, "%s is missing", path);

    snprintf(path, sizeof(path), "%s/body.bin", dir);
    body = pyro_test_read_file(path, &blen);
    PYRO_CHECK(body != NULL, "%s is missing", path);

    if (req == NULL || body == NULL) {
        json_decref(req);
        free(body);
        return;
    }

    ct = pyro_test_request_header(req, "content-type");
    PYRO_CHECK(ct != NULL && strstr(ct, "multipart/form-data") != NULL,
               "%s: content type", dir);

    memset(&err, 0, sizeof(pyro_err_t));
    rc = pyro_multipart_parse(ct, strlen(ct), body, blen, parts, &nparts,
                              &err);

    PYRO_CHECK(rc == PYRO_OK, "%s: %s", dir, err.msg);

    fields = json_object_get(entry, "multipart_fields");
    PYRO_CHECK(rc != PYRO_OK || nparts == json_array_size(fields),
               "%s: %zu parts, want %zu", dir, nparts,
               json_array_size(fields));

    for (i = 0; rc == PYRO_OK && i < json_array_size(fields); i++) {
        fl = json_array_get(fields, i);

        p = pyro_multipart_file(parts, nparts,
                     json_string_value(json_object_get(fl, "name")));

        PYRO_CHECK(p != NULL, "%s: no file part %s", dir,
                   json_string_value(json_object_get(fl, "name")));
        if (p == NULL) {
            continue;
        }

        PYRO_CHECK(p == &parts[i], "%s: part order", dir);
        PYRO_CHECK(str_eq(p->filename,
                       json_string_value(json_object_get(fl, "filename"))),
                   "%s: filename %.*s", dir, (int) p->filename.len,
                   p->filename.data);
        PYRO_CHECK(str_eq(p->content_type,
                   json_string_value(json_object_get(fl, "content_type"))),
                   "%s: part content type %.*s", dir,
                   (int) p->content_type.len, p->content_type.data);

        snprintf(path, sizeof(path), "%s/%s", dir,
                 json_string_value(json_object_get(fl, "extracted_to")));
        want = pyro_test_read_file(path, &wlen);

        PYRO_CHECK(want != NULL, "%s is missing", path);
        PYRO_CHECK(want != NULL && p->data.len == wlen
                   && (wlen == 0 || memcmp(p->data.data, want, wlen) == 0),
                   "%s: part data differs (%zu bytes, want %zu)", path,
                   p->data.len, wlen);
        PYRO_CHECK(p->data.data >= body && p->data.data + p->data.len
                   <= body + blen, "%s: data points into the body", path);

        free(want);
        (*nparts_checked)++;
    }

    /* the missing ones are NULL */
    PYRO_CHECK(pyro_multipart_file(parts, nparts, "prev_profile") == NULL,
               "%s: no prev_profile", dir);

    json_decref(req);
    free(body);
}


static void
test_captures(void)
{
    char         path[1024];
    size_t       i, c, nreq;
    json_t      *summary, *entry;
    unsigned     nparts;
    const char  *ct;
    const char  *clients[] = { "nodejs-0.4.13", "pyroscope-go-1.2.7",
                               "nodejs-0.6.4", "connect-push" };

    nreq = 0;
    nparts = 0;

    for (c = 0; c < sizeof(clients) / sizeof(clients[0]); c++) {
        snprintf(path, sizeof(path), "%s/captured/%s/summary.json",
                 pyro_test_fixtures(), clients[c]);

        summary = json_load_file(path, 0, NULL);
        PYRO_CHECK(json_is_array(summary), "%s is missing", path);

        for (i = 0; i < json_array_size(summary); i++) {
            entry = json_array_get(summary, i);
            ct = json_string_value(json_object_get(entry, "content_type"));

            if (ct == NULL || strstr(ct, "multipart/form-data") == NULL) {
                continue;
            }

            test_capture(clients[c], entry, &nparts);
            nreq++;
        }

        json_decref(summary);
    }

    /* 9 nodejs 0.4.13 and 19 pyroscope-go requests, 44 parts */
    PYRO_CHECK(nreq >= 28, "multipart captures read: %zu", nreq);
    PYRO_CHECK(nparts >= 44, "multipart parts checked: %u", nparts);
}


typedef struct {
    const char  *ct;
    const char  *body;
    int          rc;
    int          nparts;
    /* the first part, or the error message */
    const char  *name;
    const char  *filename;
    const char  *type;
    const char  *data;
} mp_case_t;


static const mp_case_t  mp_cases[] = {

    /* the common shape */
    { CT("XyZ"),
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"profile\"; "
      "filename=\"profile.pprof\"\r\n"
      "Content-Type: application/octet-stream\r\n"
      "\r\n"
      "\x1f\x8b\r\n\r\nbinary\r\n"
      "--XyZ--\r\n",
      PYRO_OK, 1, "profile", "profile.pprof", "application/octet-stream",
      "\x1f\x8b\r\n\r\nbinary" },

    /* quoted boundary with a space, Boundary in any case; preamble and
     * epilogue; transport padding after the delimiters */
    { "multipart/form-data; charset=utf-8; Boundary=\"a b'()+_,-./:=?\"",
      "preamble line\r\n--a b'()+_,-./:=?x\r\n"
      "--a b'()+_,-./:=? \t\r\n"
      "content-disposition: FORM-DATA; name=p; filename=f\r\n"
      "\r\n"
      "d\r\n"
      "--a b'()+_,-./:=?-- \r\n"
      "epilogue\r\n--junk",
      PYRO_OK, 1, "p", "f", NULL, "d" },

    /* bare LF line endings, decided by the first delimiter */
    { CT("b"),
      "--b\n"
      "Content-Disposition: form-data; name=\"profile\"; filename=\"x\"\n"
      "\n"
      "line1\r\nline2\n"
      "--b--\n",
      PYRO_OK, 1, "profile", "x", NULL, "line1\r\nline2" },

    /* in CRLF mode a bare LF before the boundary is data */
    { CT("b"),
      "--b\r\n"
      "Content-Disposition: form-data; name=\"p\"; filename=\"x\"\r\n"
      "\r\n"
      "a\n--b\r\nmore"
      "\r\n--b--",
      PYRO_OK, 1, "p", "x", NULL, "a\n--b\r\nmore" },

    /* "--boundary" followed by other text is data */
    { CT("b"),
      "--b\r\n"
      "Content-Disposition: form-data; name=\"p\"; filename=\"x\"\r\n"
      "\r\n"
      "a\r\n--bc\r\n--b-x"
      "\r\n--b--",
      PYRO_OK, 1, "p", "x", NULL, "a\r\n--bc\r\n--b-x" },

    /* an empty part; the delimiter right after the headers */
    { CT("b"),
      "--b\r\n"
      "Content-Disposition: form-data; name=\"p\"; filename=\"x\"\r\n"
      "\r\n"
      "--b--\r\n",
      PYRO_OK, 1, "p", "x", NULL, "" },

    { CT("b"),
      "--b\r\n"
      "Content-Disposition: form-data; name=\"p\"; filename=\"x\"\r\n"
      "\r\n"
      "\r\n--b--",
      PYRO_OK, 1, "p", "x", NULL, "" },

    /* escapes in quoted names; a continued header line */
    { CT("b"),
      "--b\r\n"
      "Content-Disposition: form-data;\r\n"
      "\tname=\"a\\\"b\"; filename=\"C:\\dir\\f.txt\"\r\n"
      "\r\n"
      "v\r\n--b--",
      PYRO_OK, 1, "a\"b", "C:\\dir\\f.txt", NULL, "v" },

    /* RFC 2231 filename* */
    { CT("b"),
      "--b\r\n"
      "Content-Disposition: form-data; name=p; filename*=UTF-8''%e2%82%ac\r\n"
      "\r\n"
      "v\r\n--b--",
      PYRO_OK, 1, "p", "%e2%82%ac", NULL, "v" },

    /* parts without a form-data name are skipped */
    { CT("b"),
      "--b\r\n"
      "Content-Disposition: attachment; name=\"x\"; filename=\"y\"\r\n"
      "\r\n"
      "v\r\n"
      "--b\r\n"
      "Content-Type: text/plain\r\n"
      "\r\n"
      "v\r\n"
      "--b\r\n"
      "Content-Disposition: form-data; name=\"a\"; name=\"b\"\r\n"
      "\r\n"
      "v\r\n"
      "--b\r\n"
      "Content-Disposition: form-data; name=\"a\"; bad\r\n"
      "\r\n"
      "v\r\n"
      "--b\r\n"
      "Content-Disposition: form-data; name=\"\"\r\n"
      "\r\n"
      "v\r\n"
      "--b\r\n"
      "Content-Disposition: form-data; name=\"ok\"; name=\"ok\"\r\n"
      "\r\n"
      "w\r\n"
      "--b--\r\n",
      PYRO_OK, 1, "ok", NULL, NULL, "w" },

    /* only the close delimiter: no parts */
    { CT("b"), "--b--", PYRO_OK, 0, NULL, NULL, NULL, NULL },
    { CT("b"), "junk\r\n--b--\r\n", PYRO_OK, 0, NULL, NULL, NULL, NULL },

    /* the content type */
    { "", "--b--", PYRO_ERROR, 0, "mime: no media type",
      NULL, NULL, NULL },
    { "multipart; boundary=b", "--b--", PYRO_ERROR, 0,
      "mime: expected slash after first token", NULL, NULL, NULL },
    { "multipart/form-data x; boundary=b", "--b--", PYRO_ERROR, 0,
      "mime: unexpected content after media subtype", NULL, NULL, NULL },
    { " Multipart/Form-Data ;boundary = b ;", "--b--", PYRO_OK, 0,
      NULL, NULL, NULL, NULL },
    { "multipart/form-data", "--b--", PYRO_ERROR, 0,
      "malformed multipart content type header", NULL, NULL, NULL },
    { "multipart/form-data; boundary=", "--b--", PYRO_ERROR, 0,
      "mime: invalid media parameter", NULL, NULL, NULL },
    { "multipart/form-data; boundary=\"\"", "----", PYRO_ERROR, 0,
      "multipart: invalid boundary in the content type header "
      "(1 to 70 characters)", NULL, NULL, NULL },
    { "multipart/form-data; boundary=\"abc", "--abc--", PYRO_ERROR, 0,
      "mime: invalid media parameter", NULL, NULL, NULL },
    { "multipart/form-data; boundary=a; boundary=b", "--a--", PYRO_ERROR,
      0, "mime: duplicate parameter name", NULL, NULL, NULL },
    { "multipart/form-data; boundary=a; boundary=a;", "--a--", PYRO_OK, 0,
      NULL, NULL, NULL, NULL },
    { CT("0123456789012345678901234567890123456789012345678901234567890"
         "123456789"),
      "--0123456789012345678901234567890123456789012345678901234567890"
      "123456789--", PYRO_OK, 0, NULL, NULL, NULL, NULL },
    { CT("0123456789012345678901234567890123456789012345678901234567890"
         "1234567890"),
      "--0123456789012345678901234567890123456789012345678901234567890"
      "1234567890--", PYRO_ERROR, 0,
      "multipart: invalid boundary in the content type header "
      "(1 to 70 characters)", NULL, NULL, NULL },

    /* malformed bodies */
    { CT("b"), "", PYRO_ERROR, 0,
      "multipart: NextPart: EOF (no boundary delimiter in the body)",
      NULL, NULL, NULL },
    { CT("b"), "no delimiter at all\r\n", PYRO_ERROR, 0,
      "multipart: NextPart: EOF (no boundary delimiter in the body)",
      NULL, NULL, NULL },
    { CT("b"), "x--b\r\n\r\n\r\n--b-", PYRO_ERROR, 0,
      "multipart: NextPart: EOF (no boundary delimiter in the body)",
      NULL, NULL, NULL },
    { CT("b"),
      "--b\r\n"
      "Content-Disposition: form-data; name=\"profile\"; filename=\"x\"\r\n"
      "\r\n"
      "unterminated data",
      PYRO_ERROR, 0,
      "multipart: unexpected EOF in part \"profile\" (no closing boundary)",
      NULL, NULL, NULL },
    { CT("b"),
      "--b\r\n"
      "Content-Disposition: form-data; name=\"p\"\r\n",
      PYRO_ERROR, 0, "multipart: NextPart: EOF (in part headers)",
      NULL, NULL, NULL },
    { CT("b"),
      "--b\r\n"
      "Content-Disposition: form-data; name=\"p\"\r\n"
      "\r\n"
      "data\r\n--b",
      PYRO_ERROR, 0, "multipart: NextPart: EOF (no close delimiter)",
      NULL, NULL, NULL },
    { CT("b"),
      "--b\r\n"
      "Content-Disposition: form-data; name=\"p\"\r\n"
      "\r\n"
      "data\r\n--b junk\r\n",
      PYRO_ERROR, 0,
      "multipart: expecting a new Part; got line \"--b junk??\"",
      NULL, NULL, NULL },
    { CT("b"),
      "--b\n"
      "Content-Disposition: form-data; name=\"p\"\n"
      "\n"
      "data\n--b\r\n",
      PYRO_ERROR, 0,
      "multipart: expecting a new Part; got line \"--b??\"", NULL, NULL, NULL },
    { CT("b"),
      "--b\r\n"
      "Content-Disposition form-data\r\n"
      "\r\n"
      "data\r\n--b--",
      PYRO_ERROR, 0, "multipart: malformed MIME header line: "
      "\"Content-Disposition form-data\"", NULL, NULL, NULL },
    { CT("b"),
      "--b\r\n"
      "Bad Name: x\r\n"
      "\r\n"
      "data\r\n--b--",
      PYRO_ERROR, 0, "multipart: malformed MIME header line: "
      "\"Bad Name: x\"", NULL, NULL, NULL },
    { CT("b"),
      "--b\r\n"
      " continued: x\r\n"
      "\r\n"
      "data\r\n--b--",
      PYRO_ERROR, 0, "multipart: malformed MIME header initial line: "
      "\" continued: x\"", NULL, NULL, NULL },
};


static void
test_cases(void)
{
    int                 rc;
    size_t              i, n;
    pyro_err_t          err;
    pyro_part_t         parts[PYRO_PARTS_MAX];
    const mp_case_t    *c;

    for (i = 0; i < sizeof(mp_cases) / sizeof(mp_cases[0]); i++) {
        c = &mp_cases[i];

        memset(&err, 0, sizeof(pyro_err_t));
        n = 99;

        rc = pyro_multipart_parse(c->ct, strlen(c->ct), c->body,
                                  strlen(c->body), parts, &n, &err);

        PYRO_CHECK(rc == c->rc, "case %zu: rc %d, want %d (%s)", i, rc,
                   c->rc, err.msg);

        if (rc != PYRO_OK) {
            PYRO_CHECK_INT(err.status, 400, "error status");
            PYRO_CHECK_STR(err.code, "invalid_argument", "error code");
            PYRO_CHECK_STR(err.msg, c->name, "error message");
            continue;
        }

        PYRO_CHECK(n == (size_t) c->nparts, "case %zu: %zu parts, want %d",
                   i, n, c->nparts);

        if (n == 0 || c->name == NULL) {
            continue;
        }

        PYRO_CHECK(c->filename == NULL
                   ? parts[0].filename.data == NULL
                   : str_eq(parts[0].filename, c->filename),
                   "case %zu: filename %.*s", i, (int) parts[0].filename.len,
                   parts[0].filename.data);
        PYRO_CHECK(c->type == NULL
                   ? parts[0].content_type.data == NULL
                   : str_eq(parts[0].content_type, c->type),
                   "case %zu: content type", i);
        PYRO_CHECK(str_eq(parts[0].data, c->data),
                   "case %zu: data \"%.*s\"", i, (int) parts[0].data.len,
                   parts[0].data.data);

        if (c->filename != NULL) {
            PYRO_CHECK(pyro_multipart_file(parts, n, c->name) == &parts[0],
                       "case %zu: file part %s", i, c->name);

        } else {
            PYRO_CHECK(pyro_multipart_file(parts, n, c->name) == NULL,
                       "case %zu: %s is not a file part", i, c->name);
        }
    }
}


/* The first file of a name wins; plain values are not files. */
static void
test_file_lookup(void)
{
    int                 rc;
    size_t              n;
    pyro_err_t          err;
    pyro_part_t         parts[PYRO_PARTS_MAX];
    const char         *body;
    const pyro_part_t  *p;

    body = "--b\r\n"
           "Content-Disposition: form-data; name=\"profile\"\r\n"
           "\r\n"
           "value\r\n"
           "--b\r\n"
           "Content-Disposition: form-data; name=\"profile\"; "
           "filename=\"\"\r\n"
           "\r\n"
           "empty filename\r\n"
           "--b\r\n"
           "Content-Disposition: form-data; name=\"profile\"; "
           "filename=\"1\"\r\n"
           "\r\n"
           "first\r\n"
           "--b\r\n"
           "Content-Disposition: form-data; name=\"profile\"; "
           "filename=\"2\"\r\n"
           "\r\n"
           "second\r\n"
           "--b\r\n"
           "Content-Disposition: form-data; name=\"Profile\"; "
           "filename=\"3\"\r\n"
           "\r\n"
           "third\r\n"
           "--b--\r\n";

    rc = pyro_multipart_parse(CT("b"), strlen(CT("b")), body, strlen(body),
                              parts, &n, &err);

    PYRO_CHECK_INT(rc, PYRO_OK, "lookup parse");
    PYRO_CHECK_INT(n, 5, "lookup parts");

    p = pyro_multipart_file(parts, n, "profile");
    PYRO_CHECK(p != NULL && str_eq(p->data, "first"), "first file wins");

    p = pyro_multipart_file(parts, n, "Profile");
    PYRO_CHECK(p != NULL && str_eq(p->data, "third"), "names are exact");

    PYRO_CHECK(pyro_multipart_file(parts, n, "profil") == NULL, "prefix");
    PYRO_CHECK(pyro_multipart_file(parts, n, "profiles") == NULL, "longer");
    PYRO_CHECK(pyro_multipart_file(parts, 0, "profile") == NULL, "none");
}


/* PYRO_PARTS_MAX parts are fine, one more is an error. */
static void
test_too_many(void)
{
    int          rc;
    size_t       i, n;
    pyro_buf_t   body;
    pyro_err_t   err;
    pyro_part_t  parts[PYRO_PARTS_MAX];

    memset(&body, 0, sizeof(pyro_buf_t));

    for (i = 0; i < PYRO_PARTS_MAX; i++) {
        pyro_buf_printf(&body, "--b\r\nContent-Disposition: form-data; "
                        "name=\"f%zu\"; filename=\"x\"\r\n\r\n%zu\r\n", i, i);
    }

    pyro_buf_puts(&body, "--b--\r\n");

    rc = pyro_multipart_parse(CT("b"), strlen(CT("b")), body.data, body.len,
                              parts, &n, &err);

    PYRO_CHECK_INT(rc, PYRO_OK, "16 parts");
    PYRO_CHECK_INT(n, PYRO_PARTS_MAX, "16 parts stored");
    PYRO_CHECK(str_eq(parts[15].data, "15"), "last part data");

    body.len -= strlen("--b--\r\n");
    pyro_buf_puts(&body, "--b\r\n\r\nskipped, but counted\r\n--b--\r\n");

    rc = pyro_multipart_parse(CT("b"), strlen(CT("b")), body.data, body.len,
                              parts, &n, &err);

    PYRO_CHECK_INT(rc, PYRO_ERROR, "17 parts");
    PYRO_CHECK_STR(err.msg, "multipart: too many parts (limit 16)",
                   "17 parts message");

    pyro_buf_free(&body);
}


/* Every prefix of a valid body fails cleanly or parses (ASan watches). */
static void
test_truncations(void)
{
    int          rc;
    size_t       cut, n, ok;
    pyro_err_t   err;
    pyro_part_t  parts[PYRO_PARTS_MAX];
    const char  *body;

    body = mp_cases[0].body;
    ok = 0;

    for (cut = 0; cut < strlen(body); cut++) {
        rc = pyro_multipart_parse(CT("XyZ"), strlen(CT("XyZ")), body, cut,
                                  parts, &n, &err);
        if (rc == PYRO_OK) {
            ok++;
        }
    }

    /* only the cut right after the close delimiter's "--" parses */
    PYRO_CHECK_INT(ok, 1, "truncated bodies that parse");
}


int
main(void)
{
    test_captures();
    test_cases();
    test_file_lookup();
    test_too_many();
    test_truncations();

    return pyro_test_done("multipart");
}

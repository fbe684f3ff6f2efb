
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * pyro_push_decode(): the captured Connect Push requests (binary, JSON,
 * gzip-encoded) decode into the labels listed in summary.json and a
 * raw_profile byte-identical to go/cpu.pb.gz; hand-made binary and JSON
 * requests cover protojson's rules and malformed input.
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
#include "push/v1/push.pb-c.h"


static int
str_eq(pyro_str_t s, const char *want)
{
    return want != NULL && s.len == strlen(want)
           && (s.len == 0 || memcmp(s.data, want, s.len) == 0);
}


/* Series labels, in order, against summary.json's push_series labels. */
static void
check_labels(const char *what, const pyro_labels_t *ls, json_t *want)
{
    size_t   i;
    json_t  *l;

    PYRO_CHECK(ls->n == json_array_size(want), "%s: %zu labels, want %zu",
               what, ls->n, json_array_size(want));

    for (i = 0; i < ls->n && i < json_array_size(want); i++) {
        l = json_array_get(want, i);

        PYRO_CHECK_STR(ls->v[i].name,
                       json_string_value(json_object_get(l, "name")), what);
        PYRO_CHECK_STR(ls->v[i].value,
                       json_string_value(json_object_get(l, "value")), what);
    }
}


static void
test_capture(json_t *entry, const char *cpu, size_t cpulen)
{
    int           rc, json;
    char          dir[1024], path[1200];
    char         *body;
    size_t        blen, i;
    json_t       *req, *want;
    pyro_err_t    err;
    pyro_buf_t    plain;
    pyro_push_t   push;
    const char   *ct, *ce, *data;

    snprintf(dir, sizeof(dir), "%s/captured/connect-push/%04d", pyro_test_fixtures(),
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
    ce = pyro_test_request_header(req, "content-encoding");
    json = ct != NULL && strncmp(ct, "application/json", 16) == 0;

    memset(&plain, 0, sizeof(pyro_buf_t));
    data = body;

    if (ce != NULL && strcmp(ce, "gzip") == 0) {
        rc = pyro_gunzip(body, blen, 256 << 20, &plain, &err);
        PYRO_CHECK(rc == PYRO_OK, "%s: gunzip: %s", dir, err.msg);

        data = plain.data;
        blen = plain.len;
    }

    memset(&err, 0, sizeof(pyro_err_t));
    rc = pyro_push_decode(data, blen, json, &push, &err);

    PYRO_CHECK(rc == PYRO_OK, "%s: %s", dir, err.msg);

    want = json_object_get(entry, "push_series");

    PYRO_CHECK(rc != PYRO_OK || push.nseries == json_array_size(want),
               "%s: %zu series", dir, push.nseries);

    for (i = 0; rc == PYRO_OK && i < push.nseries; i++) {
        check_labels(dir, &push.series[i].labels,
                     json_object_get(json_array_get(want, i), "labels"));

        PYRO_CHECK(push.series[i].nsamples == 1, "%s: samples", dir);
        PYRO_CHECK(push.series[i].nsamples == 1
                   && push.series[i].samples[0].raw.len == cpulen
                   && memcmp(push.series[i].samples[0].raw.data, cpu, cpulen)
                      == 0,
                   "%s: raw_profile differs from go/cpu.pb.gz", dir);
    }

    if (rc == PYRO_OK) {
        pyro_push_free(&push);
    }

    pyro_buf_free(&plain);
    json_decref(req);
    free(body);
}


static void
test_captures(void)
{
    char     path[1024];
    char    *cpu;
    size_t   i, cpulen;
    json_t  *summary;

    snprintf(path, sizeof(path), "%s/go/cpu.pb.gz", pyro_test_fixtures());
    cpu = pyro_test_read_file(path, &cpulen);
    PYRO_CHECK(cpu != NULL && cpulen == 1366, "%s is missing", path);

    snprintf(path, sizeof(path), "%s/captured/connect-push/summary.json",
             pyro_test_fixtures());
    summary = json_load_file(path, 0, NULL);
    PYRO_CHECK(json_array_size(summary) == 5, "%s is missing", path);

    for (i = 0; cpu != NULL && i < json_array_size(summary); i++) {
        test_capture(json_array_get(summary, i), cpu, cpulen);
    }

    json_decref(summary);
    free(cpu);
}


/* Packs a request made with the generated code into a malloc'ed buffer. */
static uint8_t *
pack(const Push__V1__PushRequest *req, size_t *len)
{
    uint8_t  *buf;

    *len = push__v1__push_request__get_packed_size(req);
    buf = malloc(*len + 64);
    push__v1__push_request__pack(req, buf);

    return buf;
}


static void
test_binary(void)
{
    int                          rc;
    size_t                       len, cut, ok;
    uint8_t                     *buf;
    pyro_err_t                   err;
    pyro_push_t                  push;
    Push__V1__RawSample          s1 = PUSH__V1__RAW_SAMPLE__INIT;
    Push__V1__RawSample          s2 = PUSH__V1__RAW_SAMPLE__INIT;
    Push__V1__RawSample         *samples[2];
    Types__V1__LabelPair         l1 = TYPES__V1__LABEL_PAIR__INIT;
    Types__V1__LabelPair         l2 = TYPES__V1__LABEL_PAIR__INIT;
    Types__V1__LabelPair         l3 = TYPES__V1__LABEL_PAIR__INIT;
    Types__V1__LabelPair        *labels[3];
    Push__V1__PushRequest        req = PUSH__V1__PUSH_REQUEST__INIT;
    Push__V1__RawProfileSeries   ser1 = PUSH__V1__RAW_PROFILE_SERIES__INIT;
    Push__V1__RawProfileSeries   ser2 = PUSH__V1__RAW_PROFILE_SERIES__INIT;
    Push__V1__RawProfileSeries  *series[2];

    /* request order kept, duplicate names kept */
    l1.name = "service_name";
    l1.value = "app";
    l2.name = "__name__";
    l2.value = "process_cpu";
    l3.name = "service_name";
    l3.value = "other";
    labels[0] = &l1;
    labels[1] = &l2;
    labels[2] = &l3;

    s1.raw_profile.data = (uint8_t *) "\x1f\x8b raw";
    s1.raw_profile.len = 6;
    s1.id = "0f3e8a7c-0000-4000-8000-000000000000";
    samples[0] = &s1;
    samples[1] = &s2;

    ser1.n_labels = 3;
    ser1.labels = labels;
    ser1.n_samples = 2;
    ser1.samples = samples;

    series[0] = &ser1;
    series[1] = &ser2;
    req.n_series = 2;
    req.series = series;

    buf = pack(&req, &len);

    /* an unknown field at the end: field 15, varint 1 */
    buf[len++] = 15 << 3;
    buf[len++] = 1;

    memset(&err, 0, sizeof(pyro_err_t));
    rc = pyro_push_decode((const char *) buf, len, 0, &push, &err);

    PYRO_CHECK(rc == PYRO_OK, "binary: %s", err.msg);
    PYRO_CHECK_INT(push.nseries, 2, "binary series");
    PYRO_CHECK_INT(push.series[0].labels.n, 3, "binary labels");
    PYRO_CHECK_STR(push.series[0].labels.v[0].name, "service_name", "l0");
    PYRO_CHECK_STR(push.series[0].labels.v[0].value, "app", "l0 value");
    PYRO_CHECK_STR(push.series[0].labels.v[1].name, "__name__", "l1");
    PYRO_CHECK_STR(push.series[0].labels.v[2].value, "other", "l2 value");
    PYRO_CHECK_INT(push.series[0].nsamples, 2, "binary samples");
    PYRO_CHECK(str_eq(push.series[0].samples[0].raw, "\x1f\x8b raw"),
               "binary raw");
    PYRO_CHECK_INT(push.series[0].samples[1].raw.len, 0, "empty raw");
    PYRO_CHECK_STR(push.series[0].samples[0].id.data,
                   "0f3e8a7c-0000-4000-8000-000000000000", "binary ID");
    PYRO_CHECK_STR(push.series[0].samples[1].id.data, "", "no binary ID");
    PYRO_CHECK_INT(push.series[1].labels.n, 0, "empty series labels");
    PYRO_CHECK_INT(push.series[1].nsamples, 0, "empty series samples");
    PYRO_CHECK(push.owner != NULL, "owner");

    /* the raw bytes do not point into the caller's buffer */
    PYRO_CHECK(push.series[0].samples[0].raw.data < (char *) buf
               || push.series[0].samples[0].raw.data >= (char *) buf + len,
               "raw bytes are owned");

    pyro_push_free(&push);
    PYRO_CHECK(push.series == NULL && push.owner == NULL, "freed");

    /* every truncation is an error or a shorter valid message */
    ok = 0;

    for (cut = 0; cut < len; cut++) {
        rc = pyro_push_decode((const char *) buf, cut, 0, &push, &err);

        if (rc == PYRO_OK) {
            pyro_push_free(&push);

        } else if (err.status == 400
                   && strcmp(err.code, "invalid_argument") == 0)
        {
            ok++;
        }
    }

    PYRO_CHECK(ok > len / 2, "truncations refused: %zu of %zu", ok, len);

    rc = pyro_push_decode((const char *) buf, len - 3, 0, &push, &err);
    PYRO_CHECK_INT(rc, PYRO_ERROR, "truncated");
    PYRO_CHECK_STR(err.msg, "unmarshal into *pushv1.PushRequest: proto: "
                   "cannot parse invalid wire-format data", "truncated msg");

    free(buf);

    /* an empty body is an empty request */
    rc = pyro_push_decode("", 0, 0, &push, &err);
    PYRO_CHECK_INT(rc, PYRO_OK, "empty binary");
    PYRO_CHECK_INT(push.nseries, 0, "empty binary series");
    pyro_push_free(&push);

    /* garbage; a wrong wire type for series; a too long length */
    rc = pyro_push_decode("\xff\xff\xff", 3, 0, &push, &err);
    PYRO_CHECK_INT(rc, PYRO_ERROR, "garbage");
    rc = pyro_push_decode("\x08\x01", 2, 0, &push, &err);
    PYRO_CHECK_INT(rc, PYRO_ERROR, "wrong wire type");
    rc = pyro_push_decode("\x0a\x05\x0a", 3, 0, &push, &err);
    PYRO_CHECK_INT(rc, PYRO_ERROR, "length past the end");
    PYRO_CHECK_INT(err.status, 400, "length past the end status");
}


typedef struct {
    const char  *json;
    int          rc;
    const char  *msg;        /* the error, or the first raw profile */
} json_case_t;


static const json_case_t  json_cases[] = {

    { "{}", PYRO_OK, NULL },
    { "{\"series\":null}", PYRO_OK, NULL },
    { "{\"series\":[]}", PYRO_OK, NULL },
    { " {\"unknown\":{\"deep\":[1,2,{\"x\":null}]},\"n\":"
      "123456789012345678901234567890,\"f\":1e300} ", PYRO_OK, NULL },

    /* JSON names and proto names */
    { "{\"series\":[{\"labels\":[{\"name\":\"a\",\"value\":\"b\"}],"
      "\"samples\":[{\"rawProfile\":\"QUJD\",\"ID\":\"x\"}]}]}",
      PYRO_OK, "ABC" },
    { "{\"series\":[{\"samples\":[{\"raw_profile\":\"QUJD\"}]}]}",
      PYRO_OK, "ABC" },

    /* base64 flavours: standard and URL-safe, padded or not, newlines */
    { "{\"series\":[{\"samples\":[{\"rawProfile\":\"+/+/\"}]}]}",
      PYRO_OK, "\xfb\xff\xbf" },
    { "{\"series\":[{\"samples\":[{\"rawProfile\":\"-_-_\"}]}]}",
      PYRO_OK, "\xfb\xff\xbf" },
    { "{\"series\":[{\"samples\":[{\"rawProfile\":\"QQ==\"}]}]}",
      PYRO_OK, "A" },
    { "{\"series\":[{\"samples\":[{\"rawProfile\":\"QQ\"}]}]}",
      PYRO_OK, "A" },
    { "{\"series\":[{\"samples\":[{\"rawProfile\":\"QUI=\"}]}]}",
      PYRO_OK, "AB" },
    { "{\"series\":[{\"samples\":[{\"rawProfile\":\"QUI\"}]}]}",
      PYRO_OK, "AB" },
    { "{\"series\":[{\"samples\":[{\"rawProfile\":\"QUJD\\nQUJD\\r\\n\"}]}]}",
      PYRO_OK, "ABCABC" },
    { "{\"series\":[{\"samples\":[{\"rawProfile\":\"-_8\"}]}]}",
      PYRO_OK, "\xfb\xff" },

    /* null is the default value */
    { "{\"series\":[{\"labels\":null,\"samples\":[{\"rawProfile\":null,"
      "\"ID\":null}],\"annotations\":null}]}", PYRO_OK, "" },
    { "{\"series\":[{\"samples\":[{}],\"annotations\":[{\"key\":\"k\","
      "\"value\":\"v\"}]}]}", PYRO_OK, "" },

    /* syntax */
    { "", PYRO_ERROR, "unmarshal into *pushv1.PushRequest: zero-length "
      "payload is not a valid JSON object" },
    { "{\"series\":[", PYRO_ERROR, NULL },
    { "{\"series\":[]}x", PYRO_ERROR, NULL },
    { "[]", PYRO_ERROR, "unmarshal into *pushv1.PushRequest: expected a "
      "JSON object" },
    { "\"x\"", PYRO_ERROR, NULL },
    { "{\"series\":[{\"labels\":[{\"name\":\"\xff\"}]}]}", PYRO_ERROR, NULL },

    /* types */
    { "{\"series\":{}}", PYRO_ERROR, "unmarshal into *pushv1.PushRequest: "
      "invalid value for repeated field series: expected an array" },
    { "{\"series\":[1]}", PYRO_ERROR, NULL },
    { "{\"series\":[null]}", PYRO_ERROR, NULL },
    { "{\"series\":[{\"labels\":\"a=b\"}]}", PYRO_ERROR, NULL },
    { "{\"series\":[{\"labels\":[[\"a\",\"b\"]]}]}", PYRO_ERROR, NULL },
    { "{\"series\":[{\"labels\":[{\"name\":1}]}]}", PYRO_ERROR,
      "unmarshal into *pushv1.PushRequest: invalid value for string field "
      "name: expected a string" },
    { "{\"series\":[{\"labels\":[{\"value\":true}]}]}", PYRO_ERROR, NULL },
    { "{\"series\":[{\"samples\":{}}]}", PYRO_ERROR, NULL },
    { "{\"series\":[{\"samples\":[\"QUJD\"]}]}", PYRO_ERROR, NULL },
    { "{\"series\":[{\"samples\":[{\"rawProfile\":5}]}]}", PYRO_ERROR,
      "unmarshal into *pushv1.PushRequest: invalid value for bytes field "
      "rawProfile: expected a base64 string" },
    { "{\"series\":[{\"samples\":[{\"ID\":1}]}]}", PYRO_ERROR, NULL },
    { "{\"series\":[{\"annotations\":[{\"key\":2}]}]}", PYRO_ERROR, NULL },
    { "{\"series\":[{\"annotations\":{}}]}", PYRO_ERROR, NULL },
    { "{\"series\":[{\"samples\":[{\"rawProfile\":\"QUJD\","
      "\"raw_profile\":\"QUJD\"}]}]}", PYRO_ERROR,
      "unmarshal into *pushv1.PushRequest: duplicate field \"raw_profile\"" },

    /* bad base64 */
    { "{\"series\":[{\"samples\":[{\"rawProfile\":\"Q\"}]}]}", PYRO_ERROR,
      "unmarshal into *pushv1.PushRequest: invalid value for bytes field "
      "rawProfile: illegal base64 data" },
    { "{\"series\":[{\"samples\":[{\"rawProfile\":\"QQ=\"}]}]}",
      PYRO_ERROR, NULL },
    { "{\"series\":[{\"samples\":[{\"rawProfile\":\"QUJ=QUJD\"}]}]}",
      PYRO_ERROR, NULL },
    { "{\"series\":[{\"samples\":[{\"rawProfile\":\"Q===\"}]}]}",
      PYRO_ERROR, NULL },
    { "{\"series\":[{\"samples\":[{\"rawProfile\":\"QQ=A\"}]}]}",
      PYRO_ERROR, NULL },
    { "{\"series\":[{\"samples\":[{\"rawProfile\":\"QUJD QUJD\"}]}]}",
      PYRO_ERROR, NULL },
    { "{\"series\":[{\"samples\":[{\"rawProfile\":\"-/8\"}]}]}",
      PYRO_ERROR, NULL },
    { "{\"series\":[{\"samples\":[{\"rawProfile\":\"QUJDQQ\\n\\n\"}]}]}",
      PYRO_ERROR, NULL },

    /* labels are C strings: an embedded NUL is refused */
    { "{\"series\":[{\"labels\":[{\"name\":\"a\\u0000b\"}]}]}", PYRO_ERROR,
      "invalid label: a label name or value contains a NUL character" },
    { "{\"series\":[{\"samples\":[{\"ID\":\"a\\u0000b\"}]}]}", PYRO_OK, "" },
};


static void
test_json(void)
{
    int                 rc;
    size_t              i;
    pyro_err_t          err;
    pyro_push_t         push;
    const char         *id;
    const json_case_t  *c;

    for (i = 0; i < sizeof(json_cases) / sizeof(json_cases[0]); i++) {
        c = &json_cases[i];

        memset(&err, 0, sizeof(pyro_err_t));
        rc = pyro_push_decode(c->json, strlen(c->json), 1, &push, &err);

        PYRO_CHECK(rc == c->rc, "json case %zu: rc %d (%s)", i, rc, err.msg);

        if (rc != PYRO_OK) {
            PYRO_CHECK(err.status == 400
                       && strcmp(err.code, "invalid_argument") == 0,
                       "json case %zu: status %d", i, err.status);

            if (c->msg != NULL) {
                PYRO_CHECK_STR(err.msg, c->msg, "json error message");
            }

            PYRO_CHECK(push.series == NULL && push.owner == NULL,
                       "json case %zu: nothing left after an error", i);
            continue;
        }

        if (c->msg != NULL) {
            PYRO_CHECK(push.nseries == 1 && push.series[0].nsamples == 1
                       && str_eq(push.series[0].samples[0].raw, c->msg),
                       "json case %zu: raw profile", i);

            /* the ID outlives the JSON tree, NUL-terminated */
            id = strstr(c->json, "\"ID\":\"x\"") ? "x"
                 : strstr(c->json, "\"ID\":\"") ? NULL : "";

            PYRO_CHECK(id == NULL
                       || (push.series[0].nsamples == 1
                           && strcmp(push.series[0].samples[0].id.data, id)
                              == 0),
                       "json case %zu: ID", i);
        }

        pyro_push_free(&push);
    }
}


/* Labels keep their order and duplicates; series and samples their count. */
static void
test_json_shape(void)
{
    int           rc;
    pyro_err_t    err;
    pyro_push_t   push;
    const char   *body;

    body = "{\"series\":["
           "{\"labels\":[{\"name\":\"z\",\"value\":\"1\"},"
           "{\"name\":\"a\",\"value\":\"2\"},{\"name\":\"z\",\"value\":\"3\"},"
           "{\"value\":\"no name\"}],"
           "\"samples\":[{\"rawProfile\":\"QUJD\"},{\"ID\":\"id\"},"
           "{\"rawProfile\":\"\"}]},"
           "{\"samples\":[{\"rawProfile\":\"QQ==\"}]}]}";

    rc = pyro_push_decode(body, strlen(body), 1, &push, &err);

    PYRO_CHECK(rc == PYRO_OK, "json shape: %s", err.msg);
    if (rc != PYRO_OK) {
        return;
    }

    PYRO_CHECK_INT(push.nseries, 2, "json series");
    PYRO_CHECK_INT(push.series[0].labels.n, 4, "json labels");
    PYRO_CHECK_STR(push.series[0].labels.v[0].name, "z", "label 0");
    PYRO_CHECK_STR(push.series[0].labels.v[1].name, "a", "label 1");
    PYRO_CHECK_STR(push.series[0].labels.v[2].value, "3", "label 2");
    PYRO_CHECK_STR(push.series[0].labels.v[3].name, "", "label 3");
    PYRO_CHECK_INT(push.series[0].nsamples, 3, "json samples");
    PYRO_CHECK(str_eq(push.series[0].samples[0].raw, "ABC"), "sample 0");
    PYRO_CHECK_INT(push.series[0].samples[1].raw.len, 0, "sample 1");
    PYRO_CHECK_INT(push.series[0].samples[2].raw.len, 0, "sample 2");
    PYRO_CHECK(str_eq(push.series[1].samples[0].raw, "A"), "series 1");

    pyro_push_free(&push);
}


/* A large raw profile, in the arena's own block. */
static void
test_large(void)
{
    int           rc;
    char         *raw, *b64;
    size_t        i, n;
    pyro_buf_t    body;
    pyro_err_t    err;
    pyro_push_t   push;
    const char   *abc;

    abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    n = 300000;

    raw = malloc(n);
    b64 = malloc(n / 3 * 4 + 4);

    for (i = 0; i < n; i++) {
        raw[i] = (char) (i * 7 + (i >> 8));
    }

    for (i = 0; i < n; i += 3) {
        b64[i / 3 * 4] = abc[(unsigned char) raw[i] >> 2];
        b64[i / 3 * 4 + 1] = abc[((raw[i] & 3) << 4)
                                 | ((unsigned char) raw[i + 1] >> 4)];
        b64[i / 3 * 4 + 2] = abc[((raw[i + 1] & 15) << 2)
                                 | ((unsigned char) raw[i + 2] >> 6)];
        b64[i / 3 * 4 + 3] = abc[raw[i + 2] & 63];
    }

    memset(&body, 0, sizeof(pyro_buf_t));
    pyro_buf_puts(&body, "{\"series\":[{\"samples\":[{\"rawProfile\":\"");
    pyro_buf_append(&body, b64, n / 3 * 4);
    pyro_buf_puts(&body, "\"},{\"rawProfile\":\"QUJD\"}]}]}");

    rc = pyro_push_decode(body.data, body.len, 1, &push, &err);

    PYRO_CHECK(rc == PYRO_OK, "large: %s", err.msg);
    PYRO_CHECK(rc == PYRO_OK && push.series[0].samples[0].raw.len == n
               && memcmp(push.series[0].samples[0].raw.data, raw, n) == 0,
               "large raw profile");
    PYRO_CHECK(rc == PYRO_OK
               && str_eq(push.series[0].samples[1].raw, "ABC"),
               "small after large");

    if (rc == PYRO_OK) {
        pyro_push_free(&push);
    }

    pyro_buf_free(&body);
    free(raw);
    free(b64);
}


int
main(void)
{
    test_captures();
    test_binary();
    test_json();
    test_json_shape();
    test_large();

    return pyro_test_done("push");
}

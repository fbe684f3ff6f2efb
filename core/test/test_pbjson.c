
/*
 * Copyright (C) ngx_pyroscope developers
 *
 * pyro_pbjson_encode() / pyro_pbjson_decode(): protojson as connect-go
 * serves it, over the generated querier.v1, types.v1 and google.v1
 * descriptors, plus a hand-written recursive descriptor for the depth
 * bound and float fields.  Every expected string was worked out by hand
 * from protojson's rules.
 */


#include <math.h>
#include <stdlib.h>

#include "pyro.h"
#include "pyro_test.h"
#include "querier/v1/querier.pb-c.h"
#include "types/v1/types.pb-c.h"
#include "google/v1/profile.pb-c.h"


#define SMS_DESC  (&querier__v1__select_merge_stacktraces_request__descriptor)
#define SMS_MAX_NODES                                                        \
    QUERIER__V1__SELECT_MERGE_STACKTRACES_REQUEST___MAX_NODES_MAX_NODES
#define SMS_ERR   "unmarshal into *querierv1.SelectMergeStacktracesRequest: " \
                  "proto: "


/*
 * test.v1.Node, a recursive message (none of ours is) with the field
 * kinds our protos lack: a float, a real two-member oneof and a repeated
 * enum.
 *
 *   Node child = 1; int64 v = 2; float f = 3;
 *   oneof ab { int64 a = 4; string b = 5; }
 *   repeated querier.v1.ProfileFormat e = 6;
 */
typedef struct node_s  node_t;

struct node_s {
    ProtobufCMessage   base;
    node_t            *child;
    int64_t            v;
    float              f;
    size_t             n_e;
    int               *e;
    uint32_t           ab_case;
    union {
        int64_t        a;
        char          *b;
    };
};

static void node_init(ProtobufCMessage *m);

static const ProtobufCMessageDescriptor  node_desc;

static const ProtobufCFieldDescriptor  node_fields[6] = {
    { "child", 1, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_MESSAGE, 0,
      offsetof(node_t, child), &node_desc, NULL, 0, 0, NULL, NULL },
    { "v", 2, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_INT64, 0,
      offsetof(node_t, v), NULL, NULL, 0, 0, NULL, NULL },
    { "f", 3, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_FLOAT, 0,
      offsetof(node_t, f), NULL, NULL, 0, 0, NULL, NULL },
    { "a", 4, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_INT64,
      offsetof(node_t, ab_case), offsetof(node_t, a), NULL, NULL,
      PROTOBUF_C_FIELD_FLAG_ONEOF, 0, NULL, NULL },
    { "b", 5, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_STRING,
      offsetof(node_t, ab_case), offsetof(node_t, b), NULL,
      &protobuf_c_empty_string, PROTOBUF_C_FIELD_FLAG_ONEOF, 0, NULL,
      NULL },
    { "e", 6, PROTOBUF_C_LABEL_REPEATED, PROTOBUF_C_TYPE_ENUM,
      offsetof(node_t, n_e), offsetof(node_t, e),
      &querier__v1__profile_format__descriptor, NULL,
      PROTOBUF_C_FIELD_FLAG_PACKED, 0, NULL, NULL }
};

/* a, b, child, e, f, v */
static const unsigned  node_by_name[6] = { 3, 4, 0, 5, 2, 1 };

static const ProtobufCIntRange  node_ranges[2] = { { 1, 0 }, { 0, 6 } };

static const ProtobufCMessageDescriptor  node_desc = {
    PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC, "test.v1.Node", "Node",
    "Test__V1__Node", "test.v1", sizeof(node_t), 6, node_fields,
    node_by_name, 1, node_ranges, node_init, NULL, NULL, NULL
};


static void
node_init(ProtobufCMessage *m)
{
    node_t  *n;

    n = (node_t *) m;

    memset(n, 0, sizeof(node_t));
    n->base.descriptor = &node_desc;
}


/* Encodes msg and compares with want. */
static void
check_enc(const char *what, const ProtobufCMessage *msg, const char *want)
{
    pyro_buf_t  out;

    memset(&out, 0, sizeof(pyro_buf_t));

    pyro_pbjson_encode(msg, &out);

    PYRO_CHECK(!out.failed, "%s: buffer failed", what);
    PYRO_CHECK_MEM(out.data, out.len, want, what);

    pyro_buf_free(&out);
}


static ProtobufCMessage *
dec(const ProtobufCMessageDescriptor *d, const char *json, pyro_err_t *err)
{
    memset(err, 0, sizeof(pyro_err_t));

    return pyro_pbjson_decode(d, json, strlen(json), err);
}


/* Decodes json, re-encodes it and compares with want. */
static void
check_rt(const char *what, const ProtobufCMessageDescriptor *d,
    const char *json, const char *want)
{
    pyro_err_t         err;
    ProtobufCMessage  *m;

    m = dec(d, json, &err);

    PYRO_CHECK(m != NULL, "%s: %s", what, err.msg);

    if (m != NULL) {
        check_enc(what, m, want);
        protobuf_c_message_free_unpacked(m, NULL);
    }
}


/* A decode that must fail with 400 and a message starting with want. */
static void
check_bad(const char *what, const ProtobufCMessageDescriptor *d,
    const char *json, size_t len, const char *want)
{
    pyro_err_t         err;
    ProtobufCMessage  *m;

    memset(&err, 0, sizeof(pyro_err_t));

    m = pyro_pbjson_decode(d, json, len, &err);

    PYRO_CHECK(m == NULL, "%s: decoded", what);
    PYRO_CHECK_INT(err.status, 400, what);
    PYRO_CHECK_STR(err.code, "invalid_argument", what);
    PYRO_CHECK(strncmp(err.msg, want, strlen(want)) == 0,
               "%s:\n  got  %s\n  want %s...", what, err.msg, want);

    if (m != NULL) {
        protobuf_c_message_free_unpacked(m, NULL);
    }
}

#define BAD(what, d, json, want)  check_bad(what, d, json, strlen(json), want)


static void
test_request_json_names(void)
{
    pyro_err_t                                   err;
    Querier__V1__SelectMergeStacktracesRequest  *r;

    r = (Querier__V1__SelectMergeStacktracesRequest *) dec(SMS_DESC,
        "{\"profileTypeID\":\"process_cpu:cpu:nanoseconds:cpu:nanoseconds\","
        "\"labelSelector\":\"{}\",\"start\":\"1700000000000\","
        "\"end\":1700000060000,\"maxNodes\":\"16\","
        "\"format\":\"PROFILE_FORMAT_TREE\"}", &err);

    PYRO_CHECK(r != NULL, "json names: %s", err.msg);
    if (r == NULL) {
        return;
    }

    PYRO_CHECK_STR(r->profile_typeid,
                   "process_cpu:cpu:nanoseconds:cpu:nanoseconds", "typeID");
    PYRO_CHECK_STR(r->label_selector, "{}", "labelSelector");
    PYRO_CHECK_INT(r->start, 1700000000000LL, "start");
    PYRO_CHECK_INT(r->end, 1700000060000LL, "end");
    PYRO_CHECK_INT(r->_max_nodes_case, SMS_MAX_NODES, "maxNodes case");
    PYRO_CHECK_INT(r->max_nodes, 16, "maxNodes");
    PYRO_CHECK_INT(r->format, QUERIER__V1__PROFILE_FORMAT__PROFILE_FORMAT_TREE,
                   "format");
    PYRO_CHECK(r->stack_trace_selector == NULL, "no selector");
    PYRO_CHECK_INT(r->n_profile_id_selector, 0, "no profile IDs");

    check_enc("json names re-encoded", &r->base,
              "{\"profileTypeID\":\"process_cpu:cpu:nanoseconds:cpu:"
              "nanoseconds\",\"labelSelector\":\"{}\","
              "\"start\":\"1700000000000\",\"end\":\"1700000060000\","
              "\"maxNodes\":\"16\",\"format\":\"PROFILE_FORMAT_TREE\"}");

    protobuf_c_message_free_unpacked(&r->base, NULL);
}


static void
test_request_proto_names(void)
{
    pyro_err_t                                   err;
    Querier__V1__SelectMergeStacktracesRequest  *r;

    r = (Querier__V1__SelectMergeStacktracesRequest *) dec(SMS_DESC,
        "{\"profile_typeID\":\"memory:alloc_space:bytes:space:bytes\","
        "\"label_selector\":\"{service_name=\\\"a\\\"}\",\"max_nodes\":0,"
        "\"format\":2,\"profile_id_selector\":[\"x\",\"y\"],"
        "\"stack_trace_selector\":{\"call_site\":[{\"name\":\"main\"}],"
        "\"go_pgo\":{\"keep_locations\":4294967295,"
        "\"aggregate_callees\":true}}}", &err);

    PYRO_CHECK(r != NULL, "proto names: %s", err.msg);
    if (r == NULL) {
        return;
    }

    PYRO_CHECK_STR(r->profile_typeid, "memory:alloc_space:bytes:space:bytes",
                   "profile_typeID");
    PYRO_CHECK_STR(r->label_selector, "{service_name=\"a\"}",
                   "label_selector");
    PYRO_CHECK_INT(r->_max_nodes_case, SMS_MAX_NODES,
                   "max_nodes 0 is present");
    PYRO_CHECK_INT(r->format, 2, "format by number");
    PYRO_CHECK_INT(r->n_profile_id_selector, 2, "profile IDs");
    PYRO_CHECK(r->stack_trace_selector != NULL
               && r->stack_trace_selector->go_pgo != NULL
               && r->stack_trace_selector->go_pgo->keep_locations
                  == 4294967295u, "keep_locations");

    /* a set oneof member is written even when zero */
    check_enc("proto names re-encoded", &r->base,
              "{\"profileTypeID\":\"memory:alloc_space:bytes:space:bytes\","
              "\"labelSelector\":\"{service_name=\\\"a\\\"}\","
              "\"maxNodes\":\"0\",\"format\":\"PROFILE_FORMAT_TREE\","
              "\"stackTraceSelector\":{\"callSite\":[{\"name\":\"main\"}],"
              "\"goPgo\":{\"keepLocations\":4294967295,"
              "\"aggregateCallees\":true}},"
              "\"profileIdSelector\":[\"x\",\"y\"]}");

    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* an enum number with no name is kept and written as a number */
    check_rt("enum 7", SMS_DESC, "{\"format\":7}", "{\"format\":7}");
    check_rt("enum 0 omitted", SMS_DESC, "{\"format\":0}", "{}");
    check_rt("enum 1.0", SMS_DESC, "{\"format\":1.0}",
             "{\"format\":\"PROFILE_FORMAT_FLAMEGRAPH\"}");
}


static void
test_unknown_and_null(void)
{
    pyro_err_t                                   err;
    Querier__V1__SelectMergeStacktracesRequest  *r;

    check_rt("unknown fields", SMS_DESC,
             "{\"foo\":1,\"bar\":{\"x\":[1,2,{}]},\"start\":\"5\","
             "\"baz\":null,\"huge\":1e300,\"s\":\"\\u0000\"}",
             "{\"start\":\"5\"}");

    r = (Querier__V1__SelectMergeStacktracesRequest *) dec(SMS_DESC,
        "{\"start\":null,\"stackTraceSelector\":null,"
        "\"profileIdSelector\":null,\"maxNodes\":null,\"format\":null,"
        "\"labelSelector\":null,\"async\":null}", &err);

    PYRO_CHECK(r != NULL, "nulls: %s", err.msg);
    if (r == NULL) {
        return;
    }

    PYRO_CHECK_INT(r->_max_nodes_case, 0, "null oneof unset");
    PYRO_CHECK(r->stack_trace_selector == NULL, "null message unset");
    PYRO_CHECK_STR(r->label_selector, "", "null string");
    check_enc("nulls re-encoded", &r->base, "{}");

    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* an unknown enum name is dropped (DiscardUnknown) */
    check_rt("unknown enum name", SMS_DESC,
             "{\"format\":\"PROFILE_FORMAT_NOPE\",\"end\":1}",
             "{\"end\":\"1\"}");
    check_rt("enum number as string", SMS_DESC, "{\"format\":\"2\"}", "{}");
    check_rt("empty object", SMS_DESC, "{}", "{}");
    check_rt("empty array", SMS_DESC, "{\"profileIdSelector\":[]}", "{}");
    check_rt("empty message", SMS_DESC, "{\"async\":{}}", "{\"async\":{}}");
}


static void
test_bad_types(void)
{
    static const char  nul[] = "{\"start\":1}\0";

    BAD("bool for int64", SMS_DESC, "{\"start\":true}",
        SMS_ERR "invalid value for int64 field start: true");
    BAD("word for int64", SMS_DESC, "{\"start\":\"abc\"}",
        SMS_ERR "invalid value for int64 field start: \"abc\"");
    BAD("fraction for int64", SMS_DESC, "{\"end\":1.5}",
        SMS_ERR "invalid value for int64 field end: 1.5");
    BAD("fraction in string", SMS_DESC, "{\"end\":\"15e-1\"}",
        SMS_ERR "invalid value for int64 field end");
    BAD("space in string", SMS_DESC, "{\"end\":\" 1\"}",
        SMS_ERR "invalid value for int64 field end");
    BAD("plus in string", SMS_DESC, "{\"end\":\"+1\"}",
        SMS_ERR "invalid value for int64 field end");
    BAD("leading zero", SMS_DESC, "{\"end\":\"01\"}",
        SMS_ERR "invalid value for int64 field end");
    BAD("object for int64", SMS_DESC, "{\"maxNodes\":{}}",
        SMS_ERR "invalid value for int64 field maxNodes: {");
    BAD("number for string", SMS_DESC, "{\"labelSelector\":5}",
        SMS_ERR "invalid value for string field labelSelector: 5");
    BAD("string for list", SMS_DESC, "{\"profileIdSelector\":\"x\"}",
        SMS_ERR "unexpected token \"x\"");
    BAD("null in list", SMS_DESC, "{\"profile_id_selector\":[\"a\",null]}",
        SMS_ERR "invalid value for string field profileIdSelector: null");
    BAD("array for message", SMS_DESC, "{\"stackTraceSelector\":[]}",
        SMS_ERR "unexpected token [");
    BAD("null message in list", SMS_DESC,
        "{\"stackTraceSelector\":{\"callSite\":[{},null]}}",
        SMS_ERR "unexpected token null");
    BAD("bool for enum", SMS_DESC, "{\"format\":true}",
        SMS_ERR "invalid value for enum field format: true");
    BAD("enum out of range", SMS_DESC, "{\"format\":2147483648}",
        SMS_ERR "invalid value for enum field format");
    BAD("string for bool", SMS_DESC,
        "{\"stackTraceSelector\":{\"goPgo\":{\"aggregateCallees\":"
        "\"true\"}}}",
        SMS_ERR "invalid value for bool field aggregateCallees: \"true\"");
    BAD("uint32 negative", SMS_DESC,
        "{\"stackTraceSelector\":{\"goPgo\":{\"keepLocations\":-1}}}",
        SMS_ERR "invalid value for uint32 field keepLocations: -1");
    BAD("uint32 too big", SMS_DESC,
        "{\"stackTraceSelector\":{\"goPgo\":{\"keepLocations\":"
        "4294967296}}}",
        SMS_ERR "invalid value for uint32 field keepLocations");
    BAD("NUL in string", SMS_DESC, "{\"labelSelector\":\"a\\u0000b\"}",
        SMS_ERR "invalid value for string field labelSelector: "
        "\"a\\u0000b\"");
    BAD("duplicate names", SMS_DESC,
        "{\"labelSelector\":\"a\",\"label_selector\":\"b\"}",
        SMS_ERR "duplicate field");
    BAD("duplicate key", SMS_DESC, "{\"start\":\"1\",\"start\":\"2\"}",
        SMS_ERR "syntax error");
    BAD("top-level array", SMS_DESC, "[]", SMS_ERR "unexpected token [");
    BAD("top-level null", SMS_DESC, "null", SMS_ERR "syntax error");
    BAD("syntax", SMS_DESC, "{\"start\":", SMS_ERR "syntax error (line 1");
    BAD("trailing data", SMS_DESC, "{} {}", SMS_ERR "syntax error");
    BAD("empty body", SMS_DESC, "",
        "unmarshal into *querierv1.SelectMergeStacktracesRequest: "
        "zero-length payload is not a valid JSON object");
    check_bad("NUL after the object", SMS_DESC, nul, sizeof(nul) - 1,
              SMS_ERR "syntax error");
    BAD("types.v1 name", &types__v1__label_values_request__descriptor,
        "{\"name\":1}", "unmarshal into *typesv1.LabelValuesRequest: proto: "
        "invalid value for string field name: 1");
}


static void
test_flamegraph(void)
{
    char                                          *names[2] = { "total", "a" };
    int64_t                                        v0[4] = { 0, 100, 0, 0 };
    int64_t                                        v1[4] = { 0, 100, 100, 1 };
    uint8_t                                        tree[5] = { 1, 2, 3, 4, 5 };
    Querier__V1__Level                             l0, l1, *levels[2];
    Querier__V1__FlameGraph                        fg;
    Querier__V1__SelectMergeStacktracesResponse    resp;

    querier__v1__level__init(&l0);
    querier__v1__level__init(&l1);
    querier__v1__flame_graph__init(&fg);
    querier__v1__select_merge_stacktraces_response__init(&resp);

    levels[0] = &l0;
    levels[1] = &l1;

    l0.n_values = 4;
    l0.values = v0;
    l1.n_values = 4;
    l1.values = v1;

    fg.n_names = 2;
    fg.names = names;
    fg.n_levels = 2;
    fg.levels = levels;
    fg.total = 100;
    fg.max_self = 100;

    resp.flamegraph = &fg;

    check_enc("flamegraph", &resp.base,
              "{\"flamegraph\":{\"names\":[\"total\",\"a\"],"
              "\"levels\":[{\"values\":[\"0\",\"100\",\"0\",\"0\"]},"
              "{\"values\":[\"0\",\"100\",\"100\",\"1\"]}],"
              "\"total\":\"100\",\"maxSelf\":\"100\"}}");

    /* zero total and max_self, an empty level: omitted */
    fg.total = 0;
    fg.max_self = 0;
    l1.n_values = 0;

    check_enc("flamegraph zeros", &resp.base,
              "{\"flamegraph\":{\"names\":[\"total\",\"a\"],"
              "\"levels\":[{\"values\":[\"0\",\"100\",\"0\",\"0\"]},{}]}}");

    resp.flamegraph = NULL;
    check_enc("empty response", &resp.base, "{}");

    resp.tree.len = 5;
    resp.tree.data = tree;
    resp.dot = "digraph";

    check_enc("tree bytes", &resp.base,
              "{\"tree\":\"AQIDBAU=\",\"dot\":\"digraph\"}");

    resp.tree.len = 4;
    check_enc("tree 4 bytes", &resp.base,
              "{\"tree\":\"AQIDBA==\",\"dot\":\"digraph\"}");

    resp.tree.len = 3;
    resp.dot = "";
    check_enc("tree 3 bytes", &resp.base, "{\"tree\":\"AQID\"}");
}


static void
test_bytes(void)
{
    pyro_err_t                                    err;
    Querier__V1__SelectMergeStacktracesResponse  *r;
    const ProtobufCMessageDescriptor             *d;

    d = &querier__v1__select_merge_stacktraces_response__descriptor;

    check_rt("std padded", d, "{\"tree\":\"+/8=\"}", "{\"tree\":\"+/8=\"}");
    check_rt("std raw", d, "{\"tree\":\"+/8\"}", "{\"tree\":\"+/8=\"}");
    check_rt("url padded", d, "{\"tree\":\"-_8=\"}", "{\"tree\":\"+/8=\"}");
    check_rt("url raw", d, "{\"tree\":\"-_8\"}", "{\"tree\":\"+/8=\"}");
    check_rt("two pads", d, "{\"tree\":\"AQ==\"}", "{\"tree\":\"AQ==\"}");
    check_rt("newline", d, "{\"tree\":\"AQID\\nBA\"}",
             "{\"tree\":\"AQIDBA==\"}");
    check_rt("newlines padded", d, "{\"tree\":\"AQ\\r\\nID\\nBA=\\n=\"}",
             "{\"tree\":\"AQIDBA==\"}");
    check_rt("empty bytes", d, "{\"tree\":\"\"}", "{}");

    r = (Querier__V1__SelectMergeStacktracesResponse *) dec(d,
        "{\"tree\":\"AQIDBAU\"}", &err);

    PYRO_CHECK(r != NULL && r->tree.len == 5 && r->tree.data[4] == 5,
               "raw base64 bytes: %s", err.msg);

    if (r != NULL) {
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }

    BAD("bad base64 char", d, "{\"tree\":\"AQ*D\"}",
        "unmarshal into *querierv1.SelectMergeStacktracesResponse: proto: "
        "invalid value for bytes field tree: \"AQ*D\"");
    BAD("padding unpadded length", d, "{\"tree\":\"AQ=\"}",
        "unmarshal into *querierv1.SelectMergeStacktracesResponse: proto: "
        "invalid value for bytes field tree");
    BAD("one char quantum", d, "{\"tree\":\"AQIDB\"}",
        "unmarshal into *querierv1.SelectMergeStacktracesResponse: proto: "
        "invalid value for bytes field tree");
    BAD("missing padding", d, "{\"tree\":\"AQ\\n\\n\"}",
        "unmarshal into *querierv1.SelectMergeStacktracesResponse: proto: "
        "invalid value for bytes field tree");
    /* protojson picks padding by the length, newlines included */
    BAD("newline and padding", d, "{\"tree\":\"AQID\\nBA==\"}",
        "unmarshal into *querierv1.SelectMergeStacktracesResponse: proto: "
        "invalid value for bytes field tree");
    BAD("data after padding", d, "{\"tree\":\"AQ==AQ==\"}",
        "unmarshal into *querierv1.SelectMergeStacktracesResponse: proto: "
        "invalid value for bytes field tree");
    BAD("number for bytes", d, "{\"tree\":1}",
        "unmarshal into *querierv1.SelectMergeStacktracesResponse: proto: "
        "invalid value for bytes field tree: 1");
}


static void
test_profile(void)
{
    char                     *strings[4] = { "", "cpu", "nanoseconds",
                                             "main" };
    uint64_t                  locs[2] = { 1, 18446744073709551615ULL };
    int64_t                   vals[1] = { 10000000 };
    Google__V1__Line          line = GOOGLE__V1__LINE__INIT;
    Google__V1__Line         *lines[1] = { &line };
    Google__V1__Sample        s = GOOGLE__V1__SAMPLE__INIT;
    Google__V1__Sample       *samples[1] = { &s };
    Google__V1__Mapping       mp = GOOGLE__V1__MAPPING__INIT;
    Google__V1__Mapping      *mappings[1] = { &mp };
    Google__V1__Location      loc = GOOGLE__V1__LOCATION__INIT;
    Google__V1__Location     *locations[1] = { &loc };
    Google__V1__Function      fn = GOOGLE__V1__FUNCTION__INIT;
    Google__V1__Function     *functions[1] = { &fn };
    Google__V1__ValueType     st = GOOGLE__V1__VALUE_TYPE__INIT;
    Google__V1__ValueType    *sts[1] = { &st };
    Google__V1__ValueType     pt = GOOGLE__V1__VALUE_TYPE__INIT;
    Google__V1__Profile       p = GOOGLE__V1__PROFILE__INIT;

    st.type = 1;
    st.unit = 2;
    pt.type = 1;
    pt.unit = 2;

    s.n_location_id = 2;
    s.location_id = locs;
    s.n_value = 1;
    s.value = vals;

    mp.id = 1;
    mp.has_functions = 1;

    line.function_id = 1;
    line.line = 42;
    loc.id = 1;
    loc.mapping_id = 1;
    loc.n_line = 1;
    loc.line = lines;

    fn.id = 1;
    fn.name = 3;
    fn.system_name = 3;

    p.n_sample_type = 1;
    p.sample_type = sts;
    p.n_sample = 1;
    p.sample = samples;
    p.n_mapping = 1;
    p.mapping = mappings;
    p.n_location = 1;
    p.location = locations;
    p.n_function = 1;
    p.function = functions;
    p.n_string_table = 4;
    p.string_table = strings;
    p.time_nanos = 1700000000000000000LL;
    p.duration_nanos = 10000000000LL;
    p.period_type = &pt;
    p.period = 10000000;

    check_enc("profile", &p.base,
              "{\"sampleType\":[{\"type\":\"1\",\"unit\":\"2\"}],"
              "\"sample\":[{\"locationId\":[\"1\","
              "\"18446744073709551615\"],\"value\":[\"10000000\"]}],"
              "\"mapping\":[{\"id\":\"1\",\"hasFunctions\":true}],"
              "\"location\":[{\"id\":\"1\",\"mappingId\":\"1\","
              "\"line\":[{\"functionId\":\"1\",\"line\":\"42\"}]}],"
              "\"function\":[{\"id\":\"1\",\"name\":\"3\","
              "\"systemName\":\"3\"}],"
              "\"stringTable\":[\"\",\"cpu\",\"nanoseconds\",\"main\"],"
              "\"timeNanos\":\"1700000000000000000\","
              "\"durationNanos\":\"10000000000\","
              "\"periodType\":{\"type\":\"1\",\"unit\":\"2\"},"
              "\"period\":\"10000000\"}");

    /* and back, with the uint64 at its maximum */
    check_rt("profile round trip", &google__v1__profile__descriptor,
             "{\"sample\":[{\"location_id\":[\"18446744073709551615\",2],"
             "\"value\":[-1]}],\"string_table\":[\"\"],"
             "\"default_sample_type\":\"3\"}",
             "{\"sample\":[{\"locationId\":[\"18446744073709551615\","
             "\"2\"],\"value\":[\"-1\"]}],\"stringTable\":[\"\"],"
             "\"defaultSampleType\":\"3\"}");

    BAD("uint64 negative", &google__v1__profile__descriptor,
        "{\"sample\":[{\"locationId\":[\"-1\"]}]}",
        "unmarshal into *googlev1.Profile: proto: invalid value for uint64 "
        "field locationId: \"-1\"");
    BAD("uint64 overflow", &google__v1__profile__descriptor,
        "{\"sample\":[{\"locationId\":[\"18446744073709551616\"]}]}",
        "unmarshal into *googlev1.Profile: proto: invalid value for uint64 "
        "field locationId");
}


static void
test_types(void)
{
    char                            *names[3] = { "a", "b\"c", "" };
    Types__V1__ProfileType           pt = TYPES__V1__PROFILE_TYPE__INIT;
    Types__V1__LabelValuesResponse   lv =
                                     TYPES__V1__LABEL_VALUES_RESPONSE__INIT;

    lv.n_names = 3;
    lv.names = names;

    check_enc("label values", &lv.base,
              "{\"names\":[\"a\",\"b\\\"c\",\"\"]}");

    lv.n_names = 0;
    check_enc("no label values", &lv.base, "{}");

    check_rt("label values round trip",
             &types__v1__label_values_response__descriptor,
             "{\"names\":[\"service_name\",\"x\"]}",
             "{\"names\":[\"service_name\",\"x\"]}");

    pt.id = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
    pt.name = "process_cpu";
    pt.sample_type = "cpu";
    pt.sample_unit = "nanoseconds";
    pt.period_type = "cpu";
    pt.period_unit = "nanoseconds";

    check_enc("profile type", &pt.base,
              "{\"ID\":\"process_cpu:cpu:nanoseconds:cpu:nanoseconds\","
              "\"name\":\"process_cpu\",\"sampleType\":\"cpu\","
              "\"sampleUnit\":\"nanoseconds\",\"periodType\":\"cpu\","
              "\"periodUnit\":\"nanoseconds\"}");

    check_rt("label names request",
             &types__v1__label_names_request__descriptor,
             "{\"matchers\":[\"{a=\\\"b\\\"}\"],\"start\":1,\"end\":\"2\"}",
             "{\"matchers\":[\"{a=\\\"b\\\"}\"],\"start\":\"1\","
             "\"end\":\"2\"}");

    check_rt("exemplar names", &types__v1__exemplar__descriptor,
             "{\"timestamp\":1,\"profile_id\":\"p\",\"span_id\":\"s\","
             "\"value\":2,\"trace_id\":\"t\"}",
             "{\"timestamp\":\"1\",\"profileId\":\"p\",\"spanId\":\"s\","
             "\"value\":\"2\",\"traceId\":\"t\"}");

    check_rt("heatmap slot", &types__v1__heatmap_slot__descriptor,
             "{\"timestamp\":\"5\",\"y_min\":[0,1.5,\"NaN\"],"
             "\"counts\":[1,\"-2\",2147483647]}",
             "{\"timestamp\":\"5\",\"yMin\":[0,1.5,\"NaN\"],"
             "\"counts\":[1,-2,2147483647]}");
}


static void
test_series(void)
{
    pyro_err_t                   err;
    Querier__V1__SeriesResponse  *r;

    r = (Querier__V1__SeriesResponse *) dec(
        &querier__v1__series_response__descriptor,
        "{\"labels_set\":[{\"labels\":[{\"name\":\"__name__\","
        "\"value\":\"process_cpu\"},{\"name\":\"service_name\","
        "\"value\":\"app\"}]},{}]}", &err);

    PYRO_CHECK(r != NULL, "series: %s", err.msg);
    if (r == NULL) {
        return;
    }

    PYRO_CHECK_INT(r->n_labels_set, 2, "labels sets");
    PYRO_CHECK(r->labels_set[0]->n_labels == 2
               && strcmp(r->labels_set[0]->labels[1]->value, "app") == 0,
               "labels");

    check_enc("series response", &r->base,
              "{\"labelsSet\":[{\"labels\":[{\"name\":\"__name__\","
              "\"value\":\"process_cpu\"},{\"name\":\"service_name\","
              "\"value\":\"app\"}]},{}]}");

    protobuf_c_message_free_unpacked(&r->base, NULL);

    check_rt("select series request",
             &querier__v1__select_series_request__descriptor,
             "{\"profileTypeID\":\"t\",\"group_by\":[\"service_name\"],"
             "\"step\":15,"
             "\"aggregation\":\"TIME_SERIES_AGGREGATION_TYPE_SUM\","
             "\"limit\":\"10\",\"exemplarType\":\"EXEMPLAR_TYPE_SPAN\"}",
             "{\"profileTypeID\":\"t\",\"groupBy\":[\"service_name\"],"
             "\"step\":15,"
             "\"aggregation\":\"TIME_SERIES_AGGREGATION_TYPE_SUM\","
             "\"limit\":\"10\",\"exemplarType\":\"EXEMPLAR_TYPE_SPAN\"}");

    check_rt("diff request", &querier__v1__diff_request__descriptor,
             "{\"left\":{\"start\":1},\"right\":{\"maxNodes\":2}}",
             "{\"left\":{\"start\":\"1\"},\"right\":{\"maxNodes\":\"2\"}}");
}


static void
test_int64(void)
{
    pyro_err_t                                   err;
    Querier__V1__SelectMergeStacktracesRequest  *r;

    r = (Querier__V1__SelectMergeStacktracesRequest *) dec(SMS_DESC,
        "{\"start\":\"9007199254740993\",\"end\":9007199254740995}", &err);

    PYRO_CHECK(r != NULL, "2^53+1: %s", err.msg);
    if (r == NULL) {
        return;
    }

    PYRO_CHECK_INT(r->start, 9007199254740993LL, "2^53+1 from a string");
    PYRO_CHECK_INT(r->end, 9007199254740995LL, "2^53+3 from a number");

    check_enc("2^53+1 out", &r->base,
              "{\"start\":\"9007199254740993\",\"end\":\"9007199254740995\"}");

    protobuf_c_message_free_unpacked(&r->base, NULL);

    check_rt("int64 extremes", SMS_DESC,
             "{\"start\":\"-9223372036854775808\","
             "\"end\":9223372036854775807}",
             "{\"start\":\"-9223372036854775808\","
             "\"end\":\"9223372036854775807\"}");
    check_rt("exponent forms", SMS_DESC,
             "{\"start\":\"1e3\",\"end\":\"12.50e1\",\"maxNodes\":1e2}",
             "{\"start\":\"1000\",\"end\":\"125\",\"maxNodes\":\"100\"}");
    check_rt("long zeros", SMS_DESC,
             "{\"start\":\"0.000000000000000000000000000\","
             "\"end\":\"-0\",\"maxNodes\":\"100000000000000000000e-2\"}",
             "{\"maxNodes\":\"1000000000000000000\"}");
    check_rt("big exponent", SMS_DESC,
             "{\"start\":\"0.0000000000000000000000000000000"
             "9223372036854775807e50\"}",
             "{\"start\":\"9223372036854775807\"}");

    BAD("int64 overflow", SMS_DESC, "{\"start\":\"9223372036854775808\"}",
        SMS_ERR "invalid value for int64 field start");
    BAD("int64 underflow", SMS_DESC, "{\"start\":\"-9223372036854775809\"}",
        SMS_ERR "invalid value for int64 field start");
    BAD("int64 exponent overflow", SMS_DESC, "{\"start\":\"1e19\"}",
        SMS_ERR "invalid value for int64 field start");
    BAD("int64 huge exponent", SMS_DESC, "{\"start\":\"1e99999999999\"}",
        SMS_ERR "invalid value for int64 field start");
    BAD("int64 real overflow", SMS_DESC, "{\"start\":1e19}",
        SMS_ERR "invalid value for int64 field start");
    BAD("int64 tiny exponent", SMS_DESC, "{\"start\":\"1e-99999999999\"}",
        SMS_ERR "invalid value for int64 field start");
}


static void
test_doubles(void)
{
    size_t                i;
    pyro_buf_t            out;
    Types__V1__Point      pt = TYPES__V1__POINT__INIT;
    static const struct {
        double            v;
        const char       *want;
    } t[] = {
        { 0.1, "{\"value\":0.1}" },
        { 1.0 / 3, "{\"value\":0.3333333333333333}" },
        { 15, "{\"value\":15}" },
        { -2.5, "{\"value\":-2.5}" },
        { 1e20, "{\"value\":100000000000000000000}" },
        { 1e21, "{\"value\":1e+21}" },
        { 1.5e300, "{\"value\":1.5e+300}" },
        { 0.000001, "{\"value\":0.000001}" },
        { 1e-7, "{\"value\":1e-7}" },
        { 1.25e-10, "{\"value\":1.25e-10}" },
        { 5e-324, "{\"value\":5e-324}" },
        { 123456.789, "{\"value\":123456.789}" },
        { 0.0, "{}" },
        { -0.0, "{\"value\":-0}" },
        { NAN, "{\"value\":\"NaN\"}" },
        { INFINITY, "{\"value\":\"Infinity\"}" },
        { -INFINITY, "{\"value\":\"-Infinity\"}" }
    };

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        pt.value = t[i].v;

        memset(&out, 0, sizeof(pyro_buf_t));
        pyro_pbjson_encode(&pt.base, &out);
        PYRO_CHECK_MEM(out.data, out.len, t[i].want, t[i].want);
        pyro_buf_free(&out);
    }

    check_rt("double inputs", &types__v1__point__descriptor,
             "{\"value\":\"-Infinity\",\"timestamp\":1}",
             "{\"value\":\"-Infinity\",\"timestamp\":\"1\"}");
    check_rt("double string", &types__v1__point__descriptor,
             "{\"value\":\"2.5e3\"}", "{\"value\":2500}");
    check_rt("double integer", &types__v1__point__descriptor,
             "{\"value\":-7}", "{\"value\":-7}");

    BAD("double overflow string", &types__v1__point__descriptor,
        "{\"value\":\"1e400\"}",
        "unmarshal into *typesv1.Point: proto: invalid value for double "
        "field value: \"1e400\"");
    BAD("double word", &types__v1__point__descriptor,
        "{\"value\":\"nan\"}",
        "unmarshal into *typesv1.Point: proto: invalid value for double "
        "field value");
    BAD("double bool", &types__v1__point__descriptor, "{\"value\":false}",
        "unmarshal into *typesv1.Point: proto: invalid value for double "
        "field value: false");
}


static void
test_strings(void)
{
    Types__V1__LabelPair  lp = TYPES__V1__LABEL_PAIR__INIT;

    /* protojson escapes only '"', '\\', controls and DEL */
    lp.name = "a\"b\\c\n\t\r\b\f\x01\x1f\x7f<>&\xc3\xa9\xe2\x80\xa8";
    lp.value = "bad\xff\xc3";

    check_enc("escapes", &lp.base,
              "{\"name\":\"a\\\"b\\\\c\\n\\t\\r\\b\\f\\u0001\\u001f\\u007f"
              "<>&\xc3\xa9\xe2\x80\xa8\","
              "\"value\":\"bad\xef\xbf\xbd\xef\xbf\xbd\"}");

    check_rt("unicode escapes in", &types__v1__label_pair__descriptor,
             "{\"name\":\"\\u00e9\\ud83d\\ude00\\/\"}",
             "{\"name\":\"\xc3\xa9\xf0\x9f\x98\x80/\"}");
}


/* The depth bound and a float field, on the recursive test message. */
static void
test_nesting(void)
{
    int                i, k;
    pyro_buf_t         in;
    pyro_err_t         err;
    ProtobufCMessage  *m;

    for (i = 64; i <= 65; i++) {
        memset(&in, 0, sizeof(pyro_buf_t));

        for (k = 1; k < i; k++) {
            pyro_buf_puts(&in, "{\"child\":");
        }

        pyro_buf_puts(&in, "{\"v\":\"1\"}");

        for (k = 1; k < i; k++) {
            pyro_buf_putc(&in, '}');
        }

        /* a C string for check_enc(); the NUL is not decoded */
        pyro_buf_putc(&in, '\0');
        in.len--;

        memset(&err, 0, sizeof(pyro_err_t));
        m = pyro_pbjson_decode(&node_desc, in.data, in.len, &err);

        if (i == 64) {
            PYRO_CHECK(m != NULL, "depth 64: %s", err.msg);

        } else {
            PYRO_CHECK(m == NULL, "depth 65 decoded");
            PYRO_CHECK_STR(err.msg, "unmarshal into *testv1.Node: proto: "
                           "exceeded max recursion depth", "depth 65");
        }

        if (m != NULL) {
            check_enc("depth 64 out", m, in.data);
            protobuf_c_message_free_unpacked(m, NULL);
        }

        pyro_buf_free(&in);
    }

    check_rt("float", &node_desc, "{\"f\":0.1,\"child\":{\"f\":\"1e-7\"}}",
             "{\"child\":{\"f\":1e-7},\"f\":0.1}");
    check_rt("float big", &node_desc, "{\"f\":3.4028234663852886e38}",
             "{\"f\":3.4028235e+38}");
    check_rt("float 16777217", &node_desc, "{\"f\":16777217}",
             "{\"f\":16777216}");

    check_rt("oneof zero", &node_desc, "{\"a\":\"0\"}", "{\"a\":\"0\"}");
    check_rt("oneof string", &node_desc, "{\"b\":\"x\",\"a\":null}",
             "{\"b\":\"x\"}");
    check_rt("oneof empty string", &node_desc, "{\"b\":\"\"}",
             "{\"b\":\"\"}");
    check_rt("enum list", &node_desc,
             "{\"e\":[\"PROFILE_FORMAT_TREE\",\"NOPE\",3,0]}",
             "{\"e\":[\"PROFILE_FORMAT_TREE\",\"PROFILE_FORMAT_DOT\","
             "\"PROFILE_FORMAT_UNSPECIFIED\"]}");
    check_rt("enum list all unknown", &node_desc, "{\"e\":[\"NOPE\"]}",
             "{}");

    /* the string member set first is freed with the message */
    BAD("oneof twice", &node_desc, "{\"b\":\"x\",\"a\":1}",
        "unmarshal into *testv1.Node: proto: error parsing \"a\", oneof is "
        "already set");
    BAD("oneof twice, number first", &node_desc, "{\"a\":1,\"b\":\"x\"}",
        "unmarshal into *testv1.Node: proto: error parsing \"b\", oneof is "
        "already set");
    BAD("error deep down", &node_desc,
        "{\"b\":\"x\",\"e\":[1],\"child\":{\"b\":\"y\",\"child\":"
        "{\"e\":[1,\"x\",{}]}}}",
        "unmarshal into *testv1.Node: proto: invalid value for enum field e: "
        "{");

    BAD("float overflow", &node_desc, "{\"f\":1e39}",
        "unmarshal into *testv1.Node: proto: invalid value for float field "
        "f: 1e+39");
}


int
main(void)
{
    test_request_json_names();
    test_request_proto_names();
    test_unknown_and_null();
    test_bad_types();
    test_flamegraph();
    test_bytes();
    test_profile();
    test_types();
    test_series();
    test_int64();
    test_doubles();
    test_strings();
    test_nesting();

    return pyro_test_done("pbjson");
}

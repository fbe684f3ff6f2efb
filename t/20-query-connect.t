#!/usr/bin/perl

# Connect querier.v1.QuerierService (issue 4), both codecs: known data
# pushed first (hand-built folded /ingest with sampleRate=0 for exact
# small numbers, series with env=prod/dev at chosen times, a second
# tenant, go/cpu.pb.gz via /ingest?format=pprof), then ProfileTypes,
# LabelNames, LabelValues, Series, SelectMergeStacktraces (flame graph,
# max_nodes, tree bytes), SelectSeries, GetProfileStats, the time rules,
# federated tenants and the protocol (pyroscope-api.md sections 1.3,
# 1.4, 2, 6; query-output-formats.md sections 2-4).  JSON answers are
# compared as canonical JSON, so int64-as-string and omitted zero
# values count; binary requests are encoded and answers decoded by
# Debian's protoc from the checkout's .proto files.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use MIME::Base64 qw(encode_base64 decode_base64);
use PyroTest;

my $FIX = $PyroTest::FIXTURES;
plan skip_all => "no fixtures at $FIX" unless -f "$FIX/go/cpu.pb.gz" && -f "$FIX/go/cpu.pb.gz.cpu.folded.txt";

# protoc is a build dependency: without it this test fails, never skips.
unless (-x $PyroTest::PROTOC) {
    fail("protoc at $PyroTest::PROTOC (make deps installs protobuf-compiler)");
    done_testing;
    exit 1;
}

my $t = PyroTest->new->start;
my $JSON = JSON::PP->new->utf8->canonical;
my $Q = '/querier.v1.QuerierService/';
my $RAW = 'process_cpu:samples:count::';
my $CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
my $CPU_SAMPLES = 'process_cpu:samples:count:cpu:nanoseconds';

# --- the data -------------------------------------------------------------------------------

my $cpu_gz = PyroTest::read_bytes("$FIX/go/cpu.pb.gz");
my $oracle = JSON::PP->new->decode(PyroTest::read_bytes("$FIX/go/cpu.pb.gz.oracle.json"));
my $cpu_ns = PyroTest::pprof_time_nanos($cpu_gz);
my $CPU_MS = do { use integer; $cpu_ns / 1_000_000 };
my $CPU_S = do { use integer; $cpu_ns / 1_000_000_000 };

# The text data sits two hours before the pprof, on a whole minute: one
# range under 24 h holds everything.
my $T1 = int($CPU_S / 60) * 60 - 7200;
sub ms { '' . ($_[0] * 1000) }                  # seconds -> ms, as a string
my ($S, $E) = (ms($T1 - 600), ms($T1 + 600));   # the text data
my ($SA, $EA) = (ms($T1 - 600), ms($CPU_S + 600));  # everything

sub folded {
    my ($path) = @_;
    my %st;
    open my $fh, '<', $path or die "$path: $!";
    while (<$fh>) {
        chomp;
        $st{$1} += $2 if /^(.*) (\d+)$/ && $2;
    }
    return \%st;
}
my $cpu_folded = folded("$FIX/go/cpu.pb.gz.cpu.folded.txt");

sub push_text {
    my ($tenant, $name, $from, $body) = @_;
    my $r = $t->ingest($body, name => $name, sampleRate => 0, (defined $from ? (from => $from) : ()),
                       headers => { 'X-Scope-OrgID' => $tenant });
    is($r->{status}, 200, "push $tenant $name" . (defined $from ? " at $from" : '')) or diag $r->{content};
}

# svc1: spec example A (query-output-formats.md 2, 3.2); svc3: example B
push_text('q1', 'svc1', $T1, "a;b 3\na;c 2\nd 1\n");
push_text('q1', 'svc3', $T1, "a;b 5\na;c 2\na;d 1\ne 3\ne;f 1\n");

# svc2, for SelectSeries over [T1, T1 + 300] with a 60 s step (right
# edges T1, T1+60, ..., T1+300; the fetch starts at T1 - 60)
my @SVC2 = ([-61, 'prod', "x;y 100"],   # before the fetch: never counted
            [-60, 'prod', "x;y 1"],     # the first bucket [T1-60, T1]
            [30, 'prod', "x;y 10"], [30, 'dev', "x;z 4"], [60, 'prod', "x;y 4"],   # (T1, T1+60]
            [61, 'prod', "x;w 7"], [120, 'dev', "x;z 1"],                          # (T1+60, T1+120]
            [300, 'dev', "x;z 2"],                                                 # the last edge
            [301, 'prod', "x;y 1000"]); # after the last edge: dropped
push_text('q1', "svc2{env=$_->[1]}", $T1 + $_->[0], "$_->[2]\n") for @SVC2;

{
    my $r = $t->ingest($cpu_gz, name => 'gosvc', format => 'pprof', spyName => 'gospy',
                       headers => { 'X-Scope-OrgID' => 'q1', 'Content-Type' => 'application/octet-stream' });
    is($r->{status}, 200, 'push q1 go/cpu.pb.gz') or diag $r->{content};
}

push_text('q2', 'svc1', $T1, "a;b 100\nq 50\n");
push_text('q2', 'svc9{env=staging}', $T1, "z 7\n");
push_text('qnow', 'svcnow', undef, "n;m 1\n");

# --- helpers --------------------------------------------------------------------------------

sub h { my ($tenant, %h) = @_; return { 'X-Scope-OrgID' => $tenant // 'q1', %h } }

# A JSON call: jcall(method, request (a hash, or the body itself), tenant, headers...).
sub jcall {
    my ($m, $req, $tenant, %h) = @_;
    my $body = ref $req ? $JSON->encode($req) : $req;
    return $t->post("$Q$m", $body, h($tenant, 'Content-Type' => 'application/json', %h));
}

# The response body, gunzipped when the server compressed it.
sub body_of {
    my ($r) = @_;
    my $b = $r->{content} // '';
    $b = PyroTest::gunzip_bytes($b) if ($r->{headers}{'content-encoding'} // '') =~ /gzip/i;
    return $b;
}

# A 200 JSON answer equal to $want as canonical JSON ("6" is not 6).
sub json_is {
    my ($r, $want, $what) = @_;
    is($r->{status}, 200, "$what: 200") or do { diag substr(body_of($r), 0, 400); return };
    like($r->{headers}{'content-type'} // '', qr{^application/json\b}, "$what: application/json");
    my $got = eval { JSON::PP->new->utf8->decode(body_of($r)) };
    is($JSON->encode($got // 'not JSON: ' . body_of($r)), $JSON->encode($want), "$what: body");
}

sub jdecode { my ($r) = @_; return eval { JSON::PP->new->utf8->decode(body_of($r)) } }

sub connect_error_is {
    my ($r, $status, $code, $msg, $what) = @_;
    is($r->{status}, $status, "$what: status $status") or diag substr(body_of($r), 0, 300);
    like($r->{headers}{'content-type'} // '', qr{^application/json}, "$what: JSON error");
    my $j = jdecode($r);
    is(ref $j, 'HASH', "$what: a JSON object") or return;
    is($j->{code}, $code, "$what: code $code");
    ok(!grep({ $_ ne 'code' && $_ ne 'message' && $_ ne 'details' } keys %$j), "$what: code and message");
    if (ref $msg) {
        like($j->{message} // '', $msg, "$what: message");
    } elsif (defined $msg) {
        is($j->{message}, $msg, "$what: message");
    }
}

# Binary calls: request and response types by method.
my %TYPES = (
    ProfileTypes           => ['querier.v1.ProfileTypesRequest', 'querier.v1.ProfileTypesResponse'],
    LabelNames             => ['types.v1.LabelNamesRequest', 'types.v1.LabelNamesResponse'],
    LabelValues            => ['types.v1.LabelValuesRequest', 'types.v1.LabelValuesResponse'],
    Series                 => ['querier.v1.SeriesRequest', 'querier.v1.SeriesResponse'],
    SelectMergeStacktraces => ['querier.v1.SelectMergeStacktracesRequest', 'querier.v1.SelectMergeStacktracesResponse'],
    SelectSeries           => ['querier.v1.SelectSeriesRequest', 'querier.v1.SelectSeriesResponse'],
    GetProfileStats        => ['types.v1.GetProfileStatsRequest', 'types.v1.GetProfileStatsResponse'],
);

# pcall(method, request in text format, tenant, headers...)
sub pcall {
    my ($m, $text, $tenant, %h) = @_;
    my $body = PyroTest::protoc_encode($TYPES{$m}[0], $text);
    return $t->post("$Q$m", $body, h($tenant, 'Content-Type' => 'application/proto', %h));
}

# A 200 binary answer whose decoding equals $want's (text format, any
# layout: both go through protoc).  Returns the decoded text.
sub proto_is {
    my ($m, $r, $want, $what) = @_;
    is($r->{status}, 200, "$what: 200") or do { diag substr(body_of($r), 0, 400); return '' };
    like($r->{headers}{'content-type'} // '', qr{^application/proto\b}, "$what: application/proto");
    my $type = $TYPES{$m}[1];
    my $got = eval { PyroTest::protoc_decode($type, body_of($r)) } // "protoc failed: $@";
    my $exp = PyroTest::protoc_decode($type, PyroTest::protoc_encode($type, $want));
    is($got, $exp, "$what: decoded body");
    return $got;
}

sub sel_req {
    my (%o) = @_;
    return { profileTypeID => $RAW, labelSelector => '{service_name="svc1"}', start => $S, end => $E, %o };
}

# The flamegraph message as { "a;b" => self }, through the legacy decoder.
sub fg_stacks {
    my ($fg) = @_;
    return PyroTest::flame_stacks({ names => $fg->{names}, levels => [map { $_->{values} } @{ $fg->{levels} }] });
}

sub hexs { join ' ', map { sprintf '%02x', ord } split //, $_[0] }

# --- ProfileTypes -----------------------------------------------------------------------

my %PT_RAW = (ID => $RAW, name => 'process_cpu', sampleType => 'samples', sampleUnit => 'count');
my %PT_CPU = (ID => $CPU, name => 'process_cpu', sampleType => 'cpu', sampleUnit => 'nanoseconds',
              periodType => 'cpu', periodUnit => 'nanoseconds');
my %PT_CPU_SAMPLES = (ID => $CPU_SAMPLES, name => 'process_cpu', sampleType => 'samples', sampleUnit => 'count',
                      periodType => 'cpu', periodUnit => 'nanoseconds');

json_is(jcall('ProfileTypes', { start => $S, end => $E }), { profileTypes => [\%PT_RAW] },
        'ProfileTypes, text data only (empty period parts omitted)');
json_is(jcall('ProfileTypes', { start => ms($CPU_S - 60), end => ms($CPU_S + 60) }),
        { profileTypes => [\%PT_CPU, \%PT_CPU_SAMPLES] }, 'ProfileTypes, the pprof only');
json_is(jcall('ProfileTypes', { start => $SA, end => $EA }),
        { profileTypes => [\%PT_CPU, \%PT_RAW, \%PT_CPU_SAMPLES] }, 'ProfileTypes, everything, sorted by ID');
json_is(jcall('ProfileTypes', { start => 0 + $SA, end => 0 + $EA }),
        { profileTypes => [\%PT_CPU, \%PT_RAW, \%PT_CPU_SAMPLES] }, 'ProfileTypes, int64 as JSON numbers');
json_is(jcall('ProfileTypes', { start => ms($T1 + 3600), end => ms($T1 + 3700) }), {},
        'ProfileTypes, an empty range: {}');
json_is(jcall('ProfileTypes', {}, 'qnow'), { profileTypes => [\%PT_RAW] }, 'ProfileTypes {}: the last hour');
json_is(jcall('ProfileTypes', '', 'qnow'), { profileTypes => [\%PT_RAW] }, 'ProfileTypes, an empty JSON body');
json_is(jcall('ProfileTypes', {}, 'q1'), {}, 'ProfileTypes {}: nothing in q1 in the last hour')
    if $CPU_S < time - 3700;

proto_is('ProfileTypes', pcall('ProfileTypes', "start: $SA end: $EA"), <<"EOF", 'binary ProfileTypes');
profile_types { ID: "$CPU" name: "process_cpu" sample_type: "cpu" sample_unit: "nanoseconds" period_type: "cpu" period_unit: "nanoseconds" }
profile_types { ID: "$RAW" name: "process_cpu" sample_type: "samples" sample_unit: "count" }
profile_types { ID: "$CPU_SAMPLES" name: "process_cpu" sample_type: "samples" sample_unit: "count" period_type: "cpu" period_unit: "nanoseconds" }
EOF
proto_is('ProfileTypes', pcall('ProfileTypes', '', 'qnow'), qq/profile_types { ID: "$RAW" name: "process_cpu" sample_type: "samples" sample_unit: "count" }/,
         'binary ProfileTypes, empty request: the last hour');
{
    my $r = pcall('ProfileTypes', "start: $S end: $E", 'nobody');
    is($r->{status}, 200, 'binary ProfileTypes of an empty tenant: 200');
    is(length($r->{content}), 0, 'binary ProfileTypes of an empty tenant: an empty body');
}

# --- LabelNames ---------------------------------------------------------------------------

sub names_ok {
    my ($r, $want, $not, $what) = @_;
    is($r->{status}, 200, "$what: 200") or do { diag body_of($r); return };
    my $j = jdecode($r);
    my @n = @{ $j->{names} || [] };
    is_deeply(\@n, [sort @n], "$what: sorted");
    my %u = map { $_ => 1 } @n;
    is(scalar keys %u, scalar @n, "$what: no duplicates");
    is_deeply([grep { !$u{$_} } @$want], [], "$what: has " . join(',', @$want));
    is_deeply([grep { $u{$_} } @$not], [], "$what: not " . join(',', @$not)) if @$not;
    return \@n;
}

my @INTERNAL = qw(__name__ __profile_type__ __service_name__ __type__ __unit__);
names_ok(jcall('LabelNames', { start => $S, end => $E }), [@INTERNAL, qw(env pyroscope_spy service_name)],
         [qw(loop __period_type__ __period_unit__)], 'LabelNames, text data (sampleRate=0: empty period labels are no labels)');
names_ok(jcall('LabelNames', { start => $SA, end => $EA }),
         [@INTERNAL, qw(__period_type__ __period_unit__ env loop pyroscope_spy service_name)], [], 'LabelNames, everything');
names_ok(jcall('LabelNames', { matchers => ['{service_name="gosvc"}'], start => $SA, end => $EA }),
         [@INTERNAL, qw(__period_type__ __period_unit__ loop pyroscope_spy service_name)], ['env'],
         'LabelNames, matchers {service_name="gosvc"}');
names_ok(jcall('LabelNames', { matchers => ['{service_name="svc2"}'], start => $SA, end => $EA }),
         [@INTERNAL, qw(env service_name)], ['loop'], 'LabelNames, matchers {service_name="svc2"}');
names_ok(jcall('LabelNames', { matchers => ['{service_name="svc1"}', '{service_name="gosvc"}'], start => $SA, end => $EA }),
         [qw(loop service_name)], ['env'], 'LabelNames, two matchers (OR)');
json_is(jcall('LabelNames', { matchers => ['{service_name="nothing"}'], start => $SA, end => $EA }), {},
        'LabelNames, nothing matches: {}');
{
    my $r = pcall('LabelNames', qq/matchers: "{service_name=\\"svc2\\"}" start: $S end: $E/);
    is($r->{status}, 200, 'binary LabelNames: 200');
    my $want = join '', map { qq/names: "$_"\n/ } @{ jdecode(jcall('LabelNames', { matchers => ['{service_name="svc2"}'],
                                                                                start => $S, end => $E })) ->{names} };
    is(PyroTest::protoc_decode($TYPES{LabelNames}[1], $r->{content}), $want, 'binary LabelNames = the JSON answer');
    like($want, qr/names: "env"\n/, 'binary LabelNames: env');
}

# --- LabelValues ------------------------------------------------------------------------

json_is(jcall('LabelValues', { name => 'service_name', start => $SA, end => $EA }),
        { names => [qw(gosvc svc1 svc2 svc3)] }, 'LabelValues service_name');
json_is(jcall('LabelValues', { name => 'service_name', start => $S, end => $E }),
        { names => [qw(svc1 svc2 svc3)] }, 'LabelValues service_name, text data');
json_is(jcall('LabelValues', { name => 'env', start => $S, end => $E }), { names => [qw(dev prod)] }, 'LabelValues env');
json_is(jcall('LabelValues', { name => 'service_name', matchers => ['{env="prod"}'], start => $S, end => $E }),
        { names => ['svc2'] }, 'LabelValues service_name, matchers {env="prod"}');
json_is(jcall('LabelValues', { name => 'service_name', matchers => ['{service_name=~"svc[13]"}', '{env="dev"}'],
                               start => $S, end => $E }),
        { names => [qw(svc1 svc2 svc3)] }, 'LabelValues, two matchers (OR)');
json_is(jcall('LabelValues', { name => 'loop', start => $SA, end => $EA }), { names => ['B'] }, 'LabelValues loop');
json_is(jcall('LabelValues', { name => '__profile_type__', start => $SA, end => $EA }),
        { names => [$CPU, $RAW, $CPU_SAMPLES] }, 'LabelValues __profile_type__');
json_is(jcall('LabelValues', { name => 'nosuch', start => $SA, end => $EA }), {}, 'LabelValues of a missing label: {}');
json_is(jcall('LabelValues', '{"name":"env","start":"' . $S . '","end":"' . $E . '","unknownField":[1,{"x":null}]}'),
        { names => [qw(dev prod)] }, 'LabelValues, unknown fields ignored');
proto_is('LabelValues', pcall('LabelValues', qq/name: "env" matchers: "{service_name=\\"svc2\\"}" start: $S end: $E/),
         'names: "dev" names: "prod"', 'binary LabelValues env');

# --- Series ------------------------------------------------------------------------------

sub lp { my (@kv) = @_; my @o; while (my ($k, $v) = splice @kv, 0, 2) { push @o, { name => $k, value => $v } } \@o }
my @SVC_COMMON = (__name__ => 'process_cpu', __profile_type__ => $RAW);
my @SVC_TAIL = (__type__ => 'samples', __unit__ => 'count');

json_is(jcall('Series', { matchers => ['{service_name="svc1"}'], start => $S, end => $E }),
        { labelsSet => [{ labels => lp(@SVC_COMMON, __service_name__ => 'svc1', @SVC_TAIL,
                                        pyroscope_spy => 'unknown', service_name => 'svc1') }] },
        'Series {service_name="svc1"}: every label, sorted');
json_is(jcall('Series', { matchers => ['{service_name="svc2"}'], labelNames => ['env'], start => $S, end => $E }),
        { labelsSet => [{ labels => lp(env => 'dev') }, { labels => lp(env => 'prod') }] },
        'Series, labelNames [env]');
json_is(jcall('Series', { matchers => ['{service_name="svc2"}'], label_names => ['service_name', 'env'], start => $S, end => $E }),
        { labelsSet => [{ labels => lp(env => 'dev', service_name => 'svc2') },
                        { labels => lp(env => 'prod', service_name => 'svc2') }] },
        'Series, label_names (the proto name) [service_name, env]');
json_is(jcall('Series', { matchers => ['{service_name="svc2"}', '{service_name="svc3"}'], labelNames => ['service_name'],
                          start => $S, end => $E }),
        { labelsSet => [{ labels => lp(service_name => 'svc2') }, { labels => lp(service_name => 'svc3') }] },
        'Series, two matchers (OR)');
json_is(jcall('Series', { matchers => ['{service_name="gosvc"}'], labelNames => ['loop', 'service_name'],
                          start => $SA, end => $EA }),
        { labelsSet => [{ labels => lp(loop => 'B', service_name => 'gosvc') }, { labels => lp(service_name => 'gosvc') }] },
        'Series of the pprof, labelNames [loop, service_name]');
json_is(jcall('Series', { matchers => ['{service_name="svc2"}'], start => ms($T1 + 3600), end => ms($T1 + 3700) }), {},
        'Series, an empty range: {}');
proto_is('Series', pcall('Series', qq/matchers: "{service_name=\\"svc2\\"}" label_names: "env" start: $S end: $E/),
         'labels_set { labels { name: "env" value: "dev" } } labels_set { labels { name: "env" value: "prod" } }',
         'binary Series, label_names [env]');

# --- SelectMergeStacktraces --------------------------------------------------------------

sub lv { return { values => [map { "$_" } @_] } }
my $FG_A = { names => [qw(total d a c b)],
             levels => [lv(0, 6, 0, 0), lv(0, 5, 0, 2, 0, 1, 1, 1), lv(0, 3, 3, 4, 0, 2, 2, 3)],
             total => '6', maxSelf => '3' };
my $FG_B3 = { names => [qw(total e other a b)],
              levels => [lv(0, 12, 0, 0), lv(0, 8, 0, 3, 0, 4, 3, 1), lv(0, 5, 5, 4, 0, 3, 3, 2, 3, 1, 1, 2)],
              total => '12', maxSelf => '5' };
my $FG_B = { names => [qw(total e f a d c b)],
             levels => [lv(0, 12, 0, 0), lv(0, 8, 0, 3, 0, 4, 3, 1), lv(0, 5, 5, 6, 0, 2, 2, 5, 0, 1, 1, 4, 3, 1, 1, 2)],
             total => '12', maxSelf => '5' };
my $FG_EMPTY = { names => ['total'], levels => [lv(0, 0, 0, 0)] };
my $TREE_A = "\x00\x00\x02" . "\x01d\x01\x00" . "\x01a\x00\x02" . "\x01c\x02\x00" . "\x01b\x03\x00";
my $TREE_B3 = "\x00\x00\x02" . "\x01e\x03\x01" . "\x05other\x01\x00" . "\x01a\x00\x02" . "\x05other\x03\x00"
            . "\x01b\x05\x00";

json_is(jcall('SelectMergeStacktraces', sel_req()), { flamegraph => $FG_A }, 'flame graph of example A (spec 3.2)');
json_is(jcall('SelectMergeStacktraces', sel_req(format => 'PROFILE_FORMAT_FLAMEGRAPH')), { flamegraph => $FG_A },
        'format PROFILE_FORMAT_FLAMEGRAPH');
json_is(jcall('SelectMergeStacktraces', sel_req(format => 'PROFILE_FORMAT_UNSPECIFIED', maxNodes => '0')),
        { flamegraph => $FG_A }, 'format PROFILE_FORMAT_UNSPECIFIED, maxNodes 0');
json_is(jcall('SelectMergeStacktraces', { profile_typeID => $RAW, label_selector => '{service_name="svc1"}',
                                          start => 0 + $S, end => 0 + $E, format => 1 }),
        { flamegraph => $FG_A }, 'proto field names, int64 as numbers, the enum as a number');
json_is(jcall('SelectMergeStacktraces', sel_req(labelSelector => '{service_name="svc3"}')), { flamegraph => $FG_B },
        'flame graph of example B without a cut');
json_is(jcall('SelectMergeStacktraces', sel_req(labelSelector => '{service_name="svc3"}', maxNodes => '3')),
        { flamegraph => $FG_B3 }, 'flame graph of example B, maxNodes 3 (spec 3.2)');
json_is(jcall('SelectMergeStacktraces', sel_req(labelSelector => '{service_name="svc1"}', maxNodes => 4)),
        { flamegraph => $FG_A }, 'maxNodes 4 on a 5-node tree keeps everything (ties at T kept)');
json_is(jcall('SelectMergeStacktraces', sel_req(labelSelector => '{service_name="nothing"}')), { flamegraph => $FG_EMPTY },
        'flame graph of nothing: names [total], one zero node');
{
    my $r = jcall('SelectMergeStacktraces', sel_req(labelSelector => '{}'));
    my $j = jdecode($r);
    my %want = ('a;b' => 8, 'a;c' => 4, 'a;d' => 1, d => 1, e => 3, 'e;f' => 1);
    $want{$_->[2] =~ s/ .*//r} += ($_->[2] =~ s/.* //r) for grep { $_->[0] >= -600 && $_->[0] <= 600 } @SVC2;
    is_deeply(fg_stacks($j->{flamegraph}), \%want, 'labelSelector {}: every text series of the type');
    my $r2 = jcall('SelectMergeStacktraces', sel_req(labelSelector => ''));
    is(body_of($r2), body_of($r), 'an empty labelSelector is {}');
}

# tree bytes
{
    my $r = jcall('SelectMergeStacktraces', sel_req(format => 'PROFILE_FORMAT_TREE'));
    is($r->{status}, 200, 'tree: 200');
    my $j = jdecode($r);
    is_deeply([sort keys %$j], ['tree'], 'tree: only the tree field');
    is(hexs(decode_base64($j->{tree} // '')), hexs($TREE_A), 'tree bytes = spec section 2 example 1');
    like($j->{tree} // '', qr{^[A-Za-z0-9+/]*={0,2}$}, 'tree: standard base64');
    is(length($j->{tree} // '') % 4, 0, 'tree: padded base64');

    $j = jdecode(jcall('SelectMergeStacktraces', sel_req(format => 'PROFILE_FORMAT_TREE', maxNodes => '3',
                                                          labelSelector => '{service_name="svc3"}')));
    is(hexs(decode_base64($j->{tree} // '')), hexs($TREE_B3), 'tree bytes, maxNodes 3 = spec section 2 example 2');

    json_is(jcall('SelectMergeStacktraces', sel_req(format => 'PROFILE_FORMAT_TREE', labelSelector => '{service_name="nothing"}')),
            {}, 'tree of nothing: {} (zero bytes omitted)');
}

# the pprof
{
    my $j = jdecode(jcall('SelectMergeStacktraces', { profileTypeID => $CPU, labelSelector => '{service_name="gosvc"}',
                                                      start => ms($CPU_S - 60), end => ms($CPU_S + 60) }));
    is($j->{flamegraph}{total}, '' . $oracle->{totals}{'cpu/nanoseconds'}, 'cpu.pb.gz: total = oracle');
    is_deeply(fg_stacks($j->{flamegraph}), $cpu_folded, 'cpu.pb.gz: stacks = cpu.pb.gz.cpu.folded.txt');
    my ($max) = sort { $b <=> $a } values %$cpu_folded;
    is($j->{flamegraph}{maxSelf}, "$max", 'cpu.pb.gz: maxSelf');
    $j = jdecode(jcall('SelectMergeStacktraces', { profileTypeID => $CPU_SAMPLES, labelSelector => '{service_name="gosvc"}',
                                                   start => ms($CPU_S - 60), end => ms($CPU_S + 60) }));
    is($j->{flamegraph}{total}, '' . $oracle->{totals}{'samples/count'}, 'cpu.pb.gz samples: total = oracle');
    $j = jdecode(jcall('SelectMergeStacktraces', { profileTypeID => $CPU, labelSelector => '{service_name="gosvc",loop="B"}',
                                                   start => ms($CPU_S - 60), end => ms($CPU_S + 60) }));
    is_deeply(fg_stacks($j->{flamegraph}), { map { $_ => $cpu_folded->{$_} } grep { /hotLoopB/ } keys %$cpu_folded },
              'cpu.pb.gz {loop="B"}: the hotLoopB stack');
}

# call site
json_is(jcall('SelectMergeStacktraces', sel_req(stackTraceSelector => { callSite => [{ name => 'a' }] })),
        { flamegraph => { names => [qw(total a c b)], levels => [lv(0, 5, 0, 0), lv(0, 5, 0, 1), lv(0, 3, 3, 3, 0, 2, 2, 2)],
                          total => '5', maxSelf => '3' } }, 'stackTraceSelector callSite [a]');

# binary
{
    my $req = qq/profile_typeID: "$RAW" label_selector: "{service_name=\\"svc1\\"}" start: $S end: $E/;
    my $txt = proto_is('SelectMergeStacktraces', pcall('SelectMergeStacktraces', $req), <<'EOF', 'binary flame graph');
flamegraph {
  names: "total" names: "d" names: "a" names: "c" names: "b"
  levels { values: [0, 6, 0, 0] }
  levels { values: [0, 5, 0, 2, 0, 1, 1, 1] }
  levels { values: [0, 3, 3, 4, 0, 2, 2, 3] }
  total: 6
  max_self: 3
}
EOF
    like($txt, qr/^  total: 6$/m, 'binary flame graph: total: 6');

    proto_is('SelectMergeStacktraces', pcall('SelectMergeStacktraces',
                                             qq/profile_typeID: "$RAW" label_selector: "{service_name=\\"svc3\\"}" start: $S end: $E max_nodes: 3/),
             <<'EOF', 'binary flame graph, max_nodes 3');
flamegraph {
  names: ["total", "e", "other", "a", "b"]
  levels { values: [0, 12, 0, 0] }
  levels { values: [0, 8, 0, 3, 0, 4, 3, 1] }
  levels { values: [0, 5, 5, 4, 0, 3, 3, 2, 3, 1, 1, 2] }
  total: 12
  max_self: 5
}
EOF

    my $r = pcall('SelectMergeStacktraces', "$req format: PROFILE_FORMAT_TREE");
    is($r->{status}, 200, 'binary tree: 200');
    my @f = eval { PyroTest::pb_decode($r->{content}) };
    is_deeply([map { "$_->[0]/$_->[1]" } @f], ['2/2'], 'binary tree: one field, tree (2)');
    is(hexs(@f ? $f[0][2] : ''), hexs($TREE_A), 'binary tree bytes = spec section 2 example 1');
    like(PyroTest::protoc_decode($TYPES{SelectMergeStacktraces}[1], $r->{content}), qr/^tree: "/, 'protoc reads the tree answer');

    $r = pcall('SelectMergeStacktraces', qq/profile_typeID: "$RAW" label_selector: "{service_name=\\"svc3\\"}" start: $S end: $E/
                                         . ' max_nodes: 3 format: PROFILE_FORMAT_TREE');
    @f = eval { PyroTest::pb_decode($r->{content}) };
    is(hexs(@f ? $f[0][2] : ''), hexs($TREE_B3), 'binary tree bytes, max_nodes 3 = spec section 2 example 2');

    proto_is('SelectMergeStacktraces', pcall('SelectMergeStacktraces', qq/profile_typeID: "$RAW" label_selector: "{service_name=\\"none\\"}" start: $S end: $E/),
             'flamegraph { names: "total" levels { values: [0, 0, 0, 0] } }', 'binary flame graph of nothing');
}

# formats and max_nodes refused
{
    my $r = jcall('SelectMergeStacktraces', sel_req(format => 'PROFILE_FORMAT_DOT'));
    is($r->{status}, 200, 'format DOT: 200') or diag substr(body_of($r), 0, 300);
    my $j = jdecode($r);
    like(ref $j eq 'HASH' ? $j->{dot} // '' : '', qr/\Adigraph "unnamed" \{\n.*\n\}\n\z/s, 'format DOT: a digraph in "dot"');
    ok(ref $j eq 'HASH' && !exists $j->{flamegraph} && !exists $j->{tree}, 'format DOT: only "dot"');
}
connect_error_is(jcall('SelectMergeStacktraces', sel_req(maxNodes => '-1')), 400, 'invalid_argument',
                 'max flamegraph nodes limit must be set (max allowed 1048576)', 'maxNodes -1');
connect_error_is(jcall('SelectMergeStacktraces', sel_req(maxNodes => '1048577')), 400, 'invalid_argument',
                 'max flamegraph nodes limit 1048577 is greater than allowed 1048576', 'maxNodes 1048577');
json_is(jcall('SelectMergeStacktraces', sel_req(maxNodes => '1048576')), { flamegraph => $FG_A }, 'maxNodes 1048576');
connect_error_is(jcall('SelectMergeStacktraces', sel_req(spanSelector => ['xyz'])), 400, 'invalid_argument',
                 'invalid span id: "xyz"', 'a bad span ID');
connect_error_is(jcall('SelectMergeStacktraces', sel_req(spanSelector => ['0102030405060708'],
                                                         traceIdSelector => ['0123456789abcdef0123456789abcdef'])),
                 400, 'invalid_argument', undef, 'span and trace ID selectors together (spec 1.4)');
connect_error_is(jcall('SelectMergeStacktraces', sel_req(labelSelector => '{service_name=}')), 400, 'invalid_argument',
                 undef, 'a bad labelSelector');

# --- SelectSeries --------------------------------------------------------------------------

sub pt { my ($v, $s) = @_; return { value => 0 + $v, timestamp => ms($T1 + $s) } }
sub ss_req {
    my (%o) = @_;
    return { profileTypeID => $RAW, labelSelector => '{service_name="svc2"}', start => ms($T1), end => ms($T1 + 300),
             step => 60, %o };
}
my $PROD = { labels => lp(env => 'prod'), points => [pt(1, 0), pt(14, 60), pt(7, 120)] };
my $DEV = { labels => lp(env => 'dev'), points => [pt(4, 60), pt(1, 120), pt(2, 300)] };

json_is(jcall('SelectSeries', ss_req()), { series => [{ points => [pt(1, 0), pt(18, 60), pt(8, 120), pt(2, 300)] }] },
        'SelectSeries: right-edge buckets, one series without labels');
json_is(jcall('SelectSeries', ss_req(groupBy => ['env'])), { series => [$PROD, $DEV] },
        'SelectSeries groupBy env: two series, the larger total first');
json_is(jcall('SelectSeries', ss_req(group_by => ['env'], limit => '1')), { series => [$PROD] }, 'SelectSeries limit 1');
json_is(jcall('SelectSeries', ss_req(groupBy => ['env'], limit => 5)), { series => [$PROD, $DEV] }, 'SelectSeries limit 5');
json_is(jcall('SelectSeries', ss_req(aggregation => 'TIME_SERIES_AGGREGATION_TYPE_AVERAGE')),
        { series => [{ points => [pt(1, 0), pt(6, 60), pt(4, 120), pt(2, 300)] }] }, 'SelectSeries AVERAGE');
json_is(jcall('SelectSeries', ss_req(groupBy => ['env'], aggregation => 1)),
        { series => [{ labels => lp(env => 'prod'), points => [pt(1, 0), pt(7, 60), pt(7, 120)] },
                     { labels => lp(env => 'dev'), points => [pt(4, 60), pt(1, 120), pt(2, 300)] }] },
        'SelectSeries AVERAGE (as the number 1) groupBy env');
json_is(jcall('SelectSeries', ss_req(groupBy => ['env'], aggregation => 'TIME_SERIES_AGGREGATION_TYPE_SUM')),
        { series => [$PROD, $DEV] }, 'SelectSeries SUM given explicitly');
json_is(jcall('SelectSeries', ss_req(groupBy => ['region'])),
        { series => [{ points => [pt(1, 0), pt(18, 60), pt(8, 120), pt(2, 300)] }] },
        'SelectSeries groupBy a missing label: one series without labels');
# step 100: the fetch starts at T1 - 100, so the profile at T1 - 61 counts
json_is(jcall('SelectSeries', ss_req(step => 100)),
        { series => [{ points => [pt(101, 0), pt(25, 100), pt(1, 200), pt(2, 300)] }] }, 'SelectSeries step 100');
json_is(jcall('SelectSeries', ss_req(labelSelector => '{service_name="nothing"}')), {}, 'SelectSeries of nothing: {}');
{
    my $r = jcall('SelectSeries', { profileTypeID => $CPU, labelSelector => '{service_name="gosvc"}',
                                    start => '' . ($CPU_MS - 30000), end => '' . ($CPU_MS + 30000), step => 15 });
    json_is($r, { series => [{ points => [{ value => 0 + $oracle->{totals}{'cpu/nanoseconds'}, timestamp => "$CPU_MS" }] }] },
            'SelectSeries of cpu.pb.gz: one point at its own ms');
    like(body_of($r), qr/"value":4990000000[,}]/, 'a double without an exponent') if $oracle->{totals}{'cpu/nanoseconds'} == 4990000000;
}
connect_error_is(jcall('SelectSeries', ss_req(step => 0)), 400, 'invalid_argument', 'step must be >= 1ms', 'step 0');
connect_error_is(jcall('SelectSeries', ss_req(step => 0.0005)), 400, 'invalid_argument', 'step must be >= 1ms', 'step 0.0005');
proto_is('SelectSeries', pcall('SelectSeries', qq/profile_typeID: "$RAW" label_selector: "{service_name=\\"svc2\\"}" /
                                               . "start: @{[ms($T1)]} end: @{[ms($T1 + 300)]} step: 60 group_by: \"env\""),
         join(' ', map { my $s = $_; 'series { labels { name: "env" value: "' . $s->{labels}[0]{value} . '" } '
                             . join(' ', map { "points { value: $_->{value} timestamp: $_->{timestamp} }" } @{ $s->{points} })
                             . ' }' } $PROD, $DEV),
         'binary SelectSeries group_by env');
proto_is('SelectSeries', pcall('SelectSeries', qq/profile_typeID: "$RAW" label_selector: "{service_name=\\"svc2\\"}" /
                                               . "start: @{[ms($T1)]} end: @{[ms($T1 + 300)]} step: 60 group_by: \"env\" limit: 1"
                                               . ' aggregation: TIME_SERIES_AGGREGATION_TYPE_AVERAGE'),
         'series { labels { name: "env" value: "prod" } '
         . join(' ', map { "points { value: $_->[0] timestamp: " . ms($T1 + $_->[1]) . ' }' } [1, 0], [7, 60], [7, 120]) . ' }',
         'binary SelectSeries AVERAGE limit 1');

# --- GetProfileStats ---------------------------------------------------------------------

json_is(jcall('GetProfileStats', {}), { dataIngested => JSON::PP::true, oldestProfileTime => ms($T1 - 61),
                                         newestProfileTime => "$CPU_MS" }, 'GetProfileStats');
json_is(jcall('GetProfileStats', '', 'q2'), { dataIngested => JSON::PP::true, oldestProfileTime => ms($T1),
                                               newestProfileTime => ms($T1) }, 'GetProfileStats q2 (an empty body)');
json_is(jcall('GetProfileStats', {}, 'nobody'), {}, 'GetProfileStats of an empty tenant: {}');
connect_error_is(jcall('GetProfileStats', {}, 'q1|q2'), 400, 'invalid_argument', 'expected 1 tenant, got 2',
                 'GetProfileStats of two tenants');
proto_is('GetProfileStats', pcall('GetProfileStats', ''),
         "data_ingested: true oldest_profile_time: @{[ms($T1 - 61)]} newest_profile_time: $CPU_MS", 'binary GetProfileStats');
{
    my $r = pcall('GetProfileStats', '', 'nobody');
    is($r->{status}, 200, 'binary GetProfileStats of an empty tenant: 200');
    is(length($r->{content}), 0, 'binary GetProfileStats of an empty tenant: an empty body');
}

# --- time rules (pyroscope-api.md 6.2) ------------------------------------------------------

{
    my %req = (
        LabelNames             => {},
        LabelValues            => { name => 'service_name' },
        Series                 => { matchers => ['{service_name="svc1"}'] },
        SelectMergeStacktraces => { profileTypeID => $RAW, labelSelector => '{service_name="svc1"}' },
        SelectSeries           => { profileTypeID => $RAW, labelSelector => '{service_name="svc1"}', step => 60 },
        ProfileTypes           => {},
    );
    my $day = 86_400_000;
    for my $m (sort keys %req) {
        my $q = $req{$m};
        unless ($m eq 'ProfileTypes') {
            connect_error_is(jcall($m, { %$q }), 400, 'invalid_argument', 'missing time range in the query', "$m: no range");
        }
        connect_error_is(jcall($m, { %$q, start => $S }), 400, 'invalid_argument', 'missing time range in the query',
                         "$m: no end");
        connect_error_is(jcall($m, { %$q, end => $E }), 400, 'invalid_argument', 'missing time range in the query',
                         "$m: no start");
        connect_error_is(jcall($m, { %$q, start => $E, end => $S }), 400, 'invalid_argument',
                         'query start time is after end time', "$m: start after end");
        connect_error_is(jcall($m, { %$q, start => '' . ($E - 25 * 3_600_000), end => $E }), 400, 'invalid_argument',
                         'the query time range exceeds the limit (max_query_length, actual: 25h0m0s, limit: 1d)',
                         "$m: 25 h");
        connect_error_is(jcall($m, { %$q, start => '' . ($E - $day - 1), end => $E }), 400, 'invalid_argument',
                         'the query time range exceeds the limit (max_query_length, actual: 24h0m0.001s, limit: 1d)',
                         "$m: 24 h + 1 ms");
        my $r = jcall($m, { %$q, start => '' . ($E - $day), end => $E });
        is($r->{status}, 200, "$m: exactly 24 h: 200") or diag body_of($r);
        $r = jcall($m, { %$q, start => $S, end => $S });
        is($r->{status}, 200, "$m: start = end: 200") or diag body_of($r);
    }
    # binary
    my $r = pcall('SelectMergeStacktraces', qq/profile_typeID: "$RAW" start: $E end: $S/);
    connect_error_is($r, 400, 'invalid_argument', 'query start time is after end time', 'binary: start after end');
    connect_error_is(pcall('Series', "start: $S"), 400, 'invalid_argument', 'missing time range in the query',
                     'binary Series: no end');
}

# --- tenants ------------------------------------------------------------------------------

{
    my $fed = jdecode(jcall('SelectMergeStacktraces', sel_req(), 'q1|q2'));
    is_deeply(fg_stacks($fed->{flamegraph}), { 'a;b' => 103, 'a;c' => 2, d => 1, q => 50 }, 'q1|q2: both tenants merged');
    is($fed->{flamegraph}{total}, '156', 'q1|q2: total 156');
    my $q2 = jdecode(jcall('SelectMergeStacktraces', sel_req(), 'q2'));
    is_deeply(fg_stacks($q2->{flamegraph}), { 'a;b' => 100, q => 50 }, 'q2 alone: its own data');
    json_is(jcall('SelectMergeStacktraces', sel_req(), 'q3'), { flamegraph => $FG_EMPTY }, 'q3: nothing');
    is(body_of(jcall('SelectMergeStacktraces', sel_req(), 'q2|q2')), body_of(jcall('SelectMergeStacktraces', sel_req(), 'q2')),
       'q2|q2 is q2');
    is(body_of(jcall('SelectMergeStacktraces', sel_req(), 'q2|q1')), body_of(jcall('SelectMergeStacktraces', sel_req(), 'q1|q2')),
       'q2|q1 is q1|q2');

    json_is(jcall('LabelValues', { name => 'env', start => $S, end => $E }, 'q1|q2'), { names => [qw(dev prod staging)] },
            'LabelValues env, q1|q2');
    json_is(jcall('LabelValues', { name => 'env', start => $S, end => $E }, 'q2'), { names => ['staging'] },
            'LabelValues env, q2');
    json_is(jcall('LabelValues', { name => 'service_name', start => $S, end => $E }, 'q2'), { names => [qw(svc1 svc9)] },
            'LabelValues service_name, q2');
    json_is(jcall('ProfileTypes', { start => ms($CPU_S - 60), end => ms($CPU_S + 60) }, 'q2'), {},
            'ProfileTypes q2: no pprof there');
    json_is(jcall('SelectSeries', ss_req(labelSelector => '{service_name="svc1"}'), 'q1|q2'),
            { series => [{ points => [pt(156, 0)] }] }, 'SelectSeries q1|q2');
    json_is(jcall('Series', { matchers => ['{}'], labelNames => ['service_name'], start => $S, end => $E }, 'q1|q2'),
            { labelsSet => [map { { labels => lp(service_name => $_) } } qw(svc1 svc2 svc3 svc9)] }, 'Series q1|q2');

    my $r = pcall('SelectMergeStacktraces', qq/profile_typeID: "$RAW" label_selector: "{service_name=\\"svc1\\"}" start: $S end: $E/,
                  'q1|q2');
    like(PyroTest::protoc_decode($TYPES{SelectMergeStacktraces}[1], $r->{content}), qr/^  total: 156$/m,
         'binary q1|q2: total: 156');
}

# --- protocol (pyroscope-api.md 2) ---------------------------------------------------------------

{
    for my $m (qw(GET PUT DELETE)) {
        my $r = $t->request($m, "${Q}ProfileTypes", $m eq 'PUT' ? '{}' : undef, h('q1', 'Content-Type' => 'application/json'));
        is($r->{status}, 405, "$m: 405");
        is($r->{headers}{allow}, 'POST', "$m: Allow: POST");
    }

    for my $ct ('text/plain', 'application/x-protobuf', 'application/grpc', 'application/jsonx') {
        my $r = $t->post("${Q}ProfileTypes", '{}', h('q1', 'Content-Type' => $ct));
        is($r->{status}, 415, "Content-Type '$ct': 415");
        like($r->{headers}{'accept-post'} // '', qr{application/json}, "Content-Type '$ct': Accept-Post lists JSON");
        like($r->{headers}{'accept-post'} // '', qr{application/proto}, "Content-Type '$ct': Accept-Post lists proto");
    }

    json_is(jcall('LabelValues', { name => 'env', start => $S, end => $E }, 'q1',
                  'Content-Type' => 'application/json; charset=utf-8'),
            { names => [qw(dev prod)] }, 'application/json; charset=utf-8');
    json_is(jcall('LabelValues', { name => 'env', start => $S, end => $E }, 'q1', 'Connect-Protocol-Version' => '1'),
            { names => [qw(dev prod)] }, 'Connect-Protocol-Version: 1');
    connect_error_is(jcall('LabelValues', { name => 'env', start => $S, end => $E }, 'q1', 'Connect-Protocol-Version' => '2'),
                     400, 'invalid_argument', undef, 'Connect-Protocol-Version: 2');
    connect_error_is(pcall('LabelValues', qq/name: "env" start: $S end: $E/, 'q1', 'Connect-Protocol-Version' => '2'),
                     400, 'invalid_argument', undef, 'binary, Connect-Protocol-Version: 2');

    # gzip request bodies
    my $r = $t->post("${Q}SelectMergeStacktraces", PyroTest::gzip_bytes($JSON->encode(sel_req())),
                     h('q1', 'Content-Type' => 'application/json', 'Content-Encoding' => 'gzip'));
    json_is($r, { flamegraph => $FG_A }, 'JSON, Content-Encoding: gzip');
    $r = $t->post("${Q}SelectMergeStacktraces",
                  PyroTest::gzip_bytes(PyroTest::protoc_encode($TYPES{SelectMergeStacktraces}[0],
                                       qq/profile_typeID: "$RAW" label_selector: "{service_name=\\"svc1\\"}" start: $S end: $E/)),
                  h('q1', 'Content-Type' => 'application/proto', 'Content-Encoding' => 'gzip'));
    is($r->{status}, 200, 'binary, Content-Encoding: gzip: 200') or diag body_of($r);
    like(PyroTest::protoc_decode($TYPES{SelectMergeStacktraces}[1], body_of($r)), qr/^  total: 6$/m,
         'binary, Content-Encoding: gzip: total: 6');
    connect_error_is($t->post("${Q}LabelValues", $JSON->encode({ name => 'env', start => $S, end => $E }),
                              h('q1', 'Content-Type' => 'application/json', 'Content-Encoding' => 'gzip')),
                     400, 'invalid_argument', undef, 'Content-Encoding: gzip on a body that is not gzip');
    my $gz = PyroTest::gzip_bytes($JSON->encode({ name => 'env', start => $S, end => $E }));
    connect_error_is($t->post("${Q}LabelValues", substr($gz, 0, length($gz) - 10),
                              h('q1', 'Content-Type' => 'application/json', 'Content-Encoding' => 'gzip')),
                     400, 'invalid_argument', qr/gzip/, 'Content-Encoding: gzip on a truncated gzip body');
    connect_error_is($t->post("${Q}LabelValues", '{}', h('q1', 'Content-Type' => 'application/json', 'Content-Encoding' => 'br')),
                     501, 'unimplemented', undef, 'Content-Encoding: br');
    json_is($t->post("${Q}LabelValues", $JSON->encode({ name => 'env', start => $S, end => $E }),
                     h('q1', 'Content-Type' => 'application/json', 'Content-Encoding' => 'identity')),
            { names => [qw(dev prod)] }, 'Content-Encoding: identity');

    # unknown methods
    for my $m ('NoSuchMethod', 'profileTypes', 'ProfileTypes/x') {
        connect_error_is(jcall($m, {}), 404, 'unimplemented', undef, "unknown method $m");
    }
    connect_error_is($t->post($Q, '{}', h('q1', 'Content-Type' => 'application/json')), 404, 'unimplemented', undef,
                     'no method');

    # bad bodies
    connect_error_is(jcall('SelectMergeStacktraces', '{"start":'), 400, 'invalid_argument', undef, 'truncated JSON');
    connect_error_is(jcall('SelectMergeStacktraces', '[1,2]'), 400, 'invalid_argument', undef, 'a JSON array');
    connect_error_is(jcall('SelectMergeStacktraces', '{"start":"x1"}'), 400, 'invalid_argument', undef, 'a bad int64');
    connect_error_is(jcall('SelectMergeStacktraces', '{"format":"PROFILE_FORMAT_NOPE"}'), 400, 'invalid_argument', undef,
                     'an unknown enum name');
    connect_error_is($t->post("${Q}SelectMergeStacktraces", "\x0a\xff\xff\xff\xff\x0f", h('q1', 'Content-Type' => 'application/proto')),
                     400, 'invalid_argument', undef, 'a truncated protobuf');

    # chunked
    my $body = $JSON->encode(sel_req());
    my ($status, $head, $rbody) = $t->raw("POST ${Q}SelectMergeStacktraces HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        . "Content-Type: application/json\r\nX-Scope-OrgID: q1\r\nTransfer-Encoding: chunked\r\n\r\n"
        . join('', map { sprintf("%x\r\n%s\r\n", length $_, $_) } unpack('(a7)*', $body)) . "0\r\n\r\n");
    is($status, 200, 'a chunked request: 200');
    is($JSON->encode(eval { JSON::PP->new->utf8->decode($rbody) } // $rbody), $JSON->encode({ flamegraph => $FG_A }),
       'a chunked request: the flame graph');
}

# still serving
json_is(jcall('SelectMergeStacktraces', sel_req()), { flamegraph => $FG_A }, 'a last query');

$t->finish;
done_testing;

#!/usr/bin/perl

# Connect push.v1.PusherService/Push (issue 3): the captured Connect
# requests (binary, JSON, gzip; each carries go/cpu.pb.gz unchanged)
# replayed under their own tenants and compared with the cpu.pb.gz
# oracle; then hand-built requests for the protocol (methods, content
# types, encodings, Connect-Protocol-Version, protojson rules) and for
# the series rules (labels, limits, sample labels), spec sections 2, 4.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use PyroTest;

my $FIX = $PyroTest::FIXTURES;
plan skip_all => "no fixtures at $FIX" unless -d "$FIX/captured/connect-push" && -f "$FIX/go/cpu.pb.gz";

my $t = PyroTest->new->start;
my $JSON = JSON::PP->new->utf8->canonical;
my $PUSH = '/push.v1.PusherService/Push';
my $CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
my $SAMPLES = 'process_cpu:samples:count:cpu:nanoseconds';
my $NOW = time;

sub tenant_h { { 'X-Scope-OrgID' => $_[0] } }

sub ticks {
    my ($tenant, $query, $from, $until) = @_;
    my $j = $t->render(query => $query, from => $from // $NOW - 3600, until => $until // $NOW + 3600,
                       headers => tenant_h($tenant));
    return $j->{flamebearer}{numTicks};
}

sub stacks {
    my ($tenant, $query, $from, $until) = @_;
    my ($st) = $t->stacks(query => $query, from => $from // $NOW - 3600, until => $until // $NOW + 3600,
                          headers => tenant_h($tenant));
    return $st;
}

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

# The response body, gunzipped when the server compressed it.
sub body_of {
    my ($r) = @_;
    my $b = $r->{content} // '';
    $b = PyroTest::gunzip_bytes($b) if ($r->{headers}{'content-encoding'} // '') =~ /gzip/i;
    return $b;
}

sub push_ok {
    my ($r, $json, $what) = @_;
    is($r->{status}, 200, "$what: 200") or diag substr($r->{content} // '', 0, 300);
    like($r->{headers}{'content-type'} // '', $json ? qr{^application/json\b} : qr{^application/proto\b},
         "$what: Content-Type mirrors the request codec");
    is(body_of($r), $json ? '{}' : '', "$what: " . ($json ? '{}' : 'an empty body'));
}

sub connect_error_is {
    my ($r, $status, $code, $msg, $what) = @_;
    is($r->{status}, $status, "$what: status $status") or diag substr($r->{content} // '', 0, 300);
    like($r->{headers}{'content-type'} // '', qr{^application/json}, "$what: JSON error");
    my $j = eval { JSON::PP->new->utf8->decode(body_of($r)) };
    is(ref $j, 'HASH', "$what: a JSON object") or return;
    is($j->{code}, $code, "$what: code $code");
    ok(!grep({ $_ ne 'code' && $_ ne 'message' && $_ ne 'details' } keys %$j), "$what: code and message");
    if (ref $msg) {
        like($j->{message} // '', $msg, "$what: message");
    } elsif (defined $msg) {
        is($j->{message}, $msg, "$what: message");
    }
}

sub post_push {
    my ($body, %h) = @_;
    return $t->post($PUSH, $body, \%h);
}

# --- the captured requests ----------------------------------------------------------

my $cpu_gz = PyroTest::read_bytes("$FIX/go/cpu.pb.gz");
my $oracle = JSON::PP->new->decode(PyroTest::read_bytes("$FIX/go/cpu.pb.gz.oracle.json"));
my $cpu_folded = folded("$FIX/go/cpu.pb.gz.cpu.folded.txt");
my $cpu_ts = int(PyroTest::pprof_time_nanos($cpu_gz) / 1e9);
my @W = ($cpu_ts - 3600, $cpu_ts + 3600);

my $summary = JSON::PP->new->decode(PyroTest::read_bytes("$FIX/captured/connect-push/summary.json"));
is(scalar @$summary, 5, 'five captured Connect requests');

for my $s (@$summary) {
    my $nn = sprintf '%04d', $s->{index};
    my $dir = "$FIX/captured/connect-push/$nn";
    my $req = JSON::PP->new->decode(PyroTest::read_bytes("$dir/request.json"));
    my $body = PyroTest::read_bytes("$dir/body.bin");
    my $tenant = "c$nn";
    my $json = $s->{content_type} =~ /json/;
    my $client = (map { $_->{value} } grep { $_->{name} eq 'client' } @{ $s->{push_series}[0]{labels} })[0];
    my $what = "connect-push/$nn ($client)";

    my $r = $t->request('POST', $req->{path}, $body,
                        PyroTest::replay_headers($req->{headers}, 'X-Scope-OrgID' => $tenant));
    push_ok($r, $json, $what);

    my $sel = qq/{service_name="connect-push-fixture",env="test",client="$client"}/;
    is(ticks($tenant, "$CPU$sel", @W), $oracle->{totals}{'cpu/nanoseconds'}, "$what: cpu total = cpu.pb.gz oracle");
    is(ticks($tenant, "$SAMPLES$sel", @W), $oracle->{totals}{'samples/count'}, "$what: samples total = oracle");
    is_deeply(stacks($tenant, "$CPU$sel", @W), $cpu_folded, "$what: stacks = cpu.pb.gz.cpu.folded.txt");
    my $b = stacks($tenant, qq/$CPU\{service_name="connect-push-fixture",loop="B"}/, @W);
    is_deeply($b, { map { $_ => $cpu_folded->{$_} } grep { /hotLoopB/ } keys %$cpu_folded },
              "$what: {loop=\"B\"}: the hotLoopB stack");
}

# 0001 as it came, chunked.
{
    my $dir = "$FIX/captured/connect-push/0001";
    my $body = PyroTest::read_bytes("$dir/body.bin");
    my $chunked = '';
    for (my $i = 0; $i < length $body; $i += 500) {
        my $c = substr($body, $i, 500);
        $chunked .= sprintf("%x\r\n", length $c) . "$c\r\n";
    }
    my ($status, $head, $rbody) = $t->raw("POST $PUSH HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        . "Content-Type: application/proto\r\nConnect-Protocol-Version: 1\r\nX-Scope-OrgID: c0001-chunked\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n${chunked}0\r\n\r\n");
    is($status, 200, 'connect-push/0001 chunked: 200') or diag $rbody;
    is(ticks('c0001-chunked', qq/$CPU\{service_name="connect-push-fixture"}/, @W),
       $oracle->{totals}{'cpu/nanoseconds'}, 'connect-push/0001 chunked: cpu total');
}

# --- hand-built requests ------------------------------------------------------------------

sub cpu_profile {
    my (%o) = @_;
    return PyroTest::pprof_encode(
        sample_types => [['samples', 'count'], ['cpu', 'nanoseconds']],
        period_type => ['cpu', 'nanoseconds'], period => 10_000_000,
        time_nanos => $o{time_nanos} // 0,
        samples => $o{samples} // [{ stack => 'main;work', values => [3, 30_000_000] },
                                   { stack => 'main;idle', values => [1, 10_000_000] }]);
}
my $PROF = cpu_profile();
my $PROF_GZ = PyroTest::gzip_bytes($PROF);

sub labels { my (%l) = @_; [map { [$_, $l{$_}] } sort keys %l] }

sub proto_push {
    my ($svc, %extra) = @_;
    return PyroTest::push_request({ labels => labels(__name__ => 'process_cpu', service_name => $svc, %extra),
                                    profiles => [$PROF_GZ] });
}

sub json_push {
    my (%o) = @_;
    return $JSON->encode({ series => [{ labels => [map { { name => $_->[0], value => $_->[1] } }
                                                      @{ labels(%{ $o{labels} }) }],
                                        samples => [{ ($o{field} // 'rawProfile') => $o{b64} // encode_base64($PROF_GZ, '') }] }] });
}

my %PROTO = ('Content-Type' => 'application/proto');
my %JSONH = ('Content-Type' => 'application/json');

# binary, plain (not gzipped) raw_profile, no Connect-Protocol-Version
{
    my $r = post_push(PyroTest::push_request({ labels => labels(__name__ => 'process_cpu', service_name => 'h-plain'),
                                               profiles => [$PROF] }), %PROTO, 'X-Scope-OrgID' => 'h-plain');
    push_ok($r, 0, 'binary push, plain raw_profile, no Connect-Protocol-Version');
    is(ticks('h-plain', qq/$CPU\{service_name="h-plain"}/), 40_000_000, 'plain raw_profile stored');
    is_deeply(stacks('h-plain', qq/$CPU\{service_name="h-plain"}/),
              { 'main;work' => 30_000_000, 'main;idle' => 10_000_000 }, 'plain raw_profile stacks');
    is(ticks('h-plain', qq/$SAMPLES\{service_name="h-plain"}/), 4, 'one series per sample type');
}

# JSON: JSON names, proto names, unknown fields, URL-safe base64 without padding, charset
{
    my $r = post_push(json_push(labels => { __name__ => 'process_cpu', service_name => 'h-json' }),
                      %JSONH, 'Connect-Protocol-Version' => '1', 'X-Scope-OrgID' => 'h-json');
    push_ok($r, 1, 'JSON push (rawProfile)');
    is(ticks('h-json', qq/$CPU\{service_name="h-json"}/), 40_000_000, 'JSON push stored');

    $r = post_push(json_push(labels => { __name__ => 'process_cpu', service_name => 'h-raw-profile' },
                             field => 'raw_profile'), %JSONH, 'X-Scope-OrgID' => 'h-proto-names');
    push_ok($r, 1, 'JSON push with the proto field name raw_profile');
    is(ticks('h-proto-names', qq/$CPU\{service_name="h-raw-profile"}/), 40_000_000, 'raw_profile stored');

    my $b64 = encode_base64($PROF_GZ, '');
    my $doc = { extra => { a => [1, 2, { b => undef }] }, 'unknownTop' => 'x',
                series => [{ labels => [{ name => '__name__', value => 'process_cpu', 'weird' => 1 },
                                        { name => 'service_name', value => 'h-unknown' }],
                             samples => [{ rawProfile => $b64, ID => '2a1f9c3e-0000-4000-8000-000000000001', 'future' => [] }],
                             annotations => [], 'somethingNew' => { x => 1 } }] };
    $r = post_push($JSON->encode($doc), %JSONH, 'X-Scope-OrgID' => 'h-unknown');
    push_ok($r, 1, 'JSON push with unknown fields everywhere');
    is(ticks('h-unknown', qq/$CPU\{service_name="h-unknown"}/), 40_000_000, 'unknown fields ignored');

    # a profile whose standard base64 has '+', '/' and padding
    my ($p, $std, $k);
    for my $n (1 .. 200) {
        ($k, $p) = ($n, PyroTest::gzip_bytes(cpu_profile(samples => [{ stack => "main;w$n",
                                                                       values => [$n, $n * 10_000_000] }])));
        $std = encode_base64($p, '');
        last if $std =~ m{\+} && $std =~ m{/} && $std =~ /=$/;
    }
    ok($std =~ m{\+} && $std =~ m{/} && $std =~ /=$/, 'a profile whose base64 has +, / and padding');
    (my $url = $std) =~ tr{+/}{-_};
    $url =~ s/=+$//;
    $r = post_push(json_push(labels => { __name__ => 'process_cpu', service_name => 'h-url64' }, b64 => $url),
                   'Content-Type' => 'application/json; charset=utf-8', 'X-Scope-OrgID' => 'h-url64');
    push_ok($r, 1, 'URL-safe base64 without padding, application/json; charset=utf-8');
    is_deeply(stacks('h-url64', qq/$CPU\{service_name="h-url64"}/), { "main;w$k" => $k * 10_000_000 },
              'URL-safe base64 stored');

    (my $nopad = $std) =~ s/=+$//;
    $r = post_push(json_push(labels => { __name__ => 'process_cpu', service_name => 'h-nopad' }, b64 => $nopad),
                   %JSONH, 'X-Scope-OrgID' => 'h-url64');
    push_ok($r, 1, 'standard base64 without padding');
    is(ticks('h-url64', qq/$CPU\{service_name="h-nopad"}/), $k * 10_000_000, 'unpadded base64 stored');
}

# gzip request bodies
{
    my $r = post_push(PyroTest::gzip_bytes(proto_push('h-gz')), %PROTO, 'Content-Encoding' => 'gzip',
                      'X-Scope-OrgID' => 'h-gz');
    push_ok($r, 0, 'binary push, Content-Encoding: gzip');
    is(ticks('h-gz', qq/$CPU\{service_name="h-gz"}/), 40_000_000, 'gzip body stored');

    $r = post_push(PyroTest::gzip_bytes(json_push(labels => { __name__ => 'process_cpu', service_name => 'h-gz-json' })),
                   %JSONH, 'Content-Encoding' => 'gzip', 'X-Scope-OrgID' => 'h-gz-json');
    push_ok($r, 1, 'JSON push, Content-Encoding: gzip');
    is(ticks('h-gz-json', qq/$CPU\{service_name="h-gz-json"}/), 40_000_000, 'gzip JSON body stored');

    $r = post_push(proto_push('h-identity'), %PROTO, 'Content-Encoding' => 'identity', 'X-Scope-OrgID' => 'h-identity');
    push_ok($r, 0, 'Content-Encoding: identity');
}

# several series, several samples per series
{
    my $body = PyroTest::push_request(
        { labels => labels(__name__ => 'process_cpu', service_name => 'h-multi-a'), profiles => [$PROF_GZ, $PROF] },
        { labels => labels(__name__ => 'process_cpu', service_name => 'h-multi-b', env => 'x'), profiles => [$PROF_GZ] });
    my $r = post_push($body, %PROTO, 'X-Scope-OrgID' => 'h-multi');
    push_ok($r, 0, 'two series, one with two samples');
    is(ticks('h-multi', qq/$CPU\{service_name="h-multi-a"}/), 80_000_000, 'two samples of one series both stored');
    is(ticks('h-multi', qq/$CPU\{service_name="h-multi-b",env="x"}/), 40_000_000, 'the second series');
    is(ticks('h-multi', qq/$CPU\{}/), 120_000_000, 'nothing else');
}

# series labels: missing service_name, __session_id__, sample labels
{
    my $r = post_push(PyroTest::push_request({ labels => labels(__name__ => 'process_cpu', env => 'nosvc'),
                                               profiles => [$PROF_GZ] }), %PROTO, 'X-Scope-OrgID' => 'h-nosvc');
    push_ok($r, 0, 'no service_name');
    is(ticks('h-nosvc', qq/$CPU\{service_name="unknown_service",env="nosvc"}/), 40_000_000,
       'stored as service_name=unknown_service');

    $r = post_push(proto_push('h-session', __session_id__ => '0123456789abcdef'), %PROTO, 'X-Scope-OrgID' => 'h-session');
    push_ok($r, 0, 'a __session_id__ label');
    is(ticks('h-session', qq/$CPU\{service_name="h-session"}/), 40_000_000, '__session_id__ push stored');
    is(ticks('h-session', qq/$CPU\{__session_id__=~".+"}/), 0, '__session_id__ dropped');

    my $p = PyroTest::gzip_bytes(cpu_profile(samples => [
        { stack => 'main;a', values => [1, 10_000_000] },
        { stack => 'main;b', values => [2, 20_000_000], labels => { loop => 'B' } },
        { stack => 'main;c', values => [4, 40_000_000], labels => { loop => 'B', span_id => '0102030405060708' } },
        { stack => 'main;d', values => [8, 80_000_000], labels => { profile_id => '1112131415161718',
                                                                   trace_id => '0123456789abcdef0123456789abcdef' } },
        { stack => 'main;e', values => [16, 160_000_000], num_labels => { bytes => 4096 } },
        { stack => 'main;f', values => [32, 320_000_000], labels => { loop => 'C', env => 'sample' } }]));
    $r = post_push(PyroTest::push_request({ labels => labels(__name__ => 'process_cpu', service_name => 'h-split',
                                                             env => 'series'), profiles => [$p] }),
                   %PROTO, 'X-Scope-OrgID' => 'h-split');
    push_ok($r, 0, 'sample labels');
    my $svc = 'service_name="h-split"';
    is(ticks('h-split', qq/$CPU\{$svc}/), 630_000_000, 'sample labels: the total');
    is_deeply(stacks('h-split', qq/$CPU\{$svc,loop="B"}/), { 'main;b' => 20_000_000, 'main;c' => 40_000_000 },
              'loop=B is its own series (span_id does not split)');
    is_deeply(stacks('h-split', qq/$CPU\{$svc,loop="C"}/), { 'main;f' => 320_000_000 }, 'loop=C');
    is_deeply(stacks('h-split', qq/$CPU\{$svc,loop=""}/),
              { 'main;a' => 10_000_000, 'main;d' => 80_000_000, 'main;e' => 160_000_000 },
              'no loop label: profile_id, trace_id and numeric labels do not split');
    is(ticks('h-split', qq/$CPU\{span_id=~".+"}/), 0, 'span_id is not a series label');
    is(ticks('h-split', qq/$CPU\{profile_id=~".+"}/), 0, 'profile_id is not a series label');
    is(ticks('h-split', qq/$CPU\{trace_id=~".+"}/), 0, 'trace_id is not a series label');
    is(ticks('h-split', qq/$CPU\{bytes=~".+"}/), 0, 'numeric labels are not series labels');
    is(ticks('h-split', qq/$CPU\{env="series"}/), 630_000_000, 'existing series labels win over sample labels');
    is(ticks('h-split', qq/$CPU\{env="sample"}/), 0, 'the sample env label lost');

    # span IDs are kept per sample: SelectMergeSpanProfile finds them
    my $now = int(time * 1000);
    for my $case (['0102030405060708', { 'main;c' => 40_000_000 }, 'span_id'],
                  ['1112131415161718', { 'main;d' => 80_000_000 }, 'profile_id as a span ID'],
                  ['ffffffffffffffff', {}, 'an unknown span ID']) {
        my ($span, $want, $what) = @$case;
        my $body = JSON::PP->new->canonical->encode({
            profileTypeID => $CPU, labelSelector => "{$svc}", spanSelector => [$span],
            start => '' . ($now - 3600000), end => '' . ($now + 600000) });
        my $q = $t->post('/querier.v1.QuerierService/SelectMergeSpanProfile', $body,
            { 'Content-Type' => 'application/json', 'X-Scope-OrgID' => 'h-split' });
        is($q->{status}, 200, "SelectMergeSpanProfile: $what") or diag $q->{content};
        my $fg = $q->{json}{flamegraph} || {};
        my %st;
        if ($fg->{levels}) {
            my $fb = { names => $fg->{names},
                       levels => [map { [map { $_ + 0 } @{ $_->{values} || [] }] } @{ $fg->{levels} }] };
            %st = %{ PyroTest::flame_stacks($fb) };
        }
        is_deeply(\%st, $want, "SelectMergeSpanProfile stacks: $what");
    }
}

# __name__ comes from the client and is kept for every sample type: the
# default relabel rule wall/cpu -> process_cpu looks at __type__, which
# push series labels do not carry when the rules run (upstream relabels
# the series labels in pprofsplit.VisitSampleSeries, before the split by
# sample type adds __type__).
{
    my $p = PyroTest::gzip_bytes(PyroTest::pprof_encode(
        sample_types => [['samples', 'count'], ['wall', 'nanoseconds'], ['cpu', 'nanoseconds']],
        period_type => ['wall', 'nanoseconds'], period => 10_000_000,
        samples => [{ stack => 'main;sleep', values => [5, 50_000_000, 1_000_000] },
                    { stack => 'main;spin', values => [2, 20_000_000, 20_000_000] }]));
    my $r = post_push(PyroTest::push_request({ labels => labels(__name__ => 'wall', service_name => 'h-wall'),
                                               profiles => [$p] }), %PROTO, 'X-Scope-OrgID' => 'h-wall');
    push_ok($r, 0, 'a wall profile');
    my $sel = '{service_name="h-wall"}';
    is(ticks('h-wall', "wall:samples:count:wall:nanoseconds$sel"), 7, 'wall:samples:count');
    is(ticks('h-wall', "wall:wall:nanoseconds:wall:nanoseconds$sel"), 70_000_000, 'wall:wall:nanoseconds');
    is(ticks('h-wall', "wall:cpu:nanoseconds:wall:nanoseconds$sel"), 21_000_000, 'wall:cpu:nanoseconds keeps __name__');
    is(ticks('h-wall', "process_cpu:cpu:nanoseconds:wall:nanoseconds$sel"), 0, 'nothing under process_cpu');
}

# label limits (spec 4.5): 30 names, name 1024 bytes, value 2048 bytes
{
    my %l30 = map { sprintf('l%02d', $_) => 'v' } 1 .. 28;
    my $r = post_push(proto_push('h-l30', %l30), %PROTO, 'X-Scope-OrgID' => 'h-limits');
    push_ok($r, 0, '30 labels');
    is(ticks('h-limits', qq/$CPU\{service_name="h-l30",l28="v"}/), 40_000_000, '30 labels stored');

    my %l31 = map { sprintf('l%02d', $_) => 'v' } 1 .. 29;
    $r = post_push(proto_push('h-l31', %l31), %PROTO, 'X-Scope-OrgID' => 'h-limits');
    connect_error_is($r, 400, 'invalid_argument', qr/has 31 label names; limit 30/, '31 labels');

    $r = post_push(proto_push('h-name1024', ('n' x 1024) => 'v'), %PROTO, 'X-Scope-OrgID' => 'h-limits');
    push_ok($r, 0, 'a 1024-byte label name');
    $r = post_push(proto_push('h-name1025', ('n' x 1025) => 'v'), %PROTO, 'X-Scope-OrgID' => 'h-limits');
    connect_error_is($r, 400, 'invalid_argument', qr/label name too long/, 'a 1025-byte label name');

    $r = post_push(proto_push('h-value2048', big => 'v' x 2048), %PROTO, 'X-Scope-OrgID' => 'h-limits');
    push_ok($r, 0, 'a 2048-byte label value');
    $r = post_push(proto_push('h-value2049', big => 'v' x 2049), %PROTO, 'X-Scope-OrgID' => 'h-limits');
    connect_error_is($r, 400, 'invalid_argument', qr/label value too long/, 'a 2049-byte label value');

    # 10 000 series labels: refused quickly, nothing stored, worker alive
    my %l10k = map { sprintf('k%05d', $_) => 'v' } 1 .. 10_000;
    $r = post_push(proto_push('h-l10k', %l10k), %PROTO, 'X-Scope-OrgID' => 'h-limits');
    connect_error_is($r, 400, 'invalid_argument', qr/has 10002 label names; limit 30/, '10 000 labels');

    is(ticks('h-limits', qq/$CPU\{service_name=~"h-.*"}/), 3 * 40_000_000, 'only the accepted pushes stored');
}

# --- protocol errors ------------------------------------------------------------------------

{
    my $r = post_push(PyroTest::push_request({ labels => labels(service_name => 'h-noname'), profiles => [$PROF_GZ] }),
                      %PROTO, 'X-Scope-OrgID' => 'h-err');
    connect_error_is($r, 400, 'invalid_argument', qr/invalid metric name/, 'no __name__');

    $r = post_push(PyroTest::push_request({ labels => labels(__name__ => '', service_name => 'h-emptyname'),
                                            profiles => [$PROF_GZ] }), %PROTO, 'X-Scope-OrgID' => 'h-err');
    connect_error_is($r, 400, 'invalid_argument', qr/invalid metric name/, 'empty __name__');

    for my $c (['', 'application/proto', 'an empty binary request'],
               ['{}', 'application/json', 'an empty JSON request'],
               ['{"series":[]}', 'application/json', 'an empty series list'])
    {
        $r = post_push($c->[0], 'Content-Type' => $c->[1], 'Content-Length' => length $c->[0], 'X-Scope-OrgID' => 'h-err');
        connect_error_is($r, 400, 'invalid_argument', 'no profiles received', $c->[2]);
    }

    for my $m (qw(GET PUT DELETE)) {
        $r = $t->request($m, $PUSH, $m eq 'PUT' ? proto_push('h-put') : undef, { %PROTO, 'X-Scope-OrgID' => 'h-err' });
        is($r->{status}, 405, "$m: 405");
        is($r->{headers}{allow}, 'POST', "$m: Allow: POST");
    }

    for my $ct ('text/plain', 'application/x-protobuf', 'application/grpc-web-text', 'application/octet-stream',
                'application/protobuf', 'application/jsonx')
    {
        $r = post_push(proto_push('h-ct'), 'Content-Type' => $ct, 'X-Scope-OrgID' => 'h-err');
        is($r->{status}, 415, "Content-Type '$ct': 415");
        like($r->{headers}{'accept-post'} // '', qr{application/json}, "Content-Type '$ct': Accept-Post lists JSON");
        like($r->{headers}{'accept-post'} // '', qr{application/proto}, "Content-Type '$ct': Accept-Post lists proto");
    }

    {
        my $body = proto_push('h-noct');
        my ($status, $head) = $t->raw("POST $PUSH HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            . "X-Scope-OrgID: h-err\r\nContent-Length: " . length($body) . "\r\n\r\n$body");
        is($status, 415, 'no Content-Type: 415');
        like($head, qr{^Accept-Post:.*application/proto}mi, 'no Content-Type: Accept-Post');
    }

    $r = post_push(proto_push('h-br'), %PROTO, 'Content-Encoding' => 'br', 'X-Scope-OrgID' => 'h-err');
    connect_error_is($r, 501, 'unimplemented', undef, 'Content-Encoding: br');

    $r = post_push(proto_push('h-cpv'), %PROTO, 'Connect-Protocol-Version' => '2', 'X-Scope-OrgID' => 'h-err');
    connect_error_is($r, 400, 'invalid_argument', undef, 'Connect-Protocol-Version: 2');

    my $full = proto_push('h-trunc');
    $r = post_push(substr($full, 0, length($full) - 7), %PROTO, 'X-Scope-OrgID' => 'h-err');
    connect_error_is($r, 400, 'invalid_argument', undef, 'a truncated protobuf');

    $r = post_push("\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", %PROTO, 'X-Scope-OrgID' => 'h-err');
    connect_error_is($r, 400, 'invalid_argument', undef, 'a protobuf with an absurd length');

    $r = post_push(json_push(labels => { __name__ => 'process_cpu', service_name => 'h-b64' }, b64 => 'not*base64!'),
                   %JSONH, 'X-Scope-OrgID' => 'h-err');
    connect_error_is($r, 400, 'invalid_argument', undef, 'bad base64');

    $r = post_push('{"series":[{"labels":[', %JSONH, 'X-Scope-OrgID' => 'h-err');
    connect_error_is($r, 400, 'invalid_argument', undef, 'truncated JSON');

    $r = post_push('{"series":"x"}', %JSONH, 'X-Scope-OrgID' => 'h-err');
    connect_error_is($r, 400, 'invalid_argument', undef, 'JSON of the wrong shape');

    $r = post_push(proto_push('h-notgz'), %PROTO, 'Content-Encoding' => 'gzip', 'X-Scope-OrgID' => 'h-err');
    connect_error_is($r, 400, 'invalid_argument', undef, 'Content-Encoding: gzip on a body that is not gzip');

    my $gz = PyroTest::gzip_bytes(proto_push('h-gztrunc'));
    $r = post_push(substr($gz, 0, length($gz) - 12), %PROTO, 'Content-Encoding' => 'gzip', 'X-Scope-OrgID' => 'h-err');
    is($r->{status}, 400, 'a truncated gzip body: 400') or diag $r->{content};

    $r = post_push(PyroTest::push_request({ labels => labels(__name__ => 'process_cpu', service_name => 'h-garbage'),
                                            profiles => ["\x1f\x8b garbage"] }), %PROTO, 'X-Scope-OrgID' => 'h-err');
    connect_error_is($r, 400, 'invalid_argument', undef, 'a raw_profile that is broken gzip');

    $r = post_push(PyroTest::push_request({ labels => labels(__name__ => 'process_cpu', service_name => 'h-garbage'),
                                            profiles => ["\xff\xff\xff garbage"] }), %PROTO, 'X-Scope-OrgID' => 'h-err');
    connect_error_is($r, 400, 'invalid_argument', undef, 'a raw_profile that is not a pprof');

    is(ticks('h-err', qq/$CPU\{}/), 0, 'no rejected push stored anything');
    is(ticks('h-err', qq/$SAMPLES\{}/), 0, 'no rejected push stored anything (samples)');
}

# still serving
{
    my $r = post_push(proto_push('h-last'), %PROTO, 'X-Scope-OrgID' => 'h-last');
    push_ok($r, 0, 'a last push');
    is(ticks('h-last', qq/$CPU\{service_name="h-last"}/), 40_000_000, 'and its render');
}

$t->finish;
done_testing;

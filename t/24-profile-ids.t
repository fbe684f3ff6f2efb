#!/usr/bin/perl

# Profile IDs (issue 4 leftovers): Connect Push stores each RawSample.ID
# with the profiles its pprof yields, /ingest one random UUID v4 per
# request.  SelectMergeStacktraces and SelectMergeProfile keep only the
# profiles listed in profile_id_selector (pyroscope-api.md 1.4), and
# SelectSeries with EXEMPLAR_TYPE_INDIVIDUAL gives each point the ID of
# its bucket's largest profile as an Exemplar (1.3), in both codecs.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use PyroTest;

# protoc is a build dependency: without it this test fails, never skips.
unless (-x $PyroTest::PROTOC) {
    fail("protoc at $PyroTest::PROTOC (make deps installs protobuf-compiler)");
    done_testing;
    exit 1;
}

my $t = PyroTest->new->start;
my $Q = '/querier.v1.QuerierService/';
my $PUSH = '/push.v1.PusherService/Push';
my $CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
my $NOW = time;
my $TENANT = 'ids';

my $ID_A = '0a0a0a0a-1111-4111-8111-111111111111';
my $ID_B = '0b0b0b0b-2222-4222-8222-222222222222';
my $ID_C = '0c0c0c0c-3333-4333-8333-333333333333';
my $UUID = qr/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

sub cpu_profile {
    my ($frame, $n, $at) = @_;
    return PyroTest::gzip_bytes(PyroTest::pprof_encode(
        sample_types => [['cpu', 'nanoseconds']],
        period_type => ['cpu', 'nanoseconds'], period => 10_000_000,
        time_nanos => $at * 1_000_000_000,
        samples => [{ stack => "main;$frame", values => [$n * 10_000_000] }]));
}

sub labels { my (%l) = @_; [map { [$_, $l{$_}] } sort keys %l] }

# --- the data -------------------------------------------------------------------------------

# A and B in one binary request (two samples of one series), C as JSON:
# 100 s apart, so a 30 s step puts each in a bucket of its own.
{
    my $body = PyroTest::push_request({
        labels => labels(__name__ => 'process_cpu', service_name => 'idsvc'),
        profiles => [cpu_profile('alpha', 2, $NOW - 300), cpu_profile('beta', 5, $NOW - 200)],
        ids => [$ID_A, $ID_B] });
    my $r = $t->post($PUSH, $body, { 'Content-Type' => 'application/proto', 'X-Scope-OrgID' => $TENANT });
    is($r->{status}, 200, 'push A and B (binary)') or diag $r->{content};

    my $json = JSON::PP->new->canonical->encode({ series => [{
        labels => [{ name => '__name__', value => 'process_cpu' }, { name => 'service_name', value => 'idsvc' }],
        samples => [{ ID => $ID_C, rawProfile => encode_base64(cpu_profile('gamma', 3, $NOW - 100), '') }] }] });
    $r = $t->post($PUSH, $json, { 'Content-Type' => 'application/json', 'X-Scope-OrgID' => $TENANT });
    is($r->{status}, 200, 'push C (JSON)') or diag $r->{content};

    $r = $t->ingest("x;y 4\n", name => 'idsingest', from => $NOW - 50, headers => { 'X-Scope-OrgID' => $TENANT });
    is($r->{status}, 200, 'push via /ingest') or diag $r->{content};
}

# --- helpers --------------------------------------------------------------------------------

my ($START, $END) = ('' . (($NOW - 600) * 1000), '' . (($NOW + 60) * 1000));

sub jcall {
    my ($m, $req) = @_;
    my $r = $t->post("$Q$m", JSON::PP->new->encode($req),
                     { 'Content-Type' => 'application/json', 'X-Scope-OrgID' => $TENANT });
    is($r->{status}, 200, "$m: 200") or diag substr($r->{content} // '', 0, 400);
    return eval { JSON::PP->new->utf8->decode($r->{content}) } // {};
}

sub merge_names {
    my (@ids) = @_;
    my $j = jcall('SelectMergeStacktraces', {
        profileTypeID => $CPU, labelSelector => '{service_name="idsvc"}', start => $START, end => $END,
        (@ids ? (profileIdSelector => \@ids) : ()) });
    my $fg = $j->{flamegraph} // {};
    return (join(',', sort grep { $_ ne 'total' && $_ ne 'main' } @{ $fg->{names} || [] }), $fg->{total} // 0);
}

# --- SelectMergeStacktraces / SelectMergeProfile ---------------------------------------------

{
    my ($names, $total) = merge_names();
    is($names, 'alpha,beta,gamma', 'no selector: every profile');
    is($total, '100000000', 'no selector: total');

    ($names, $total) = merge_names($ID_A);
    is($names, 'alpha', 'profileIdSelector A: only its stacks');
    is($total, '20000000', 'profileIdSelector A: total');

    ($names, $total) = merge_names($ID_C, $ID_B, 'ffffffff-0000-4000-8000-000000000000');
    is($names, 'beta,gamma', 'profileIdSelector B, C (JSON push) and an unknown ID');

    ($names, $total) = merge_names('ffffffff-0000-4000-8000-000000000000');
    is($names, '', 'an unknown ID: nothing');

    my $p = jcall('SelectMergeProfile', {
        profileTypeID => $CPU, labelSelector => '{service_name="idsvc"}', start => $START, end => $END,
        profileIdSelector => [$ID_B] });
    my %str = map { $_ => 1 } @{ $p->{stringTable} || [] };
    ok($str{beta} && !$str{alpha} && !$str{gamma}, 'SelectMergeProfile: only profile B')
        or diag explain $p->{stringTable};

    my $bin = PyroTest::protoc_encode('querier.v1.SelectMergeStacktracesRequest',
        qq/profile_typeID: "$CPU" label_selector: "{service_name=\\"idsvc\\"}" start: $START end: $END /
        . qq/profile_id_selector: "$ID_A"/);
    my $r = $t->post("${Q}SelectMergeStacktraces", $bin,
                     { 'Content-Type' => 'application/proto', 'X-Scope-OrgID' => $TENANT });
    is($r->{status}, 200, 'binary SelectMergeStacktraces: 200');
    my $text = PyroTest::protoc_decode('querier.v1.SelectMergeStacktracesResponse', $r->{content} // '');
    like($text, qr/"alpha"/, 'binary: profile A\'s frame');
    unlike($text, qr/"beta"|"gamma"/, 'binary: nothing else');
}

# --- SelectSeries exemplars ------------------------------------------------------------------

sub series_req {
    my ($svc, %o) = @_;
    return { profileTypeID => $CPU, labelSelector => qq/{service_name="$svc"}/, start => $START, end => $END,
             step => 30, %o };
}

{
    my $j = jcall('SelectSeries', series_req('idsvc', exemplarType => 'EXEMPLAR_TYPE_INDIVIDUAL'));
    my @pts = map { @{ $_->{points} || [] } } @{ $j->{series} || [] };
    is(scalar @pts, 3, 'SelectSeries: three points');
    my @ex = map { @{ $_->{exemplars} || [] } } @pts;
    is(scalar @ex, 3, 'one exemplar per point');
    is_deeply([map { $_->{profileId} } @ex], [$ID_A, $ID_B, $ID_C], 'exemplars carry the pushed IDs');
    is_deeply([map { $_->{value} } @ex], ['20000000', '50000000', '30000000'], 'exemplar values');
    is_deeply([map { $_->{timestamp} } @ex], [map { '' . ($_ * 1000) } $NOW - 300, $NOW - 200, $NOW - 100],
              'exemplar timestamps: the profiles\' times');
    my %l = map { $_->{name} => $_->{value} } @{ $ex[0]{labels} || [] };
    is($l{service_name}, 'idsvc', 'exemplar labels: the series labels not grouped by');

    $j = jcall('SelectSeries', series_req('idsvc', exemplarType => 'EXEMPLAR_TYPE_INDIVIDUAL',
                                          groupBy => ['service_name']));
    my $e = $j->{series}[0]{points}[0]{exemplars}[0] // {};
    ok(!grep({ $_->{name} eq 'service_name' } @{ $e->{labels} || [] }),
       'exemplar labels: not those already on the series');

    $j = jcall('SelectSeries', series_req('idsvc'));
    ok(!grep({ $_->{exemplars} } map { @{ $_->{points} || [] } } @{ $j->{series} || [] }),
       'no exemplarType: no exemplars');

    $j = jcall('SelectSeries', series_req('idsingest', exemplarType => 'EXEMPLAR_TYPE_INDIVIDUAL'));
    my $id = $j->{series}[0]{points}[0]{exemplars}[0]{profileId} // '';
    like($id, $UUID, '/ingest: a random UUID v4 per request');

    my $bin = PyroTest::protoc_encode('querier.v1.SelectSeriesRequest',
        qq/profile_typeID: "$CPU" label_selector: "{service_name=\\"idsvc\\"}" start: $START end: $END /
        . 'step: 30 exemplar_type: EXEMPLAR_TYPE_INDIVIDUAL');
    my $r = $t->post("${Q}SelectSeries", $bin, { 'Content-Type' => 'application/proto', 'X-Scope-OrgID' => $TENANT });
    is($r->{status}, 200, 'binary SelectSeries: 200');
    my $text = PyroTest::protoc_decode('querier.v1.SelectSeriesResponse', $r->{content} // '');
    like($text, qr/profile_id: "$ID_B"/, 'binary: exemplar profile_id');
}

$t->finish;
done_testing;

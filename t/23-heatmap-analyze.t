#!/usr/bin/perl

# Connect querier.v1.QuerierService SelectHeatmap and AnalyzeQuery, both
# codecs, over hand-built folded /ingest data (sampleRate=0 for exact
# totals): the 20 value buckets between the smallest and largest point,
# right-edge time slots, group_by, limit, the request checks; and what
# AnalyzeQuery reports of the segment files (pyroscope-api.md 1.3, 1.4).

use strict;
use warnings;

use Test::More;
use JSON::PP;
use PyroTest;

unless (-x $PyroTest::PROTOC) {
    fail("protoc at $PyroTest::PROTOC (make deps installs protobuf-compiler)");
    done_testing;
    exit 1;
}

my $t = PyroTest->new->start;
my $JSON = JSON::PP->new->utf8->canonical;
my $Q = '/querier.v1.QuerierService/';
my $RAW = 'process_cpu:samples:count::';

my $T1 = int(time() / 60) * 60 - 3600;
sub ms { '' . ($_[0] * 1000) }

# totals 5 at T1, 10 at T1 + 30 (prod), 7 at T1 + 60 (dev)
for my $p ([0, 'prod', "a;x 5"], [30, 'prod', "a;y 10"], [60, 'dev', "b 7"]) {
    my $r = $t->ingest("$p->[2]\n", name => "hm{env=$p->[1]}", sampleRate => 0, from => $T1 + $p->[0],
                       headers => { 'X-Scope-OrgID' => 'h1' });
    is($r->{status}, 200, "push $p->[1] at +$p->[0]") or diag $r->{content};
}

sub body_of {
    my ($r) = @_;
    my $b = $r->{content} // '';
    $b = PyroTest::gunzip_bytes($b) if ($r->{headers}{'content-encoding'} // '') =~ /gzip/i;
    return $b;
}

sub jcall {
    my ($m, $req) = @_;
    return $t->post("$Q$m", $JSON->encode($req), { 'X-Scope-OrgID' => 'h1', 'Content-Type' => 'application/json' });
}

sub jdecode { my ($r) = @_; return eval { JSON::PP->new->utf8->decode(body_of($r)) } }

sub json_is {
    my ($r, $want, $what) = @_;
    is($r->{status}, 200, "$what: 200") or do { diag substr(body_of($r), 0, 400); return };
    like($r->{headers}{'content-type'} // '', qr{^application/json\b}, "$what: application/json");
    is($JSON->encode(jdecode($r) // 'not JSON: ' . body_of($r)), $JSON->encode($want), "$what: body");
}

sub error_is {
    my ($r, $msg, $what) = @_;
    is($r->{status}, 400, "$what: 400") or diag substr(body_of($r), 0, 300);
    my $j = jdecode($r) // {};
    is($j->{code}, 'invalid_argument', "$what: code");
    is($j->{message}, $msg, "$what: message");
}

my %TYPES = (
    SelectHeatmap => ['querier.v1.SelectHeatmapRequest', 'querier.v1.SelectHeatmapResponse'],
    AnalyzeQuery  => ['querier.v1.AnalyzeQueryRequest', 'querier.v1.AnalyzeQueryResponse'],
);

sub pcall {
    my ($m, $text) = @_;
    my $body = PyroTest::protoc_encode($TYPES{$m}[0], $text);
    return $t->post("$Q$m", $body, { 'X-Scope-OrgID' => 'h1', 'Content-Type' => 'application/proto' });
}

sub proto_is {
    my ($m, $r, $want, $what) = @_;
    is($r->{status}, 200, "$what: 200") or do { diag substr(body_of($r), 0, 400); return '' };
    like($r->{headers}{'content-type'} // '', qr{^application/proto\b}, "$what: application/proto");
    my $type = $TYPES{$m}[1];
    my $got = eval { PyroTest::protoc_decode($type, body_of($r)) } // "protoc failed: $@";
    is($got, PyroTest::protoc_decode($type, PyroTest::protoc_encode($type, $want)), "$what: decoded body");
    return $got;
}

# --- SelectHeatmap --------------------------------------------------------------------------

# Points 5, 10, 7: buckets from 5 by 0.25 (bounds truncated), 5 in
# bucket 3, 7 in 11, 10 (the max) in the last; edges T1 and T1 + 60.
my @YMIN = map { 5 + int($_ * 0.25) } 0 .. 19;
sub slot {
    my ($s, %c) = @_;
    return { timestamp => ms($T1 + $s), yMin => [@YMIN], counts => [map { $c{$_} // 0 } 0 .. 19] };
}
sub slot_text {
    my ($s, %c) = @_;
    return 'slots { timestamp: ' . ms($T1 + $s) . ' ' . join(' ', map { "y_min: $_" } @YMIN) . ' '
         . join(' ', map { 'counts: ' . ($c{$_} // 0) } 0 .. 19) . ' }';
}

my %HM = (profileTypeID => $RAW, labelSelector => '{service_name="hm"}', start => ms($T1), end => ms($T1 + 60),
          step => 60, queryType => 'HEATMAP_QUERY_TYPE_INDIVIDUAL');

json_is(jcall('SelectHeatmap', \%HM),
        { series => [{ slots => [slot(0, 3 => 1), slot(60, 11 => 1, 19 => 1)] }] }, 'heatmap, one series');

my @GROUPED = ({ labels => [{ name => 'env', value => 'dev' }], slots => [slot(60, 11 => 1)] },
               { labels => [{ name => 'env', value => 'prod' }], slots => [slot(0, 3 => 1), slot(60, 19 => 1)] });
json_is(jcall('SelectHeatmap', { %HM, groupBy => ['env'] }), { series => \@GROUPED }, 'heatmap, by env');
json_is(jcall('SelectHeatmap', { %HM, groupBy => ['env'], limit => '1' }), { series => [$GROUPED[1]] },
        'heatmap, limit 1 keeps the most points');
json_is(jcall('SelectHeatmap', { %HM, queryType => 'HEATMAP_QUERY_TYPE_SPAN' }), {}, 'heatmap, no spans: empty');
json_is(jcall('SelectHeatmap', { %HM, labelSelector => '{service_name="none"}' }), {}, 'heatmap, nothing selected');

my $req_text = "profile_typeID: \"$RAW\" label_selector: '{service_name=\"hm\"}' start: " . ms($T1)
             . ' end: ' . ms($T1 + 60) . ' step: 60 query_type: HEATMAP_QUERY_TYPE_INDIVIDUAL';
proto_is('SelectHeatmap', pcall('SelectHeatmap', $req_text),
         'series { ' . slot_text(0, 3 => 1) . ' ' . slot_text(60, 11 => 1, 19 => 1) . ' }', 'binary heatmap');
proto_is('SelectHeatmap', pcall('SelectHeatmap', "$req_text group_by: \"env\" limit: 1"),
         'series { labels { name: "env" value: "prod" } ' . slot_text(0, 3 => 1) . ' ' . slot_text(60, 19 => 1)
         . ' }', 'binary heatmap, by env, limit 1');

error_is(jcall('SelectHeatmap', { %HM, step => 0 }), 'step must be greater than 0, got 0.000000', 'step 0');
error_is(jcall('SelectHeatmap', { %HM, limit => '-1' }), 'limit must be non-negative, got -1', 'negative limit');
error_is(jcall('SelectHeatmap', { %HM, end => ms($T1) }),
         'start time must be before end time, got start=' . ms($T1) . ' end=' . ms($T1), 'start = end');
error_is(jcall('SelectHeatmap', { %HM, queryType => 'HEATMAP_QUERY_TYPE_UNSPECIFIED' }),
         'valid heatmap query type must be specified', 'no query type');
error_is(jcall('SelectHeatmap', { %HM, exemplarType => 'EXEMPLAR_TYPE_SPAN' }),
         'span exemplars only available for span query type', 'span exemplars');

# --- AnalyzeQuery ---------------------------------------------------------------------------

my %AQ = (start => ms($T1 - 600), end => ms($T1 + 600), query => "$RAW\{service_name=\"hm\"}");

for my $codec ('json', 'proto') {
    my ($r, $a);
    if ($codec eq 'json') {
        $r = jcall('AnalyzeQuery', \%AQ);
        $a = jdecode($r);
    } else {
        $r = pcall('AnalyzeQuery', "start: $AQ{start} end: $AQ{end} query: '$AQ{query}'");
        my $text = eval { PyroTest::protoc_decode($TYPES{AnalyzeQuery}[1], body_of($r)) } // '';
        # protoc's text as a hash: scopes in order, then the impact
        my @sc;
        while ($text =~ /query_scopes \{(.*?)\}/gs) {
            my $b = $1;
            push @sc, { map { my $k = $_; ($b =~ /\b$k: (?:"([^"]*)"|(\d+))/ ? ($k => $1 // $2) : ()) }
                        qw(component_type component_count block_count series_count profile_count sample_count
                           index_bytes profile_bytes) };
        }
        my ($tb) = $text =~ /total_bytes_in_time_range: (\d+)/;
        my ($qs) = $text =~ /total_queried_series: (\d+)/;
        $a = { queryScopes => [map { { componentType => $_->{component_type}, componentCount => $_->{component_count},
                                       blockCount => $_->{block_count}, seriesCount => $_->{series_count},
                                       profileCount => $_->{profile_count}, sampleCount => $_->{sample_count},
                                       indexBytes => $_->{index_bytes}, profileBytes => $_->{profile_bytes} } } @sc],
               queryImpact => { totalBytesInTimeRange => $tb, totalQueriedSeries => $qs } };
    }
    is($r->{status}, 200, "$codec AnalyzeQuery: 200") or diag substr(body_of($r), 0, 300);
    my ($st, $lt) = @{ $a->{queryScopes} // [] };
    is($st->{componentType}, 'Short term storage', "$codec: short term first");
    is($lt->{componentType}, 'Long term storage', "$codec: then long term");
    is($st->{componentCount}, '1', "$codec: one tenant");
    cmp_ok($st->{blockCount} // 0, '>=', 1, "$codec: open segments");
    is($st->{seriesCount}, '2', "$codec: two series");
    is($st->{profileCount}, '3', "$codec: three profiles");
    is($st->{sampleCount}, '3', "$codec: three samples");
    ok(!defined $lt->{blockCount} && !defined $lt->{profileCount}, "$codec: nothing sealed");
    is($a->{queryImpact}{totalBytesInTimeRange}, '' . ($st->{indexBytes} + $st->{profileBytes}),
       "$codec: total bytes");
    is($a->{queryImpact}{totalQueriedSeries}, '2', "$codec: queried series");
}

{
    my $a = jdecode(jcall('AnalyzeQuery', { %AQ, query => '{env="dev"}' }));
    is($a->{queryImpact}{totalQueriedSeries}, '1', 'AnalyzeQuery {env="dev"}: one series');
    $a = jdecode(jcall('AnalyzeQuery', { %AQ, start => ms($T1 + 3000), end => ms($T1 + 3600) }));
    is_deeply($a, { queryScopes => [{ componentType => 'Short term storage' }, { componentType => 'Long term storage' }],
                    queryImpact => {} }, 'AnalyzeQuery, empty range');
}
error_is(jcall('AnalyzeQuery', { query => '{}' }), 'missing time range in the query', 'AnalyzeQuery, no range');

$t->finish;
done_testing;

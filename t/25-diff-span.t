#!/usr/bin/perl

# Diff (Connect, JSON and binary), /pyroscope/render-diff and
# SelectMergeSpanProfile (binary).  The diff data is the example of
# query-output-formats.md 3.4, pushed with /ingest (folded, sampleRate=0
# for exact small values): left = {a;b 3, a;c 2}, right = {a;b 1, d 4}.
# Binary requests are encoded and answers decoded by protoc from the
# checkout's .proto files.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use PyroTest;

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
my $TENANT = 'diff';

# The data ten minutes ago, on a whole minute.
my $T1 = int(time / 60) * 60 - 600;
sub ms { '' . ($_[0] * 1000) }
my ($S, $E) = (ms($T1 - 600), ms($T1 + 300));

sub h { return { 'X-Scope-OrgID' => $TENANT, @_ } }

sub body_of {
    my ($r) = @_;
    my $b = $r->{content} // '';
    $b = PyroTest::gunzip_bytes($b) if ($r->{headers}{'content-encoding'} // '') =~ /gzip/i;
    return $b;
}

sub jdecode { my ($r) = @_; return eval { JSON::PP->new->utf8->decode(body_of($r)) } }

sub push_text {
    my ($name, $body) = @_;
    my $r = $t->ingest($body, name => $name, sampleRate => 0, from => $T1, headers => h());
    is($r->{status}, 200, "push $name") or diag $r->{content};
}

push_text('left', "a;b 3\na;c 2\n");
push_text('right', "a;b 1\nd 4\n");

# --- Diff, JSON ---------------------------------------------------------------------------

sub side {
    my ($svc, %o) = @_;
    return { profileTypeID => $RAW, labelSelector => qq/{service_name="$svc"}/, start => $S, end => $E, %o };
}

sub jcall {
    my ($m, $req) = @_;
    return $t->post("$Q$m", ref $req ? $JSON->encode($req) : $req, h('Content-Type' => 'application/json'));
}

my @NAMES = ('total', 'd', 'a', 'c', 'b');
my @LEVELS = ([0, 5, 0, 0, 5, 0, 0],
              [0, 5, 0, 0, 1, 0, 2, 0, 0, 0, 0, 4, 4, 1],
              [0, 3, 3, 0, 1, 1, 4, 0, 2, 2, 0, 0, 0, 3]);

{
    my $r = jcall('Diff', { left => side('left'), right => side('right') });
    is($r->{status}, 200, 'Diff JSON: 200') or diag body_of($r);
    like($r->{headers}{'content-type'} // '', qr{^application/json\b}, 'Diff JSON: application/json');
    my $want = { flamegraph => { names => \@NAMES,
                                 levels => [map { { values => [map { "$_" } @$_] } } @LEVELS],
                                 total => '10', maxSelf => '4', leftTicks => '5', rightTicks => '5' } };
    is($JSON->encode(jdecode($r) // 'not JSON'), $JSON->encode($want),
       'Diff JSON: the spec 3.4 example (int64 as strings, lowerCamelCase)');

    # swapped sides: left/right ticks swap, total stays
    $r = jcall('Diff', { left => side('right'), right => side('left') });
    is($r->{status}, 200, 'Diff JSON swapped: 200') or diag body_of($r);
    my $j = jdecode($r) || {};
    is($j->{flamegraph}{leftTicks}, '5', 'Diff swapped: leftTicks');
    is($j->{flamegraph}{rightTicks}, '5', 'Diff swapped: rightTicks');
    is($j->{flamegraph}{total}, '10', 'Diff swapped: total');
    is($j->{flamegraph}{maxSelf}, '4', 'Diff swapped: maxSelf');

    # one side empty: right has nothing under service_name="none"
    $r = jcall('Diff', { left => side('left'), right => side('none') });
    is($r->{status}, 200, 'Diff JSON, an empty right side: 200') or diag body_of($r);
    $j = jdecode($r) || {};
    is($j->{flamegraph}{leftTicks}, '5', 'Diff, empty right: leftTicks 5');
    ok(!defined $j->{flamegraph}{rightTicks}, 'Diff, empty right: rightTicks 0 is omitted');
    is($j->{flamegraph}{total}, '5', 'Diff, empty right: total 5');
}

# --- Diff, binary -------------------------------------------------------------------------

sub side_text {
    my ($svc) = @_;
    return qq/profile_typeID: "$RAW" label_selector: "{service_name=\\"$svc\\"}" start: $S end: $E/;
}

{
    my $req = PyroTest::protoc_encode('querier.v1.DiffRequest',
                                      'left { ' . side_text('left') . ' } right { ' . side_text('right') . ' }');
    my $r = $t->post("${Q}Diff", $req, h('Content-Type' => 'application/proto'));
    is($r->{status}, 200, 'Diff binary: 200') or diag body_of($r);
    like($r->{headers}{'content-type'} // '', qr{^application/proto\b}, 'Diff binary: application/proto');
    my $want = 'flamegraph { ' . join(' ', map { qq/names: "$_"/ } @NAMES) . ' '
        . join(' ', map { 'levels { ' . join(' ', map { "values: $_" } @$_) . ' }' } @LEVELS)
        . ' total: 10 max_self: 4 leftTicks: 5 rightTicks: 5 }';
    my $type = 'querier.v1.DiffResponse';
    my $got = eval { PyroTest::protoc_decode($type, body_of($r)) } // "protoc failed: $@";
    is($got, PyroTest::protoc_decode($type, PyroTest::protoc_encode($type, $want)),
       'Diff binary: the spec 3.4 example');
}

# --- /pyroscope/render-diff ---------------------------------------------------------------

sub render_diff {
    my (%q) = @_;
    my $qs = join '&', map { "$_=" . PyroTest::uri_escape($q{$_}) } sort keys %q;
    return $t->get("/pyroscope/render-diff?$qs", h());
}

my %RD = (leftQuery => qq/$RAW\{service_name="left"}/, rightQuery => qq/$RAW\{service_name="right"}/,
          leftFrom => $T1 - 600, leftUntil => $T1 + 300, rightFrom => $T1 - 600, rightUntil => $T1 + 300);
{
    my $r = render_diff(%RD);
    is($r->{status}, 200, 'render-diff: 200') or diag $r->{content};
    my $j = $r->{json} || {};
    is($j->{version}, 1, 'render-diff: version 1');
    is_deeply($j->{flamebearer}{names}, \@NAMES, 'render-diff: names');
    is_deeply($j->{flamebearer}{levels}, \@LEVELS, 'render-diff: levels');
    is($JSON->encode($j->{flamebearer}{levels} // []), $JSON->encode(\@LEVELS), 'render-diff: levels are plain ints');
    is($j->{flamebearer}{numTicks}, 10, 'render-diff: numTicks');
    is($j->{flamebearer}{maxSelf}, 4, 'render-diff: maxSelf');
    is($j->{metadata}{format}, 'double', 'render-diff: format double');
    is($j->{leftTicks}, 5, 'render-diff: leftTicks');
    is($j->{rightTicks}, 5, 'render-diff: rightTicks');
    is($JSON->encode([$j->{leftTicks}, $j->{rightTicks}, $j->{flamebearer}{numTicks}]), '[5,5,10]',
       'render-diff: ticks are JSON numbers');

    $r = render_diff(%RD, rightQuery => qq/$CPU\{service_name="right"}/);
    is($r->{status}, 400, 'render-diff, mismatched profile types: 400');
    like($r->{content} // '', qr/profile types must match/, 'render-diff, mismatched: profile types must match');

    my %no_right = %RD;
    delete $no_right{rightQuery};
    $r = render_diff(%no_right);
    is($r->{status}, 400, 'render-diff without rightQuery: 400');
}

# --- SelectMergeSpanProfile, binary -------------------------------------------------------

my $SPAN1 = '0102030405060708';
my $SPAN2 = 'a1a2a3a4a5a6a7a8';
{
    my $p = PyroTest::gzip_bytes(PyroTest::pprof_encode(
        sample_types => [['samples', 'count'], ['cpu', 'nanoseconds']],
        period_type => ['cpu', 'nanoseconds'], period => 10_000_000,
        time_nanos => $T1 * 1_000_000_000,
        samples => [{ stack => 'main;a', values => [1, 10_000_000] },
                    { stack => 'main;b', values => [2, 20_000_000], labels => { span_id => $SPAN2 } },
                    { stack => 'main;c', values => [4, 40_000_000], labels => { span_id => $SPAN1 } },
                    { stack => 'main;c;x', values => [8, 80_000_000], labels => { span_id => $SPAN1 } }]));
    my $body = PyroTest::push_request({ labels => [[__name__ => 'process_cpu'], [service_name => 'spansvc']],
                                        profiles => [$p] });
    my $r = $t->post('/push.v1.PusherService/Push', $body, h('Content-Type' => 'application/proto'));
    is($r->{status}, 200, 'push with span_id sample labels') or diag body_of($r);
}

sub span_call {
    my (@spans) = @_;
    my $text = qq/profile_typeID: "$CPU" label_selector: "{service_name=\\"spansvc\\"}" /
        . join(' ', map { qq/span_selector: "$_"/ } @spans) . " start: $S end: $E";
    my $req = PyroTest::protoc_encode('querier.v1.SelectMergeSpanProfileRequest', $text);
    my $r = $t->post("${Q}SelectMergeSpanProfile", $req, h('Content-Type' => 'application/proto'));
    my $what = 'SelectMergeSpanProfile [' . join(',', @spans) . ']';
    is($r->{status}, 200, "$what: 200") or do { diag body_of($r); return (undef, '') };
    like($r->{headers}{'content-type'} // '', qr{^application/proto\b}, "$what: application/proto");
    my $txt = eval { PyroTest::protoc_decode('querier.v1.SelectMergeSpanProfileResponse', body_of($r)) }
        // "protoc failed: $@";
    # the top-level flamegraph's total (a nested "total:" would be indented)
    my ($total) = $txt =~ /^  total: (\d+)$/m;
    return ($total // 0, $txt);
}

{
    my ($total, $txt) = span_call($SPAN1);
    is($total, 120_000_000, "one span: total = main;c + main;c;x") or diag $txt;
    like($txt, qr/names: "c"/, 'one span: c in names');
    like($txt, qr/names: "x"/, 'one span: x in names');
    unlike($txt, qr/names: "b"/, 'one span: b not in names');

    ($total, $txt) = span_call($SPAN1, $SPAN2);
    is($total, 140_000_000, 'two spans: total') or diag $txt;
    like($txt, qr/^  max_self: 80000000$/m, 'two spans: max_self') or diag $txt;

    ($total, $txt) = span_call('ffffffffffffffff');
    is($total, 0, 'an unknown span: total 0') or diag $txt;
}

$t->finish;
done_testing;

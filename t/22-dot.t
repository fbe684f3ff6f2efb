#!/usr/bin/perl

# DOT output (query-output-formats.md 1): go/cpu.pb.gz pushed with
# /ingest?format=pprof, then drawn by GET /pyroscope/render?format=dot
# and by SelectMergeStacktraces with PROFILE_FORMAT_DOT (JSON): the
# digraph header, the legend, the main.hotLoopA node and edges of the
# spec's real excerpt (1.9), dotN trimming, the empty profile, and,
# when graphviz is installed, that `dot` reads the output.

use strict;
use warnings;

use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use PyroTest;

my $FIX = $PyroTest::FIXTURES;

unless (-f "$FIX/go/cpu.pb.gz") {
    fail("fixture $FIX/go/cpu.pb.gz");
    done_testing;
    exit 1;
}

my $t = PyroTest->new->start;
my $CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
my %H = ('X-Scope-OrgID' => 't22');
my $JSON = JSON::PP->new->utf8->canonical;

my $gz = PyroTest::read_bytes("$FIX/go/cpu.pb.gz");
my $ms = do { use integer; PyroTest::pprof_time_nanos($gz) / 1_000_000 };
my ($FROM, $UNTIL) = ($ms - 3_600_000, $ms + 3_600_000);

my $r = $t->ingest($gz, name => 'godot', format => 'pprof',
                   headers => { %H, 'Content-Type' => 'application/octet-stream' });
is($r->{status}, 200, 'push cpu.pb.gz') or diag $r->{content};

sub render_dot {
    my (%q) = @_;
    my $qs = join '&', map { "$_=" . PyroTest::uri_escape($q{$_}) } sort keys %q;
    return $t->get("/pyroscope/render?format=dot&$qs", {%H});
}

sub query { my ($svc) = @_; "$CPU\{service_name=\"$svc\"}" }

# --- render?format=dot ----------------------------------------------------------------------

$r = render_dot(query => query('godot'), from => $FROM, until => $UNTIL);
is($r->{status}, 200, 'render dot: 200') or diag $r->{content};
like($r->{headers}{'content-type'} // '', qr{^text/plain\b}, 'render dot: text/plain');

my $dot = $r->{content} // '';
my @lines = split /\n/, $dot;

is($lines[0], 'digraph "unnamed" {', 'digraph line (no mapping file: "unnamed")');
is($lines[1], 'node [style=filled fillcolor="#f8f8f8"]', 'node defaults');
like($lines[2], qr/^subgraph cluster_L \{ "Type: cpu" \[shape=box fontsize=16 label="Type: cpu\\lTime: [A-Z][a-z]{2} \d{1,2}, \d{4} at \d{1,2}:\d{2}[ap]m \([^)]*\)\\lShowing nodes accounting for 4\.99s, 100% of 4\.99s total\\l\\lSee https:\/\/git\.io\/JfYMW for how to read the graph\\l"\] \}$/,
     'legend');
is($lines[3], 'N1 [label="main\nhotLoopA\nmain.go:41\n0 of 3.77s (75.55%)" id="node1" fontsize=8 shape=box '
            . 'tooltip="main.hotLoopA example.com/pprofgen/main.go:41 (3.77s)" color="#b20e00" fillcolor="#edd7d5"]',
   'node main.hotLoopA (spec 1.9)');
ok((grep { index($_, 'N3 [label="main\nspin\nmain.go:31\n2.94s (58.92%)" id="node3" fontsize=24 ') == 0 } @lines),
   'node main.spin:31');
ok((grep { index($_, 'N9 [label="runtime\nstep\nsymtab.go:1121\n0.01s (0.2%)" id="node9" fontsize=9 ') == 0 } @lines),
   'node runtime.step');
ok((grep { $_ eq 'N4 -> N2 [label=" 4.99s" weight=101 penwidth=6 color="#b20000" '
              . 'tooltip="runtime.main runtime/proc.go:250 -> main.main example.com/pprofgen/main.go:143 (4.99s)" '
              . 'labeltooltip="runtime.main runtime/proc.go:250 -> main.main example.com/pprofgen/main.go:143 (4.99s)"]' } @lines),
   'edge runtime.main -> main.main');
ok((grep { index($_, 'N1 -> N5 [label=" 0.80s" weight=17 color="#b25f23" tooltip=') == 0 } @lines), 'edge N1 -> N5');
ok((grep { index($_, 'N10 -> N21 [label=" 0.01s" color="#b2b2b0" tooltip=') == 0 } @lines), 'edge N10 -> N21');
is(scalar(grep { /^N\d+ \[/ } @lines), 27, '27 nodes');
is($lines[-1], '}', 'closing brace');
like($dot, qr/\n\z/, 'ends with a newline');

# dotN from maxNodes: trimmed and rebuilt
$r = render_dot(query => query('godot'), from => $FROM, until => $UNTIL, maxNodes => 8);
is($r->{status}, 200, 'render dot maxNodes=8: 200');
like($r->{content} // '', qr/\\lShowing top 8 nodes out of 27\\l/, 'maxNodes=8: showing top 8 of 27');
is(scalar(grep { /^N\d+ \[/ } split /\n/, $r->{content} // ''), 8, 'maxNodes=8: 8 nodes');

# format=dot validates nothing: a negative maxNodes is the default
$r = render_dot(query => query('godot'), from => $FROM, until => $UNTIL, maxNodes => -5);
is($r->{status}, 200, 'render dot maxNodes=-5: 200');
is($r->{content}, $dot, 'maxNodes=-5: the default 100 nodes');

# an empty profile: 200, empty body
$r = render_dot(query => query('nothing'), from => $FROM, until => $UNTIL);
is($r->{status}, 200, 'render dot of nothing: 200');
like($r->{headers}{'content-type'} // '', qr{^text/plain\b}, 'render dot of nothing: text/plain');
is($r->{content} // '', '', 'render dot of nothing: empty body');

# --- Connect SelectMergeStacktraces, PROFILE_FORMAT_DOT --------------------------------------

sub smst {
    my (%o) = @_;
    return $t->post('/querier.v1.QuerierService/SelectMergeStacktraces',
                    $JSON->encode({ profileTypeID => $CPU, start => $FROM, end => $UNTIL,
                                    format => 'PROFILE_FORMAT_DOT', %o }),
                    { %H, 'Content-Type' => 'application/json' });
}

$r = smst(labelSelector => '{service_name="godot"}');
is($r->{status}, 200, 'Connect DOT: 200') or diag $r->{content};
my $j = eval { JSON::PP->new->utf8->decode($r->{content}) } // {};
is_deeply([sort keys %$j], ['dot'], 'Connect DOT: only "dot"');
is($j->{dot}, $dot, 'Connect DOT = render DOT (same range, same end time)');

$r = smst(labelSelector => '{service_name="godot"}', maxNodes => '8');
$j = eval { JSON::PP->new->utf8->decode($r->{content}) } // {};
like($j->{dot} // '', qr/\\lShowing top 8 nodes out of 27\\l/, 'Connect DOT maxNodes 8');

$r = smst(labelSelector => '{service_name="nothing"}');
is($r->{status}, 200, 'Connect DOT of nothing: 200');
is($r->{content}, '{}', 'Connect DOT of nothing: empty response');

# --- graphviz, when installed ---------------------------------------------------------------

SKIP: {
    my ($gv) = grep { -x } map { "$_/dot" } split /:/, $ENV{PATH} // '';
    skip 'graphviz is not installed', 1 unless $gv;

    my $tmp = tempdir('pyro-dot-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    open my $fh, '>:raw', "$tmp/g.dot" or die "$tmp/g.dot: $!";
    print $fh $dot;
    close $fh;
    is(system("'$gv' -Tsvg -o '$tmp/g.svg' '$tmp/g.dot' 2>'$tmp/err'"), 0, 'graphviz reads the DOT');
}

$t->finish;

done_testing;

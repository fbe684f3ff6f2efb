#!/usr/bin/perl

# GET /pyroscope/render: the exact flamebearer JSON (spec worked examples),
# maxNodes truncation into "other", groupBy, the timeline, the empty
# result and the errors.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use PyroTest;

my $t = PyroTest->new->start;

my $RAW = 'process_cpu:samples:count::';
my $T = (int(time / 86400) - 1) * 86400 + 3 * 3600;     # a multiple of 15 s

sub push_ok {
    my ($app, $body, $ts) = @_;
    my $r = $t->ingest($body, name => $app, sampleRate => 0, from => $ts // $T);
    is($r->{status}, 200, "push $app") or diag $r->{content};
}

sub rq {
    my ($sel, %o) = @_;
    return $t->render(query => "$RAW$sel", from => $T - 60, until => $T + 60, %o);
}

sub qs { join '&', map { "$_->[0]=" . PyroTest::uri_escape($_->[1]) } @_ }

sub tl {
    my ($start, @samples) = @_;
    return { startTime => $start, samples => [@samples], durationDelta => 15, watermarks => undef };
}

# --- Example A: the exact response ------------------------------------------

push_ok('rA', "a;b 3\na;c 2\nd 1\n");
{
    my $r = $t->get('/pyroscope/render?' . qs([query => qq/$RAW\{service_name="rA"}/],
                                               [from => $T - 60], [until => $T + 60]));
    is($r->{status}, 200, 'example A: 200');
    like($r->{headers}{'content-type'}, qr{^application/json}, 'example A: application/json');
    my $S = $T - 60;
    is($r->{content},
       '{"version":1,"flamebearer":{"names":["total","d","a","c","b"],'
       . '"levels":[[0,6,0,0],[0,5,0,2,0,1,1,1],[0,3,3,4,0,2,2,3]],"numTicks":6,"maxSelf":3},'
       . '"metadata":{"format":"single","spyName":"","sampleRate":100,"units":"objects","name":"samples"},'
       . qq/"timeline":{"startTime":$S,"samples":[0,0,0,0,6,0,0,0],"durationDelta":15,"watermarks":null},/
       . '"groups":null,"heatmap":null}' . "\n",
       'example A: the exact JSON, byte for byte');
}

# --- Example B: maxNodes truncation -----------------------------------------

push_ok('rB', "a;b 5\na;c 2\na;d 1\ne 3\ne;f 1\n");

my %B = (
    0 => { names => [qw(total e f a d c b)], numTicks => 12, maxSelf => 5,
           levels => [[0,12,0,0], [0,8,0,3, 0,4,3,1], [0,5,5,6, 0,2,2,5, 0,1,1,4, 3,1,1,2]] },
    3 => { names => [qw(total e other a b)], numTicks => 12, maxSelf => 5,
           levels => [[0,12,0,0], [0,8,0,3, 0,4,3,1], [0,5,5,4, 0,3,3,2, 3,1,1,2]] },
    4 => { names => [qw(total e other a c b)], numTicks => 12, maxSelf => 5,
           levels => [[0,12,0,0], [0,8,0,3, 0,4,3,1], [0,5,5,5, 0,2,2,4, 0,1,1,2, 3,1,1,2]] },
);

is_deeply(rq('{service_name="rB"}')->{flamebearer}, $B{0}, 'example B, no maxNodes: full tree');
is_deeply(rq('{service_name="rB"}', maxNodes => 0)->{flamebearer}, $B{0}, 'maxNodes=0: the default');
is_deeply(rq('{service_name="rB"}', maxNodes => 6)->{flamebearer}, $B{0}, 'maxNodes=6 (= nodes): no cut');
is_deeply(rq('{service_name="rB"}', maxNodes => 5)->{flamebearer}, $B{0},
          'maxNodes=5: the ties at the threshold are kept');
is_deeply(rq('{service_name="rB"}', maxNodes => 3)->{flamebearer}, $B{3}, 'maxNodes=3: spec example B');
is_deeply(rq('{service_name="rB"}', 'max-nodes' => 3)->{flamebearer}, $B{3}, 'max-nodes=3 as well');
is_deeply(rq('{service_name="rB"}', maxNodes => 4)->{flamebearer}, $B{4}, 'maxNodes=4');
is_deeply(rq('{service_name="rB"}', maxNodes => 4, 'max-nodes' => 3)->{flamebearer}, $B{4},
          'maxNodes wins over max-nodes');
is_deeply(PyroTest::flame_stacks(rq('{service_name="rB"}', maxNodes => 3)->{flamebearer}),
          { 'a;b' => 5, 'a;other' => 3, 'e' => 3, 'e;other' => 1 }, 'maxNodes=3: decoded');
is(rq('{service_name="rB"}', maxNodes => 1048576)->{flamebearer}{numTicks}, 12, 'maxNodes=1048576 is allowed');

# An existing "other" frame is folded, and its subtree dropped, even uncut.
push_ok('rOther', "x;other;deep 4\nx;y 1\n");
{
    my $fb = rq('{service_name="rOther"}')->{flamebearer};
    is_deeply(PyroTest::flame_stacks($fb), { 'x;other' => 4, 'x;y' => 1 },
              'a real "other" child is folded into the synthetic other');
    is_deeply($fb->{levels}, [[0,5,0,0], [0,5,0,1], [0,1,1,3, 0,4,4,2]],
              '"other" is laid out right of the kept siblings');
    is_deeply($fb->{names}, [qw(total x other y)], 'names in first-visit order');
}

# The default (8192 nodes) on a bigger tree: root;f<i> = i for i in 1..9000.
push_ok('rBig', join('', map { "root;f$_ $_\n" } 1 .. 9000));
{
    my $total = 9000 * 9001 / 2;
    my ($st) = PyroTest::flame_stacks(rq('{service_name="rBig"}')->{flamebearer});
    is($st->{'root;other'}, 809 * 810 / 2, 'default 8192 nodes: f1..f809 folded into other');
    ok(!exists $st->{'root;f809'}, 'f809 is cut');
    is($st->{'root;f810'}, 810, 'f810 (the 8192nd largest) is kept');
    is($st->{'root;f9000'}, 9000, 'f9000 is kept');
    is(scalar(keys %$st), 8191 + 1, '8191 functions and other');
    my $all = rq('{service_name="rBig"}', maxNodes => 100000)->{flamebearer};
    my $sa = PyroTest::flame_stacks($all);
    is(scalar(keys %$sa), 9000, 'maxNodes=100000: every function');
    ok(!exists $sa->{'root;other'}, 'maxNodes=100000: no other');
    is($all->{numTicks}, $total, 'numTicks');
    is(rq('{service_name="rBig"}', maxNodes => 0)->{flamebearer}{names}[2] // '', 'other',
       'maxNodes=0 cuts at 8192 too');
}

# --- selectors ----------------------------------------------------------------

is(rq('{service_name=~"r[AB]"}')->{flamebearer}{numTicks}, 18, '=~ merges two services');
is(rq('{service_name!~"r[AB]",service_name=~"r.*"}')->{flamebearer}{numTicks},
   5 + 9000 * 9001 / 2, '!~ and =~ together');
is(rq('{service_name!="rA",service_name=~"r[AB]"}')->{flamebearer}{numTicks}, 12, '!=');
is(rq('{}')->{flamebearer}{numTicks}, 6 + 12 + 5 + 9000 * 9001 / 2, '{} matches everything');
is(rq('{service_name="rA",nosuch=""}')->{flamebearer}{numTicks}, 6, 'a missing label matches ""');
is(rq(q/{service_name='rA'}/)->{flamebearer}{numTicks}, 6, 'single-quoted values');
is(rq('{ service_name = "rA" }')->{flamebearer}{numTicks}, 6, 'spaces in the selector');
is(rq('{service_name="rA"}', maxNodes => 2)->{flamebearer}{numTicks}, 6, 'numTicks is kept by a cut');

# --- groupBy ------------------------------------------------------------------

push_ok('grp1{env=prod}', "g;a 3\n", $T);
push_ok('grp2{env=dev}', "g;b 5\n", $T);
push_ok('grp3', "g;c 7\n", $T + 15);
push_ok('grp4{env=prod}', "g;d 2\n", $T + 30);
{
    my $j = rq('{service_name=~"grp.*"}', groupBy => 'env');
    my $S = $T - 60;
    is_deeply($j->{groups}, {
        '*'  => tl($S, 0,0,0,0,0,7,0,0),
        'dev'  => tl($S, 0,0,0,0,5,0,0,0),
        'prod' => tl($S, 0,0,0,0,3,0,2,0),
    }, 'groupBy=env: one timeline per env value, "*" without it');
    is_deeply($j->{timeline}, tl($S, (0) x 8), 'several groups: the top timeline is zeros');
    is_deeply(PyroTest::flame_stacks($j->{flamebearer}),
              { 'g;a' => 3, 'g;b' => 5, 'g;c' => 7, 'g;d' => 2 }, 'groupBy: the flame graph has all');

    $j = rq('{service_name=~"grp[14]"}', groupBy => 'env');
    is_deeply($j->{groups}, { prod => tl($S, 0,0,0,0,3,0,2,0) }, 'one group');
    is_deeply($j->{timeline}, tl($S, 0,0,0,0,3,0,2,0), 'one group: it is the top timeline');

    $j = rq('{service_name=~"grp.*"}');
    is($j->{groups}, undef, 'no groupBy: groups null');
    is_deeply($j->{timeline}, tl($S, 0,0,0,0,8,7,2,0), 'no groupBy: one summed timeline');

    $j = rq('{service_name=~"grp.*"}', groupBy => 'nosuch');
    is_deeply($j->{groups}, { '*' => tl($S, 0,0,0,0,8,7,2,0) }, 'groupBy a missing label: all "*"');
    is_deeply($j->{timeline}, tl($S, 0,0,0,0,8,7,2,0), 'groupBy a missing label: the top timeline');

    $j = rq('{service_name=~"grp.*"}', groupBy => 'service_name');
    is_deeply([sort keys %{ $j->{groups} }], [qw(grp1 grp2 grp3 grp4)], 'groupBy=service_name');
}

# --- the timeline -------------------------------------------------------------

push_ok('tl1', "tl;x 9\n", $T + 7);
push_ok('tl2', "tl;y 4\n", $T + 1);
push_ok('tl2', "tl;y 6\n", $T + 14);
push_ok('tl3', "tl;z 5\n", $T - 65);
push_ok('tl4', "tl;w 8\n", $T + 60);
{
    my $S = $T - 60;
    is_deeply(rq('{service_name="tl1"}')->{timeline}, tl($S, 0,0,0,0,0,9,0,0),
              'T+7 is in the bucket (T, T+15]: slot 5');
    is_deeply(rq('{service_name="rA"}')->{timeline}, tl($S, 0,0,0,0,6,0,0,0),
              'T is in the bucket (T-15, T]: slot 4');
    is_deeply(rq('{service_name="tl2"}')->{timeline}, tl($S, 0,0,0,0,0,10,0,0),
              'two profiles in one bucket are summed');

    my $j = rq('{service_name="tl3"}');
    is_deeply($j->{timeline}, tl($S, 5,0,0,0,0,0,0,0),
              'a profile one step before from is in the first bucket');
    is($j->{flamebearer}{numTicks}, 0, 'but not in the flame graph');

    $j = rq('{service_name="tl4"}');
    is_deeply($j->{timeline}, tl($S, (0) x 8), 'a profile at until is past the last slot');
    is($j->{flamebearer}{numTicks}, 8, 'but in the flame graph');

    $j = $t->render(query => qq/$RAW\{service_name="tl1"}/, from => $T - 53, until => $T + 60);
    is_deeply($j->{timeline}, tl($S, 0,0,0,0,9,0,0,0),
              'from=T-53: the grid starts at from, the start is snapped to 15 s');
}

for my $c ([120, 15, 8], [3600, 15, 240], [6 * 3600, 15, 1440], [8 * 3600, 20, 1440],
           [12 * 3600, 30, 1440], [24 * 3600, 60, 1440])
{
    my ($range, $step, $n) = @$c;
    my $j = $t->render(query => qq/$RAW\{service_name="nope"}/, from => $T - $range, until => $T);
    is($j->{timeline}{durationDelta}, $step, "range ${range}s: step $step");
    is(scalar @{ $j->{timeline}{samples} }, $n, "range ${range}s: $n samples");
    is($j->{timeline}{startTime}, $T - $range, "range ${range}s: startTime");
}
{
    # 24h exactly, not aligned: the grid is T-86310 + 60k, so rA (at T)
    # goes to the right edge T+30; start and end snap to T-86340 and T+60.
    my $j = $t->render(query => qq/$RAW\{service_name="rA"}/, from => $T - 86310, until => $T + 90);
    my $s = $j->{timeline}{samples};
    is($j->{timeline}{durationDelta}, 60, '24h: step 60');
    is($j->{timeline}{startTime}, $T - 86340, '24h: start snapped to the minute');
    is(scalar(@$s), 1440, '24h: 1440 samples');
    is($s->[1439], 6, '24h: rA in the last slot');
    is($j->{flamebearer}{numTicks}, 6, '24h: rA in the flame graph');
    is(scalar(grep { $_ } @$s), 1, '24h: and nowhere else');
}

# --- the empty result ---------------------------------------------------------

{
    my $j = rq('{service_name="nope"}');
    is_deeply($j->{flamebearer}, { names => ['total'], levels => [[0,0,0,0]], numTicks => 0, maxSelf => 0 },
              'empty: names [total], levels [[0,0,0,0]]');
    is_deeply($j->{timeline}, tl($T - 60, (0) x 8), 'empty: a zero timeline');
    is($j->{groups}, undef, 'empty: groups null');
    ok(exists $j->{heatmap} && !defined $j->{heatmap}, 'empty: heatmap null');
    is_deeply($j->{metadata}, { format => 'single', spyName => '', sampleRate => 100,
                                units => 'objects', name => 'samples' }, 'empty: metadata');

    $j = $t->render(query => qq/$RAW\{service_name="nope"}/, from => $T + 120, until => $T + 120);
    is_deeply($j->{timeline}, tl($T + 120), 'from = until: no samples');

    $j = $t->render(query => 'memory:alloc_space:bytes::{}', from => $T - 60, until => $T + 60);
    is($j->{flamebearer}{numTicks}, 0, 'another profile type: empty');
    is($j->{metadata}{units}, 'bytes', 'metadata from the queried type');
}

# --- errors ---------------------------------------------------------------------

sub bad {
    my ($qs, $msg, $what, $status) = @_;
    my $r = $t->get("/pyroscope/render?$qs");
    is($r->{status}, $status // 400, "$what: " . ($status // 400)) or diag $r->{content};
    is(ref $r->{json} && $r->{json}{code}, ($status // 400) == 400 ? 'invalid_argument' : 'unknown',
       "$what: code");
    if (ref $msg) {
        like($r->{json}{message} // '', $msg, "$what: message");
    } elsif (defined $msg) {
        is($r->{json}{message}, $msg, "$what: message");
    }
}

{
    my $r = $t->get("/pyroscope/render?from=now-1h");
    is($r->{status}, 400, 'no query: 400');
    is($r->{content}, qq/{"code":"invalid_argument","message":"\\"query\\" is required"}\n/,
       'no query: the exact body');
}
bad('query=', '"query" is required', 'empty query');
bad(qs([query => 'cpu']), qr/./, 'query=cpu (not a profile type)');
bad(qs([query => '{service_name="x"}']), qr/./, 'a selector without a profile type');
bad(qs([query => 'a:b:c{}']), qr/./, 'a three-part profile type');
bad(qs([query => $RAW . '{service_name="x"']), qr/./, 'an unclosed selector');
bad(qs([query => $RAW . '{service_name=x}']), qr/./, 'an unquoted value');
bad(qs([query => $RAW . '{service_name=~"("}']), qr/./, 'a bad regex');
bad(qs([query => $RAW . '{}'], [maxNodes => -1]),
    'max flamegraph nodes limit must be set (max allowed 1048576)', 'maxNodes=-1');
bad(qs([query => $RAW . '{}'], ['max-nodes' => -5]),
    'max flamegraph nodes limit must be set (max allowed 1048576)', 'max-nodes=-5');
bad(qs([query => $RAW . '{}'], [maxNodes => 1048577]),
    'max flamegraph nodes limit 1048577 is greater than allowed 1048576', 'maxNodes=1048577');
bad(qs([query => $RAW . '{}'], [from => $T + 60], [until => $T - 60]),
    'query start time is after end time', 'from after until');
{
    # from and until default to now: an empty range, an empty timeline
    my $now = time;
    my $r = $t->get('/pyroscope/render?' . qs([query => $RAW . '{}']));
    is($r->{status}, 200, 'no from/until: 200');
    is_deeply($r->{json}{timeline}{samples}, [], 'no from/until: from = until = now, no samples');
    ok(abs($r->{json}{timeline}{startTime} - $now) <= 30, 'no from/until: startTime is now');
    push_ok('rNow', "n;x 4\n", 'now-10m');
    $r = $t->get('/pyroscope/render?' . qs([query => qq/$RAW\{service_name="rNow"}/], [from => 'now-1h']));
    is($r->{status}, 200, 'no until: 200');
    is($r->{json}{flamebearer}{numTicks}, 4, 'no until: until is now');
    is(scalar @{ $r->{json}{timeline}{samples} }, 240, 'now-1h .. now: 240 slots of 15 s');
    my @nz = grep { $r->{json}{timeline}{samples}[$_] } 0 .. 239;
    ok(@nz == 1 && $nz[0] >= 198 && $nz[0] <= 201 && $r->{json}{timeline}{samples}[$nz[0]] == 4,
       'the push ten minutes ago is about 40 slots from the end') or diag "@nz";
}
{
    my $r = $t->post('/pyroscope/render?' . qs([query => $RAW . '{}']), '');
    is($r->{status}, 405, 'POST /pyroscope/render: 405');
}

# /render is the same handler
{
    my $r = $t->get('/render?' . qs([query => qq/$RAW\{service_name="rA"}/],
                                    [from => $T - 60], [until => $T + 60]));
    is($r->{status}, 200, '/render: 200');
    is_deeply($r->{json}{flamebearer}{levels}, [[0,6,0,0],[0,5,0,2,0,1,1,1],[0,3,3,4,0,2,2,3]],
              '/render: same levels');
}

$t->finish;

done_testing;

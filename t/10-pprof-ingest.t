#!/usr/bin/perl

# pprof through /ingest (issue 3).  Every /ingest request captured from a
# real SDK (nodejs 0.4.13 multipart, nodejs 0.6.4 format=pprof, Go
# 1.2.7 multipart with sample_type_config) is replayed byte for byte
# under its own tenant, and every sample type of it must render with
# numTicks equal to the total that `go tool pprof` computed
# (summary.json), under the profile type ID that upstream derives (spec
# 4.1, 4.2).  Then every runtime/pprof file of fixtures/go is pushed with
# format=pprof (gzipped as is, and gunzipped) and as a multipart
# `profile` part, and compared with its oracle: totals per sample type,
# and for the small files the stacks, by function name, with the folded
# oracles.  Sample labels split series (loop=B); __session_id__ is not a
# label.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use PyroTest;

my $FIX = $PyroTest::FIXTURES;
plan skip_all => "no fixtures at $FIX" unless -d "$FIX/captured" && -d "$FIX/go";

my $t = PyroTest->new->start;
my $JSON = JSON::PP->new->utf8;

my @CANDIDATES = qw(process_cpu wall memory goroutines goroutine mutex block);

sub tenant_h { { 'X-Scope-OrgID' => $_[0] } }

sub ticks {
    my ($tenant, $query, $from, $until) = @_;
    my $j = $t->render(query => $query, from => $from, until => $until,
                       headers => tenant_h($tenant));
    return $j->{flamebearer}{numTicks};
}

# The candidate names under which "<name>:$rest$sel" has data:
# { name => numTicks }.
sub stored_under {
    my ($tenant, $rest, $sel, $from, $until) = @_;
    my %found;
    for my $n (@CANDIDATES) {
        my $ticks = ticks($tenant, "$n:$rest$sel", $from, $until);
        $found{$n} = $ticks if $ticks;
    }
    return \%found;
}

# Upstream's __name__ for the fixture shapes (spec 4.2): any `wall`
# sample type gives wall; otherwise the display names (sample_type_config,
# or the default table samples->cpu, goroutine->goroutines,
# contentions->mutex_count, delay->mutex_duration) decide.
sub expected_name {
    my ($types, $config) = @_;
    my $key = join ',', @$types;
    my $dn = join ',', map { ($config && $config->{$_}{'display-name'}) // '' } @$types;
    return 'wall'        if $key eq 'samples,wall,cpu';
    return 'memory'      if $key eq 'inuse_objects,inuse_space'
                         || $key eq 'alloc_objects,alloc_space,inuse_objects,inuse_space';
    return 'process_cpu' if $key eq 'samples,cpu';
    return 'goroutines'  if $key eq 'goroutine';
    return 'block'       if $key eq 'contentions,delay' && $dn eq 'block_count,block_duration';
    return 'mutex'       if $key eq 'contentions,delay';
    die "no expectation for sample types $key";
}

# Seconds from an attime-style all-digit value (s, ms, µs or ns).
sub to_seconds {
    my ($v) = @_;
    my $l = length $v;
    return $l == 19 ? int($v / 1e9) : $l == 16 ? int($v / 1e6) : $l == 13 ? int($v / 1e3) : $v + 0;
}

sub folded {
    my ($path) = @_;
    my %st;
    open my $fh, '<', $path or die "$path: $!";
    while (<$fh>) {
        chomp;
        next unless /^(.*) (\d+)$/;
        $st{$1} += $2 if $2;
    }
    return \%st;
}

# --- every captured /ingest request -------------------------------------------

my %seen_name;      # expected name => replays checked
my (@go_cpu, @node_wall);

for my $client (qw(nodejs-0.4.13 nodejs-0.6.4 pyroscope-go-1.2.7)) {
    my $dir = "$FIX/captured/$client";
    my $summary = $JSON->decode(PyroTest::read_bytes("$dir/summary.json"));
    ok(@$summary >= 9, "$client: " . scalar(@$summary) . ' captured requests');
    my $app = $client =~ /^nodejs/ ? 'nodeapp' : 'goapp';

    for my $s (@$summary) {
        my $nn = sprintf '%04d', $s->{index};
        my $what = "$client/$nn";
        my $req = $JSON->decode(PyroTest::read_bytes("$dir/$nn/request.json"));
        next unless $req->{path_only} =~ m{^(/pyroscope)?/ingest$};
        my $body = PyroTest::read_bytes("$dir/$nn/body.bin");
        is(length $body, $req->{body_length}, "$what: body.bin is the whole body");

        (my $short = $client) =~ s/^pyroscope-//;
        my $tenant = "r$nn-$short";
        my $r = $t->request($req->{method}, $req->{path}, $body,
                            PyroTest::replay_headers($req->{headers}, 'X-Scope-OrgID' => $tenant));

        my @fields = map { $_->{name} } @{ $s->{multipart_fields} || [] };
        if (grep { $_ eq 'prev_profile' } @fields) {
            is($r->{status}, 422, "$what: prev_profile refused") or diag $r->{content};
            is($r->{json}{message}, 'unsupported client version. Please update '
               . 'github.com/grafana/pyroscope-go to the latest version', "$what: upstream's message");
            next;
        }
        is($r->{status}, 200, "$what: accepted") or diag substr($r->{content}, 0, 300);
        is($r->{content}, '', "$what: empty body");

        my $config;
        if (grep { $_ eq 'sample_type_config' } @fields) {
            $config = $JSON->decode(PyroTest::read_bytes("$dir/$nn/part-sample_type_config.bin"));
        }
        my $profile = -f "$dir/$nn/part-profile.bin" ? PyroTest::read_bytes("$dir/$nn/part-profile.bin") : $body;
        my $tn = PyroTest::pprof_time_nanos($profile);
        my $from_s = to_seconds($s->{query}{from});
        my $until_s = to_seconds($s->{query}{until});
        my $ts = $tn > 86400 * 366 * 1e9 ? int($tn / 1e9) : $from_s;
        my ($from, $until) = (($from_s < $ts ? $from_s : $ts) - 3600, ($until_s > $ts ? $until_s : $ts) + 3600);

        for my $pp (@{ $s->{pprof} }) {
            my ($ptype, $punit) = split / /, $pp->{period_type};
            my @types = map { (split m{/})[0] } @{ $pp->{sample_types} };
            my $want = expected_name(\@types, $config);
            $seen_name{$want}++;
            for my $st (@{ $pp->{sample_types} }) {
                my ($type, $unit) = split m{/}, $st;
                my $rest = "$type:$unit:$ptype:$punit";
                my $total = $pp->{totals}{$st};
                my $found = stored_under($tenant, $rest, qq/{service_name="$app"}/, $from, $until);
                if ($total == 0) {
                    is_deeply($found, {}, "$what $rest: a zero total renders nothing");
                    next;
                }
                is(join(',', sort keys %$found), $want, "$what $rest: stored as $want:$rest")
                    or diag explain $found;
                is($found->{$want}, $total, "$what $want:$rest: numTicks $total");
            }
            push @go_cpu, [$tenant, $from, $until, $pp] if $app eq 'goapp' && $want eq 'process_cpu';
            push @node_wall, [$tenant, $from, $until, $pp, $client] if $app eq 'nodeapp' && $want eq 'wall';
        }
    }
}

ok($seen_name{$_}, "replays include $_ profiles") for qw(process_cpu memory goroutines mutex block wall);

# Go CPU: samples labelled loop=B become their own series.
ok(@go_cpu >= 3, scalar(@go_cpu) . ' Go CPU replays');
for my $c (@go_cpu) {
    my ($tenant, $from, $until, $pp) = @$c;
    my $cpu = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
    my $total = $pp->{totals}{'cpu/nanoseconds'};
    my ($b) = $t->stacks(query => qq/$cpu\{service_name="goapp",loop="B"}/, from => $from, until => $until,
                         headers => tenant_h($tenant));
    my $sum = 0;
    $sum += $_ for values %$b;
    ok($sum > 0, "$tenant: the loop=B series has data");
    is_deeply([grep { !/;main\.hotLoopB(;|$)/ } sort keys %$b], [], "$tenant: loop=B holds only hotLoopB stacks");
    my $rest = ticks($tenant, qq/$cpu\{service_name="goapp",loop!="B"}/, $from, $until);
    is($sum + $rest, $total, "$tenant: loop=B + the rest = the total");
    is(ticks($tenant, qq/$cpu\{service_name="goapp",env="test",pyroscope_spy="gospy"}/, $from, $until),
       $total, "$tenant: labels env=test and pyroscope_spy=gospy from the name and spyName");
    is(ticks($tenant, qq/$cpu\{__session_id__=~".+"}/, $from, $until), 0,
       "$tenant: __session_id__ is not a series label");
    is(ticks($tenant, qq/$cpu\{__delta__=~".+"}/, $from, $until), 0, "$tenant: __delta__ is not stored");
}

# Node wall: labels, the handler=alloc sample label, function names.
ok(@node_wall >= 8, scalar(@node_wall) . ' Node wall replays');
for my $c (@node_wall ? @node_wall[0, -1] : ()) {
    my ($tenant, $from, $until, $pp, $client) = @$c;
    my $id = 'wall:wall:nanoseconds:wall:nanoseconds';
    my $total = $pp->{totals}{'wall/nanoseconds'};
    is(ticks($tenant, qq/$id\{service_name="nodeapp",env="test",pyroscope_spy="nodespy"}/, $from, $until),
       $total, "$tenant: labels from the name and spyName");
    my $alloc = ticks($tenant, qq/$id\{service_name="nodeapp",handler="alloc"}/, $from, $until);
    my $other = ticks($tenant, qq/$id\{service_name="nodeapp",handler=""}/, $from, $until);
    ok($alloc > 0, "$tenant: a handler=alloc series");
    is($alloc + $other, $total, "$tenant: handler=alloc + the rest = the total");
    my ($st) = $t->stacks(query => qq/$id\{service_name="nodeapp"}/, from => $from, until => $until,
                          headers => tenant_h($tenant));
    my %leaf;
    for my $k (keys %$st) {
        $leaf{A} += $st->{$k} if $k =~ m{:hotLoopA:\d+(;|$)};
        $leaf{B} += $st->{$k} if $k =~ m{:hotLoopB:\d+(;|$)};
    }
    ok(($leaf{A} // 0) > ($leaf{B} // 0) && ($leaf{B} // 0) > 0,
       "$tenant: stacks by SDK function name, hotLoopA above hotLoopB");
}

# --- fixtures/go: the runtime/pprof files against their oracles -----------------

my %GO_NAME = (cpu => 'process_cpu', 'cpu-mid' => 'process_cpu', 'cpu-large' => 'process_cpu',
               heap => 'memory', goroutine => 'goroutines', mutex => 'mutex',
               block => 'mutex');    # no sample_type_config: contentions -> mutex_count

my $go_files = 0;
for my $f (sort keys %GO_NAME) {
    my $path = "$FIX/go/$f.pb.gz";
    next unless -f $path;
    $go_files++;
    my $gz = PyroTest::read_bytes($path);
    my $plain = PyroTest::gunzip_bytes($gz);
    ok(length $plain > length $gz, "$f: gunzipped " . length($plain) . ' bytes');
    my $oracle = $JSON->decode(PyroTest::read_bytes("$path.oracle.json"));
    my $ts = int(PyroTest::pprof_time_nanos($gz) / 1e9);
    my ($from, $until) = ($ts - 3600, $ts + 3600);
    my ($ptype, $punit) = split / /, $oracle->{period_type};
    my $app = "pprof-$f";
    my $boundary = '------------------------' . ('0123456789abcdef' x 2);

    for my $v (['gz', $gz, format => 'pprof'], ['plain', $plain, format => 'pprof'],
               ['multipart', PyroTest::multipart_body($boundary, ['profile', 'profile.pprof', $gz,
                                                                  'application/octet-stream'])])
    {
        my ($variant, $body, %q) = @$v;
        my $tenant = "go-$f-$variant";
        my %h = ('X-Scope-OrgID' => $tenant,
                 'Content-Type' => $variant eq 'multipart' ? "multipart/form-data; boundary=$boundary"
                                                           : 'application/octet-stream');
        my $r = $t->ingest($body, name => "$app\{env=fixture}", from => $ts, spyName => 'gospy',
                           %q, headers => \%h);
        is($r->{status}, 200, "$f ($variant): accepted") or do { diag substr($r->{content}, 0, 300); next };
        is($r->{content}, '', "$f ($variant): empty body");

        for my $st (@{ $oracle->{sample_types} }) {
            my ($type, $unit) = split m{/}, $st;
            my $rest = "$type:$unit:$ptype:$punit";
            my $want = $GO_NAME{$f};
            my $found = stored_under($tenant, $rest, qq/{service_name="$app"}/, $from, $until);
            is(join(',', sort keys %$found), $want, "$f ($variant) $rest: stored as $want:$rest")
                or diag explain $found;
            is($found->{$want}, $oracle->{totals}{$st}, "$f ($variant) $want:$rest: numTicks = oracle total");

            my $fold = "$FIX/go/$f.pb.gz.$type.folded.txt";
            next unless -f $fold;
            my ($stacks) = $t->stacks(query => qq/$want:$rest\{service_name="$app"}/, from => $from,
                                      until => $until, headers => tenant_h($tenant));
            is_deeply($stacks, folded($fold), "$f ($variant) $type: stacks = $f.pb.gz.$type.folded.txt");
        }
    }
}
is($go_files, 7, 'every fixtures/go file pushed');

# cpu.pb.gz: the loop=B samples are exactly the hotLoopB stack.
{
    my $cpu = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
    my $ts = int(PyroTest::pprof_time_nanos(PyroTest::read_bytes("$FIX/go/cpu.pb.gz")) / 1e9);
    my $all = folded("$FIX/go/cpu.pb.gz.cpu.folded.txt");
    my %b = map { $_ => $all->{$_} } grep { /main\.hotLoopB/ } keys %$all;
    my %rest = map { $_ => $all->{$_} } grep { !/main\.hotLoopB/ } keys %$all;
    is(scalar keys %b, 1, 'cpu.pb.gz: one hotLoopB stack');
    for my $variant (qw(gz plain multipart)) {
        my %q = (from => $ts - 3600, until => $ts + 3600, headers => tenant_h("go-cpu-$variant"));
        my ($st) = $t->stacks(query => qq/$cpu\{service_name="pprof-cpu",loop="B"}/, %q);
        is_deeply($st, \%b, "cpu.pb.gz ($variant): {loop=\"B\"} is the hotLoopB stack only");
        ($st) = $t->stacks(query => qq/$cpu\{service_name="pprof-cpu",loop!="B"}/, %q);
        is_deeply($st, \%rest, "cpu.pb.gz ($variant): {loop!=\"B\"} is the rest");
        ($st) = $t->stacks(query => qq/$cpu\{service_name="pprof-cpu",env="fixture",pyroscope_spy="gospy"}/, %q);
        is_deeply($st, $all, "cpu.pb.gz ($variant): name labels and spyName on every series");
    }
}

# --- hand-built: __name__ derivation corners and the time rules ------------------

{
    my $T = (int(time / 86400) - 2) * 86400 + 3 * 3600;      # two days ago, 03:00 UTC
    my $B = 'x0x0x0x0x0';
    my $n = 0;
    my $h = tenant_h('derive');
    for my $c (
        # sample types, sample_type_config (JSON) or undef, expected __name__
        [[['samples', 'count']], undef, 'process_cpu', 'default table: samples -> cpu'],
        [[['samples', 'count']], '{}', 'samples', 'a config replaces the default table'],
        [[['alpha', 'count'], ['beta', 'count']], undef, 'beta', 'no match: the last sample type'],
        [[['alpha', 'count'], ['beta', 'count']], '{"beta":{"display-name":"gamma"}}', 'gamma',
         'no match: the last display name'],
        [[['inuse_space', 'bytes'], ['cpu', 'nanoseconds']], undef, 'memory', 'the first matching type wins'],
        [[['cpu', 'nanoseconds'], ['wall', 'nanoseconds']], undef, 'wall', 'any wall type gives wall'],
        [[['space', 'bytes']], undef, 'memory', 'space -> memory'],
        [[['goroutine', 'count']], '{"goroutine":{"display-name":"x_block_y"}}', 'block', 'block_ in a display name'],
        [[['contentions', 'count']], '{"contentions":{"display-name":"my_cpu"}}', 'process_cpu', 'cpu in a display name'],
    ) {
        my ($types, $config, $want, $what) = @$c;
        my $app = 'derive' . $n++;
        my $p = PyroTest::pprof_encode(sample_types => $types,
                                       samples => [{ stack => 'main;f', values => [map { 7 } @$types] }]);
        my $r;
        if (defined $config) {
            $r = $t->ingest(PyroTest::multipart_body($B, ['profile', 'profile.pprof', $p, undef],
                                                     ['sample_type_config', 'sample_type_config.json', $config, undef]),
                            name => $app, from => $T, headers => { %$h, 'Content-Type' => "multipart/form-data; boundary=$B" });
        } else {
            $r = $t->ingest($p, name => $app, from => $T, format => 'pprof', headers => $h);
        }
        is($r->{status}, 200, "$what: accepted") or diag $r->{content};
        for my $ty (@$types) {
            is(ticks('derive', qq/$want:$ty->[0]:$ty->[1]::{service_name="$app"}/, $T - 60, $T + 60), 7,
               "$what: $want:$ty->[0]:$ty->[1]::");
        }
    }

    # time_nanos 0 or in 1970: the profile is at `from`
    for my $c ([0, 'time_nanos 0'], [5_000_000_000, 'time_nanos in 1970']) {
        my ($tn, $what) = @$c;
        my $app = "time$tn";
        my $p = PyroTest::pprof_encode(sample_types => [['samples', 'count']], time_nanos => $tn,
                                       samples => [{ stack => 'main;f', values => [3] }]);
        my $r = $t->ingest($p, name => $app, from => $T, format => 'pprof', headers => $h);
        is($r->{status}, 200, "$what: accepted");
        my $id = qq/process_cpu:samples:count::{service_name="$app"}/;
        is(ticks('derive', $id, $T - 60, $T + 60), 3, "$what: stored at from");
        is(ticks('derive', $id, time - 3600, time + 3600), 0, "$what: not at now");
    }
    # a real time_nanos wins over from
    {
        my $p = PyroTest::pprof_encode(sample_types => [['samples', 'count']], time_nanos => ($T + 7200) * 1_000_000_000,
                                       samples => [{ stack => 'main;f', values => [4] }]);
        my $r = $t->ingest($p, name => 'time-real', from => $T, format => 'pprof', headers => $h);
        is($r->{status}, 200, 'time_nanos set: accepted');
        my $id = q/process_cpu:samples:count::{service_name="time-real"}/;
        is(ticks('derive', $id, $T + 7200 - 60, $T + 7200 + 60), 4, 'time_nanos set: stored at time_nanos');
        is(ticks('derive', $id, $T - 60, $T + 60), 0, 'time_nanos set: not at from');
    }
}

$t->finish;
done_testing;

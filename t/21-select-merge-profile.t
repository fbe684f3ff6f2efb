#!/usr/bin/perl

# SelectMergeProfile and SelectMergeStacktraces with PROFILE_FORMAT_PPROF
# (query-output-formats.md 5 and 1.2): go/cpu.pb.gz and cpu-large.pb.gz
# pushed with /ingest?format=pprof, the merged pprof fetched in both
# codecs and read back by `go tool pprof` (-top, -raw, -lines), which
# must see the fixtures' oracle totals, flat and cum values, file names
# and line numbers.  Go is a test dependency: without it this fails.

use strict;
use warnings;

use Test::More;
use File::Spec;
use File::Temp qw(tempdir);
use JSON::PP;
use PyroTest;

my $FIX = $PyroTest::FIXTURES;
my $GO = $ENV{PYRO_GO} || '/usr/local/go/bin/go';

for my $f ("$FIX/go/cpu.pb.gz", "$FIX/go/cpu-large.pb.gz") {
    next if -f $f && -f "$f.oracle.json";
    fail("fixture $f and its oracle");
    done_testing;
    exit 1;
}

unless (-x $GO) {
    fail("go at $GO (set PYRO_GO)");
    done_testing;
    exit 1;
}

my $t = PyroTest->new->start;
my $Q = '/querier.v1.QuerierService/';
my $CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
my $SAMPLES = 'process_cpu:samples:count:cpu:nanoseconds';
my $MAIN_GO = 'example.com/pprofgen/main.go';
my $TMP = tempdir('pyro-go-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# go works offline under the checkout's build/go: `go tool pprof` is
# compiled into GOCACHE on first use (half a minute), so the cache is
# kept between runs ("make clean" removes it)
my $GODIR = $ENV{PYRO_GODIR}
    || File::Spec->rel2abs((__FILE__ =~ s{t/[^/]+$}{}r) . 'build/go');
mkdir $_ for grep { !-d } ((__FILE__ =~ s{t/[^/]+$}{}r) . 'build', $GODIR, "$GODIR/home");
local $ENV{HOME} = "$GODIR/home";
local $ENV{GOCACHE} = "$GODIR/cache";
local $ENV{GOPATH} = "$GODIR/path";
local $ENV{GOTOOLCHAIN} = 'local';
local $ENV{GOTELEMETRY} = 'off';
local $ENV{GOFLAGS} = '';
local $ENV{GOPROXY} = 'off';

sub oracle { JSON::PP->new->decode(PyroTest::read_bytes("$FIX/go/$_[0].oracle.json")) }

# --- the data -------------------------------------------------------------------------------

my %fx;     # service => { gz, oracle, start, end (ms) }
for ([gocpu => 'cpu.pb.gz'], [golarge => 'cpu-large.pb.gz']) {
    my ($svc, $file) = @$_;
    my $gz = PyroTest::read_bytes("$FIX/go/$file");
    my $ms = do { use integer; PyroTest::pprof_time_nanos($gz) / 1_000_000 };
    $fx{$svc} = { gz => $gz, oracle => oracle($file), start => $ms - 3_600_000,
                  end => $ms + 3_600_000 };
    my $r = $t->ingest($gz, name => $svc, format => 'pprof',
                       headers => { 'X-Scope-OrgID' => 't21', 'Content-Type' => 'application/octet-stream' });
    is($r->{status}, 200, "push $file") or diag $r->{content};
}

# --- helpers --------------------------------------------------------------------------------

sub body_of {
    my ($r) = @_;
    my $b = $r->{content} // '';
    $b = PyroTest::gunzip_bytes($b) if ($r->{headers}{'content-encoding'} // '') =~ /gzip/i;
    return $b;
}

# SelectMergeProfileRequest, by hand: profile_typeID 1, label_selector 2,
# start 3, end 4, max_nodes 5 (SelectMergeStacktracesRequest shares
# 1..5 and adds format 6).
sub smp_request {
    my (%q) = @_;
    my $b = PyroTest::pb_bytes(1, $q{ptype}) . PyroTest::pb_bytes(2, $q{sel})
          . PyroTest::pb_uint(3, $q{start}) . PyroTest::pb_uint(4, $q{end});
    $b .= PyroTest::pb_key(5, 0) . PyroTest::pb_varint($q{max_nodes}) if defined $q{max_nodes};
    $b .= PyroTest::pb_uint(6, $q{format}) if defined $q{format};
    return $b;
}

sub call {
    my ($method, $body, $ct) = @_;
    return $t->post("$Q$method", $body, { 'X-Scope-OrgID' => 't21', 'Content-Type' => $ct });
}

# The binary Profile of a service's merge, checked and saved to a file.
sub merged_file {
    my ($svc, $ptype, $name, %o) = @_;
    my $r = call('SelectMergeProfile', smp_request(ptype => $ptype, sel => "{service_name=\"$svc\"}",
                                                   start => $fx{$svc}{start}, end => $fx{$svc}{end}, %o),
                 'application/proto');
    is($r->{status}, 200, "$name: 200") or diag substr(body_of($r), 0, 300);
    like($r->{headers}{'content-type'} // '', qr{^application/proto\b}, "$name: application/proto");
    my $path = "$TMP/$name.pb";
    open my $fh, '>:raw', $path or die "$path: $!";
    print $fh body_of($r);
    close $fh;
    return $path;
}

# `go tool pprof <args> <file>`: (exit code, stdout, stderr).
sub pprof {
    my ($file, @args) = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>', "$TMP/pprof.err" or exit 126;
        exec $GO, 'tool', 'pprof', @args, $file;
        exit 127;
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    my $rc = $? >> 8;
    open my $eh, '<', "$TMP/pprof.err";
    my $err = <$eh> // '';
    return ($rc, $out, $err);
}

# `-top` rows as { name => [flat, cum] } (values as printed).
sub top {
    my ($file, @args) = @_;
    my ($rc, $out, $err) = pprof($file, '-top', @args);
    is($rc, 0, "go tool pprof -top @args: exit 0") or diag $err;
    my %rows;
    for (split /\n/, $out) {
        $rows{$6} = [$1, $4] if /^\s*(\S+)\s+(\S+%)\s+(\S+%)\s+(\S+)\s+(\S+%)\s+(.+?)\s*$/;
    }
    return \%rows;
}

# The sum of `-raw`'s sample values (one sample type).
sub raw_total {
    my ($file) = @_;
    my ($rc, $out, $err) = pprof($file, '-raw');
    is($rc, 0, 'go tool pprof -raw: exit 0') or diag $err;
    my ($samples) = $out =~ /^Samples:\n.*?\n(.*?)^\S/ms;
    my $total = 0;
    $total += $_ for ($samples // '') =~ /^\s*(-?\d+):/mg;
    return ($total, $out);
}

sub ns { my ($v) = @_; return $v eq '0' ? 0 : $v =~ /^(\d+)ns$/ ? $1 : "not ns: $v" }

# --- SelectMergeProfile, binary, read by go tool pprof ----------------------------------------

my $or = $fx{gocpu}{oracle};
my %cum_of = map { $_->[0] => $_->[1] } @{ $or->{top_cum}{'samples/count'} };
my %flat_of = map { $_->[0] => $_->[1] } @{ $or->{top_flat}{'samples/count'} };

{
    my $f = merged_file('gocpu', $SAMPLES, 'cpu-samples');
    my $top = top($f, '-sample_index=samples');
    for my $fn (qw(main.hotLoopA main.hotLoopB main.spin main.cpuDriver runtime.main)) {
        is_deeply($top->{$fn}, [$flat_of{$fn} // 0, $cum_of{$fn}], "samples: $fn flat/cum as the oracle")
            or diag explain $top;
    }
    is_deeply([@{ $top->{'main.hotLoopA'} || [] }[1]], [377], 'samples: cum hotLoopA 377');
    is_deeply([@{ $top->{'main.hotLoopB'} || [] }[1]], [121], 'samples: cum hotLoopB 121');

    my ($total, $raw) = raw_total($f);
    is($total, $or->{totals}{'samples/count'}, 'samples: -raw total is the oracle total');
    like($raw, qr/^PeriodType: cpu nanoseconds$/m, 'samples: period type');
    like($raw, qr/^Period: 1000000000$/m, 'samples: period 1e9 for process_cpu');
    like($raw, qr/^samples\/count\[dflt\]$/m, 'samples: one sample type, the default');
}

{
    my $f = merged_file('gocpu', $CPU, 'cpu-ns');
    my $top = top($f, '-sample_index=cpu', '-unit=ns');
    my %cum_ns = map { $_->[0] => $_->[1] } @{ $or->{top_cum}{'cpu/nanoseconds'} };
    my %flat_ns = map { $_->[0] => $_->[1] } @{ $or->{top_flat}{'cpu/nanoseconds'} };
    for my $fn (qw(main.hotLoopA main.hotLoopB main.spin runtime.main)) {
        my $row = $top->{$fn} || ['missing', 'missing'];
        is_deeply([map { ns($_) } @$row], [$flat_ns{$fn} // 0, $cum_ns{$fn}], "cpu: $fn flat/cum in ns");
    }
    my ($a, $b) = map { ns(($top->{$_} || [0, 0])->[1]) } qw(main.hotLoopA main.hotLoopB);
    ok($b && $a * 121 == $b * 377, "cpu: cum hotLoopA : hotLoopB = 377 : 121 ($a, $b)");

    my ($total) = raw_total($f);
    is($total, $or->{totals}{'cpu/nanoseconds'}, 'cpu: -raw total is the oracle total');

    # file names and line numbers survive (-lines: one node per line)
    my ($rc, $out, $err) = pprof($f, '-top', '-lines', '-sample_index=cpu', '-unit=ns');
    is($rc, 0, '-lines: exit 0') or diag $err;
    like($out, qr{^\s*0\s+0%\s+\S+\s+3770000000ns\s+\S+\s+main\.hotLoopA \Q$MAIN_GO\E:41$}m,
         '-lines: main.hotLoopA at main.go:41');
    like($out, qr{\s1210000000ns\s+\S+\s+main\.hotLoopB \Q$MAIN_GO\E:44$}m,
         '-lines: main.hotLoopB at main.go:44');
    like($out, qr{^.*main\.cpuDriver \Q$MAIN_GO\E:$_$}m, "-lines: main.cpuDriver at main.go:$_") for 53 .. 56;
    like($out, qr{\s4990000000ns\s+100%\s+runtime\.main runtime/proc\.go:250$}m,
         '-lines: runtime.main at runtime/proc.go:250');
    unlike($err, qr/\S/, 'no warning from go tool pprof') or diag $err;
}

# --- the large fixture, whole and truncated ----------------------------------------------

{
    my $ol = $fx{golarge}{oracle};
    my $f = merged_file('golarge', $CPU, 'large');
    my ($total) = raw_total($f);
    is($total, $ol->{totals}{'cpu/nanoseconds'}, 'large: -raw total is the oracle total');

    my $top = top($f, '-sample_index=cpu', '-unit=ns');
    my %cum_ns = map { $_->[0] => $_->[1] } @{ $ol->{top_cum}{'cpu/nanoseconds'} };
    my %flat_ns = map { $_->[0] => $_->[1] } @{ $ol->{top_flat}{'cpu/nanoseconds'} };
    # the oracle lists the largest flat values only
    for my $fn (qw(main.leaf runtime.asyncPreempt main.runPath)) {
        my $row = $top->{$fn} || ['missing', 'missing'];
        is_deeply([map { ns($_) } @$row], [$flat_ns{$fn}, $cum_ns{$fn}], "large: $fn flat/cum in ns");
    }
    is(ns(($top->{'main.cpuWorker'} || [0, 'missing'])->[1]), $cum_ns{'main.cpuWorker'},
       'large: main.cpuWorker cum in ns');

    $f = merged_file('golarge', $CPU, 'large-512', max_nodes => 512);
    ($total) = raw_total($f);
    is($total, $ol->{totals}{'cpu/nanoseconds'}, 'large, max_nodes 512: the total is kept');
    $top = top($f, '-sample_index=cpu', '-unit=ns');
    # query-output-formats.md 1.2: the top node becomes other 7.47s (98.87%)
    is(ns(($top->{other} || ['missing'])->[0]), 7467000000, 'large, max_nodes 512: "other" flat 7467 ms');
    is(ns(($top->{'main.runPath'} || [0, 0])->[1]), $cum_ns{'main.runPath'},
       'large, max_nodes 512: main.runPath cum kept');
}

# --- JSON -----------------------------------------------------------------------------------

{
    my $svc = $fx{gocpu};
    my $req = { profileTypeID => $CPU, labelSelector => '{service_name="gocpu"}',
                start => "$svc->{start}", end => "$svc->{end}" };
    my $r = call('SelectMergeProfile', encode_json($req), 'application/json');
    is($r->{status}, 200, 'JSON: 200') or diag substr(body_of($r), 0, 300);
    like($r->{headers}{'content-type'} // '', qr{^application/json\b}, 'JSON: application/json');
    my $p = eval { decode_json(body_of($r)) } || {};
    my @st = @{ $p->{stringTable} || [] };
    is($st[0], '', 'JSON: string 0 is ""');
    is_deeply([@st[-2, -1]], ['nanoseconds', 'cpu'], 'JSON: the strings end with the unit, then the type');
    is_deeply([map { [$st[$_->{type}], $st[$_->{unit}]] } @{ $p->{sampleType} || [] }],
              [['cpu', 'nanoseconds']], 'JSON: sample type');
    is_deeply([$st[$p->{periodType}{type} // 0], $st[$p->{periodType}{unit} // 0]], ['cpu', 'nanoseconds'],
              'JSON: period type');
    is($p->{period}, '1000000000', 'JSON: period');
    is($p->{timeNanos}, $svc->{end} . '000000', 'JSON: time_nanos = end ms * 1e6');
    ok(!exists $p->{durationNanos}, 'JSON: duration 0 (omitted)');
    is($p->{defaultSampleType}, $p->{sampleType}[0]{type}, 'JSON: default sample type');
    is_deeply([map { $_->{id} } @{ $p->{mapping} || [] }], ['1'], 'JSON: one mapping, id 1');
    my $total = 0;
    $total += $_->{value}[0] for @{ $p->{sample} || [] };
    is($total, $or->{totals}{'cpu/nanoseconds'}, 'JSON: the values add up to the oracle total');
    my %fn = map { $_->{id} => $_ } @{ $p->{function} || [] };
    my %loc = map { $_->{id} => $_ } @{ $p->{location} || [] };
    my @leaf = map { $st[$fn{ $loc{ $_->{locationId}[0] }{line}[0]{functionId} }{name}] } @{ $p->{sample} || [] };
    my $spin = grep { $_ eq 'main.spin' } @leaf;
    ok($spin >= 1 && !grep({ $_ ne 'main.spin' && $_ ne 'runtime.step' } @leaf), 'JSON: locations are leaf first');
}

# --- SelectMergeStacktraces with PROFILE_FORMAT_PPROF (4) --------------------------------

{
    my $svc = $fx{gocpu};
    my $r = call('SelectMergeStacktraces',
                 smp_request(ptype => $SAMPLES, sel => '{service_name="gocpu"}', start => $svc->{start},
                             end => $svc->{end}, format => 4),
                 'application/proto');
    is($r->{status}, 200, 'PPROF format: 200') or diag substr(body_of($r), 0, 300);
    my @f = eval { PyroTest::pb_decode(body_of($r)) };
    is_deeply([map { $_->[0] } @f], [5], 'PPROF format: only the pprof field');
    my @pp = @f ? eval { PyroTest::pb_decode($f[0][2]) } : ();
    is_deeply([map { $_->[0] } @pp], [1], 'PPROF format: pprof.profile');
    my $path = "$TMP/stacktraces.pb";
    open my $fh, '>:raw', $path or die "$path: $!";
    print $fh (@pp ? $pp[0][2] : '');
    close $fh;
    my ($total) = raw_total($path);
    is($total, $or->{totals}{'samples/count'}, 'PPROF format: -raw total is the oracle total');

    $r = call('SelectMergeStacktraces',
              encode_json({ profileTypeID => $CPU, labelSelector => '{service_name="gocpu"}',
                            start => "$svc->{start}", end => "$svc->{end}", format => 'PROFILE_FORMAT_PPROF' }),
              'application/json');
    is($r->{status}, 200, 'PPROF format, JSON: 200') or diag substr(body_of($r), 0, 300);
    my $j = eval { decode_json(body_of($r)) } || {};
    is_deeply([sort keys %$j], ['pprof'], 'PPROF format, JSON: only pprof');
    my $sum = 0;
    $sum += $_->{value}[0] for @{ $j->{pprof}{profile}{sample} || [] };
    is($sum, $or->{totals}{'cpu/nanoseconds'}, 'PPROF format, JSON: total');
}

# --- empty results and errors ---------------------------------------------------------------

{
    my $svc = $fx{gocpu};
    my $r = call('SelectMergeProfile',
                 smp_request(ptype => $CPU, sel => '{service_name="nothing"}', start => $svc->{start},
                             end => $svc->{end}), 'application/proto');
    is($r->{status}, 200, 'nothing selected: 200');
    is(unpack('H*', body_of($r)), '0a0032005a00', 'nothing selected: {sample_type:[{}], string_table:[""], period_type:{}}');

    $r = call('SelectMergeProfile',
              encode_json({ profileTypeID => $CPU, labelSelector => '{service_name="nothing"}',
                            start => "$svc->{start}", end => "$svc->{end}" }), 'application/json');
    is(body_of($r), '{"sampleType":[{}],"stringTable":[""],"periodType":{}}', 'nothing selected: JSON');

    $r = call('SelectMergeProfile',
              encode_json({ profileTypeID => $CPU, labelSelector => '{}', start => "$svc->{end}",
                            end => "$svc->{start}" }), 'application/json');
    is($r->{status}, 400, 'start after end: 400');
    like(body_of($r), qr/"code":"invalid_argument".*query start time is after end time/, 'start after end: message');

    $r = call('SelectMergeProfile',
              encode_json({ profileTypeID => 'process_cpu:cpu', labelSelector => '{}',
                            start => "$svc->{start}", end => "$svc->{end}" }), 'application/json');
    is($r->{status}, 400, 'a bad profile type: 400');
}

$t->finish;
done_testing;

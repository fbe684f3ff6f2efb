#!/usr/bin/perl

# JFR ingestion (format=jfr): the reconstructed pyroscope-java requests
# (multipart "jfr", gzip and not) give the cpu and allocation profiles
# Pyroscope makes of fixture-minimal.jfr; bad input gets 422 and the
# server keeps serving.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use PyroTest;

my $FIX = '/work/shared/fixtures/jfr';
my $t = PyroTest->new->start;

sub folded {
    my ($event) = @_;
    my %s;
    open my $fh, '<', "$FIX/fixture-minimal.jfr.$event.folded.txt" or die $!;
    while (<$fh>) {
        chomp;
        my ($stack, $v) = /^(.*) (\d+)$/ or next;
        next if $stack eq '';               # no stack: Pyroscope drops it
        $s{$stack} += $v;
    }
    return \%s;
}

sub sum { my $n = 0; $n += $_ for values %{ $_[0] }; $n }

my $oracle = decode_json(PyroTest::read_bytes("$FIX/fixture-minimal.jfr.oracle.json"))->{events};

my $i = 0;
for my $dir (sort glob "$FIX/requests/*") {
    my $req = decode_json(PyroTest::read_bytes("$dir/request.json"));
    my $body = PyroTest::read_bytes("$dir/body.bin");
    my %h = map { @$_ } @{ $req->{headers} };
    my $tenant = 'jfr' . $i++;
    my $r = $t->post($req->{path}, $body, { 'Content-Type' => $h{'Content-Type'},
                                            'X-Scope-OrgID' => $tenant });
    my $what = (split m{/}, $dir)[-1];
    is($r->{status}, 200, "$what: 200") or diag $r->{content};

    my $q = $req->{query};
    my ($app) = $q->{name}[0] =~ /^([^{]+)/;
    my $from = $q->{from}[0];
    my $period = int(1e9 / $q->{sampleRate}[0]);
    my @w = (from => $from - 60, until => $from + 60, headers => { 'X-Scope-OrgID' => $tenant });

    my ($st, $j) = $t->stacks(query => qq(process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="$app"}), @w);
    is($j->{flamebearer}{numTicks}, $oracle->{'jdk.ExecutionSample'}{count} * $period,
       "$what: cpu numTicks = samples x period");
    my $want = folded('ExecutionSample');
    is_deeply($st, { map { $_ => $want->{$_} * $period } keys %$want }, "$what: cpu stacks");

    for my $a (['ObjectAllocationInNewTLAB', 'alloc_in_new_tlab', 125848],
               ['ObjectAllocationOutsideTLAB', 'alloc_outside_tlab', 0],
               ['ObjectAllocationSample', 'alloc_sample', 1336]) {
        my ($ev, $type, $nostack) = @$a;
        my $o = $oracle->{"jdk.$ev"};
        my $bytes = folded($ev);
        is(sum($bytes), $o->{total_value} - $nostack, "$what: $ev folded total");
        my $got = $t->render(query => qq(memory:${type}_bytes:bytes:space:bytes{service_name="$app"}), @w);
        is($got->{flamebearer}{numTicks}, sum($bytes), "$what: $type bytes total");
        $got = $t->render(query => qq(memory:${type}_objects:count:space:bytes{service_name="$app"}), @w);
        is($got->{flamebearer}{numTicks}, $o->{count} - ($nostack ? 1 : 0), "$what: $type objects total");
    }

    my $got = $t->render(query => qq(mutex:delay:nanoseconds:mutex:count{service_name="$app"}), @w);
    is($got->{flamebearer}{numTicks}, sum(folded('JavaMonitorEnter')), "$what: mutex delay total");
}

# the spec's expected totals (jfr-format.md 8.3)
is(sum(folded('ObjectAllocationInNewTLAB')), 5_176_411_112, 'new-TLAB bytes as the spec says');
is(sum(folded('ObjectAllocationOutsideTLAB')), 305_455_024, 'outside-TLAB bytes as the spec says');

# bad input
my $jfr = PyroTest::read_bytes("$FIX/fixture-minimal.jfr");
my %bad = (
    'not JFR' => "this is not a JFR file\n" x 10,
    'version 1' => substr($jfr, 0, 4) . "\x00\x01\x00\x00" . substr($jfr, 8),
    'first byte zeroed' => "\x00" . substr($jfr, 1),
    'truncated' => substr($jfr, 0, 1000),
);
for my $what (sort keys %bad) {
    my $r = $t->ingest($bad{$what}, name => 'badjfr', format => 'jfr', from => 1700000000,
                       headers => { 'Content-Type' => 'application/octet-stream', 'X-Scope-OrgID' => 'bad' });
    is($r->{status}, 422, "$what: 422") or diag $r->{content};
    is($r->{json}{code}, 'unknown', "$what: code unknown");
}

my $ct = 'multipart/form-data; boundary=XyZ';
my $mp = "--XyZ\r\nContent-Disposition: form-data; name=\"other\"; filename=\"o\"\r\n\r\nx\r\n--XyZ--\r\n";
my $r = $t->ingest($mp, name => 'badjfr', format => 'jfr', from => 1700000000,
                   headers => { 'Content-Type' => $ct, 'X-Scope-OrgID' => 'bad' });
is($r->{status}, 422, 'no jfr part: 422');
like($r->{json}{message} // '', qr/jfr field is required/, 'no jfr part: message');

my $n = $t->render(query => 'process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="badjfr"}',
                   from => 1700000000 - 60, until => 1700000000 + 60,
                   headers => { 'X-Scope-OrgID' => 'bad' });
is($n->{flamebearer}{numTicks}, 0, 'nothing stored from bad input');

# still serving
$r = $t->ingest("a;b 3\n", name => 'after', from => 1700000000);
is($r->{status}, 200, 'a text push after the bad input');

$t->finish;
done_testing;

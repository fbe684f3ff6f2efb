#!/usr/bin/perl

# Two workers: a push acknowledged by one worker is visible to the very
# next query, whichever worker serves it.  Each push and each query is a
# new connection; X-Worker (added by the harness) says who served it.

use strict;
use warnings;

use Test::More;
use PyroTest;

my $RAW = 'process_cpu:samples:count::';
my $T = (int(time / 86400) - 1) * 86400 + 5 * 3600;

# reuseport spreads new connections over both workers by the kernel's
# hash, so both directions come up quickly.
my $t = PyroTest->new(workers => 2, listen => 'reuseport')->start;

my (%dir, %pids, @bad, @failed_push);
my $max = 400;
my $i;

for ($i = 1; $i <= $max; $i++) {
    my $r = $t->ingest("w;i$i " . ($i + 1) . "\n", name => "wk$i", sampleRate => 0, from => $T);
    my $pa = $r->{headers}{'x-worker'} // '?';
    if ($r->{status} != 200) {
        push @failed_push, "$i: $r->{status} $r->{content}";
        next;
    }

    my $q = $t->get('/pyroscope/render?query=' . PyroTest::uri_escape(qq/$RAW\{service_name="wk$i"}/)
                    . '&from=' . ($T - 60) . '&until=' . ($T + 60));
    my $pb = $q->{headers}{'x-worker'} // '?';
    my $st = $q->{status} == 200 ? PyroTest::flame_stacks($q->{json}{flamebearer}) : undef;

    $pids{$pa} = $pids{$pb} = 1;
    my $key = $pa eq $pb ? 'same' : "$pa->$pb";
    $dir{$key}++;

    unless ($st && keys(%$st) == 1 && ($st->{"w;i$i"} // 0) == $i + 1) {
        push @bad, "push $i on $pa, query on $pb: $q->{status} "
                   . ($st ? join(',', map { "$_=$st->{$_}" } sort keys %$st) : $q->{content});
    }

    my @cross = grep { $_ ne 'same' } keys %dir;
    last if @cross == 2 && $dir{$cross[0]} >= 5 && $dir{$cross[1]} >= 5;
}

diag "iterations: " . ($i > $max ? $max : $i) . "; "
     . join(', ', map { "$_: $dir{$_}" } sort keys %dir);

is_deeply(\@failed_push, [], 'every push was acknowledged');
is_deeply(\@bad, [], 'every query saw the push acknowledged just before');
is(scalar(grep { $_ ne '?' } keys %pids), 2, 'two workers served requests');
my @cross = sort grep { $_ ne 'same' } keys %dir;
is(scalar @cross, 2, 'both directions observed (push on A / query on B and back)');
ok(($dir{$_} // 0) >= 5, "$_: at least 5 times") for @cross;

# Everything is still there, in one query, from either worker.
{
    my $n = $i > $max ? $max : $i;
    my %want = map { ("w;i$_" => $_ + 1) } grep { my $k = $_; !grep { /^$k:/ } @failed_push } 1 .. $n;
    my %seen;
    for (1 .. 10) {
        my $q = $t->get('/pyroscope/render?query=' . PyroTest::uri_escape(qq/$RAW\{service_name=~"wk.*"}/)
                        . '&from=' . ($T - 60) . '&until=' . ($T + 60));
        $seen{ $q->{headers}{'x-worker'} // '?' } = 1;
        is_deeply(PyroTest::flame_stacks($q->{json}{flamebearer}), \%want,
                  "all $n pushes visible from worker " . ($q->{headers}{'x-worker'} // '?'));
    }
}

$t->finish;

done_testing;

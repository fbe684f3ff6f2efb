#!/usr/bin/perl

# Durability: a 200 means fsync'ed.  A burst of pushes from concurrent
# clients, kill -9 of every nginx process while pushes are in flight, a
# new nginx on the same data dir: every acknowledged push is there with
# exactly its value, and nothing is there with a wrong value.  Then a
# graceful stop and restart keeps everything.

use strict;
use warnings;

use Test::More;
use POSIX ();
use Time::HiRes qw(sleep time);
use PyroTest;

my $RAW = 'process_cpu:samples:count::';
my $T = (int(time / 86400) - 1) * 86400 + 6 * 3600;
my $N = 300;            # pushes
my $C = 6;              # concurrent clients
my $KILL_AT = 200;      # kill -9 once this many are acknowledged

my $t = PyroTest->new(workers => 2)->start;
my $res = $t->dir . '/results';
mkdir $res or die "$res: $!";

my @kids;
for my $c (0 .. $C - 1) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        for (my $n = $c; $n < $N; $n += $C) {
            my $r = $t->ingest("burst;p$n " . ($n + 1) . "\n", name => 'burst',
                               sampleRate => 0, from => $T);
            open my $fh, '>>', "$res/$c" or POSIX::_exit(1);
            print $fh "$n $r->{status}\n";
            close $fh;
        }
        POSIX::_exit(0);        # no END blocks: the parent owns the temp dir
    }
    push @kids, $pid;
}

sub results {
    my %st;
    for my $c (0 .. $C - 1) {
        open my $fh, '<', "$res/$c" or next;
        while (<$fh>) {
            $st{$1} = $2 if /^(\d+) (\d+)$/;
        }
    }
    return \%st;
}

my $deadline = time + 60;
my $acked = 0;
while (time < $deadline) {
    $acked = grep { $_ == 200 } values %{ results() };
    last if $acked >= $KILL_AT;
    sleep 0.005;
}
$t->kill9;
diag "kill -9 after $acked acknowledged pushes";
ok($acked >= $KILL_AT, "at least $KILL_AT pushes acknowledged before the kill");

for my $pid (@kids) {
    my $end = time + 60;
    while (waitpid($pid, POSIX::WNOHANG()) == 0 && time < $end) { sleep 0.02 }
    kill 'KILL', $pid if time >= $end;
}

my $st = results();
my @acked = sort { $a <=> $b } grep { $st->{$_} == 200 } keys %$st;
my @other = grep { $st->{$_} != 200 } keys %$st;
is(scalar(keys %$st), $N, "all $N pushes ran");
ok(@acked >= $KILL_AT, scalar(@acked) . ' acknowledged in all');
ok(!grep({ $_ != 599 && $_ != 502 } map { $st->{$_} } @other),
   'the others failed on the connection (' . scalar(@other) . ')')
    or diag join ' ', map { "$_:$st->{$_}" } @other;
is_deeply([$t->log_problems], [], 'no alerts before the kill');

# A new nginx on the same data.
my $t2 = PyroTest->new(data => $t->data, workers => 2)->start;

sub check_burst {
    my ($tt, $what, $extra) = @_;
    my ($got) = $tt->stacks(query => $RAW . '{service_name="burst"}', from => $T - 60, until => $T + 60);
    my @missing = grep { ($got->{"burst;p$_"} // -1) != $_ + 1 } @acked;
    is_deeply(\@missing, [], "$what: every acknowledged push is there with its value");
    my @wrong = grep { !/^burst;p(\d+)$/ || $got->{$_} != $1 + 1 || $1 >= $N } keys %$got;
    is_deeply(\@wrong, [], "$what: no stack with a partial or different value");
    diag "$what: " . scalar(@acked) . " acknowledged, " . scalar(keys %$got) . " queryable";
    return $got;
}

my $got = check_burst($t2, 'after kill -9');
ok(keys(%$got) <= $N, 'no more stacks than pushes');

# It keeps working, and a graceful stop keeps everything.
my (%pids, @fail);
for my $n (1 .. 40) {
    my $r = $t2->ingest("grace;g$n $n\n", name => 'grace', sampleRate => 0, from => $T);
    push @fail, "$n: $r->{status}" unless $r->{status} == 200;
    $pids{ $r->{headers}{'x-worker'} // '?' } = 1;
}
is_deeply(\@fail, [], '40 pushes after the restart acknowledged');
my %grace = map { ("grace;g$_" => $_) } 1 .. 40;
my ($g) = $t2->stacks(query => $RAW . '{service_name="grace"}', from => $T - 60, until => $T + 60);
is_deeply($g, \%grace, '40 pushes after the restart');

$t2->finish;

my @open = grep { my $f = $_; grep { $f =~ /^[^\/]+\/\d+-\Q$_\E-\d+\.open$/ } keys %pids }
           PyroTest::tree($t->data);
is_deeply(\@open, [], 'a graceful stop leaves no .open segment of its workers');

my $t3 = PyroTest->new(data => $t->data, workers => 2)->start;
check_burst($t3, 'after a graceful restart');
($g) = $t3->stacks(query => $RAW . '{service_name="grace"}', from => $T - 60, until => $T + 60);
is_deeply($g, \%grace, 'the pushes before the graceful stop are kept');
$t3->finish;

done_testing;

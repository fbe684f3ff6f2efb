#!/usr/bin/perl
# make bench-query: SelectMergeStacktraces latency over N ingested copies
# of go/cpu-large.pb.gz (551 KB gzip, 6 855 distinct stacks), for each N
# in $BENCH_COPIES (default "100,1000"), against the same query over one
# copy measured in the same run.  Prints median wall time per query.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use PyroTest;
use HTTP::Tiny;
use Time::HiRes qw(time);
use POSIX qw(:sys_wait_h);

my @copies = split /,/, ($ENV{BENCH_COPIES} || '100,1000');
my $file = "$PyroTest::FIXTURES/go/cpu-large.pb.gz";
open my $fh, '<:raw', $file or die "$file: $!";
my $pprof = do { local $/; <$fh> };

my $t = PyroTest->new(server => "        client_max_body_size 8m;\n");
$t->start;
# a query over thousands of large profiles takes seconds, not the tests' 30
$t->{http_client} = HTTP::Tiny->new(timeout => 900, keep_alive => 0);

my $type = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
my $now = int(time * 1000);

sub push_copies {
    my ($svc, $n) = @_;
    my @kids;
    for my $w (0 .. 1) {
        my $pid = fork // die;
        if (!$pid) {
            for (my $i = $w; $i < $n; $i += 2) {
                my $r = $t->post("/ingest?name=$svc&format=pprof", $pprof);
                die "push: $r->{status} $r->{content}" unless $r->{status} == 200;
            }
            exit 0;
        }
        push @kids, $pid;
    }
    waitpid($_, 0) for @kids;
}

sub query_ms {
    my ($svc) = @_;
    my @ms;
    for (1 .. 3) {
        my $t0 = time;
        my $r = $t->post('/querier.v1.QuerierService/SelectMergeStacktraces',
            qq/{"profileTypeID":"$type","labelSelector":"{service_name=\\"$svc\\"}",/
            . qq/"start":"@{[$now - 3600000]}","end":"@{[$now + 3600000]}"}/,
            { 'Content-Type' => 'application/json' });
        die "query: $r->{status} $r->{content}" unless $r->{status} == 200;
        push @ms, (time - $t0) * 1000;
    }
    @ms = sort { $a <=> $b } @ms;
    return $ms[1];
}

push_copies('q1', 1);
my $base = query_ms('q1');
printf "%-40s %10s %8s %12s\n", 'copies of cpu-large.pb.gz', 'ms/query', 'ratio', 'ms per copy';
printf "%-40s %10.1f %8.1f %12.2f\n", 1, $base, 1, $base;

for my $n (@copies) {
    my $t0 = time;
    push_copies("q$n", $n);
    my $push_s = time - $t0;
    my $ms = query_ms("q$n");
    printf "%-40s %10.1f %8.1f %12.2f   (ingest %.1f s, %.0f pushes/s)\n",
        $n, $ms, $ms / $base, $ms / $n, $push_s, $n / $push_s;
}

$t->stop;
my @p = $t->log_problems;
die "nginx problems:\n@p" if @p;

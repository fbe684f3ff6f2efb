#!/usr/bin/perl
# make bench: throughput of the module against nginx's own `return 204`,
# measured in the same run on the same nginx (wrk, loopback, 2 workers).
# Prints requests/s and the ratio to the reference for each case.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use PyroTest;

my $secs = $ENV{BENCH_SECONDS} || 5;
my $conns = $ENV{BENCH_CONNECTIONS} || 32;

my $t = PyroTest->new(
    server => "        location = /204 { return 204; }\n",
);
$t->start;

my $dir = $t->dir;
my $folded = join '', map { "main;handle;f$_;leaf " . ($_ + 1) . "\n" } 0 .. 99;
write_file("$dir/post.lua", lua_post($folded));

# a typical SDK push: 10 s of Go CPU profile, 61 KB gzip (DESIGN.md)
my $mid = "$PyroTest::FIXTURES/go/cpu-mid.pb.gz";
die "missing $mid" unless -f $mid;
write_file("$dir/pprof.lua", "local f = io.open('$mid', 'rb')\n"
    . "wrk.method = 'POST'\nwrk.body = f:read('*a')\nf:close()\n");

# data for the query benchmark: 1000 pushes of the same shape
for my $i (1 .. 1000) {
    my $r = $t->post("/ingest?name=benchq&sampleRate=100", $folded);
    die "seed push: $r->{status}" unless $r->{status} == 200;
}

# the render case runs before the ingest case fills the files with more
my @cases = (
    [ 'return 204 (reference)', "/204", undef ],
    [ 'GET /pyroscope/render over 1000 pushes', '/pyroscope/render?query='
      . PyroTest::uri_escape('process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="benchq"}')
      . '&from=now-1h&until=now', undef ],
    [ 'POST /ingest folded (100 stacks, fsync)', "/ingest?name=bench", "$dir/post.lua" ],
    [ 'POST /ingest pprof cpu-mid.pb.gz (61 KB gzip)', "/ingest?name=benchp&format=pprof",
      "$dir/pprof.lua" ],
    [ 'the same render, after the ingest run', '/pyroscope/render?query='
      . PyroTest::uri_escape('process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="benchq"}')
      . '&from=now-1h&until=now', undef ],
);

my $ref;
printf "%-45s %12s %8s %10s\n", 'case', 'req/s', 'ratio', 'p99';
for my $c (@cases) {
    my ($name, $path, $script) = @$c;
    my $cmd = "wrk -t2 -c$conns -d${secs}s --latency "
        . ($script ? "-s $script " : '') . "'" . $t->url($path) . "' 2>&1";
    my $out = `$cmd`;
    my ($rps) = $out =~ /Requests\/sec:\s+([\d.]+)/;
    my ($p99) = $out =~ /99%\s+(\S+)/;
    die "wrk failed for $name:\n$out" unless $rps;
    if ($out =~ /Non-2xx/) {
        my $r = $script ? $t->post($path, slurp_body($script)) : $t->get($path);
        die "non-2xx responses for $name (one more: $r->{status} "
            . substr($r->{content}, 0, 300) . "):\n$out";
    }
    $ref //= $rps;
    printf "%-45s %12.0f %8.3f %10s\n", $name, $rps, $rps / $ref, $p99 // '?';
}

$t->stop;
my @p = $t->log_problems;
die "nginx problems:\n@p" if @p;

# The body a wrk script sends (the folded literal or the file it reads).
sub slurp_body {
    my ($script) = @_;
    open my $fh, '<', $script or die "$script: $!";
    my $lua = do { local $/; <$fh> };
    my ($file) = $lua =~ /io\.open\('([^']+)'/;
    return $folded unless $file;
    open my $bf, '<:raw', $file or die "$file: $!";
    return do { local $/; <$bf> };
}

sub write_file {
    my ($f, $s) = @_;
    open my $fh, '>', $f or die "$f: $!";
    print $fh $s;
    close $fh;
}

sub lua_post {
    my ($body) = @_;
    $body =~ s/\n/\\n/g;
    return "wrk.method = \"POST\"\nwrk.body = \"$body\"\n";
}

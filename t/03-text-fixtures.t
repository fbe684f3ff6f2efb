#!/usr/bin/perl

# The shared text fixtures (/work/shared/fixtures/text): every file is
# pushed raw (sampleRate=0) and its flame graph compared with
# NAME.expected.txt and EXPECTED.json; files whose verdict is an error
# must be answered 422 and store nothing.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use PyroTest;

my $FIX = $ENV{PYRO_TEXT_FIXTURES} || "$PyroTest::FIXTURES/text";
plan skip_all => "no fixtures at $FIX" unless -f "$FIX/EXPECTED.json";

sub slurp {
    my ($f) = @_;
    open my $fh, '<:raw', $f or die "$f: $!";
    local $/;
    return scalar <$fh>;
}

my $expected = JSON::PP->new->decode(slurp("$FIX/EXPECTED.json"));
my @files = sort map { s{.*/}{}r } glob("$FIX/*.folded $FIX/*.lines");
ok(@files >= 10, scalar(@files) . ' fixture files');
is_deeply([sort @files], [sort keys %$expected], 'EXPECTED.json covers every fixture file');

my $t = PyroTest->new->start;

my $T = (int(time / 86400) - 1) * 86400 + 7200;
my $RAW = 'process_cpu:samples:count::';

sub app_of { 'fx-' . ($_[0] =~ s/[^A-Za-z0-9]/-/gr) }

sub render_app {
    my ($type, $app) = @_;
    return $t->stacks(query => qq/$type\{service_name="$app"}/, from => $T - 60, until => $T + 60);
}

for my $file (@files) {
    my $e = $expected->{$file} or next;
    my $format = $file =~ /\.lines$/ ? 'lines' : 'folded';
    is($e->{format}, $format, "$file: format $format");
    my $app = app_of($file);

    my $r = $t->ingest(slurp("$FIX/$file"), name => $app, sampleRate => 0,
                       format => $format, from => $T);

    if ($e->{verdict} =~ /^error/) {
        is($r->{status}, 422, "$file: 422 ($e->{verdict})") or diag $r->{content};
        is(ref $r->{json} && $r->{json}{code}, 'unknown', "$file: code unknown");
        my ($st, $j) = render_app($RAW, $app);
        is_deeply($st, {}, "$file: nothing stored");
        is($j->{flamebearer}{numTicks}, 0, "$file: numTicks 0");
        next;
    }

    is($r->{status}, 200, "$file: 200") or diag $r->{content};

    my %want;
    for my $line (split /\n/, slurp("$FIX/$file.expected.txt")) {
        my ($stack, $v) = $line =~ /^(.*) (\d+)$/ or next;
        next if $v == 0;              # the reference stores nothing for it
        utf8::decode($stack);
        $want{$stack} = $v;
    }
    ok(%want, "$file: " . scalar(keys %want) . ' expected stacks');

    my ($st, $j) = render_app($RAW, $app);
    is_deeply($st, \%want, "$file: stacks match $file.expected.txt");
    is($j->{flamebearer}{numTicks}, $e->{total}, "$file: numTicks $e->{total}");

    my $max = 0;
    for (values %want) { $max = $_ if $_ > $max }
    is($j->{flamebearer}{maxSelf}, $max, "$file: maxSelf $max");
    is(scalar @{ $j->{flamebearer}{levels} }, $e->{max_depth} + 1,
       "$file: depth $e->{max_depth} + the root");
}

# The default sampleRate (100 Hz) scales every value by the period 1e7 ns.
{
    my $r = $t->ingest(slurp("$FIX/simple.folded"), name => 'fx-scaled', from => $T);
    is($r->{status}, 200, 'simple.folded with the default sampleRate: 200');
    my ($st, $j) = render_app('process_cpu:cpu:nanoseconds:cpu:nanoseconds', 'fx-scaled');
    is_deeply($st, {
        'main' => 10_000_000,
        'main;backgroundJob' => 30_000_000,
        'main;handleRequest;parseJSON' => 120_000_000,
        'main;handleRequest;writeResponse' => 50_000_000,
    }, 'simple.folded: values x 10,000,000');
    is($j->{flamebearer}{numTicks}, 210_000_000, 'simple.folded: numTicks 21 x 1e7');
}

# The server is still fine after the 110 KB line.
{
    my $r = $t->ingest("after;all 1\n", name => 'fx-after', sampleRate => 0, from => $T);
    is($r->{status}, 200, 'a push after the fixtures');
    my ($st) = render_app($RAW, 'fx-after');
    is_deeply($st, { 'after;all' => 1 }, 'and it renders');
}

$t->finish;

done_testing;

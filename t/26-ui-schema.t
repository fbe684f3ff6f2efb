#!/usr/bin/perl

# /pyroscope/render and /pyroscope/render-diff against what the Pyroscope
# UI parses: the zod schema FlamebearerProfileSchema of npm
# @pyroscope/models@0.4.7 (fixtures/README.md "What the Pyroscope UI
# parses"), through t/ui/validate-render.mjs: render as renderSingle()
# (with the timeline), render-diff as renderDiff(), each with the strict
# checks.  The npm packages go to build/ui (installed here when missing);
# without node/npm, or when the install fails, this test fails.

use strict;
use warnings;

use Test::More;
use File::Spec;
use JSON::PP;
use PyroTest;

my $ROOT = File::Spec->rel2abs((__FILE__ =~ s{t/26-ui-schema\.t$}{}r) || '.');
my $UI = "$ROOT/build/ui";
my $SCRIPT = "$ROOT/t/ui/validate-render.mjs";
my $MODELS_VERSION = '0.4.7';

sub which {
    my ($cmd) = @_;
    for my $d (split /:/, $ENV{PATH} // '') {
        return "$d/$cmd" if -x "$d/$cmd";
    }
    return undef;
}

sub bail {
    my ($what) = @_;
    fail($what);
    done_testing;
    exit 1;
}

my $NODE = which('node') or bail('node is on PATH');
my $NPM = which('npm') or bail('npm is on PATH');

sub installed_version {
    my $f = "$UI/node_modules/\@pyroscope/models/package.json";
    return '' unless -f $f && -f "$UI/node_modules/zod/package.json";
    my $j = eval { JSON::PP->new->decode(PyroTest::read_bytes($f)) } || {};
    return $j->{version} // '';
}

if (installed_version() ne $MODELS_VERSION) {
    system('mkdir', '-p', $UI);
    my $out = `'$NPM' install --prefix '$UI' --no-audit --no-fund \@pyroscope/models\@$MODELS_VERSION zod\@3 2>&1`;
    is($?, 0, "npm install \@pyroscope/models\@$MODELS_VERSION zod\@3 into build/ui") or do { diag $out; bail('npm install') };
}
is(installed_version(), $MODELS_VERSION, "\@pyroscope/models $MODELS_VERSION in build/ui") or bail('no @pyroscope/models');

my $t = PyroTest->new->start;
my $JSON = JSON::PP->new->utf8->canonical;
my $FIX = $PyroTest::FIXTURES;
my $TMP = $t->dir;

# validate($json text or ref, name, mode, strict) -> (exit code, output)
my $n = 0;
sub validate {
    my ($doc, $mode, @flags) = @_;
    my $f = sprintf '%s/doc%02d.json', $TMP, ++$n;
    open my $fh, '>:raw', $f or die "$f: $!";
    print $fh (ref $doc ? $JSON->encode($doc) : $doc);
    close $fh;
    my $out = `'$NODE' '$SCRIPT' '$f' --mode=$mode --modules='$UI' @flags 2>&1`;
    return ($? >> 8, $out);
}

sub valid_ok {
    my ($doc, $mode, $what) = @_;
    my ($rc, $out) = validate($doc, $mode);
    is($rc, 0, "$what: the UI schema ($mode) accepts it") or diag $out;
    ($rc, $out) = validate($doc, $mode, '--strict');
    is($rc, 0, "$what: strict checks") or diag $out;
}

sub get_ok {
    my ($path, $what) = @_;
    my $r = $t->get($path, { 'X-Scope-OrgID' => 'ui' });
    is($r->{status}, 200, "$what: 200") or diag $r->{content};
    return $r->{content} // '';
}

sub qs { my (%q) = @_; join '&', map { "$_=" . PyroTest::uri_escape($q{$_}) } sort keys %q }

# --- the data -----------------------------------------------------------------------------

my $T1 = int(time / 60) * 60 - 600;
my $RAW = 'process_cpu:samples:count::';
my $CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';

sub push_text {
    my ($name, $body) = @_;
    my $r = $t->ingest($body, name => $name, sampleRate => 0, from => $T1, headers => { 'X-Scope-OrgID' => 'ui' });
    is($r->{status}, 200, "push $name") or diag $r->{content};
}
push_text('left', "a;b 3\na;c 2\n");
push_text('right', "a;b 1\nd 4\n");
push_text('grp{env=prod}', "g;a 3\ng;b 5\n");
push_text('grp{env=dev}', "g;c 7\n");

my ($cpu_gz, $CPU_S);
SKIP: {
    skip "no fixture $FIX/go/cpu.pb.gz", 1 unless -f "$FIX/go/cpu.pb.gz";
    $cpu_gz = PyroTest::read_bytes("$FIX/go/cpu.pb.gz");
    $CPU_S = int(PyroTest::pprof_time_nanos($cpu_gz) / 1e9);
    my $r = $t->ingest($cpu_gz, name => 'gosvc', format => 'pprof', spyName => 'gospy',
                       headers => { 'X-Scope-OrgID' => 'ui', 'Content-Type' => 'application/octet-stream' });
    is($r->{status}, 200, 'push go/cpu.pb.gz') or diag $r->{content};
}

# --- render -------------------------------------------------------------------------------

my %W = (from => $T1 - 600, until => $T1 + 300);

if (defined $cpu_gz) {
    my $body = get_ok('/pyroscope/render?' . qs(query => qq/$CPU\{service_name="gosvc"}/, format => 'json',
                                              from => $CPU_S - 600, until => $CPU_S + 600), 'render go/cpu.pb.gz');
    my $j = eval { JSON::PP->new->utf8->decode($body) } || {};
    ok(($j->{flamebearer}{numTicks} // 0) > 0, 'render go/cpu.pb.gz: not empty');
    valid_ok($body, 'render', 'render go/cpu.pb.gz');
}

{
    my $body = get_ok('/pyroscope/render?' . qs(query => qq/$RAW\{service_name="left"}/, format => 'json', %W),
                      'render left');
    valid_ok($body, 'render', 'render left');

    $body = get_ok('/pyroscope/render?' . qs(query => qq/$RAW\{service_name="nosuch"}/, format => 'json', %W),
                   'render, an empty result');
    valid_ok($body, 'render', 'render, an empty result');

    $body = get_ok('/pyroscope/render?' . qs(query => qq/$RAW\{service_name="grp"}/, format => 'json',
                                           groupBy => 'env', %W), 'render groupBy=env');
    my $j = eval { JSON::PP->new->utf8->decode($body) } || {};
    is_deeply([sort keys %{ $j->{groups} || {} }], [qw(dev prod)], 'render groupBy=env: two groups');
    valid_ok($body, 'render', 'render groupBy=env');

    # a broken copy: no metadata.format
    my $broken = JSON::PP->new->utf8->decode($body);
    delete $broken->{metadata}{format};
    my ($rc, $out) = validate($broken, 'render');
    is($rc, 1, 'render without metadata.format: rejected');
    like($out, qr/format/, 'render without metadata.format: the issue names format');

    # the strict checks catch what zod does not
    my $bad = JSON::PP->new->utf8->decode($body);
    $bad->{flamebearer}{numTicks} += 1;
    ($rc, $out) = validate($bad, 'render');
    is($rc, 0, 'a wrong numTicks passes the schema');
    ($rc, $out) = validate($bad, 'render', '--strict');
    is($rc, 1, 'a wrong numTicks fails the strict checks');
}

# --- render-diff --------------------------------------------------------------------------

{
    my %RD = (leftQuery => qq/$RAW\{service_name="left"}/, rightQuery => qq/$RAW\{service_name="right"}/,
              leftFrom => $W{from}, leftUntil => $W{until}, rightFrom => $W{from}, rightUntil => $W{until});
    my $body = get_ok('/pyroscope/render-diff?' . qs(%RD), 'render-diff');
    my $j = eval { JSON::PP->new->utf8->decode($body) } || {};
    is($j->{metadata}{format}, 'double', 'render-diff: format double');
    valid_ok($body, 'profile', 'render-diff');

    $body = get_ok('/pyroscope/render-diff?' . qs(%RD, rightQuery => qq/$RAW\{service_name="nosuch"}/),
                   'render-diff, an empty right side');
    valid_ok($body, 'profile', 'render-diff, an empty right side');

    my $broken = JSON::PP->new->utf8->decode($body);
    delete $broken->{metadata}{format};
    my ($rc, $out) = validate($broken, 'profile');
    is($rc, 1, 'render-diff without metadata.format: rejected');
}

$t->finish;
done_testing;

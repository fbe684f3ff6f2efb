#!/usr/bin/perl

# The legacy /ingest text path: app-name grammar and labels, profile
# types from the name suffix, sample-rate scaling, spyName, profile_id,
# from/until in every accepted form, folded and lines, errors.  Every
# rule is checked through /pyroscope/render.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use PyroTest;

my $t = PyroTest->new->start;

my $CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
my $RAW = 'process_cpu:samples:count::';

# Two days ago, 00:00 UTC: recent enough for any lookback, and every slot
# below is a multiple of 15 s (the render step) apart.
my $BASE = (int(time / 86400) - 2) * 86400;
sub at { $BASE + $_[0] * 600 }

# The stacks of a query over [ts - w, ts + w].
sub gotj {
    my ($query, $ts, $w) = @_;
    $w //= 60;
    return $t->stacks(query => $query, from => $ts - $w, until => $ts + $w);
}
sub got { (gotj(@_))[0] }

sub push_ok {
    my ($body, %p) = @_;
    my $r = $t->ingest($body, %p);
    is($r->{status}, 200, "push name=" . ($p{name} // '(none)') . " accepted")
        or diag "$r->{status} $r->{content}";
    is($r->{content}, '', 'a 200 has an empty body');
    return $r;
}

sub error_is {
    my ($r, $status, $code, $msg, $what) = @_;
    is($r->{status}, $status, "$what: status $status") or diag $r->{content};
    like($r->{headers}{'content-type'} // '', qr{^application/json}, "$what: JSON");
    is($r->{headers}{'x-content-type-options'}, 'nosniff', "$what: nosniff");
    is(ref $r->{json}, 'HASH', "$what: a JSON object") or return;
    is_deeply([sort keys %{ $r->{json} }], ['code', 'message'], "$what: code and message only");
    is($r->{json}{code}, $code, "$what: code $code");
    if (ref $msg) {
        like($r->{json}{message}, $msg, "$what: message");
    } elsif (defined $msg) {
        is($r->{json}{message}, $msg, "$what: message");
    }
}

my $body = "a;b 2\na 1\n";

# --- profile type and scaling from sampleRate ------------------------------

my $ts = at(1);
push_ok($body, name => 'r-default', from => $ts);
my ($st, $j) = gotj(qq/$CPU\{service_name="r-default"}/, $ts);
is_deeply($st, { 'a;b' => 20_000_000, 'a' => 10_000_000 },
          'default sampleRate 100: cpu:nanoseconds, values x 10,000,000');
is($j->{flamebearer}{numTicks}, 30_000_000, 'numTicks scaled');
is($j->{flamebearer}{maxSelf}, 20_000_000, 'maxSelf scaled');
is_deeply($j->{metadata}, { format => 'single', spyName => '', sampleRate => 1000000000,
                            units => 'samples', name => 'cpu' }, 'cpu metadata');
is_deeply(got(qq/$RAW\{service_name="r-default"}/, $ts), {},
          'default rate: nothing under process_cpu:samples:count');

push_ok($body, name => 'r-raw', from => $ts, sampleRate => 0);
($st, $j) = gotj(qq/$RAW\{service_name="r-raw"}/, $ts);
is_deeply($st, { 'a;b' => 2, 'a' => 1 }, 'sampleRate=0: samples:count, raw values');
is_deeply($j->{metadata}, { format => 'single', spyName => '', sampleRate => 100,
                            units => 'objects', name => 'samples' }, 'samples metadata');
is_deeply(got(qq/$CPU\{service_name="r-raw"}/, $ts), {}, 'sampleRate=0: nothing under cpu:nanoseconds');

for my $c ([250, 4_000_000], [3, 333_333_333], [1000000000, 1], ['abc', 10_000_000],
           ['-5', 10_000_000], ['', 10_000_000])
{
    my ($rate, $period) = @$c;
    my $app = 'r-rate-' . ($rate =~ s/\W/x/gr || 'empty');
    push_ok($body, name => $app, from => $ts, sampleRate => $rate);
    is_deeply(got(qq/$CPU\{service_name="$app"}/, $ts),
              { 'a;b' => 2 * $period, 'a' => $period },
              "sampleRate='$rate': period $period");
}

# --- the name suffix selects the profile type ------------------------------

$ts = at(2);
my @types = (
    # suffix, sampleRate, type id, multiplier, units, sample type
    ['cpu',            undef, $CPU, 10_000_000, 'samples', 'cpu'],
    ['itimer',         undef, $CPU, 10_000_000, 'samples', 'cpu'],
    ['cpu',            0,     $RAW, 1, 'objects', 'samples'],
    ['wall',           undef, 'wall:wall:nanoseconds:cpu:nanoseconds', 10_000_000, 'nanoseconds', 'wall'],
    ['seconds',        undef, 'wall:wall:nanoseconds:cpu:nanoseconds', 10_000_000, 'nanoseconds', 'wall'],
    ['wall',           0,     'wall:samples:count::', 1, 'objects', 'samples'],
    ['wall',           1000,  'wall:wall:nanoseconds:cpu:nanoseconds', 1_000_000, 'nanoseconds', 'wall'],
    ['alloc_space',    undef, 'memory:alloc_space:bytes::', 1, 'bytes', 'alloc_space'],
    ['inuse_space',    undef, 'memory:inuse_space:bytes::', 1, 'bytes', 'inuse_space'],
    ['alloc_objects',  undef, 'memory:alloc_objects:count::', 1, 'objects', 'alloc_objects'],
    ['inuse_objects',  undef, 'memory:inuse_objects:count::', 1, 'objects', 'inuse_objects'],
    ['goroutines',     undef, 'goroutine:goroutines:count::', 1, 'count', 'goroutines'],
    ['mutex_count',    undef, 'mutex:contentions:count::', 1, 'count', 'contentions'],
    ['mutex_duration', undef, 'mutex:delay:nanoseconds::', 1, 'nanoseconds', 'delay'],
    ['block_count',    undef, 'block:contentions:count::', 1, 'count', 'contentions'],
    ['lock_duration',  undef, 'block:delay:nanoseconds::', 1, 'nanoseconds', 'delay'],
    ['alloc_in_new_tlab_bytes', undef, 'memory:alloc_in_new_tlab_bytes:bytes::', 1, 'bytes', 'alloc_in_new_tlab_bytes'],
    ['live',           undef, 'memory:live:count::', 1, 'count', 'live'],
    ['exceptions',     undef, 'exceptions:samples:count::', 1, 'objects', 'samples'],
    ['bytes',          undef, 'memory:samples:bytes::', 1, 'objects', 'samples'],
);

my $n = 0;
for my $c (@types) {
    my ($suffix, $rate, $type, $mul, $units, $name) = @$c;
    my $app = 'sfx' . $n++ . "-$suffix";
    push_ok($body, name => "$app.$suffix", from => $ts,
            defined $rate ? (sampleRate => $rate) : ());
    my ($st, $j) = gotj(qq/$type\{service_name="$app"}/, $ts);
    is_deeply($st, { 'a;b' => 2 * $mul, 'a' => $mul },
              "$app.$suffix (rate " . ($rate // 'default') . ") is $type x $mul");
    is($j->{metadata}{units}, $units, "$type: units $units");
    is($j->{metadata}{name}, $name, "$type: name $name");
    is($j->{metadata}{sampleRate}, $name eq 'cpu' ? 1000000000 : 100, "$type: sampleRate");
    is_deeply(got(qq/$RAW\{service_name="$app.$suffix"}/, $ts), {},
              "$app.$suffix: the suffix is not part of the service name")
        if $type ne $RAW;
}

{
    my $r = $t->ingest($body, name => 'my.app', from => $ts);
    error_is($r, 400, 'invalid_argument',
             'pyroscopeIngesterAdapter failed to convert metadata: unknown profile type: app',
             'name=my.app');
    $r = $t->ingest($body, name => 'svc.wall2{env=x}', from => $ts);
    error_is($r, 400, 'invalid_argument',
             'pyroscopeIngesterAdapter failed to convert metadata: unknown profile type: wall2',
             'name=svc.wall2{env=x}');
    is_deeply(got(qq/$RAW\{service_name=~"my|svc"}/, $ts), {}, 'unknown types stored nothing');
    is_deeply(got(qq/$CPU\{service_name=~"my|svc"}/, $ts), {}, 'unknown types stored nothing (cpu)');
}

# --- app-name grammar ------------------------------------------------------

$ts = at(3);
for my $c (['bad app', "name: invalid service name: bad app: character is not allowed: ' '"],
           ['ap$p', "name: invalid service name: ap\$p: character is not allowed: '\$'"],
           ["caf\x{e9}", undef],
           ['', 'name: service name is required'],
           ['  ', 'name: service name is required'],
           ['{env=x}', 'name: service name is required'],
           ['app{=v}', 'name: label name is required'],
           ['app{ =v}', 'name: label name is required'],
           ['app{bad-key=v}', qr/^name: /],
           ['app{k:x=v}', qr/^name: /])
{
    my ($name, $msg) = @$c;
    my $qname = $name;
    utf8::encode($qname);
    my $r = $t->ingest($body, name => $qname, from => $ts);
    error_is($r, 400, 'invalid_argument', $msg // qr/^name: invalid service name: /,
             "bad name '$qname'");
}
{
    my $r = $t->post("/ingest?from=$ts", $body);
    error_is($r, 400, 'invalid_argument', qr/^name: /, 'no name parameter');
    is_deeply(got(qq/$CPU\{}/, $ts), {}, 'bad names stored nothing');
}

push_ok($body, name => 'r-labels{env=prod,region=eu-1}', from => $ts, sampleRate => 0);
my $want = { 'a;b' => 2, 'a' => 1 };
is_deeply(got(qq/$RAW\{env="prod"}/, $ts), $want, 'labels from the name: {env="prod"}');
is_deeply(got(qq/$RAW\{service_name="r-labels",env="prod",region="eu-1"}/, $ts), $want,
          'labels from the name: every label');
is_deeply(got(qq/$RAW\{env="staging"}/, $ts), {}, '{env="staging"} is empty');
is_deeply(got(qq/$RAW\{region=~"eu-.*"}/, $ts), $want, '=~ matches');
is_deeply(got(qq/$RAW\{region=~"eu"}/, $ts), {}, '=~ is anchored');
is_deeply(got(qq/$RAW\{service_name="r-labels",region!~"eu-.*"}/, $ts), {}, '!~ excludes');
is_deeply(got(qq/$RAW\{service_name="r-labels",env!="prod"}/, $ts), {}, '!= excludes');
is_deeply(got(qq/$RAW\{service_name="r-labels",env!="dev"}/, $ts), $want, '!= keeps');

push_ok($body, name => ' r-trim { env = prod , k2 = v 2 } ', from => $ts, sampleRate => 0);
is_deeply(got(qq/$RAW\{service_name="r-trim",env="prod",k2="v 2"}/, $ts), $want,
          'app name, keys and values are trimmed');

push_ok($body, name => 'r-after{env=x}whatever', from => $ts, sampleRate => 0);
is_deeply(got(qq/$RAW\{service_name="r-after",env="x"}/, $ts), $want,
          'text after the closing brace is ignored');

push_ok($body, name => 'r-slash/a_b-c.d.cpu', from => $ts, sampleRate => 0);
is_deeply(got(qq/$RAW\{service_name="r-slash\/a_b-c.d"}/, $ts), $want,
          'app names take / _ - . (the suffix after the last dot is the type)');

push_ok($body, name => 'r-orig{__name__=r-over}', from => $ts, sampleRate => 0);
is_deeply(got(qq/$RAW\{service_name="r-over"}/, $ts), $want, '__name__ overrides the app name');
is_deeply(got(qq/$RAW\{service_name="r-orig"}/, $ts), {}, 'the original app name is gone');

push_ok($body, name => 'r-sess{__session_id__=abc,__x__=y,k=v}', from => $ts, sampleRate => 0);
is_deeply(got(qq/$RAW\{service_name="r-sess",k="v"}/, $ts), $want, 'labels with __ reserved keys');
is_deeply(got(qq/$RAW\{service_name="r-sess",__session_id__="abc"}/, $ts), {},
          '__session_id__ is not a series label');
is_deeply(got(qq/$RAW\{service_name="r-sess",__x__="y"}/, $ts), {},
          '__x__ is not a series label');

# --- spyName and service_name / app_name -----------------------------------

$ts = at(4);
push_ok($body, name => 'r-spy', from => $ts, sampleRate => 0, spyName => 'gospy');
is_deeply(got(qq/$RAW\{pyroscope_spy="gospy"}/, $ts), $want, 'spyName is pyroscope_spy');
is_deeply(got(qq/$RAW\{service_name="r-spy",pyroscope_spy="unknown"}/, $ts), {},
          'spyName=gospy is not unknown');
push_ok($body, name => 'r-nospy', from => $ts, sampleRate => 0);
is_deeply(got(qq/$RAW\{pyroscope_spy="unknown"}/, $ts), $want, 'pyroscope_spy defaults to unknown');

push_ok($body, name => 'r-app{service_name=r-svc}', from => $ts, sampleRate => 0);
is_deeply(got(qq/$RAW\{service_name="r-svc",app_name="r-app"}/, $ts), $want,
          'a service_name label keeps it and adds app_name=<app>');
is_deeply(got(qq/$RAW\{service_name="r-app"}/, $ts), {}, 'no service_name=<app> then');
push_ok($body, name => 'r-app2{service_name=r-svc2,app_name=given}', from => $ts, sampleRate => 0);
is_deeply(got(qq/$RAW\{service_name="r-svc2",app_name="given"}/, $ts), $want,
          'an app_name label is kept');
is_deeply(got(qq/$RAW\{app_name="r-app2"}/, $ts), {}, 'app_name not overwritten');
is_deeply(got(qq/$RAW\{service_name="r-nospy",app_name=""}/, $ts), $want,
          'no app_name label without a service_name label');

# --- profile_id -------------------------------------------------------------

push_ok($body, name => 'r-pid{profile_id=abc}', from => $ts, sampleRate => 0);
is_deeply(got(qq/$RAW\{service_name="r-pid"}/, $ts), {}, 'a profile_id label: 200, nothing stored');
push_ok($body, name => 'r-pid2{profile_id=}', from => $ts, sampleRate => 0);
is_deeply(got(qq/$RAW\{service_name="r-pid2"}/, $ts), $want, 'an empty profile_id is stored');

# --- from / until -----------------------------------------------------------

sub when_ok {
    my ($app, $from, $expect_s, $what) = @_;
    push_ok("t;$app 7\n", name => $app, from => $from, until => $from, sampleRate => 0);
    my $sec = int($expect_s);
    is_deeply(got(qq/$RAW\{service_name="$app"}/, $sec, 30), { "t;$app" => 7 },
              "$what: found around $sec");
    my ($st) = $t->stacks(query => qq/$RAW\{service_name="$app"}/,
                          from => $sec + 1, until => $sec + 120);
    is_deeply($st, {}, "$what: not after it");
    ($st) = $t->stacks(query => qq/$RAW\{service_name="$app"}/,
                       from => $sec - 120, until => $sec - 1);
    is_deeply($st, {}, "$what: not before it");
}

when_ok('ts-sec', at(20), at(20), 'seconds');
when_ok('ts-sep', join('_', at(21) =~ /(\d{1,3})/g) . ' ', at(21), 'seconds with _ and space');
when_ok('ts-ms', at(22) . '250', at(22) + 0.25, 'milliseconds (13 digits)');
when_ok('ts-us', at(23) . '500000', at(23) + 0.5, 'microseconds (16 digits)');
when_ok('ts-ns', at(24) . '123456789', at(24) + 0.123456789, 'nanoseconds (19 digits)');
{
    my @g = gmtime($BASE);
    my $ymd = sprintf('%04d%02d%02d', $g[5] + 1900, $g[4] + 1, $g[3]);
    when_ok('ts-ymd', $ymd, $BASE, "YYYYMMDD ($ymd)");
}

{
    my $now = time;
    push_ok("t;rel 5\n", name => 'ts-rel', from => 'now-1h', until => 'now', sampleRate => 0);
    my ($st) = $t->stacks(query => qq/$RAW\{service_name="ts-rel"}/,
                          from => int($now) - 3600 - 120, until => int($now) - 3600 + 120);
    is_deeply($st, { 't;rel' => 5 }, 'from=now-1h: one hour ago');
    ($st) = $t->stacks(query => qq/$RAW\{service_name="ts-rel"}/,
                       from => 'now-30m', until => 'now+1m');
    is_deeply($st, {}, 'from=now-1h: not in the last 30 minutes');

    # Upstream's parseTimeOffset takes the digits, then everything left as
    # the unit ("h30m" -> h): now-1h30m is now-1h (spec 6.3 says the units
    # add up; attime.go does not).
    push_ok("t;rel2 6\n", name => 'ts-rel2', from => 'now-1h30m', sampleRate => 0);
    ($st) = $t->stacks(query => qq/$RAW\{service_name="ts-rel2"}/,
                       from => int($now) - 3600 - 120, until => int($now) - 3600 + 120);
    is_deeply($st, { 't;rel2' => 6 }, 'from=now-1h30m: read as upstream does, now-1h');
    ($st) = $t->stacks(query => qq/$RAW\{service_name="ts-rel2"}/,
                       from => int($now) - 5400 - 120, until => int($now) - 5400 + 120);
    is_deeply($st, {}, 'from=now-1h30m: not an hour and a half ago');

    push_ok("t;rel3 2\n", name => 'ts-rel3', from => 'now-2d', sampleRate => 0);
    ($st) = $t->stacks(query => qq/$RAW\{service_name="ts-rel3"}/,
                       from => int($now) - 2 * 86400 - 120, until => int($now) - 2 * 86400 + 120);
    is_deeply($st, { 't;rel3' => 2 }, 'from=now-2d: two days ago');

    push_ok("t;now 4\n", name => 'ts-now', sampleRate => 0);
    ($st) = $t->stacks(query => qq/$RAW\{service_name="ts-now"}/,
                       from => 'now-5m', until => 'now+5m');
    is_deeply($st, { 't;now' => 4 }, 'no from: now');
    ($st) = $t->stacks(query => qq/$RAW\{service_name="ts-now"}/,
                       from => int($now) - 3600, until => int($now) - 600);
    is_deeply($st, {}, 'no from: not ten minutes ago');
}

# --- folded and lines -------------------------------------------------------

$ts = at(5);
push_ok("a;b\na;b\n\nc\n", name => 'r-lines', from => $ts, sampleRate => 0, format => 'lines');
is_deeply(got(qq/$RAW\{service_name="r-lines"}/, $ts), { 'a;b' => 2, 'c' => 1 },
          'format=lines: each line one sample');
push_ok("a;b\r\nx y;z 5\n", name => 'r-lines2', from => $ts, format => 'lines');
is_deeply(got(qq/$CPU\{service_name="r-lines2"}/, $ts),
          { 'a;b' => 10_000_000, 'x y;z 5' => 10_000_000 },
          'format=lines: the whole line is the stack, scaled by the period');

push_ok("x y;z w 5\nq;r 1\r\nnospace\n", name => 'r-folded', from => $ts, sampleRate => 0,
        format => 'folded');
is_deeply(got(qq/$RAW\{service_name="r-folded"}/, $ts), { 'x y;z w' => 5, 'q;r' => 1 },
          'folded: count after the last space, CRLF, no-space line skipped');
push_ok("a;b 3\n", name => 'r-fmt-other', from => $ts, sampleRate => 0, format => 'whatever');
is_deeply(got(qq/$RAW\{service_name="r-fmt-other"}/, $ts), { 'a;b' => 3 },
          'an unknown format falls back to folded');
push_ok("a;b 3\na;b -4\na;c 0\na;d +2\n", name => 'r-signs', from => $ts, sampleRate => 0);
is_deeply(got(qq/$RAW\{service_name="r-signs"}/, $ts), { 'a;b' => 3, 'a;d' => 2 },
          'negative and zero counts dropped, +2 accepted');
push_ok("a;b 9223372036854775807\n", name => 'r-max', from => $ts, sampleRate => 0);
is(got(qq/$RAW\{service_name="r-max"}/, $ts)->{'a;b'}, 9223372036854775807, 'int64 max count');

for my $c (["ok;a 1\nbad;b x\n", 'a non-integer count'],
           ["ok;a 1\nbad;b 1.5\n", 'a fractional count'],
           ["ok;a 1\nbad;b 9223372036854775808\n", 'an int64 overflow'],
           ["ok;a 1\nbad;b \n", 'an empty count'],
           ["ok;a 1\n   \n", 'a whitespace-only line'])
{
    my ($b, $what) = @$c;
    my $app = 'r-422-' . ($what =~ s/\W+/-/gr);
    my $r = $t->ingest($b, name => $app, from => $ts, sampleRate => 0);
    error_is($r, 422, 'unknown', qr/./, "folded with $what");
    is_deeply(got(qq/$RAW\{service_name="$app"}/, $ts), {}, "$what: nothing stored");
}

push_ok('', name => 'r-empty', from => $ts, sampleRate => 0);
push_ok("\n\n\r\n", name => 'r-blank', from => $ts, sampleRate => 0);
push_ok("\n\n", name => 'r-blank-lines', from => $ts, sampleRate => 0, format => 'lines');
push_ok("nospace\nnone\n", name => 'r-nospace', from => $ts, sampleRate => 0);
is_deeply(got(qq/$RAW\{service_name=~"r-(empty|blank.*|nospace)"}/, $ts), {},
          'empty and blank bodies store nothing');

# --- routes and formats not supported yet ------------------------------------

$ts = at(6);
push_ok("p;q 2\n", name => 'r-route', from => $ts, sampleRate => 0, path => '/pyroscope/ingest');
is_deeply(got(qq/$RAW\{service_name="r-route"}/, $ts), { 'p;q' => 2 }, '/pyroscope/ingest works');
{
    my $r = $t->get('/render?query=' . PyroTest::uri_escape(qq/$RAW\{service_name="r-route"}/)
                    . '&from=' . ($ts - 60) . '&until=' . ($ts + 60));
    is($r->{status}, 200, '/render works');
    is_deeply(PyroTest::flame_stacks($r->{json}{flamebearer}), { 'p;q' => 2 }, '/render: same data');
}

for my $f (qw(pprof jfr trie tree speedscope)) {
    my $r = $t->ingest("u;v 1\n", name => "r-fmt-$f", from => $ts, sampleRate => 0, format => $f);
    error_is($r, 422, 'unknown', qr/./, "format=$f");
}
{
    my $r = $t->ingest("u;v 1\n", name => 'r-fmt-mp', from => $ts, sampleRate => 0,
                       headers => { 'Content-Type' => 'multipart/form-data; boundary=xyz' });
    error_is($r, 422, 'unknown', qr/./, 'a multipart body');
    $r = $t->ingest("u;v 1\n", name => 'r-fmt-ct-trie', from => $ts, sampleRate => 0,
                    headers => { 'Content-Type' => 'binary/octet-stream+trie' });
    error_is($r, 422, 'unknown', qr/./, 'Content-Type binary/octet-stream+trie is a trie');
    $r = $t->ingest("u;v 1\n", name => 'r-fmt-ct-tree', from => $ts, sampleRate => 0,
                    headers => { 'Content-Type' => 'binary/octet-stream+tree' });
    error_is($r, 422, 'unknown', qr/./, 'Content-Type binary/octet-stream+tree is a tree');
    is_deeply(got(qq/$RAW\{service_name=~"r-fmt-.*"}/, $ts), {}, 'unsupported formats stored nothing');
}

{
    my $r = $t->get("/ingest?name=x&from=$ts");
    error_is($r, 405, 'unknown', qr/./, 'GET /ingest');
}

# client_max_body_size (1m in the harness): 413 in upstream's JSON shape
{
    my $r = $t->ingest("big;x 1\n" x 150000, name => 'r-413', from => $ts, sampleRate => 0);
    error_is($r, 413, 'invalid_argument', qr/^request body too large/, 'a 1.2 MB body');
    local $SIG{PIPE} = 'IGNORE';
    my $chunk = "big;y 1\n" x 8192;
    my ($status, $head, $b) = $t->raw("POST /ingest?name=r-413c&sampleRate=0&from=$ts HTTP/1.1\r\n"
        . "Host: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        . (sprintf("%x\r\n%s\r\n", length $chunk, $chunk) x 20) . "0\r\n\r\n");
    is($status, 413, 'a 1.3 MB chunked body: 413');
    my $j = eval { JSON::PP->new->utf8->decode($b) } || {};
    is($j->{code}, 'invalid_argument', 'chunked 413: invalid_argument');
    is_deeply(got(qq/$RAW\{service_name=~"r-413.*"}/, $ts), {}, 'oversized bodies stored nothing');
}

$t->finish;

done_testing;

#!/usr/bin/perl

# Bad pprof input (issue 3): garbage, broken and hostile gzip (a 200 MB
# bomb), malformed profiles (upstream's ValidateProfile errors), profile
# limits, and broken multipart bodies on /ingest; each gets upstream's
# status (422 for /ingest pprof failures, 200 with nothing stored where
# upstream ignores the upload), nothing bad is stored, and the server
# keeps serving: a normal push and render work at the end and the error
# log has no alert or crash.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use Time::HiRes qw(time);
use PyroTest;

$SIG{PIPE} = 'IGNORE';

my $t = PyroTest->new(http => 'lingering_timeout 1s;')->start;

my $NOW = int(time);
my $CPU = 'process_cpu:cpu:nanoseconds:cpu:nanoseconds';
my $SAMPLES = 'process_cpu:samples:count:cpu:nanoseconds';
my @W = (from => $NOW - 3600, until => $NOW + 3600);
my $BAD = { 'X-Scope-OrgID' => 'bad' };          # every rejected upload
my $EMPTY = { 'X-Scope-OrgID' => 'empty' };      # every 200 that stores nothing

sub error_is {
    my ($r, $status, $code, $msg, $what) = @_;
    is($r->{status}, $status, "$what: status $status") or diag substr($r->{content} // '', 0, 300);
    like($r->{headers}{'content-type'} // '', qr{^application/json}, "$what: JSON");
    is($r->{headers}{'x-content-type-options'}, 'nosniff', "$what: nosniff");
    is(ref $r->{json}, 'HASH', "$what: a JSON object") or return;
    is_deeply([sort keys %{ $r->{json} }], ['code', 'message'], "$what: code and message only");
    is($r->{json}{code}, $code, "$what: code $code") if defined $code;
    if (ref $msg) {
        like($r->{json}{message}, $msg, "$what: message");
    } elsif (defined $msg) {
        is($r->{json}{message}, $msg, "$what: message");
    }
}

# upstream: "parsing IngestInput-pprof failed <err>" (decoding) or
# "pushing IngestInput-pprof failed invalid_argument: <err>" (validation)
sub pprof_422 {
    my ($r, $msg, $what) = @_;
    error_is($r, 422, 'unknown', $msg // qr/^(?:parsing|pushing) IngestInput-pprof failed /, $what);
    my $m = ref $r->{json} eq 'HASH' ? $r->{json}{message} // '' : '';
    unlike($m, qr/IngestInput-pprof failed.*IngestInput-pprof failed/s, "$what: the prefix once");
    unlike($m, qr/:\s*$/, "$what: a message after the prefix");
}

sub cpu_profile {
    my (%o) = @_;
    return PyroTest::pprof_encode(
        sample_types => $o{sample_types} // [['samples', 'count'], ['cpu', 'nanoseconds']],
        period_type => ['cpu', 'nanoseconds'], period => 10_000_000,
        time_nanos => $NOW * 1_000_000_000,
        samples => $o{samples} // [{ stack => 'main;work', values => [3, 30_000_000] }],
        map { exists $o{$_} ? ($_ => $o{$_}) : () } qw(extra_strings string0 raw));
}

sub push_pprof {
    my ($body, $name, $h) = @_;
    return $t->ingest($body, name => $name, format => 'pprof', from => $NOW,
                      headers => { 'Content-Type' => 'application/octet-stream', %{ $h // $BAD } });
}

sub push_multipart {
    my ($body, $ct, $name, $h) = @_;
    return $t->ingest($body, name => $name, from => $NOW, headers => { 'Content-Type' => $ct, %{ $h // $BAD } });
}

sub ticks {
    my ($h, $query) = @_;
    return $t->render(query => $query, @W, headers => $h)->{flamebearer}{numTicks};
}

sub stacks {
    my ($h, $query) = @_;
    my ($st) = $t->stacks(query => $query, @W, headers => $h);
    return $st;
}

my $GOOD = cpu_profile();
my $GOOD_GZ = PyroTest::gzip_bytes($GOOD);

# --- garbage and broken gzip ------------------------------------------------------------

pprof_422(push_pprof("this is not a pprof at all\n", 'bad-text'), undef, 'format=pprof, a text body');
pprof_422(push_pprof("\xff" x 64, 'bad-ff'), undef, 'format=pprof, 0xff bytes');
pprof_422(push_pprof("\x0a\xff\xff\xff\xff\x0f", 'bad-len'), undef, 'format=pprof, a field longer than the body');
pprof_422(push_pprof("\x1f\x8b\x08\x00" . ("garbage" x 10), 'bad-gzhdr'), undef, 'gzip magic, then garbage');
pprof_422(push_pprof(substr($GOOD_GZ, 0, int(length($GOOD_GZ) / 2)), 'bad-gztrunc'), undef, 'truncated gzip');
pprof_422(push_pprof(substr($GOOD_GZ, 0, 10), 'bad-gzhdronly'), undef, 'a gzip header only');
{
    my $crc = $GOOD_GZ;
    substr($crc, -8, 4) = pack('V', unpack('V', substr($crc, -8, 4)) ^ 0xdeadbeef);
    pprof_422(push_pprof($crc, 'bad-gzcrc'), undef, 'gzip with a wrong CRC');
}
pprof_422(push_pprof(PyroTest::gzip_bytes("main;work 1\n"), 'bad-gztext'), undef, 'gzip of text');
pprof_422(push_pprof(substr($GOOD, 0, length($GOOD) - 3), 'bad-trunc'), undef, 'a plain pprof cut inside its last varint');

# format=pprof wins over a multipart Content-Type: the body is the pprof
{
    my $mp = PyroTest::multipart_body('XyZ', ['profile', 'profile.pprof', $GOOD_GZ, 'application/octet-stream']);
    my $r = $t->ingest($mp, name => 'bad-mp-as-pprof', format => 'pprof', from => $NOW,
                       headers => { 'Content-Type' => 'multipart/form-data; boundary=XyZ', %$BAD });
    pprof_422($r, undef, 'format=pprof with a multipart body');
}

# --- a gzip bomb: 200 MB of zeros in ~200 KB ---------------------------------------------

my $BOMB = do {
    my $z = IO::Compress::Gzip->new(\my $out, Minimal => 1) or die 'gzip';
    my $mb = "\0" x (1 << 20);
    $z->print($mb) for 1 .. 200;
    $z->close;
    $out;
};
ok(length $BOMB < 300_000, 'the bomb is ' . length($BOMB) . ' bytes');
{
    my $t0 = time;
    my $r = push_pprof($BOMB, 'bad-bomb');
    my $dt = time - $t0;
    ok($r->{status} >= 400 && $r->{status} < 500, "bomb (format=pprof): a 4xx ($r->{status})")
        or diag substr($r->{content}, 0, 300);
    error_is($r, $r->{status}, undef, undef, 'bomb (format=pprof)');
    ok($dt < 5, sprintf('bomb (format=pprof) refused in %.2f s', $dt));

    $t0 = time;
    $r = push_multipart(PyroTest::multipart_body('BoMb', ['profile', 'profile.pprof', $BOMB, 'application/octet-stream']),
                        'multipart/form-data; boundary=BoMb', 'bad-bomb-mp');
    $dt = time - $t0;
    ok($r->{status} >= 400 && $r->{status} < 500, "bomb (multipart): a 4xx ($r->{status})")
        or diag substr($r->{content}, 0, 300);
    ok($dt < 5, sprintf('bomb (multipart) refused in %.2f s', $dt));

    $t0 = time;
    $r = $t->post('/push.v1.PusherService/Push',
                  PyroTest::push_request({ labels => [['__name__', 'process_cpu'], ['service_name', 'bad-bomb-push']],
                                           profiles => [$BOMB] }),
                  { 'Content-Type' => 'application/proto', %$BAD });
    $dt = time - $t0;
    is($r->{status}, 400, 'bomb (Push raw_profile): 400') or diag substr($r->{content}, 0, 300);
    like(($r->{json} || {})->{message} // '', qr/uncompressed profile payload size exceeds limit of 4194304/,
         'bomb (Push raw_profile): upstream\'s message');
    ok($dt < 5, sprintf('bomb (Push raw_profile) refused in %.2f s', $dt));

    $t0 = time;
    $r = $t->post('/push.v1.PusherService/Push', $BOMB,
                  { 'Content-Type' => 'application/proto', 'Content-Encoding' => 'gzip', %$BAD });
    $dt = time - $t0;
    ok($r->{status} >= 400 && $r->{status} < 500, "bomb (Push Content-Encoding: gzip): a 4xx ($r->{status})")
        or diag substr($r->{content}, 0, 300);
    ok($dt < 5, sprintf('bomb (Push body) refused in %.2f s', $dt));
}

# --- malformed profiles (upstream's ValidateProfile) ------------------------------------------

{
    my $p = cpu_profile(samples => [{ stack => "main;bad\xff\xfename", values => [1, 10_000_000] }]);
    pprof_422(push_pprof($p, 'bad-utf8'),
              qr/^pushing IngestInput-pprof failed invalid_argument: .*invalid utf8 string hex: 626164fffe6e616d65/,
              'invalid UTF-8 in a function name');
    pprof_422(push_pprof(PyroTest::gzip_bytes($p), 'bad-utf8-gz'), qr/invalid utf8 string hex: 626164fffe6e616d65/,
              'invalid UTF-8 in a function name (gzip)');

    $p = cpu_profile(samples => [{ stack => 'main;ok', values => [1, 10_000_000], labels => { k => "v\xc3" } }]);
    pprof_422(push_pprof($p, 'bad-utf8-label'), qr/invalid utf8 string hex: 76c3/, 'invalid UTF-8 in a label value');

    $p = cpu_profile(extra_strings => ["\xed\xa0\x80"]);    # a UTF-16 surrogate
    pprof_422(push_pprof($p, 'bad-utf8-unused'), qr/invalid utf8 string hex: eda080/,
              'invalid UTF-8 in an unreferenced string');

    # a location without an id (id 0), used by a sample
    $p = cpu_profile(samples => [{ stack => 'main;ok', values => [1, 10_000_000] },
                                 { locs => [0], values => [1, 10_000_000] }],
                     raw => PyroTest::pb_bytes(4, PyroTest::pb_uint(2, 1)
                                                  . PyroTest::pb_bytes(4, PyroTest::pb_uint(1, 1))));
    pprof_422(push_pprof($p, 'bad-loc0'), qr/location id is 0/, 'a location with id 0');

    # a function without an id
    $p = cpu_profile(raw => PyroTest::pb_bytes(5, PyroTest::pb_uint(2, 1)));
    pprof_422(push_pprof($p, 'bad-func0'), qr/function id is 0/, 'a function with id 0');

    $p = cpu_profile(sample_types => [['inuse-space', 'bytes']], samples => [{ stack => 'main;ok', values => [5] }]);
    pprof_422(push_pprof($p, 'bad-dash'), qr/sample type contains -/, 'a sample type with a -');

    $p = cpu_profile(string0 => 'x');
    pprof_422(push_pprof($p, 'bad-string0'), qr/string 0 should be empty/, 'string 0 not empty');

    # a function name index past the string table
    $p = cpu_profile(samples => [{ stack => 'main;ok', values => [1, 10_000_000] },
                                 { locs => [99, 1], values => [1, 10_000_000] }],
                     raw => PyroTest::pb_bytes(4, PyroTest::pb_uint(1, 99) . PyroTest::pb_uint(2, 1)
                                                  . PyroTest::pb_bytes(4, PyroTest::pb_uint(1, 99)))
                          . PyroTest::pb_bytes(5, PyroTest::pb_uint(1, 99) . PyroTest::pb_uint(2, 9999)));
    pprof_422(push_pprof($p, 'bad-stridx'), undef, 'a string index out of range');

    # a sample type index past the string table
    $p = PyroTest::pb_bytes(1, PyroTest::pb_uint(1, 77) . PyroTest::pb_uint(2, 78)) . $GOOD;
    pprof_422(push_pprof($p, 'bad-typeidx'), undef, 'a sample type index out of range');

    $p = cpu_profile(samples => [{ stack => 'main;ok', values => [1] }]);
    pprof_422(push_pprof($p, 'bad-nvalues'), qr/sample value length mismatch/, 'one value for two sample types');

    $p = PyroTest::pprof_encode(time_nanos => $NOW * 1_000_000_000);
    pprof_422(push_pprof($p, 'bad-notypes'), qr/empty profile|invalid metric name/, 'no sample types');

    # a sample pointing at a location that does not exist: refused or
    # stored, but the server must survive it
    $p = cpu_profile(samples => [{ locs => [12345], values => [1, 10_000_000] }]);
    my $r = push_pprof($p, 'bad-dangling', { 'X-Scope-OrgID' => 'dangling' });
    ok($r->{status} == 200 || $r->{status} == 422, "a dangling location id: 200 or 422 ($r->{status})")
        or diag $r->{content};
}

# --- limits ----------------------------------------------------------------------------------

{
    my $p = cpu_profile(samples => [map { { stack => 'main;same', values => [1, 10_000_000] } } 1 .. 16_001]);
    pprof_422(push_pprof($p, 'bad-16001'),
              qr/exceeds the samples count limit \(max_profile_stacktrace_samples, actual: 16001, limit: 16000\)/,
              '16001 samples');
    $p = cpu_profile(samples => [map { { stack => 'main;same', values => [1, 10_000_000] } } 1 .. 16_000]);
    my $h = { 'X-Scope-OrgID' => 'limits' };
    is(push_pprof($p, 'ok-16000', $h)->{status}, 200, '16000 samples accepted');
    is_deeply(stacks($h, qq/$SAMPLES\{service_name="ok-16000"}/), { 'main;same' => 16_000 },
              '16000 samples merged into one stack');

    my %l101 = map { ("k$_" => "v$_") } 1 .. 101;
    $p = cpu_profile(samples => [{ stack => 'main;ok', values => [1, 10_000_000], labels => \%l101 }]);
    pprof_422(push_pprof($p, 'bad-labels101'), qr/exceeds the sample labels limit/, '101 labels on a sample');

    my @deep = map { "f$_" } 1 .. 1001;
    $p = cpu_profile(samples => [{ stack => join(';', @deep), values => [1, 10_000_000] }]);
    is(push_pprof($p, 'ok-deep', $h)->{status}, 200, 'a 1001-frame stack accepted');
    is_deeply(stacks($h, qq/$SAMPLES\{service_name="ok-deep"}/), { join(';', @deep[0 .. 999]) => 1 },
              'a 1001-frame stack keeps the 1000 frames on the root side');

    my $long = ('a' x 4465) . ('b' x 65535);
    $p = cpu_profile(samples => [{ stack => "main;$long", values => [1, 10_000_000] }]);
    is(push_pprof($p, 'ok-long', $h)->{status}, 200, 'a 70000-byte symbol accepted');
    is_deeply(stacks($h, qq/$SAMPLES\{service_name="ok-long"}/), { 'main;' . ('b' x 65535) => 1 },
              'a 70000-byte symbol keeps its last 65535 bytes');
}

# --- multipart ---------------------------------------------------------------------------------

my $B = 'a1b2c3d4e5f6';
my $MP = "multipart/form-data; boundary=$B";
{
    my $body = PyroTest::multipart_body($B, ['profile', 'profile.pprof', $GOOD_GZ, 'application/octet-stream']);
    pprof_422(push_multipart($body, 'multipart/form-data', 'bad-noboundary'), qr/./, 'multipart without a boundary');
    pprof_422(push_multipart($body, 'multipart/form-data; boundary=', 'bad-emptyboundary'), qr/./,
              'multipart with an empty boundary');

    my $unterminated = "--$B\r\nContent-Disposition: form-data; name=\"profile\"; filename=\"profile.pprof\"\r\n"
                     . "Content-Type: application/octet-stream\r\n\r\n$GOOD_GZ";
    pprof_422(push_multipart($unterminated, $MP, 'bad-unterminated'), qr/./, 'an unterminated part');

    my $nohead = "--$B\r\nContent-Disposition: form-data; name=\"profile\"; filename=\"p\"";
    pprof_422(push_multipart($nohead, $MP, 'bad-nohead'), qr/./, 'a part cut inside its headers');

    $body = PyroTest::multipart_body($B, ['profile', 'profile.pprof', "\xff\xfe not a pprof", 'application/octet-stream']);
    pprof_422(push_multipart($body, $MP, 'bad-mp-garbage'), undef, 'a garbage profile part');

    $body = PyroTest::multipart_body($B, ['profile', 'profile.pprof', $GOOD_GZ, 'application/octet-stream'],
                                     ['sample_type_config', 'sample_type_config.json', '{"cpu": ', undef]);
    pprof_422(push_multipart($body, $MP, 'bad-stc'), qr/./, 'a sample_type_config that is not JSON');

    $body = PyroTest::multipart_body($B, ['profile', 'profile.pprof', $GOOD_GZ, 'application/octet-stream'],
                                     ['prev_profile', 'profile.pprof', $GOOD_GZ, 'application/octet-stream']);
    my $r = push_multipart($body, $MP, 'bad-prev');
    error_is($r, 422, 'unknown', qr/unsupported client version\. Please update github\.com\/grafana\/pyroscope-go to the latest version/,
             'prev_profile');

    # uploads upstream answers 200 without storing anything
    for my $c ([[['profiles', 'profile.pprof', $GOOD_GZ, 'application/octet-stream']], 'a part named profiles'],
               [[['prof', 'profile.pprof', $GOOD_GZ, undef], ['sample_type_config', 'c.json', '{}', undef]],
                'parts prof and sample_type_config'],
               [[['profile', undef, $GOOD_GZ, undef]], 'a profile field that is not a file'],
               [[['profile', 'profile.pprof', '', 'application/octet-stream']], 'an empty profile part'],
               [[], 'no parts at all'])
    {
        my ($parts, $what) = @$c;
        $r = push_multipart(PyroTest::multipart_body($B, @$parts), $MP, 'empty-mp', $EMPTY);
        is($r->{status}, 200, "$what: 200") or diag $r->{content};
        is($r->{content}, '', "$what: empty body");
    }
    $r = push_pprof('', 'empty-raw', { %$EMPTY, 'Content-Length' => 0 });
    is($r->{status}, 200, 'format=pprof with an empty body: 200') or diag $r->{content};

    for my $name (qw(process_cpu wall memory goroutines mutex block)) {
        is(ticks($EMPTY, "$name:cpu:nanoseconds:cpu:nanoseconds{}"), 0, "nothing stored ($name cpu)");
    }
    is(ticks($EMPTY, "$SAMPLES\{}"), 0, 'nothing stored (samples)');

    # the first file part named profile wins
    $body = PyroTest::multipart_body($B, ['profile', 'profile.pprof', $GOOD_GZ, 'application/octet-stream'],
                                     ['profile', 'profile.pprof', "\xff garbage", 'application/octet-stream']);
    $r = push_multipart($body, $MP, 'ok-twice', { 'X-Scope-OrgID' => 'twice' });
    is($r->{status}, 200, 'two profile parts: the first is used') or diag $r->{content};
    is(ticks({ 'X-Scope-OrgID' => 'twice' }, qq/$CPU\{service_name="ok-twice"}/), 30_000_000, 'two profile parts: stored once');
}

# --- nothing from a rejected upload was stored; still serving ----------------------------------

is(ticks($BAD, "$CPU\{}"), 0, 'no rejected upload stored cpu');
is(ticks($BAD, "$SAMPLES\{}"), 0, 'no rejected upload stored samples');

{
    my $h = { 'X-Scope-OrgID' => 'final' };
    my $r = push_pprof($GOOD_GZ, 'final', $h);
    is($r->{status}, 200, 'a normal pprof push still works') or diag $r->{content};
    is_deeply(stacks($h, qq/$CPU\{service_name="final"}/), { 'main;work' => 30_000_000 }, 'and renders');
    $r = $t->ingest("a;b 1\n", name => 'final-text', from => $NOW, headers => $h);
    is($r->{status}, 200, 'a folded push still works');
}

$t->finish;
done_testing;

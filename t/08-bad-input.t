#!/usr/bin/perl

# Bad input: each gets its exact status and JSON shape, stores nothing it
# should not, and the server keeps serving (a normal push and render work
# at the end, and the error log has no alert or crash).

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use PyroTest;

$SIG{PIPE} = 'IGNORE';

my $RAW = 'process_cpu:samples:count::';
my $T = (int(time / 86400) - 1) * 86400 + 8 * 3600;

# nginx lingers up to lingering_timeout (5 s) on a connection whose
# client declared a body it never sent, and a graceful stop waits for it.
my $t = PyroTest->new(http => 'lingering_timeout 1s;')->start;

sub error_is {
    my ($r, $status, $code, $msg, $what) = @_;
    is($r->{status}, $status, "$what: status $status") or diag substr($r->{content} // '', 0, 300);
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

sub push_raw {
    my ($body, %p) = @_;
    return $t->ingest($body, sampleRate => 0, from => $T, %p);
}

sub stored {
    my ($sel) = @_;
    my ($st) = $t->stacks(query => "$RAW$sel", from => $T - 60, until => $T + 60);
    return $st;
}

# Like PyroTest::raw, but stops reading once the response is complete
# (nginx may linger before closing after an early 413).
sub raw_until_body {
    my ($text) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port, Timeout => 30)
        or die "connect: $!";
    print $s $text;
    shutdown($s, 1);
    my $resp = '';
    my $deadline = time + 30;
    while (time < $deadline) {
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $resp .= $buf;
        if ($resp =~ /\r\n\r\n/) {
            my ($h, $b) = split /\r\n\r\n/, $resp, 2;
            my ($len) = $h =~ /^Content-Length:\s*(\d+)/mi;
            last if defined $len && length($b) >= $len;
        }
    }
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.[01] (\d+)};
    return ($status // 0, $head // '', $body // '');
}

# raw() with the response parsed as the harness does for HTTP::Tiny
sub raw_json {
    my ($text) = @_;
    my ($status, $head, $body) = raw_until_body($text);
    my ($ct) = $head =~ /^Content-Type:\s*([^\r\n]*)/mi;
    my ($ns) = $head =~ /^X-Content-Type-Options:\s*([^\r\n]*)/mi;
    my $json = eval { JSON::PP->new->utf8->decode($body) };
    return { status => $status, content => $body, json => $json,
             headers => { 'content-type' => $ct, 'x-content-type-options' => $ns } };
}

# --- malformed counts -------------------------------------------------------------

for my $c (['x', 'a word'], ['1e3', 'an exponent'], ['0x10', 'hex'], ['1.0', 'a decimal'],
           ['12abc', 'trailing letters'], ['--1', 'two signs'], ['', 'nothing'],
           ['99999999999999999999', 'an overflow'], ["\x{ff}", 'a binary byte'])
{
    my ($count, $what) = @$c;
    my $app = 'bad-count-' . ($what =~ s/\W+/-/gr);
    my $r = push_raw("ok;first 1\nbad;stack $count\nok;last 1\n", name => $app);
    error_is($r, 422, 'unknown', qr/./, "count '$what'");
    is_deeply(stored(qq/{service_name="$app"}/), {}, "count '$what': nothing stored");
}
{
    my $r = push_raw("a;b 1 2\n", name => 'two-numbers');
    is($r->{status}, 200, '"a;b 1 2": the count is after the last space');
    is_deeply(stored('{service_name="two-numbers"}'), { 'a;b 1' => 2 }, '"a;b 1 2" is stack "a;b 1"');
}

# --- bad names -------------------------------------------------------------------

for my $c (['', 'name: service name is required'],
           ['a b', "name: invalid service name: a b: character is not allowed: ' '"],
           ["a\tb", qr/^name: invalid service name: /],
           ["a\0b", qr/^name: invalid service name: /],
           ['a}b', qr/^name: invalid service name: /],
           ['a"b', qr/^name: invalid service name: /],
           ['%zz', qr/^name: /],      # Go drops a pair with a bad escape
           ["\xff\xfe", qr/^name: invalid service name: /])
{
    my ($name, $msg) = @$c;
    (my $show = $name) =~ s/([^ -~])/sprintf('\\x%02x', ord $1)/ge;
    my $r = $name eq '%zz' ? $t->post("/ingest?name=%zz&from=$T", "a 1\n")
                           : push_raw("a 1\n", name => $name);
    error_is($r, 400, 'invalid_argument', $msg, "name '$show'");
}
{
    my $r = push_raw("a 1\n", name => 'x' x 2000);
    is($r->{status}, 200, 'a 2000-byte app name is accepted');
    $r = push_raw("a 1\n", name => 'y' x 3000);
    error_is($r, 400, 'invalid_argument', qr/./, 'a 3000-byte app name (label value limit 2048)');
    $r = push_raw("a 1\n", name => 'lbl{k=' . ('v' x 3000) . '}');
    error_is($r, 400, 'invalid_argument', qr/./, 'a 3000-byte label value');
    # the name is read rune by rune as Go does: a bad byte becomes U+FFFD
    $r = push_raw("u 3\n", name => "utf{k=\xff}");
    is($r->{status}, 200, 'a label value that is not UTF-8 is read as U+FFFD');
    is_deeply(stored(qq/{service_name="utf",k="\xef\xbf\xbd"}/), { u => 3 },
              'the label value is U+FFFD');
    $r = push_raw("a 1\n", name => 'many{' . join(',', map { "k$_=v" } 1 .. 40) . '}');
    error_is($r, 400, 'invalid_argument', qr/./, '40 labels (limit 30)');
    $r = push_raw("a 1\n", name => 'some{' . join(',', map { "k$_=v" } 1 .. 10) . '}');
    is($r->{status}, 200, '10 labels are fine');
    is_deeply(stored('{service_name=~"y+|lbl|many"}'), {}, 'the refused names stored nothing');
}

# --- invalid tenants ----------------------------------------------------------------

for my $id ('..', 'a/b', 'x' x 151, 'a b') {
    (my $show = substr($id, 0, 10)) =~ s/([^ -~])/sprintf('\\x%02x', ord $1)/ge;
    my $r = push_raw("a 1\n", name => 'tenant-bad', headers => { 'X-Scope-OrgID' => $id });
    error_is($r, 400, 'invalid_argument', qr/^tenant ID /, "tenant '$show'");
}
is_deeply([grep { m{^[^/]+/$} } PyroTest::tree($t->data)], ['anonymous/'],
          'only the anonymous tenant in the data dir');

# --- empty bodies ---------------------------------------------------------------------

{
    my $r = push_raw('', name => 'empty-cl');
    is($r->{status}, 200, 'Content-Length: 0: 200');
    $r = raw_json("POST /ingest?name=empty-none&sampleRate=0&from=$T HTTP/1.1\r\nHost: x\r\n"
                  . "Connection: close\r\n\r\n");
    is($r->{status}, 200, 'POST without a body: 200');
    $r = raw_json("POST /ingest?name=empty-chunked&sampleRate=0&from=$T HTTP/1.1\r\nHost: x\r\n"
                  . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n");
    is($r->{status}, 200, 'an empty chunked body: 200');
    $r = push_raw("\n\n\n", name => 'empty-lines', format => 'lines');
    is($r->{status}, 200, 'only newlines: 200');
    is_deeply(stored('{service_name=~"empty-.*"}'), {}, 'empty bodies stored nothing');
}

# --- body size --------------------------------------------------------------------------

{
    # exactly client_max_body_size (1m): accepted
    my $body = ("k;v 1\n" x 174762) . "k 1\n";
    is(length $body, 1048576, 'a body of exactly 1 MiB');
    my $r = push_raw($body, name => 'size-limit');
    is($r->{status}, 200, 'exactly 1 MiB: 200') or diag $r->{content};
    is_deeply(stored('{service_name="size-limit"}'), { 'k;v' => 174762, 'k' => 1 }, 'exactly 1 MiB: stored');

    $r = push_raw($body . "\n", name => 'size-over');
    error_is($r, 413, 'invalid_argument', qr/^request body too large/, '1 MiB + 1 byte');

    $r = push_raw("a 1\n" x 300000, name => 'size-over2');
    error_is($r, 413, 'invalid_argument', qr/^request body too large/, 'a 1.2 MB body');

    $r = raw_json("POST /ingest?name=size-declared&sampleRate=0&from=$T HTTP/1.1\r\nHost: x\r\n"
                  . "Content-Length: 5000000\r\nConnection: close\r\n\r\n");
    error_is($r, 413, 'invalid_argument', qr/^request body too large/,
             'Content-Length: 5000000 declared, nothing sent');

    my $chunk = "c;d 1\n" x 10000;            # 60000 bytes
    my $text = "POST /ingest?name=size-chunked&sampleRate=0&from=$T HTTP/1.1\r\nHost: x\r\n"
               . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
               . (sprintf("%x\r\n%s\r\n", length $chunk, $chunk) x 20) . "0\r\n\r\n";
    $r = raw_json($text);
    error_is($r, 413, 'invalid_argument', qr/^request body too large/, 'a 1.2 MB chunked body');

    $text = "POST /ingest?name=size-chunked-ok&sampleRate=0&from=$T HTTP/1.1\r\nHost: x\r\n"
            . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            . (sprintf("%x\r\n%s\r\n", length $chunk, $chunk) x 5) . "0\r\n\r\n";
    $r = raw_json($text);
    is($r->{status}, 200, 'a 300 KB chunked body: 200');
    is_deeply(stored('{service_name=~"size-(over.*|declared|chunked.*)"}'), { 'c;d' => 50000 },
              'only the chunked body under the limit is stored');
}

# --- methods ---------------------------------------------------------------------------

for my $m (qw(GET PUT DELETE PATCH OPTIONS)) {
    my $r = $t->request($m, "/ingest?name=meth&sampleRate=0&from=$T", $m eq 'GET' ? undef : "m;x 1\n");
    error_is($r, 405, 'unknown', qr/./, "$m /ingest");
}
{
    my $r = $t->request('HEAD', "/ingest?name=meth");
    is($r->{status}, 405, 'HEAD /ingest: 405');
    for my $m (qw(POST PUT DELETE)) {
        $r = $t->request($m, '/pyroscope/render?query=' . PyroTest::uri_escape("$RAW\{}"), "x");
        error_is($r, 405, 'unknown', qr/./, "$m /pyroscope/render");
    }
    is_deeply(stored('{service_name="meth"}'), {}, 'wrong methods stored nothing');
}

# --- binary garbage ---------------------------------------------------------------------

{
    # bytes 0..255 without the space: every line is skipped
    my $seed = 12345;
    my $garbage = '';
    while (length $garbage < 8192) {
        $seed = ($seed * 1103515245 + 12345) % 2147483648;
        my $c = ($seed >> 16) & 0xff;
        $garbage .= chr $c unless $c == 0x20;
    }
    my $r = push_raw($garbage, name => 'garbage-nospace');
    is($r->{status}, 200, 'binary garbage without a space: 200 (every line skipped)');
    is_deeply(stored('{service_name="garbage-nospace"}'), {}, 'and nothing stored');

    $r = push_raw("\x89PNG\r\n\x1a\n\0\0\0\rIHDR \xff\xfe\0 \x01\x02\0\0", name => 'garbage-png');
    error_is($r, 422, 'unknown', qr/./, 'a PNG header');
    $r = push_raw("\x1f\x8b\x08\0\0\0\0\0\0\x03 \xcb\x48\xcd", name => 'garbage-gzip');
    error_is($r, 422, 'unknown', qr/./, 'gzip bytes (not decompressed)');
    $r = push_raw("\0\0\0\0 \0\0\0\0", name => 'garbage-nul');
    error_is($r, 422, 'unknown', qr/./, 'NUL bytes as a count');
    is_deeply(stored('{service_name=~"garbage-.*"}'), {}, 'garbage stored nothing');
}

# --- long lines -------------------------------------------------------------------------

{
    my $name = 'x' x 200000;
    my $r = push_raw("$name;leaf 5\nshort 1\n", name => 'long-frame');
    is($r->{status}, 200, 'a 200 KB frame name: 200');
    is_deeply(stored('{service_name="long-frame"}'), { "$name;leaf" => 5, 'short' => 1 },
              'a 200 KB frame name: stored whole');

    my @frames = map { sprintf 'f%05d', $_ } 0 .. 28599;
    my $stack = join ';', @frames;
    ok(length($stack) > 200000, 'a 200 KB line of ' . scalar(@frames) . ' frames');
    $r = push_raw("$stack 7\n", name => 'long-stack');
    is($r->{status}, 200, 'a 28600-frame stack: 200');
    my ($st, $j) = $t->stacks(query => "$RAW\{service_name=\"long-stack\"}",
                              from => $T - 60, until => $T + 60);
    is_deeply($st, { $stack => 7 }, 'a 28600-frame stack: stored whole');
    is(scalar @{ $j->{flamebearer}{levels} }, @frames + 1, 'one level per frame');

    $r = push_raw(('z' x 200000) . "\n", name => 'long-nospace');
    is($r->{status}, 200, 'a 200 KB line without a space: 200');
    is_deeply(stored('{service_name="long-nospace"}'), {}, 'and skipped');

    $r = push_raw("$name\n$name\n", name => 'long-lines', format => 'lines');
    is($r->{status}, 200, 'format=lines with 200 KB lines: 200');
    is_deeply(stored('{service_name="long-lines"}'), { $name => 2 }, 'format=lines: counted');
}

# --- NUL bytes and invalid UTF-8 in frame names -----------------------------------------

{
    my $r = push_raw("a\0b;c 5\n\0;\0 2\n", name => 'nul-frames');
    is($r->{status}, 200, 'NUL bytes in frame names: 200');
    my $q = $t->get('/pyroscope/render?query=' . PyroTest::uri_escape("$RAW\{service_name=\"nul-frames\"}")
                    . '&from=' . ($T - 60) . '&until=' . ($T + 60));
    is($q->{status}, 200, 'render: 200');
    like($q->{content}, qr/"a\\u0000b"/, 'a NUL is \u0000 in the JSON');
    is_deeply(PyroTest::flame_stacks($q->{json}{flamebearer}), { "a\0b;c" => 5, "\0;\0" => 2 },
              'NUL bytes kept in the names');

    $r = push_raw("main;bad\xffname 3\nmain;\xc3\x28x 2\nmain;ok\xc3\xa9 1\n", name => 'bad-utf8');
    is($r->{status}, 200, 'invalid UTF-8 in frame names: 200 (stored as is)');
    $q = $t->get('/pyroscope/render?query=' . PyroTest::uri_escape("$RAW\{service_name=\"bad-utf8\"}")
                 . '&from=' . ($T - 60) . '&until=' . ($T + 60));
    is($q->{status}, 200, 'render: 200');
    my $copy = $q->{content};
    ok(utf8::decode($copy), 'the response is valid UTF-8');
    ok($q->{json}, 'the response is valid JSON') or diag substr($q->{content}, 0, 300);
    is_deeply(PyroTest::flame_stacks($q->{json}{flamebearer}),
              { "main;bad\x{fffd}name" => 3, "main;\x{fffd}(x" => 2, "main;ok\x{e9}" => 1 },
              'invalid bytes are U+FFFD in the JSON, valid UTF-8 is kept');

    $r = push_raw("main;<script>&\"\\ 4\n", name => 'json-escape');
    is($r->{status}, 200, 'JSON-special characters in a frame name: 200');
    is_deeply(stored('{service_name="json-escape"}'), { "main;<script>&\"\\" => 4 },
              'JSON-special characters round-trip');
}

# --- broken requests ---------------------------------------------------------------------

{
    my ($status) = $t->raw("GARBAGE\r\n\r\n");
    is($status, 400, 'a garbage request line: 400');

    # a client that goes away in the middle of its body
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port) or die;
    print $s "POST /ingest?name=gone&sampleRate=0&from=$T HTTP/1.1\r\nHost: x\r\n"
             . "Content-Length: 1000\r\n\r\ngone;a 1\n";
    close $s;

    # and one that stops sending a chunked body half-way
    ($status) = $t->raw("POST /ingest?name=gone2&sampleRate=0&from=$T HTTP/1.1\r\nHost: x\r\n"
                        . "Transfer-Encoding: chunked\r\n\r\n10\r\ngone;b 1\n");
    ok($status == 400 || $status == 0, "a truncated chunked body: 400 or closed ($status)");

    my ($bad) = $t->raw("POST /ingest?name=gone3&sampleRate=0&from=$T HTTP/1.1\r\nHost: x\r\n"
                        . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nxx\r\n0\r\n\r\n");
    is($bad, 400, 'a bad chunk size: 400');
    Time::HiRes::sleep(0.2);
    is_deeply(stored('{service_name=~"gone.*"}'), {}, 'broken requests stored nothing');
}

# --- still serving --------------------------------------------------------------------------

{
    my $r = push_raw("still;alive 42\n", name => 'alive');
    is($r->{status}, 200, 'a normal push after all that');
    is_deeply(stored('{service_name="alive"}'), { 'still;alive' => 42 }, 'and its render');
}

$t->finish;

done_testing;

#!/usr/bin/perl

# Tenants: X-Scope-OrgID isolation, "anonymous" without it, the
# ":<metadata>" suffix, invalid IDs (400, and never a path outside the
# data dir), and pyroscope_tenant_required.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use PyroTest;

my $RAW = 'process_cpu:samples:count::';
my $T = (int(time / 86400) - 1) * 86400 + 4 * 3600;

my $t = PyroTest->new->start;

sub hdr { defined $_[0] ? { 'X-Scope-OrgID' => $_[0] } : undef }

sub push_to {
    my ($tt, $tenant, $body, $app) = @_;
    return $tt->ingest($body, name => $app // 'iso', sampleRate => 0, from => $T,
                       headers => hdr($tenant));
}

sub view {
    my ($tt, $tenant, $sel) = @_;
    my ($st) = $tt->stacks(query => $RAW . ($sel // '{service_name="iso"}'),
                           from => $T - 60, until => $T + 60, headers => hdr($tenant));
    return $st;
}

# --- isolation ----------------------------------------------------------------

is(push_to($t, 'team-a', "s;a 3\n")->{status}, 200, 'push to team-a');
is(push_to($t, 'team-b', "s;b 5\n")->{status}, 200, 'push to team-b');
is(push_to($t, undef, "s;anon 7\n")->{status}, 200, 'push without a tenant');
is(push_to($t, '', "s;empty 1\n")->{status}, 200, 'push with an empty X-Scope-OrgID');

is_deeply(view($t, 'team-a'), { 's;a' => 3 }, 'team-a sees only its data');
is_deeply(view($t, 'team-b'), { 's;b' => 5 }, 'team-b sees only its data');
is_deeply(view($t, undef), { 's;anon' => 7, 's;empty' => 1 },
          'no header: the anonymous tenant (empty header too)');
is_deeply(view($t, 'anonymous'), { 's;anon' => 7, 's;empty' => 1 }, '"anonymous" is that tenant');
is_deeply(view($t, 'team-c'), {}, 'another tenant sees nothing');
is_deeply(view($t, 'Team-A'), {}, 'tenant IDs are case-sensitive');

# --- the ":<metadata>" suffix is dropped ----------------------------------------

is(push_to($t, 'team-a:k=v', "s;meta 2\n")->{status}, 200, 'push to team-a:k=v');
is_deeply(view($t, 'team-a'), { 's;a' => 3, 's;meta' => 2 }, 'it went to team-a');
is_deeply(view($t, 'team-a:other=1'), { 's;a' => 3, 's;meta' => 2 },
          'a query with a suffix reads team-a too');

# --- federated reads: "a|b" reads both tenants (writes need one) -------------

is_deeply(view($t, 'team-a|team-b'), { 's;a' => 3, 's;meta' => 2, 's;b' => 5 },
          'a query for team-a|team-b sees both');
is_deeply(view($t, 'team-b:x=1|team-a'), { 's;a' => 3, 's;meta' => 2, 's;b' => 5 },
          'team-b:x=1|team-a: suffixes dropped, any order');
is_deeply(view($t, 'team-a|team-a'), { 's;a' => 3, 's;meta' => 2 },
          'team-a|team-a is team-a once (no double count)');
is_deeply(view($t, 'team-b|team-c'), { 's;b' => 5 }, 'a tenant without data adds nothing');
{
    my $r = $t->get('/pyroscope/render?query=' . PyroTest::uri_escape($RAW . '{}')
                    . "&from=" . ($T - 60) . "&until=" . ($T + 60), hdr('team-a|../x'));
    is($r->{status}, 400, 'team-a|../x: 400 (every part is validated)');
}

# --- unusual valid IDs ----------------------------------------------------------

my $long = 't' x 150;
my @valid = ("a!b-c_d.e*f'g(h)", '...', $long, 'x.y');
for my $id (@valid) {
    my $r = push_to($t, $id, "s;v 4\n");
    is($r->{status}, 200, "valid tenant '" . substr($id, 0, 20) . "' accepted") or diag $r->{content};
    is_deeply(view($t, $id), { 's;v' => 4 }, "valid tenant '" . substr($id, 0, 20) . "' reads it back");
}

my $dup_ok;
{
    my $r = push_to($t, 'dup|dup', "s;dup 6\n");
    $dup_ok = $r->{status} == 200;
    is($r->{status}, 200, 'dup|dup: the same ID twice is one tenant') or diag $r->{content};
    is_deeply(view($t, 'dup'), { 's;dup' => 6 }, 'dup|dup went to dup');
}

# --- invalid IDs ------------------------------------------------------------------

my @invalid = (
    ['a/b',            qr/^tenant ID 'a\/b' contains unsupported character '\/'$/],
    ['../evil',        qr/unsupported character '\/'/],
    ['../../../tmp/evil', qr/unsupported character '\/'/],
    ['/etc',           qr/unsupported character '\/'/],
    ['.',              qr/^tenant ID is '\.' or '\.\.'$/],
    ['..',             qr/^tenant ID is '\.' or '\.\.'$/],
    ['..:meta',        qr/^tenant ID is '\.' or '\.\.'$/],
    ['t' x 151,        qr/^tenant ID is too long: max 150 characters$/],
    ['a b',            qr/unsupported character ' '/],
    ['a\\b',           qr/unsupported character/],
    ['a%2fb',          qr/unsupported character '%'/],
    ['a;b',            qr/unsupported character ';'/],
    ['a|b',            qr/multiple org IDs present|./],
);

for my $c (@invalid) {
    my ($id, $msg) = @$c;
    my $show = substr($id, 0, 24);
    my $r = push_to($t, $id, "s;bad 9\n", 'evil');
    is($r->{status}, 400, "ingest with tenant '$show': 400") or diag $r->{content};
    is(ref $r->{json} && $r->{json}{code}, 'invalid_argument', "'$show': invalid_argument");
    like(ref $r->{json} ? $r->{json}{message} : '', $msg, "'$show': message");

    next if $id eq 'a|b';
    $r = $t->get('/pyroscope/render?query=' . PyroTest::uri_escape($RAW . '{}')
                 . "&from=" . ($T - 60) . "&until=" . ($T + 60), hdr($id));
    is($r->{status}, 400, "render with tenant '$show': 400") or diag $r->{content};
    is(ref $r->{json} && $r->{json}{code}, 'invalid_argument', "render '$show': invalid_argument");
}

# Non-ASCII bytes in the header (HTTP::Tiny refuses to send them).
for my $id ("caf\xc3\xa9", "\xff") {
    (my $show = $id) =~ s/([^ -~])/sprintf('\\x%02x', ord $1)/ge;
    for my $req ("POST /ingest?name=evil&sampleRate=0&from=$T HTTP/1.1\r\nHost: x\r\n"
                 . "X-Scope-OrgID: $id\r\nContent-Length: 8\r\nConnection: close\r\n\r\ns;bad 9\n",
                 "GET /pyroscope/render?query=" . PyroTest::uri_escape($RAW . '{}')
                 . " HTTP/1.1\r\nHost: x\r\nX-Scope-OrgID: $id\r\nConnection: close\r\n\r\n")
    {
        my ($status, $head, $body) = $t->raw($req);
        my ($what) = $req =~ /^(\w+ \S+?)\?/;
        is($status, 400, "$what with tenant '$show': 400") or diag $body;
        my $j = eval { JSON::PP->new->utf8->decode($body) } || {};
        is($j->{code}, 'invalid_argument', "$what with tenant '$show': invalid_argument");
        like($j->{message} // '', qr/^tenant ID .* contains unsupported character/,
             "$what with tenant '$show': message");
    }
}

{
    my $r = push_to($t, 'a|b', "s;bad 9\n", 'evil');
    is($r->{json}{message}, 'multiple org IDs present', 'a|b on ingest: multiple org IDs present');
}

# Nothing but the valid tenants' directories, holding only segment files.
{
    my %want = map { ("$_/" => 1) } ('team-a', 'team-b', 'anonymous', @valid, $dup_ok ? 'dup' : ());
    my @tree = PyroTest::tree($t->data);
    my @dirs = grep { m{^[^/]+/$} } @tree;
    is_deeply([sort @dirs], [sort keys %want], 'the data dir holds exactly the valid tenants');
    my @other = grep { !m{^[^/]+/$} && !m{^[^/]+/\d+-\d+-\d+\.(open|seg)$} } @tree;
    is_deeply(\@other, [], 'and only segment files inside them');

    my @top = grep { !m{/.} } PyroTest::tree($t->dir);
    my @unexpected = grep { !/^(data|body|proxy|fastcgi|uwsgi|scgi)\/$|^(nginx\.conf|nginx\.pid|error\.log|stderr\.log)$/ } @top;
    is_deeply(\@unexpected, [], 'nothing else in the test prefix');
    ok(!-e $t->dir . '/evil' && !-e $t->dir . '/../evil' && !-e '/tmp/evil' && !-e '/etc/evil',
       'no "evil" anywhere outside the data dir');
    my @found = grep { /evil/ } PyroTest::tree($t->dir);
    is_deeply(\@found, [], 'no "evil" inside the prefix either');
}

# --- pyroscope_tenant_required ----------------------------------------------------

my $r2 = PyroTest->new(
    http => 'pyroscope_tenant_required on;',
    server => 'location = /open/ingest { pyroscope_tenant_required off; pyroscope_ingest; }',
)->start;

for my $h (undef, '') {
    my $what = defined $h ? 'an empty header' : 'no header';
    my $r = push_to($r2, $h, "s;req 1\n");
    is($r->{status}, 401, "required, $what: ingest 401");
    is($r->{content}, qq/{"code":"unauthenticated","message":"no org id"}\n/,
       "required, $what: ingest body");
    $r = $r2->get('/pyroscope/render?query=' . PyroTest::uri_escape($RAW . '{}'), hdr($h));
    is($r->{status}, 401, "required, $what: render 401");
    is_deeply($r->{json}, { code => 'unauthenticated', message => 'no org id' },
              "required, $what: render body");
}
is(push_to($r2, 'team-r', "s;req 2\n")->{status}, 200, 'required, with a header: 200');
is_deeply(view($r2, 'team-r'), { 's;req' => 2 }, 'required, with a header: readable');
{
    my $r = $r2->post("/open/ingest?name=iso&sampleRate=0&from=$T", "s;open 3\n");
    is($r->{status}, 200, 'a location with pyroscope_tenant_required off: 200');
    is_deeply(view($r2, 'anonymous'), { 's;open' => 3 }, 'it went to anonymous');
}
is_deeply([sort grep { m{^[^/]+/$} } PyroTest::tree($r2->data)], ['anonymous/', 'team-r/'],
          'required: no directory for the refused pushes');

$r2->finish;
$t->finish;

done_testing;

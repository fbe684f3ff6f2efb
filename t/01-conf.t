#!/usr/bin/perl

# Configuration: the canonical conf.example passes `nginx -t` and serves;
# bad configurations are rejected with a message naming what is wrong.

use strict;
use warnings;

use Test::More;
use PyroTest;

my $t = PyroTest->new;
my $dir = $t->dir;
my $port = $t->port;

# conf.example, rewritten as the Makefile's `make run` does: this
# checkout's module, a temp data dir and port, temp paths in the prefix.
my $example = (__FILE__ =~ s{t/01-conf\.t$}{}r) . 'conf.example';
$example = '../conf.example' unless -f $example;
open my $fh, '<', $example or die "$example: $!";
my $canon = do { local $/; <$fh> };
close $fh;

like($canon, qr/^load_module /m, 'conf.example loads the module');
like($canon, qr/pyroscope_storage [^;]+;/, 'conf.example sets pyroscope_storage');

my $user = $> == 0 ? 'user nobody nogroup;' : '';
my $conf = $canon;
$conf =~ s{^load_module [^;]*;}{load_module $PyroTest::MODULE;\n$user\npid $dir/nginx.pid;\nerror_log $dir/error.log info;}m;
$conf =~ s{listen 127\.0\.0\.1:4040;}{listen 127.0.0.1:$port;};
$conf =~ s{pyroscope_storage [^;]*;}{pyroscope_storage $dir/data;};
my $temps = "    access_log $dir/access.log;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;";
$conf =~ s/^http \{/http {\n$temps/m;

like($conf, qr/listen 127\.0\.0\.1:$port;/, 'listen rewritten');
like($conf, qr/pyroscope_storage \Q$dir\E\/data;/, 'storage rewritten');

my ($rc, $out) = $t->nginx_t($conf);
is($rc, 0, 'nginx -t accepts conf.example') or diag $out;
like($out, qr/syntax is ok/, 'nginx -t: syntax is ok');
like($out, qr/test is successful/, 'nginx -t: test is successful');

# Bad configurations, each derived from the harness config.
my $base = $t->conf;
$base =~ s{error_log \S+ info;}{error_log $dir/bad-error.log info;};

sub line_of {
    my ($text, $re) = @_;
    my @l = split /\n/, $text;
    for my $i (0 .. $#l) {
        return $i + 1 if $l[$i] =~ $re;
    }
    return 0;
}

sub rejects {
    my ($name, $text, @want) = @_;
    my ($rc, $out) = $t->nginx_t($text);
    isnt($rc, 0, "$name: nginx -t fails");
    like($out, qr/\[emerg\]/, "$name: an emerg message");
    like($out, qr/test failed/, "$name: test failed");
    like($out, $_, "$name: message matches $_") for @want;
    return $out;
}

{
    my $c = $base;
    $c =~ s{(pyroscope_storage [^;]+;)}{$1\n    pyroscope_storage $dir/data2;};
    my $line = line_of($c, qr{pyroscope_storage \Q$dir\E/data2;});
    rejects('duplicate pyroscope_storage', $c,
            qr/"pyroscope_storage" directive is duplicate/,
            qr/test\.conf:$line\b/);
}

{
    my $c = $base;
    $c =~ s{pyroscope_storage [^;]+;\n}{};
    unlike($c, qr/pyroscope_storage /, 'storage removed from the config');
    rejects('pyroscope_ingest without pyroscope_storage', $c,
            qr/"pyroscope_ingest"/, qr/require "pyroscope_storage"/);
}

{
    my $c = $base;
    $c =~ s{location = /ingest .*\n}{}; $c =~ s{location = /pyroscope/ingest .*\n}{};
    $c =~ s{pyroscope_storage [^;]+;\n}{};
    rejects('pyroscope_render without pyroscope_storage', $c,
            qr/"pyroscope_render"/, qr/require "pyroscope_storage"/);
}

for my $param ('foo=bar', 'seal_size=0', 'seal_size=lots', 'seal_age=never',
               'seal_age=0', 'seal_size')
{
    my $c = $base;
    $c =~ s{(pyroscope_storage [^;]+);}{$1 $param;};
    my $line = line_of($c, qr/pyroscope_storage .* \Q$param\E;/);
    ok($line, "bad parameter $param is in the config");
    rejects("pyroscope_storage $param", $c,
            qr/invalid parameter "\Q$param\E"/, qr/test\.conf:$line\b/);
}

{
    my $c = $base;
    $c =~ s{(pyroscope_storage [^;]+);}{$1 seal_size=1m seal_age=2s;};
    my ($rc, $out) = $t->nginx_t($c);
    is($rc, 0, 'pyroscope_storage seal_size=1m seal_age=2s is accepted') or diag $out;
}

{
    my $c = $base;
    $c =~ s{(pyroscope_tenant \S+;)}{$1\n    pyroscope_tenant_required maybe;};
    rejects('pyroscope_tenant_required maybe', $c,
            qr/invalid value "maybe" in "pyroscope_tenant_required" directive/);
}

{
    my $c = $base;
    $c =~ s{(pyroscope_tenant \S+;)}{$1\n    pyroscope_tenant_required on;};
    my ($rc, $out) = $t->nginx_t($c);
    is($rc, 0, 'pyroscope_tenant_required on is accepted') or diag $out;
}

{
    my $c = $base;
    $c =~ s{pyroscope_thread_pool \S+;}{pyroscope_thread_pool nosuchpool;};
    rejects('unknown thread pool', $c, qr/unknown thread pool "nosuchpool"/);
}

{
    my $c = $base;
    $c =~ s{(add_header X-Worker)}{pyroscope_storage $dir/data3;\n        $1};
    rejects('pyroscope_storage in a server block', $c,
            qr/"pyroscope_storage" directive is not allowed here/);
}

{
    my $c = $base;
    $c =~ s{\{ pyroscope_ingest; \}}{{ pyroscope_ingest now; }};
    rejects('pyroscope_ingest with an argument', $c,
            qr/invalid number of arguments in "pyroscope_ingest" directive/);
}

{
    my $c = $base;
    $c =~ s{\{ pyroscope_render; \}}{{ pyroscope_render; pyroscope_render; }};
    rejects('pyroscope_render twice in a location', $c,
            qr/"pyroscope_render" directive is duplicate/);
}

# The canonical config really serves: push, then read it back.
$t->{conf_text} = $conf;
$t->start;

my $T = (int(time / 86400) - 1) * 86400 + 3600;
my $r = $t->ingest("main;work 3\nmain 1\n", name => 'canon{env=dev}',
                   sampleRate => 0, from => $T);
is($r->{status}, 200, 'conf.example: push accepted') or diag $r->{content};

my ($st, $j) = $t->stacks(query => 'process_cpu:samples:count::{service_name="canon",env="dev"}',
                          from => $T - 60, until => $T + 60);
is_deeply($st, { 'main;work' => 3, 'main' => 1 }, 'conf.example: stacks rendered');
is($j->{flamebearer}{numTicks}, 4, 'conf.example: numTicks');

ok(-d "$dir/data/anonymous", 'the storage dir holds the anonymous tenant');

$t->finish;

done_testing;

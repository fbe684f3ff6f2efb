package PyroTest;

# A small harness for ngx_pyroscope integration tests, on core Perl only.
# It starts the real nginx (/usr/sbin/nginx or $NGINX) with the built
# module ($PYRO_MODULE) and a per-test config in a temporary prefix, on a
# free loopback port, with 2 workers, and talks HTTP to it.
#
#   my $t = PyroTest->new(server => '...extra server directives...');
#   $t->start;
#   my $res = $t->post('/ingest?name=app', "a;b 1\n");
#   is($res->{status}, 200);
#   $t->stop;             # also checks the error log for crashes/alerts

use strict;
use warnings;

use Carp qw(croak);
use File::Spec;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

our $NGINX  = $ENV{NGINX} || '/usr/sbin/nginx';
# absolute: load_module resolves a relative path against nginx's prefix
our $MODULE = File::Spec->rel2abs($ENV{PYRO_MODULE}
    || (__FILE__ =~ s{t/lib/PyroTest\.pm$}{}r) . 'build/nginx/ngx_http_pyroscope_module.so');

sub new {
    my ($class, %opt) = @_;
    my $self = bless {
        workers => 2,
        http    => '',
        server  => '',
        main    => '',
        locations => undef,
        listen  => '',
        conf_text => undef,
        %opt,
    }, $class;

    croak "no module at $MODULE (run make build)" unless -f $MODULE;

    $self->{dir} = tempdir('pyrotest-XXXXXX', TMPDIR => 1,
                           CLEANUP => !$ENV{PYRO_TEST_KEEP});
    # workers run as nobody when the tests run as root
    chmod 0755, $self->{dir};
    $self->{data} = $opt{data} || "$self->{dir}/data";
    $self->{port} = $opt{port} || free_port();
    $self->{http_client} = HTTP::Tiny->new(timeout => 30, keep_alive => 0);
    return $self;
}

sub dir  { $_[0]{dir} }
sub port { $_[0]{port} }
sub data { $_[0]{data} }
sub url  { "http://127.0.0.1:$_[0]{port}$_[1]" }

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, Proto => 'tcp', ReuseAddr => 1)
        or die "socket: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub default_locations {
    return <<'EOF';
        location = /ingest            { pyroscope_ingest; }
        location = /pyroscope/ingest  { pyroscope_ingest; }
        location = /pyroscope/render  { pyroscope_render; }
        location = /render            { pyroscope_render; }
EOF
}

sub conf {
    my ($self) = @_;
    my $d = $self->{dir};
    my $user = $> == 0 ? "user nobody nogroup;" : "";
    my $locations = $self->{locations} // default_locations();
    return <<"EOF";
load_module $MODULE;
$user
worker_processes $self->{workers};
pid $d/nginx.pid;
error_log $d/error.log info;
thread_pool pyroscope threads=4;
$self->{main}

events {
    worker_connections 1024;
}

http {
    access_log off;
    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;

    pyroscope_storage $self->{data};
    pyroscope_thread_pool pyroscope;
    pyroscope_tenant \$http_x_scope_orgid;
    client_max_body_size 1m;

$self->{http}

    server {
        listen 127.0.0.1:$self->{port} $self->{listen};
        add_header X-Worker \$pid always;
$locations
$self->{server}
    }
}
EOF
}

sub write_conf {
    my ($self) = @_;
    open my $fh, '>', "$self->{dir}/nginx.conf" or die "nginx.conf: $!";
    print $fh ($self->{conf_text} // $self->conf);
    close $fh;
}

# Runs `nginx -t` on a config text; returns (exit code, output).
sub nginx_t {
    my ($self, $text) = @_;
    my $f = "$self->{dir}/test.conf";
    open my $fh, '>', $f or die "$f: $!";
    print $fh $text;
    close $fh;
    # -g pid only when the text has none ("pid" may not be duplicated)
    my $g = $text =~ /^\s*pid\s/m ? '' : "-g 'pid $self->{dir}/t.pid;'";
    my $out = `$NGINX -t -p $self->{dir}/ -c $f $g 2>&1`;
    return ($? >> 8, $out);
}

sub start {
    my ($self) = @_;
    $self->write_conf;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', "$self->{dir}/stderr.log";
        open STDERR, '>>', "$self->{dir}/stderr.log";
        setpgrp(0, 0);
        exec $NGINX, '-p', "$self->{dir}/", '-c', 'nginx.conf',
             '-g', 'daemon off;';
        exit 127;
    }
    $self->{pid} = $pid;
    my $deadline = time + 10;
    while (time < $deadline) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $self->{port});
        if ($s) {
            close $s;
            return $self;
        }
        if (waitpid($pid, WNOHANG) == $pid) {
            die "nginx exited at start:\n" . $self->slurp('stderr.log')
                . $self->slurp('error.log');
        }
        sleep 0.05;
    }
    die "nginx did not listen on $self->{port}";
}

sub wait_exit {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // 15);
    while (time < $deadline) {
        return 1 if waitpid($self->{pid}, WNOHANG) == $self->{pid};
        sleep 0.05;
    }
    kill 'KILL', -$self->{pid};
    waitpid($self->{pid}, 0);
    return 0;
}

# Graceful stop (QUIT); returns 1 if nginx exited in time.
sub stop {
    my ($self) = @_;
    return 1 unless $self->{pid};
    kill 'QUIT', $self->{pid};
    my $ok = $self->wait_exit(20);
    delete $self->{pid};
    return $ok;
}

# kill -9 of the master and every worker (the whole process group).
sub kill9 {
    my ($self) = @_;
    kill 'KILL', -$self->{pid};
    waitpid($self->{pid}, 0);
    delete $self->{pid};
}

sub slurp {
    my ($self, $name) = @_;
    open my $fh, '<', "$self->{dir}/$name" or return '';
    local $/;
    return <$fh>;
}

# Lines of the error log that mean something went wrong in nginx.
sub log_problems {
    my ($self) = @_;
    return grep { /\[(alert|crit|emerg)\]|exited on signal|segfault|AddressSanitizer/ }
        split /\n/, $self->slurp('error.log') . $self->slurp('stderr.log');
}

sub request {
    my ($self, $method, $path, $body, $headers) = @_;
    my %o = (headers => $headers || {});
    $o{content} = $body if defined $body;
    my $r = $self->{http_client}->request($method, $self->url($path), \%o);
    $r->{json} = eval { JSON::PP->new->utf8->allow_nonref->decode($r->{content}) }
        if ($r->{headers}{'content-type'} // '') =~ /json/;
    return $r;
}

# A push: ingest($body, name => 'app', sampleRate => 0, ...); the
# pseudo-parameters path (default /ingest) and headers are not sent as
# query arguments.  Returns the response.
sub ingest {
    my ($self, $body, %p) = @_;
    my $path = delete $p{path} // '/ingest';
    my $h = delete $p{headers};
    my $qs = join '&', map { "$_=" . uri_escape($p{$_}) } sort keys %p;
    return $self->post($qs eq '' ? $path : "$path?$qs", $body, $h);
}

# render() decoded into ({stack => self}, full JSON).
sub stacks {
    my ($self, %q) = @_;
    my $j = $self->render(%q);
    return (flame_stacks($j->{flamebearer}), $j);
}

# Every path under a directory, relative to it; directories end in "/".
sub tree {
    my ($dir) = @_;
    my @out;
    my @todo = ('');
    while (@todo) {
        my $rel = shift @todo;
        opendir(my $dh, $rel eq '' ? $dir : "$dir/$rel") or next;
        for my $e (sort grep { $_ ne '.' && $_ ne '..' } readdir $dh) {
            my $p = $rel eq '' ? $e : "$rel/$e";
            if (-d "$dir/$p" && !-l "$dir/$p") {
                push @out, "$p/";
                push @todo, $p;
            } else {
                push @out, $p;
            }
        }
        closedir $dh;
    }
    return @out;
}

# The end of every test file: a graceful stop and a clean error log.
sub finish {
    my ($self) = @_;
    Test::More::ok($self->stop, 'nginx stopped gracefully');
    Test::More::is_deeply([$self->log_problems], [], 'no alerts or crashes in the error log');
}

sub post { my ($s, $p, $b, $h) = @_; $s->request('POST', $p, $b, $h) }
sub get  { my ($s, $p, $h) = @_; $s->request('GET', $p, undef, $h) }

# A raw HTTP request on a fresh socket (for chunked bodies and oddities);
# returns (status, headers text, body).
sub raw {
    my ($self, $text) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $self->{port}, Timeout => 30)
        or die "connect: $!";
    print $s $text;
    shutdown($s, 1);
    local $/;
    my $resp = <$s> // '';
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.[01] (\d+)};
    return ($status // 0, $head // '', $body // '');
}

# Renders a query and returns the decoded JSON (dies on a non-200).
sub render {
    my ($self, %q) = @_;
    my $h = delete $q{headers};
    my $qs = join '&', map { "$_=" . uri_escape($q{$_}) } sort keys %q;
    my $r = $self->get("/pyroscope/render?$qs", $h);
    die "render $qs: $r->{status} $r->{content}" unless $r->{status} == 200;
    return $r->{json};
}

sub uri_escape {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf("%%%02X", ord($1))/ge;
    return $s;
}

# Decodes a flamebearer into { "a;b;c" => self } (the stacks it shows),
# checking the level encoding on the way.
sub flame_stacks {
    my ($fb) = @_;
    my ($names, $levels) = ($fb->{names}, $fb->{levels});
    my @prev;       # nodes of the previous level: [x, total, self, name, path]
    my %stacks;
    for my $d (0 .. $#$levels) {
        my @row = @{ $levels->[$d] };
        my @cur;
        my $x = 0;
        for (my $i = 0; $i < @row; $i += 4) {
            my ($dx, $total, $self, $ni) = @row[$i .. $i + 3];
            $x += $dx;
            my $name = $names->[$ni];
            my $path;
            if ($d == 0) {
                $path = '';
            } else {
                my ($parent) = grep { $_->[0] <= $x && $x < $_->[0] + $_->[1] } @prev;
                die "orphan node $name at level $d" unless $parent;
                $path = $parent->[4] eq '' ? $name : "$parent->[4];$name";
            }
            push @cur, [$x, $total, $self, $name, $path];
            $stacks{$path} += $self if $d > 0 && $self;
            $x += $total;
        }
        @prev = @cur;
    }
    return \%stacks;
}

1;

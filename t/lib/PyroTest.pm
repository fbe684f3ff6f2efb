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
use IO::Compress::Gzip ();
use IO::Uncompress::Gunzip ();
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

# (not $NGINX: nginx itself reads that variable for inherited sockets)
our $NGINX  = $ENV{PYRO_NGINX} || '/usr/sbin/nginx';
delete $ENV{NGINX};
# absolute: load_module resolves a relative path against nginx's prefix
our $MODULE = File::Spec->rel2abs($ENV{PYRO_MODULE}
    || (__FILE__ =~ s{t/lib/PyroTest\.pm$}{}r) . 'build/nginx/ngx_http_pyroscope_module.so');

# The shared fixtures sit beside the checkout (../shared/fixtures).
our $FIXTURES = $ENV{PYRO_FIXTURES}
    || File::Spec->rel2abs((__FILE__ =~ s{t/lib/PyroTest\.pm$}{}r) . '../shared/fixtures');

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
        location = /pyroscope/render-diff  { pyroscope_render; }
        location = /pyroscope/label-values { pyroscope_render; }
        location = /render            { pyroscope_render; }
        location /push.v1.PusherService/ { pyroscope_connect; }
        location /querier.v1.QuerierService/ { pyroscope_connect; }
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
    $self->{owner} = $$;
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

# A test that dies half-way must not leave its nginx running (its
# directory is removed at exit).
sub DESTROY {
    my ($self) = @_;
    return unless $self->{pid} && ($self->{owner} // 0) == $$;
    local ($!, $?);
    kill 'KILL', -$self->{pid};
    waitpid($self->{pid}, 0);
    delete $self->{pid};
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

# --- protobuf, pprof, gzip and multipart, by hand ---------------------------
# Tests build their payloads with these (no protoc).  Strings are bytes.

sub pb_varint {
    my ($n) = @_;
    $n = unpack('Q', pack('q', $n)) if $n < 0;     # int64: two's complement
    my $s = '';
    while ($n >= 0x80) {
        $s .= chr(($n & 0x7f) | 0x80);
        $n >>= 7;
    }
    return $s . chr($n);
}
sub pb_key    { pb_varint(($_[0] << 3) | $_[1]) }
sub pb_uint   { pb_key($_[0], 0) . pb_varint($_[1]) }
sub pb_bytes  { pb_key($_[0], 2) . pb_varint(length $_[1]) . $_[1] }
sub pb_packed { my $f = shift; pb_bytes($f, join '', map { pb_varint($_) } @_) }

# Decodes one protobuf message into a list of [field, wire type, value]
# (varints as numbers, length-delimited as bytes); dies if malformed.
sub pb_decode {
    my ($buf) = @_;
    my ($pos, $len, @out) = (0, length $buf);
    my $varint = sub {
        my ($v, $shift) = (0, 0);
        while (1) {
            die "truncated varint\n" if $pos >= $len || $shift > 63;
            my $b = ord substr($buf, $pos++, 1);
            $v |= ($b & 0x7f) << $shift;
            $shift += 7;
            return $v unless $b & 0x80;
        }
    };
    while ($pos < $len) {
        my $key = $varint->();
        my ($f, $wt) = ($key >> 3, $key & 7);
        my $v;
        if ($wt == 0) {
            $v = $varint->();
        } elsif ($wt == 2) {
            my $n = $varint->();
            die "truncated field $f\n" if $pos + $n > $len;
            $v = substr($buf, $pos, $n);
            $pos += $n;
        } elsif ($wt == 1 || $wt == 5) {
            my $n = $wt == 1 ? 8 : 4;
            die "truncated field $f\n" if $pos + $n > $len;
            $v = substr($buf, $pos, $n);
            $pos += $n;
        } else {
            die "wire type $wt\n";
        }
        push @out, [$f, $wt, $v];
    }
    return @out;
}

sub gzip_bytes {
    my ($data) = @_;
    IO::Compress::Gzip::gzip(\$data => \my $out)
        or die "gzip: " . ($IO::Compress::Gzip::GzipError // '');
    return $out;
}

# The data itself when it is not gzip.
sub gunzip_bytes {
    my ($data) = @_;
    return $data unless substr($data, 0, 2) eq "\x1f\x8b";
    IO::Uncompress::Gunzip::gunzip(\$data => \my $out)
        or die "gunzip: " . ($IO::Uncompress::Gunzip::GunzipError // '');
    return $out;
}

sub read_bytes {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "$path: $!";
    local $/;
    return scalar <$fh>;
}

# A pprof profile (google.v1.Profile), encoded:
#   pprof_encode(sample_types => [[type, unit], ...],
#                period_type => [type, unit], period => N,
#                samples => [{ stack => 'root;...;leaf', values => [...],
#                              labels => {k => v}, num_labels => {k => n},
#                              locs => [raw location ids, leaf first] }, ...],
#                time_nanos => N, duration_nanos => N,
#                extra_strings => [...], string0 => 'not empty',
#                raw => 'bytes appended')
# One function, one location (one line) per distinct frame name; one
# mapping.
sub pprof_encode {
    my (%p) = @_;
    my @strings = ($p{string0} // '');
    my %sidx = ($strings[0] => 0);
    my $str = sub {
        my ($s) = @_;
        return $sidx{$s} //= do { push @strings, $s; $#strings };
    };
    my (%fid, @funcs);
    my $loc = sub {
        my ($name) = @_;
        return $fid{$name} //= do { push @funcs, $name; scalar @funcs };
    };
    my @pt = $p{period_type} ? map { $str->($_) } @{ $p{period_type} } : ();
    my $out = '';
    for my $st (@{ $p{sample_types} || [] }) {
        $out .= pb_bytes(1, pb_uint(1, $str->($st->[0])) . pb_uint(2, $str->($st->[1])));
    }
    for my $s (@{ $p{samples} || [] }) {
        my @locs = $s->{locs} ? @{ $s->{locs} }
                 : reverse map { $loc->($_) } split /;/, $s->{stack};
        my $m = pb_packed(1, @locs) . pb_packed(2, @{ $s->{values} });
        for my $k (sort keys %{ $s->{labels} || {} }) {
            $m .= pb_bytes(3, pb_uint(1, $str->($k)) . pb_uint(2, $str->($s->{labels}{$k})));
        }
        for my $k (sort keys %{ $s->{num_labels} || {} }) {
            $m .= pb_bytes(3, pb_uint(1, $str->($k)) . pb_uint(3, $s->{num_labels}{$k}));
        }
        $out .= pb_bytes(2, $m);
    }
    $out .= pb_bytes(3, pb_uint(1, 1) . pb_uint(2, 0x400000) . pb_uint(3, 0x500000)
                        . pb_uint(5, $str->('/opt/test/bin/app')) . pb_uint(7, 1));
    for my $i (1 .. @funcs) {
        $out .= pb_bytes(4, pb_uint(1, $i) . pb_uint(2, 1) . pb_uint(3, 0x400000 + 16 * $i)
                            . pb_bytes(4, pb_uint(1, $i) . pb_uint(2, $i)));
    }
    for my $i (1 .. @funcs) {
        $out .= pb_bytes(5, pb_uint(1, $i) . pb_uint(2, $str->($funcs[$i - 1]))
                            . pb_uint(3, $str->($funcs[$i - 1])) . pb_uint(4, $str->('main.go')));
    }
    $str->($_) for @{ $p{extra_strings} || [] };
    $out .= pb_bytes(6, $_) for @strings;
    $out .= pb_uint(9, $p{time_nanos}) if $p{time_nanos};
    $out .= pb_uint(10, $p{duration_nanos}) if $p{duration_nanos};
    $out .= pb_bytes(11, pb_uint(1, $pt[0]) . pb_uint(2, $pt[1])) if @pt;
    $out .= pb_uint(12, $p{period}) if $p{period};
    $out .= $p{raw} if defined $p{raw};
    return $out;
}

# time_nanos of a pprof (gzip or plain); 0 when absent.
sub pprof_time_nanos {
    my ($data) = @_;
    my $t = 0;
    for my $f (pb_decode(gunzip_bytes($data))) {
        $t = $f->[2] if $f->[0] == 9 && $f->[1] == 0;
    }
    return $t;
}

# --- protoc, for the Connect query messages -----------------------------------
# Debian's protoc (package protobuf-compiler, installed by make deps) with
# this checkout's .proto files: text format in, wire format out, and back.
# A missing protoc is an error, never a skip.

our $PROTOC = $ENV{PYRO_PROTOC} || '/usr/bin/protoc';
our $PROTO_DIR = File::Spec->rel2abs((__FILE__ =~ s{t/lib/PyroTest\.pm$}{}r) . 'proto');
my $protoc_tmp;

sub protoc_run {
    my ($mode, $type, $in) = @_;
    die "no protoc at $PROTOC (make deps installs protobuf-compiler)\n" unless -x $PROTOC;
    my @files = map { s{^\Q$PROTO_DIR\E/}{}r } sort glob "$PROTO_DIR/*/v1/*.proto";
    die "no .proto files under $PROTO_DIR\n" unless @files;
    $protoc_tmp //= tempdir('pyroprotoc-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my ($fi, $fo, $fe) = map { "$protoc_tmp/$_" } qw(in out err);
    open my $fh, '>:raw', $fi or die "$fi: $!";
    print $fh $in;
    close $fh;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', $fi;
        open STDOUT, '>', $fo;
        open STDERR, '>', $fe;
        exec $PROTOC, "--$mode=$type", "-I$PROTO_DIR", @files;
        exit 127;
    }
    waitpid($pid, 0);
    my $rc = $? >> 8;
    die "protoc --$mode=$type failed ($rc): " . read_bytes($fe) if $?;
    return read_bytes($fo);
}

# protoc_encode('querier.v1.SeriesRequest', 'start: 1 end: 2') -> bytes
sub protoc_encode { protoc_run('encode', @_) }
# protoc_decode('querier.v1.SeriesResponse', $bytes) -> text format
sub protoc_decode { protoc_run('decode', @_) }

# A push.v1.PushRequest: push_request([labels => [[name, value], ...],
# profiles => [bytes, ...], ids => [RawSample.ID of each profile, ...]],
# ...).
sub push_request {
    my (@series) = @_;
    my $out = '';
    for my $s (@series) {
        my $m = '';
        $m .= pb_bytes(1, pb_bytes(1, $_->[0]) . pb_bytes(2, $_->[1])) for @{ $s->{labels} || [] };
        my @ids = @{ $s->{ids} || [] };
        for my $i (0 .. $#{ $s->{profiles} || [] }) {
            my $id = $ids[$i];
            $m .= pb_bytes(2, pb_bytes(1, $s->{profiles}[$i]) . (defined $id ? pb_bytes(2, $id) : ''));
        }
        $out .= pb_bytes(1, $m);
    }
    return $out;
}

# multipart/form-data: multipart_body($boundary, [name, filename or undef,
# data, part content type or undef], ...).
sub multipart_body {
    my ($boundary, @parts) = @_;
    my $b = '';
    for my $p (@parts) {
        my ($name, $fn, $data, $ct) = @$p;
        $b .= "--$boundary\r\nContent-Disposition: form-data; name=\"$name\""
            . (defined $fn ? "; filename=\"$fn\"" : '') . "\r\n"
            . (defined $ct ? "Content-Type: $ct\r\n" : '') . "\r\n$data\r\n";
    }
    return $b . "--$boundary--\r\n";
}

# The headers of a captured request (request.json "headers") worth
# replaying: the body's description and the client's identity, not the
# hop-by-hop ones nor the tenant (the caller sets its own).
sub replay_headers {
    my ($pairs, %extra) = @_;
    my %h;
    for my $p (@$pairs) {
        my ($k, $v) = @$p;
        next if $k =~ /^(host|content-length|transfer-encoding|connection|accept-encoding|x-scope-orgid)$/i;
        $h{lc $k} = $v;
    }
    return { %h, %extra };
}

1;

# ngx_pyroscope: a Grafana Pyroscope-compatible backend as an nginx module.
#
#   make run     install what is missing, build, serve on 127.0.0.1:$(PORT)
#   make test    install what is missing, build, run every test
#
# The module is built against the installed Debian nginx through
# nginx-dev (/usr/share/nginx/src and its conf_flags), so that
# load_module works with /usr/sbin/nginx as shipped.

PORT      ?= 4040
DATA      ?= $(CURDIR)/data
B         := $(CURDIR)/build
NGX_SRC   := /usr/share/nginx/src
NGINX     ?= /usr/sbin/nginx
SO        := $(B)/nginx/ngx_http_pyroscope_module.so
RUN       := $(B)/run

APT_PKGS  := nginx nginx-dev libpcre2-dev zlib1g-dev libjansson-dev \
             libprotobuf-c-dev protobuf-c-compiler protobuf-compiler \
             libdeflate-dev gcc make perl curl

MODULE_SRCS := config $(wildcard core/*.c core/*.h ngx_pyroscope_module/*)

.PHONY: all deps build run test unit integration bench clean

all: build

# Installs the Debian packages that are missing (needs root or sudo).
deps:
	@missing=""; for p in $(APT_PKGS); do \
	    dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	        --no-install-recommends $$missing >/dev/null; \
	fi

build: deps $(SO)

$(B)/nginx/Makefile: config
	@mkdir -p $(B)/nginx
	cd $(NGX_SRC) && bash -c '. ./conf_flags && ./configure \
	    "$${NGX_CONF_FLAGS[@]}" \
	    --add-dynamic-module=$(CURDIR) --builddir=$(B)/nginx' \
	    > $(B)/nginx/configure.log 2>&1 \
	    || { tail -20 $(B)/nginx/configure.log; exit 1; }

$(SO): $(B)/nginx/Makefile $(MODULE_SRCS)
	$(MAKE) -f $(B)/nginx/Makefile -C $(NGX_SRC) modules

# The canonical config with this checkout's module, port and data.
$(RUN)/nginx.conf: conf.example Makefile
	@mkdir -p $(RUN)/logs
	sed -e 's#^load_module .*#load_module $(SO);#' \
	    -e 's#listen 127.0.0.1:4040;#listen 127.0.0.1:$(PORT);#' \
	    -e 's#pyroscope_storage [^;]*;#pyroscope_storage $(DATA);#' \
	    -e 's#^http {#http {\n    access_log $(RUN)/logs/access.log;\n    client_body_temp_path $(RUN)/body;\n    proxy_temp_path $(RUN)/proxy;\n    fastcgi_temp_path $(RUN)/fastcgi;\n    uwsgi_temp_path $(RUN)/uwsgi;\n    scgi_temp_path $(RUN)/scgi;#' \
	    conf.example > $@

run: build
	@rm -f $(RUN)/nginx.conf
	@$(MAKE) --no-print-directory $(RUN)/nginx.conf PORT=$(PORT) DATA=$(DATA)
	@echo "serving on http://127.0.0.1:$(PORT), data in $(DATA)"
	exec $(NGINX) -p $(RUN)/ -c nginx.conf \
	    -g 'daemon off; pid $(RUN)/nginx.pid; error_log stderr notice;'

unit: deps
	$(MAKE) -C core test B=$(B)/core

integration: build
	NGINX=$(NGINX) PYRO_MODULE=$(SO) prove -I t/lib t/

test: build unit integration

bench: build
	@command -v wrk >/dev/null || { SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; }
	perl bench/bench.pl

clean:
	rm -rf $(B)

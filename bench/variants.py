"""Variants no project is made with: each is a small, explicit text edit of a file its
build's bake writes (uwsgi.ini, nginx's site or nginx.conf), mounted over the build's
image like a file a variant's bake changes. The template has no switch for them."""

from __future__ import annotations

from dataclasses import dataclass

from hooks import sizing
from hooks.plan import Plan

UWSGI_INI = "ops/uwsgi.ini"
SITE = "nginx/templates/default.conf.template"
NGINX_CONF = "nginx/nginx.conf"


@dataclass(frozen=True)
class Edit:
    """`old`, which occurs exactly once in a baked file, replaced by `new`."""

    file: str  # relative to the project, one of configuration.MOUNTED_FILES
    old: str
    new: str

    def apply(self, text: str) -> str:
        found = text.count(self.old)
        if found != 1:
            raise ValueError(f"{self.file}: {self.old!r} occurs {found} times, expected once")
        return text.replace(self.old, self.new)


# nginx-uwsgi: uWSGI logs every request too, beside nginx.
UWSGI_REQUEST_LOG = Edit(
    UWSGI_INI,
    "; nginx already logs every request; a second line per request here costs throughput.\n"
    "; Errors and uWSGI's own messages are still logged.\n"
    "disable-logging = true\n",
    "; The health check's requests are not worth a log line every few seconds.\n"
    "route = ^$(HEALTHCHECK_PATH)$ donotlog:\n",
)
# standalone: no request log at all.
NO_UWSGI_REQUEST_LOG = Edit(
    UWSGI_INI,
    UWSGI_REQUEST_LOG.new,
    "; No request log: a line per request here costs throughput.\n"
    "; Errors and uWSGI's own messages are still logged.\n"
    "disable-logging = true\n",
)
# nginx bakes: uWSGI stamps no moment a thread takes a request, so service.py counts a
# request's wait until the app runs, its turn at the GIL and the CPUs included.
NO_TAKEN_AT_STAMP = Edit(
    UWSGI_INI,
    "; The moment a worker thread takes each request, before the app runs (microseconds):\n"
    "; service.py counts a request's wait for a thread from nginx's X-Request-Start to it.\n"
    "; https://uwsgi-docs.readthedocs.io/en/latest/InternalRouting.html\n"
    f"route-run = addvar:{Plan.taken_at_environ}=${{time[micros]}}\n",
    "",
)
# uWSGI's own listen queue: a unix socket refuses connections once 100 wait to be
# accepted (nginx: 502, "Resource temporarily unavailable").
UWSGI_OWN_LISTEN = Edit(
    UWSGI_INI, f"\nlisten = {Plan.defaults().listen}\n", f"\nlisten = {sizing.UWSGI_LISTEN}\n"
)
# One accept at a time among the workers (uWSGI's thunder-lock), in place of the
# comment that says why the project goes without it.
THUNDER_LOCK = Edit(
    UWSGI_INI,
    "; No thunder-lock (one accept() at a time among the workers): a worker waiting for\n"
    "; that lock ignores a graceful stop, so make reload would wait worker-reload-mercy\n"
    "; for each idle worker. https://github.com/unbit/uwsgi/issues/1038\n",
    "thunder-lock = true\n",
)
NO_MEMORY_REPORT = Edit(
    UWSGI_INI, "stats-http = true\nmemory-report = true\n", "stats-http = true\n"
)
# standalone: the router closes every client connection after its answer.
NO_HTTP_KEEPALIVE = Edit(
    UWSGI_INI,
    "; Keep clients' connections open between requests, as HTTP/1.1 clients expect.\n"
    "; HTTP/1.0 ones (ab -k) still get theirs closed after each answer: the router keeps\n"
    "; only HTTP/1.1 connections alive.\n"
    "http-keepalive = 1\n",
    "",
)
# nginx-http: nginx keeps its connections to uWSGI open (an upstream block, HTTP/1.1).
# uWSGI's HTTP listener keeping its connections open between requests (each holds a
# thread meanwhile).
HTTP11_SOCKET = Edit(
    UWSGI_INI,
    "\nhttp-socket = $(APP_ADDRESS)\n",
    "\n; HTTP/1.1: nginx keeps its connections open between requests.\n"
    "http11-socket = $(APP_ADDRESS)\n",
)
UPSTREAM_KEEPALIVE = (
    HTTP11_SOCKET,
    Edit(
        SITE,
        "    default 1;\n}\n",
        "    default 1;\n}\n"
        "\n"
        "# uWSGI, over connections kept open between requests. Its address is looked up once,\n"
        "# when nginx starts: a recreated or scaled app needs nginx reloaded.\n"
        "upstream app {\n"
        "    server ${APP_UPSTREAM};\n"
        "    keepalive 32;\n"
        "}\n",
    ),
    Edit(
        SITE,
        "        # A connection per request, so $app is looked up again each second. Kept open\n"
        "        # (an upstream block, http11-socket), each would hold a uWSGI thread while idle,\n"
        "        # and an upstream's address is looked up only at start.\n"
        "        proxy_pass http://$app;\n",
        "        proxy_pass http://app;\n"
        "        proxy_http_version 1.1;\n"
        '        proxy_set_header Connection "";\n',
    ),
)
BUFFERED_ACCESS_LOG = (
    f"    # Written in {Plan.access_log_buffer_kb} KB batches (at least every second): one"
    " write per request through\n"
    "    # Docker's log driver is slow under load. No bigger: the workers share stdout, a\n"
    "    # pipe, which takes a write of up to 4 KB whole, never cut by another worker's.\n"
    "    # https://man7.org/linux/man-pages/man7/pipe.7.html (PIPE_BUF)\n"
    "    access_log /var/log/nginx/access.log json"
    f" buffer={Plan.access_log_buffer_kb}k flush=1s if=$loggable;\n"
)
NO_ACCESS_LOG = Edit(
    SITE, BUFFERED_ACCESS_LOG, "    # No request is logged.\n    access_log off;\n"
)
UNBUFFERED_ACCESS_LOG = Edit(
    SITE,
    BUFFERED_ACCESS_LOG,
    "    # Each line is written at once.\n"
    "    access_log /var/log/nginx/access.log json if=$loggable;\n",
)
NGINX_ONE_WORKER = Edit(NGINX_CONF, "\nworker_processes auto;\n", "\nworker_processes 1;\n")

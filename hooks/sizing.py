"""nginx's buffers, sized from uWSGI's buffer-size so that all nginx accepts fits in
uWSGI once passed on: a request too big gets a 4xx from nginx, never a 5xx from uWSGI
("invalid request block size", "uwsgi request is too big"). The database's connections,
sized from uWSGI's processes, their pools and the replicas, so that all the service may
open fits what PostgreSQL accepts. nginx's connections and uWSGI's listen queue, sized
for an overload of the app, so that clients get the app's 503s rather than dropped
connections."""

from __future__ import annotations

from dataclasses import dataclass

# What nginx may pass upstream, for sizing its header buffers: its first buffer
# (client_header_buffer_size, 1k by default), at most 1000 header lines
# (max_headers, nginx >= 1.29.8 and Debian's patched packages), each growing by
# up to 7 bytes as a uwsgi variable ("HTTP_" and two 2-byte lengths, for a bare
# "name:" line), the path and query passed again (PATH_INFO, QUERY_STRING),
# nginx's own variables (uwsgi_params, under 1 KB), and the variables uWSGI adds
# itself (ops/uwsgi.ini's route-run addvar): a request without room for them gets no
# answer at all.
NGINX_FIRST_HEADER_BUFFER = 1024
NGINX_MAX_HEADERS = 1000
UWSGI_VARIABLE_GROWTH = 7
NGINX_OWN_VARIABLES = 1024
# nginx's buffers for an answer from the app, by default: 8 of a memory page.
NGINX_RESPONSE_BUFFERS = 8
PAGE_KB = 4


def header_buffer_kb(buffer_size: int) -> int:
    """The size of nginx's large header buffers: the longest request or header line it
    takes, an eighth of buffer_size (8k for 65535, nginx's default)."""
    return (buffer_size + 1) // 8 // 1024


def header_buffers(buffer_size: int, uwsgi_added_bytes: int) -> int:
    """How many large header buffers nginx gets: as many as keep the worst request it
    may pass upstream, and the variables uWSGI adds to it, within uWSGI's buffer_size
    (4 for 65535, nginx's default)."""
    line = header_buffer_kb(buffer_size) * 1024
    room = (
        buffer_size
        - NGINX_FIRST_HEADER_BUFFER
        - NGINX_MAX_HEADERS * UWSGI_VARIABLE_GROWTH
        - 2 * line
        - NGINX_OWN_VARIABLES
        - uwsgi_added_bytes
    )
    return room // line


def uwsgi_max_vars(buffer_size: int) -> int:
    """uWSGI's max-vars, enough for every variable a buffer_size packet can hold (each
    takes at least 8 bytes; each max-vars unit holds two). uWSGI's default (64) drops
    requests with more than about 110 headers."""
    return buffer_size // 16


def response_buffers(response_headers_kb: int) -> str:
    """nginx's buffers for the rest of an app's answer (its first buffer holds the
    headers): nginx's default, 8 of a 4 KB page, or more pages when the busy buffers
    (at least as big as the first) would not fit in all of them but one, which nginx
    refuses."""
    pages = max(NGINX_RESPONSE_BUFFERS, response_headers_kb // PAGE_KB + 1)
    return f"{pages} {PAGE_KB}k"


# nginx's connections per worker by default, and never fewer: its own clients (static
# files, idle keep-alive connections) need them whatever the app's size.
NGINX_WORKER_CONNECTIONS = 1024


def worker_connections_for(in_flight: int) -> int:
    """Connections one nginx worker may hold with `in_flight` requests passed to the app
    at once, as one worker may accept them all: two each (the client's, the app's),
    and as many again for clients idle between requests (keep-alive). Fewer, and
    nginx drops connections ("worker_connections are not enough") instead of letting
    the app answer 503."""
    passed_on = 2 * in_flight
    return max(NGINX_WORKER_CONNECTIONS, 2 * passed_on)


# uWSGI's listen queue by default, and never shorter.
UWSGI_LISTEN = 100


def listen_queue(in_flight: int) -> int:
    """uWSGI's listen queue for `in_flight` requests passed on at once: room for every
    one, as the threads take them up only as they free (a shed request's thread frees
    and takes the next while its client reconnects), and as many again for connections
    whose clients left while they waited: nginx closes its end, but each keeps its place
    in the queue until a thread takes it, while the next clients' connections arrive. A
    connection that does not fit is refused (nginx: 502, "Resource temporarily
    unavailable"; without nginx, the client's connect fails)."""
    return max(UWSGI_LISTEN, 2 * in_flight)


# -- The database's connections: every one the service may open fits what PostgreSQL
# accepts, so no request fails for want of one ("sorry, too many clients already").

# PostgreSQL keeps superuser_reserved_connections (3 by default) for its superusers:
# the app's role gets max_connections less those.
POSTGRES_SUPERUSER_RESERVED = 3
# ops/migrate.py holds its lock on one connection and migrates on a second; the
# replicas migrate one at a time (the others wait on the lock before they serve).
MIGRATION_CONNECTIONS = 2
# The pool of a process outside uWSGI (a job, a flask command, ops/migrate.py): two,
# as migrate.py needs.
OTHER_POOL_SIZE = 2
# The metrics exporter beside each app replica (ops/metrics.py) reads PostgreSQL's
# statistics on a connection of its own, opened for a scrape and closed after it.
EXPORTER_CONNECTIONS = 1


def pool_size(threads: int, limit: int) -> int:
    """Connections one uWSGI worker pools: `limit` (DATABASE_POOL_SIZE), or one per
    thread when it has fewer; none beyond (max_overflow = 0), so a worker never opens
    more."""
    return min(threads, limit)


def app_connections(replicas: int, processes: int, pool: int) -> int:
    """The most connections the app's replicas open: every worker's pool."""
    return replicas * processes * pool


def worker_connections(replicas: int, concurrency: int) -> int:
    """The most connections the background workers open: each job's process its pool."""
    return replicas * concurrency * OTHER_POOL_SIZE


def max_connections(needed: int) -> int:
    """PostgreSQL's max_connections for `needed` connections of the app's role."""
    return needed + POSTGRES_SUPERUSER_RESERVED


@dataclass(frozen=True)
class ConnectionBudget:
    """The connections one deployment of the service may open at once: its app replicas
    (a rolling update's extra one counted), each replica's uWSGI workers and their pools
    and its metrics exporter, the migrations, the background workers' jobs."""

    app_replicas: int
    processes: int
    pool: int  # connections each uWSGI worker pools
    worker_replicas: int  # 0: no worker uses the database
    worker_concurrency: int
    metrics: bool  # each app replica runs the metrics exporter

    @property
    def exporters(self) -> int:
        """The metrics exporters' connections: one beside each app replica."""
        return self.app_replicas * EXPORTER_CONNECTIONS if self.metrics else 0

    @property
    def app(self) -> int:
        return app_connections(self.app_replicas, self.processes, self.pool)

    @property
    def workers(self) -> int:
        return worker_connections(self.worker_replicas, self.worker_concurrency)

    @property
    def needed(self) -> int:
        """Every connection the app's role may hold at once."""
        return self.app + self.exporters + MIGRATION_CONNECTIONS + self.workers

    @property
    def max_connections(self) -> int:
        """What PostgreSQL must accept (max_connections) for this deployment."""
        return max_connections(self.needed)

"""The rows' database access: one pool per process (per event loop), its metrics and errors.

- schema.py: the seeded table and the two workload statements (shared with
  bench/postgres.py, which creates and seeds the table);
- errors.py: what a failed database call answers (503/504 JSON, never 500);
- outage.py: database down or pool exhausted, and failing fast while down;
- accounting.py: the pool metrics, noted around every checkout and flushed
  with the request metrics;
- sync_pool.py: psycopg 3 + psycopg_pool.ConnectionPool (WSGI rows, and the
  FastAPI rows' /db/thread/* endpoints);
- async_pool.py: asyncpg's pool, or psycopg's AsyncConnectionPool
  (BENCH_DB_DRIVER), for the ASGI rows.

Django rows use the ORM instead (services/django_app), with Django's own
psycopg pool. Nothing here imports a driver at package import: psycopg picks
its wait function when first imported, and under gunicorn's gevent worker
that must happen after the worker has monkey-patched the standard library.
"""

"""The Django rows' database calls: the ORM on Django's own psycopg pool.

Both calls are sync, as Django's ORM is: django-asgi awaits them through
``sync_to_async`` (thread-sensitive), which is what the async ORM methods
(``aget``, ...) do themselves. Each call checks its connection out of the
pool and gives it back when done (``connection.close()`` returns it to the
pool), rather than at the end of the request, so the pool metrics count the
time a connection is really held, as on the other rows.
"""

from __future__ import annotations

import os
from typing import Any

from django.db import DatabaseError as DjangoDatabaseError
from django.db import connection
from psycopg import errors as psycopg_errors
from psycopg_pool import PoolTimeout

from services.database.accounting import PoolAccounting
from services.database.errors import DatabaseError, statement_timeout, unreachable
from services.database.outage import Outage
from services.database.schema import random_id
from services.settings import DatabaseSettings

DRIVER = "django-orm"


class DjangoDatabase:
    """/db/sleep and /db/query through the ORM, with the pool metrics of every row."""

    driver = DRIVER

    def __init__(self, settings: DatabaseSettings, accounting: PoolAccounting) -> None:
        self.settings = settings
        self.accounting = accounting
        self._counted_pid = 0
        self.outage = Outage(settings)

    def _error(self, error: DjangoDatabaseError) -> DatabaseError:
        cause = error.__cause__
        if isinstance(cause, PoolTimeout):
            return self.outage.after_timeout()
        if isinstance(cause, psycopg_errors.QueryCanceled):
            return statement_timeout(self.settings.url, self.settings.statement_timeout_ms)
        return unreachable(self.settings.url, cause or error)

    def _checkout(self) -> None:
        if self._counted_pid != os.getpid():  # Django makes one pool per process
            self._counted_pid = os.getpid()
            self.accounting.opened(self.settings.pool)
        since = self.accounting.asking()
        try:
            self.outage.check()
            connection.ensure_connection()
        except DatabaseError:
            self.accounting.gave_up(since)
            raise
        except DjangoDatabaseError as error:
            self.accounting.gave_up(since)
            raise self._error(error) from None
        self.accounting.got(since)

    def _give_back(self) -> None:
        connection.close()
        self.accounting.returned()

    def sleep(self, ms: int) -> None:
        self._checkout()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_sleep(%s)", [ms / 1000])
        except DjangoDatabaseError as error:
            raise self._error(error) from None
        finally:
            self._give_back()

    def query(self) -> dict[str, Any]:
        # The views import this module before Django is set up; a model can
        # only be imported after.
        from services.django_app.models import Item  # noqa: PLC0415

        self._checkout()
        try:
            item = Item.objects.get(pk=random_id())
        except DjangoDatabaseError as error:
            raise self._error(error) from None
        finally:
            self._give_back()
        return {
            "id": item.id,
            "name": item.name,
            "score": item.score,
            "created": item.created.isoformat(),
        }

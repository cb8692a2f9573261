"""The seeded table (services/database/schema.py) as a Django model; the ORM never migrates it."""

from __future__ import annotations

from django.db import models

from services.database.schema import TABLE


class Item(models.Model):
    id = models.IntegerField(primary_key=True)
    name = models.TextField()
    score = models.IntegerField()
    created = models.DateField()

    class Meta:
        app_label = "django_app"
        db_table = TABLE
        managed = False  # bench/postgres.py creates and seeds it

"""Database helpers shared by the apps."""

from django.db import connection


def update_rows(objs, fields) -> None:
    """Write ``fields`` of many saved model instances, each row its own values: Django's
    ``bulk_update`` in effect, for batches.

    ``bulk_update`` builds one CASE expression per field and row, and building them costs more
    than everything else a scheduler sweep does together; here one parameterised UPDATE by
    primary key is handed to the driver with every row's values (``executemany``), which
    binds them in C and, with psycopg, sends them in one pipeline.
    """
    objs = sorted(objs, key=lambda obj: str(obj.pk))  # a fixed order: two writers never deadlock
    if not objs:
        return
    meta = type(objs[0])._meta
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in columns)
    # Only names from the model's own metadata go into the text; every value is a parameter.
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608
    rows = [
        [field.get_db_prep_save(getattr(obj, field.attname), connection) for field in columns]
        + [meta.pk.get_db_prep_value(obj.pk, connection)]
        for obj in objs
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)

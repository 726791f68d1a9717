"""moto's server (DynamoDB and SES wire protocol) for the tests, with three
changes that let it take the load test (tests/src/bin/load.rs) without
changing what any request answers:

1. Requests are handled one at a time. moto's backends are plain dicts and
   not thread-safe: concurrent TransactWriteItems calls failed with 500
   "dictionary changed size during iteration". One at a time is a valid
   order for DynamoDB too. The request body is read before the lock is
   taken, so a client that stalls mid-request holds up nobody.
2. TransactWriteItems keeps a copy of the items it touches, not of the whole
   table. moto deep-copies every table a transaction names, so a transaction
   cost time and memory in proportion to the table (20,000 sign-ups: hours,
   and many GiB). A cancelled transaction restores exactly the touched items,
   which is all the whole-table copy restored.

3. moto sorts every item of the table to answer any Query or Scan page, so
   each cost time in proportion to the table: with the load test's 120,000
   items, a second or more, while every other request waited (a sign-up
   that finds its person reads their cases with a Query; reading 20,000
   people back takes dozens of pages). Now a Query on the table (not an
   index) sorts only the partition it names, which holds exactly the items
   it could return, and the sorted list of all items is kept until an item
   is added, replaced or removed.

Usage: serve.py -H 127.0.0.1 -p PORT (as moto_server).
Pinned to moto 5.x: tests/run installs 'moto[server]>=5,<6'.
"""

import argparse
import copy
import io
import os
import threading

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


class _CopyExceptTables:
    """The `copy` module as moto's DynamoDB models see it while a
    transaction runs: a table "copied" is the table itself (the touched
    items are saved instead); everything else is copied as before."""

    def __init__(self):
        self.in_transaction = threading.local()

    def deepcopy(self, value, memo=None):
        if isinstance(value, Table) and getattr(self.in_transaction, "on", False):
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name):
        return getattr(copy, name)


_copy_except_tables = _CopyExceptTables()
dynamodb_models.copy = _copy_except_tables
_transact_write_items = DynamoDBBackend.transact_write_items


def _touched(backend, transact_items):
    """(table, hash key, range key, copy of the item or None) for each item
    a transaction names, before it runs."""
    saved = []
    for entry in transact_items:
        if len(entry) != 1:
            continue
        op_type, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName"))
        if table is None:
            continue
        attrs = op.get("Item") if op_type == "Put" else op.get("Key")
        if not attrs or table.hash_key_attr not in attrs:
            continue
        hash_key = DynamoType(attrs[table.hash_key_attr])
        range_key = None
        if table.range_key_attr is not None:
            if table.range_key_attr not in attrs:
                continue
            range_key = DynamoType(attrs[table.range_key_attr])
        if range_key is not None:
            current = table.items.get(hash_key, {}).get(range_key)
        else:
            current = table.items.get(hash_key)
        saved.append((table, hash_key, range_key, copy.deepcopy(current)))
    return saved


def _restore(saved):
    for table, _, _, _ in saved:
        _changed(table)
    for table, hash_key, range_key, item in reversed(saved):
        if range_key is not None:
            if item is None:
                table.items.get(hash_key, {}).pop(range_key, None)
            else:
                table.items[hash_key][range_key] = item
        elif item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item


def transact_write_items(self, transact_items):
    saved = _touched(self, transact_items)
    _copy_except_tables.in_transaction.on = True
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        _restore(saved)
        raise
    finally:
        _copy_except_tables.in_transaction.on = False


DynamoDBBackend.transact_write_items = transact_write_items

_table_query = Table.query
_table_all_items = Table.all_items


def table_query(self, hash_key, *args, **kwargs):
    """Table.query, reading one partition when it queries the table itself."""
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    if index_name is None and hash_key is not None and self.range_key_attr:
        self._only_partition = self.items.get(hash_key, {})
        try:
            return _table_query(self, hash_key, *args, **kwargs)
        finally:
            self._only_partition = None
    return _table_query(self, hash_key, *args, **kwargs)


def _changed(table):
    """An item was added, replaced or removed: the sorted list is stale."""
    table._sorted_items = None


def table_all_items(self):
    """Every item, sorted, as moto has it (kept until the table changes);
    only the queried partition's items while a table Query runs (they are
    all it could return)."""
    partition = getattr(self, "_only_partition", None)
    if partition is not None:
        return sorted(partition.values(), key=lambda item: item.range_key)
    cached = getattr(self, "_sorted_items", None)
    if cached is None:
        cached = _table_all_items(self)
        self._sorted_items = cached
    return list(cached)


_table_put_item = Table.put_item
_table_delete_item = Table.delete_item


def table_put_item(self, *args, **kwargs):
    _changed(self)
    try:
        return _table_put_item(self, *args, **kwargs)
    finally:
        _changed(self)


def table_delete_item(self, *args, **kwargs):
    _changed(self)
    try:
        return _table_delete_item(self, *args, **kwargs)
    finally:
        _changed(self)


Table.query = table_query
Table.all_items = table_all_items
Table.put_item = table_put_item
Table.delete_item = table_delete_item


def one_at_a_time(app):
    lock = threading.Lock()

    def handle(environ, start_response):
        length = environ.get("CONTENT_LENGTH")
        if length:
            environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"].read(int(length)))
        with lock:
            # moto answers with whole bodies: collect it inside the lock.
            return [b"".join(app(environ, start_response))]

    return handle


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host,
        args.port,
        one_at_a_time(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()

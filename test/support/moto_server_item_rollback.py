"""moto_server whose DynamoDB TransactWriteItems rolls back only the items it touches.

Why: moto 5 snapshots every table a transaction names with copy.deepcopy before applying it, so each
transaction costs time and memory in proportion to the whole table. With 1,000 destinations in one
table, every provisioner status write (a two-item transaction) copied the table twice: about 0.3 s
each, and the emulator grew past 16 GB before the scale test converged. Real DynamoDB does nothing
of the kind. The rollback here restores exactly the items the transaction named, which is the same
outcome as restoring the whole table (no other item can change inside one transaction, as moto
answers one request at a time). Everything else is moto as installed.

Used only by `npm run test:scale` (test/support/moto-global-setup.ts); every other test and
`npm start` run moto_server unchanged.
"""

import copy
import sys

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.server import main

_original = DynamoDBBackend.transact_write_items


class _CopyExceptTables:
    """The `copy` module, as moto's DynamoDB backend sees it, except that tables are not copied."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _touched(backend, transact_items):
    """(table, hash value, range value or None, a copy of the item or None) for each item named."""
    touched = []
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName"))
        if table is None:
            continue
        key = op["Item"] if "Item" in op else op.get("Key", {})
        if table.hash_key_attr not in key:
            continue
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = (
            DynamoType(key[table.range_key_attr])
            if table.range_key_attr is not None and table.range_key_attr in key
            else None
        )
        if range_value is None:
            current = table.items.get(hash_value)
        else:
            current = table.items.get(hash_value, {}).get(range_value)
        touched.append((table, hash_value, range_value, copy.deepcopy(current)))
    return touched


def _restore(touched):
    # In reverse, so an item named twice ends as it was before the first.
    for table, hash_value, range_value, item in reversed(touched):
        if range_value is None:
            if item is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = item
        else:
            rows = table.items[hash_value]
            if item is None:
                rows.pop(range_value, None)
                if not rows:
                    table.items.pop(hash_value, None)
            else:
                rows[range_value] = item


def transact_write_items(self, transact_items):
    touched = _touched(self, transact_items)
    try:
        return _original(self, transact_items)
    except Exception:
        _restore(touched)
        raise


dynamodb_models.copy = _CopyExceptTables()
DynamoDBBackend.transact_write_items = transact_write_items

if __name__ == "__main__":
    sys.exit(main())

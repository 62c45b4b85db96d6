"""moto_server for the tests and `npm run bench`: moto as installed, with its costliest bookkeeping made cheap.

Why: moto 5.2's SQS reads the wall clock through `unix_time()` (a naive datetime subtraction, ~12 us)
once or twice per message per scan, and scans every message of the queue several times per request:
each ReceiveMessage checks every received message's retention by computing all the queue's attributes
(three more scans: visible, not visible, delayed), every SendMessage computes them once, and every
delete walks the queue twice. At a depth of 1,000 messages a SendMessageBatch took ~170 ms and a
ReceiveMessage of 10 ~1 s, which made the bench at 10,000 events per mode take hours. And every
request, of any service, lists moto's package directory (a stat per service) under a lock, and lists
its handler's methods with `inspect.getmembers`.

DynamoDB: each UpdateItem's expression processors rebuilt a type map for every AST node they visit
and counted the clauses under every nested node (see below); an UpdateItem of the event item took
~5x a PutItem. EventBridge built a parser for each input path of each event it hands a rule target.

Here: the clock is `time.time()` (the same value: seconds since the epoch), read once per scan; the
retention check reads the one attribute it needs; a delete walks the queue once; the directory and
method lists are computed once; the processors' maps are built once and the clauses counted at the
root; parsed input paths are kept. Which messages a request sends, receives, hides or deletes, and what
any request answers, is unchanged, and so is every request the pipeline makes: the bench counts those
on the client side. Only moto's time per request goes down (durations measured against it come closer
to AWS's, not further).

Used by the tests (test/support/moto-global-setup.ts) and the bench (bench/pipeline.ts); `npm start`
runs moto_server unchanged. The scale test has its own launcher (moto_server_item_rollback.py).
"""

import functools
import logging
import sys
import time

import moto.backends as moto_backends
import moto.core.responses as core_responses
import moto.dynamodb.parsing.ast_nodes as ast_nodes
import moto.dynamodb.parsing.validators as validators
import moto.sqs.models as sqs_models
from moto.server import main
from moto.sqs.exceptions import ReceiptHandleIsInvalid


def _unix_time(dt=None):
    return time.time() if dt is None else _original_unix_time(dt)


def _unix_time_millis(dt=None):
    return time.time() * 1000.0 if dt is None else _original_unix_time_millis(dt)


_original_unix_time = sqs_models.unix_time
_original_unix_time_millis = sqs_models.unix_time_millis
sqs_models.unix_time = _unix_time
sqs_models.unix_time_millis = _unix_time_millis


def _is_message_valid_based_on_retention_period(self, queue_name, message):
    # As moto's, without building every attribute of the queue to read MessageRetentionPeriod.
    retention_period = int(self.get_queue(queue_name).message_retention_period)
    return retention_period + message.sent_timestamp / 1000 > time.time()


sqs_models.SQSBackend.is_message_valid_based_on_retention_period = (
    _is_message_valid_based_on_retention_period
)
Queue = sqs_models.Queue


def _visible_messages(self):
    now = time.time() * 1000.0
    return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]


def _delayed_count(self):
    now = time.time() * 1000.0
    return sum(1 for m in self._messages if now < m.delayed_until)


def _not_visible_count(self):
    now = time.time() * 1000.0
    return sum(1 for m in self._messages if not now > m.visible_at)


def _visible_count(self):
    return len(self.messages)


Queue.messages = property(_visible_messages)
Queue.approximate_number_of_messages_delayed = property(_delayed_count)
Queue.approximate_number_of_messages_not_visible = property(_not_visible_count)
Queue.approximate_number_of_messages = property(_visible_count)


def _delete_message(self, receipt_handle):
    # moto's, in one walk of the queue instead of two.
    if receipt_handle in self.deleted_messages:
        return
    kept = []
    found = False
    for message in self._messages:
        if receipt_handle == message.receipt_handle or receipt_handle in message._old_receipt_handles:
            found = True
            self.pending_messages.discard(message)
            self.deleted_messages.update(message.all_receipt_handles)
            continue
        kept.append(message)
    if not found:
        raise ReceiptHandleIsInvalid()
    self._messages = kept


Queue.delete_message = _delete_message

# The same answers every time: moto's package directories, and a handler class's methods.
_modules = tuple(moto_backends.list_of_moto_modules())
moto_backends.list_of_moto_modules = lambda: _modules
core_responses.method_names_from_class = functools.lru_cache(maxsize=None)(
    core_responses.method_names_from_class
)

# DynamoDB's expression processors rebuild their node-type map for every node they visit (an update of
# the event item visits ~1,500 nodes: 10 processors over its AST), which made an UpdateItem ~5x a
# PutItem. The map of a processor is the same for its whole life: built once per processor instead.
def _nodes_to_be_processed(self):
    self._processing_map()
    return self.__dict__["_pushrail_types"]


def _install_processing_map_cache():
    for cls in list(_all_subclasses(ast_nodes.DepthFirstTraverser)):
        if "_processing_map" in cls.__dict__:
            original = cls.__dict__["_processing_map"]

            def cached(self, _original=original):
                found = self.__dict__.get("_pushrail_map")
                if found is None:
                    found = _original(self)
                    self.__dict__["_pushrail_map"] = found
                    self.__dict__["_pushrail_types"] = tuple(found.keys())
                return found

            cls._processing_map = cached
    ast_nodes.DepthFirstTraverser.nodes_to_be_processed = _nodes_to_be_processed


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


_install_processing_map_cache()

_original_verify_action_counts = validators.ActionCountValidator.verify_action_counts


def _verify_action_counts(self, node):
    # An update expression's AST nests one UpdateExpression node per clause, and moto counts the clauses
    # under every one of them (quadratic). The root's clauses include every nested node's: counted there
    # alone, the same expressions pass and the same ones fail, with the same error.
    if node.parent is None:
        return _original_verify_action_counts(self, node)
    return node


validators.ActionCountValidator.verify_action_counts = _verify_action_counts

# EventBridge: delivering an event to a rule's target parses each path of the input template with
# jsonpath_ng, whose `parse` builds a new PLY parser (LALR tables and all) on every call: ~90% of the
# emulator's time while the inbox rules receive PutEvents. The parsed paths are the same every time.
try:
    import jsonpath_ng.ext as jsonpath_ext
except ImportError:  # moto installed without EventBridge's extras: nothing to speed up
    jsonpath_ext = None
if jsonpath_ext is not None:
    jsonpath_ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ext.parse)

# werkzeug logs a line per request to stderr under a lock its request threads queue on (~30% of the
# emulator's time in a profile); the launcher's caller keeps only the tail of stderr for errors.
logging.getLogger("werkzeug").setLevel(logging.WARNING)


if __name__ == "__main__":
    main(sys.argv[1:])

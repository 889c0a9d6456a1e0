"""A worker-side task state store backend ([workers] state_store_backend) whose deletes are slow.

It keeps values where the default backend does (the reference is the JSON value itself, stored by the
API server) and only makes ``delete`` wait $FORK_TEST_STORE_DELETE_SECONDS, as an object store under
throttling would. Used by tests/test_iterate.py to show that deleting ``.iterate()`` checkpoints after
success never counts against execution_timeout.
"""

from __future__ import annotations

import os
import time

from airflow.sdk.state import BaseStoreBackend


def _pause() -> None:
    time.sleep(float(os.environ.get("FORK_TEST_STORE_DELETE_SECONDS", "0")))


class SlowDeleteStateStore(BaseStoreBackend):
    """Values inline (the default references); every delete takes $FORK_TEST_STORE_DELETE_SECONDS."""

    def get(self, scope, key, *, session=None):
        return None

    def set(self, scope, key, value, *, expires_at=None, session=None):
        return None

    def delete(self, scope, key, *, session=None):
        _pause()

    def clear(self, scope, *, all_map_indices=False, session=None):
        _pause()

    async def aget(self, scope, key, *, session=None):
        return None

    async def aset(self, scope, key, value, *, expires_at=None, session=None):
        return None

    async def adelete(self, scope, key, *, session=None):
        _pause()

    async def aclear(self, scope, *, all_map_indices=False, session=None):
        _pause()

"""Weak references without the weakref module, whose import (with types and _weakrefset) would
cost every start ~0.7 ms: `ref` is the C type itself; WeakOrderedSet and WeakKeyMap are the
parts of WeakSet and WeakKeyDictionary the sentry uses. An entry goes when its object does
(the reference's callback runs as the object is freed, before its id can be reused)."""
from _weakref import ref

__all__ = ["ref", "WeakOrderedSet", "WeakKeyMap"]


class WeakOrderedSet:
    """A set that keeps insertion order and does not keep its members alive."""

    def __init__(self):
        self._refs = {}

    def add(self, item):
        key = id(item)
        if key not in self._refs:
            self._refs[key] = ref(item, lambda _, key=key, refs=self._refs: refs.pop(key, None))

    def discard(self, item):
        self._refs.pop(id(item), None)

    def __contains__(self, item):
        found = self._refs.get(id(item))
        return found is not None and found() is item

    def __iter__(self):
        if not self._refs:
            return iter(())
        return iter([item for item in (found() for found in list(self._refs.values())) if item is not None])

    # A member's entry goes as the member does: what is left are live members.
    def __len__(self):
        return len(self._refs)

    def __bool__(self):
        return bool(self._refs)


class WeakKeyMap:
    """A mapping whose keys are held weakly (TypeError for a key that can't be)."""

    def __init__(self):
        self._entries = {}              # id(key) -> (ref to key, value)

    def get(self, key, default=None):
        entry = self._entries.get(id(key))
        if entry is not None and entry[0]() is key:
            return entry[1]
        ref(key)                    # TypeError, as WeakKeyDictionary's, for a key that can't be
        return default

    def __setitem__(self, key, value):
        ident = id(key)
        self._entries[ident] = (ref(key, lambda _, entries=self._entries: entries.pop(ident, None)), value)

"""YAML reading of the files a user gives the tool (scenarios, parameter sets, trial designs, sensitivity
specs, the app's uploads): ``yaml.safe_load`` (nothing in the text is evaluated) that refuses a key
given twice in one mapping."""

from __future__ import annotations

from typing import Any

import yaml


class _UniqueKeys:
    """A safe loader's mapping constructor that refuses a key given twice in one mapping (YAML requires
    unique keys; PyYAML would silently keep the last). Entries brought in by a merge key (``<<:``) may be
    overridden."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (keys must differ)", key_node.start_mark
                    )
                seen.add(key)
            except TypeError:  # an unhashable key: refused by SafeLoader itself
                pass
        return super().construct_mapping(node, deep=deep)


class _UniqueKeyLoader(_UniqueKeys, yaml.SafeLoader):
    """``yaml.SafeLoader`` refusing duplicate keys (its messages are the ones the tests and docs show)."""


# The same with libyaml's parser where PyYAML has it: ~10x faster on a large file (calibrated.yaml, 70 kB,
# is read by every scenario that names it: 0.2-0.3 s with the pure-Python parser).
_FastUniqueKeyLoader = type("_FastUniqueKeyLoader", (_UniqueKeys, getattr(yaml, "CSafeLoader", yaml.SafeLoader)), {})


def safe_load_unique(raw: bytes | str, fast: bool = False) -> Any:
    """``yaml.safe_load`` that refuses duplicate keys; nothing is evaluated. ``fast``: libyaml's parser
    (where installed; its messages for malformed text differ in wording), for large files the tool writes."""
    return yaml.load(raw, Loader=_FastUniqueKeyLoader if fast else _UniqueKeyLoader)  # safe loaders only

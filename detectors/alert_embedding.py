"""What an alert is about, as a vector: its rule, detector, entity kind, the templates of its evidence lines and
their key fields (service, action, outcome, account, host family), hashed into a fixed-size vector.

No model weights (air-gapped sites): feature hashing is stateless, so a vector written today compares with one
written next year without a vocabulary to keep. Each token lands in one of `DIMS` buckets by a fixed, unkeyed
BLAKE2b hash (Python's own `hash` is salted per process). Each field's tokens count once per alert (an alert of
200 identical lines weighs the same as one of 20), and the rule and entity kind count more than any one word of
a template. This used scikit-learn's HashingVectorizer until importing scikit-learn (and SciPy) into the console
was measured at ~50 MB of its resident memory (idle: 318 → 271 MB) and ~1.5 s of CPU for this one function.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

DIMS = 256
MODEL = f"hash{DIMS}-v2"  # stored with each vector: a new scheme re-embeds instead of comparing unlike vectors
EVIDENCE_ROWS = 20  # evidence lines per alert that feed its vector (the first ones: how it began)

_WORD = re.compile(r"[a-z][a-z0-9_\-]{1,30}")
_DIGITS = re.compile(r"\d+")
_WEIGHTS = {"rule": 3, "family": 2, "kind": 2, "detector": 1}


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower().replace("<*>", " ")))


def alert_tokens(alert: Mapping[str, Any], evidence: Iterable[Mapping[str, Any]]) -> list[str]:
    """The alert's features as prefixed tokens. `evidence` rows carry template (or message), service, action,
    outcome, user, host and app."""
    tokens: list[str] = []
    rule = str(alert.get("rule_id") or "")
    entity = str(alert.get("entity") or "")
    fixed = {"rule": rule, "family": rule.split(".", 1)[0] if "." in rule else "",
             "kind": entity.split("=", 1)[0] if "=" in entity else "", "detector": str(alert.get("detector") or "")}
    for name, value in fixed.items():
        if value:
            tokens += [f"{name}:{value.lower()}"] * _WEIGHTS[name]
    if alert.get("category"):
        tokens.append(f"cat:{str(alert['category']).lower()}")
    seen: set[str] = set()
    for row in evidence:
        text = str(row.get("template") or "") or _DIGITS.sub(" ", str(row.get("message") or ""))
        seen |= {f"w:{w}" for w in _words(text)}
        for key in ("service", "action", "outcome", "app", "user"):
            if row.get(key):
                seen.add(f"{key}:{str(row[key]).lower()[:64]}")
        if row.get("host"):
            seen.add(f"hostfamily:{_DIGITS.sub('#', str(row['host']).lower())[:64]}")  # backup1, backup2 → backup#
    return tokens + sorted(seen)


def embed(token_lists: Sequence[list[str]]) -> np.ndarray:
    """Rows of L2-normalised float32 vectors, one per token list (a repeated token counts each time)."""
    out = np.zeros((len(token_lists), DIMS), dtype=np.float32)
    for row, tokens in enumerate(token_lists):
        if tokens:
            out[row] = np.bincount([_bucket(t) for t in tokens], minlength=DIMS)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


@lru_cache(maxsize=65536)
def _bucket(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                          "little") % DIMS

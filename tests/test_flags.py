"""flags.bucket against the playbook's PerformanceFeatureFlag, run verbatim under Node.js."""

from __future__ import annotations

import json
import random
import shutil
import subprocess

import pytest  # noqa: F401

from workbench import flags

# The playbook's class, verbatim (A/B Testing for Performance > Feature Flag Based Testing).
PLAYBOOK_JS = r"""
class PerformanceFeatureFlag {
  constructor(flagName, percentage = 50) {
    this.flagName = flagName;
    this.percentage = percentage;
  }

  isEnabled(userId) {
    const hash = this.hash(userId + this.flagName);
    return (hash % 100) < this.percentage;
  }

  hash(str) {
    let hash = 0;
    for (let i = 0; i < str.length; i++) {
      const char = str.charCodeAt(i);
      hash = ((hash << 5) - hash) + char;
      hash = hash & hash; // Convert to 32-bit integer
    }
    return Math.abs(hash);
  }
}
"""

DRIVER = r"""
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = input.cases.map(([id, flag, pct]) => {
  const f = new PerformanceFeatureFlag(flag, pct);
  return [f.hash(id + flag), f.isEnabled(id)];
});
process.stdout.write(JSON.stringify(out));
"""


def _node() -> str:
    node = shutil.which("node")
    assert node, "Node.js is required for this test (apt-get install nodejs)"
    return node


def _ids(n: int) -> list:
    rng = random.Random(20240806)
    alphabets = [
        "abcdefghijklmnopqrstuvwxyz0123456789-_",
        "äöüßéèçñøåæ",              # Latin-1 / BMP
        "日本語中文한국어Ελληνικάкириллица",  # other BMP scripts
        "😀🚀𝔘𝔫𝔦𝔠𝔬𝔡𝔢🧪",             # astral: two UTF-16 code units each
        "\u0000\uffff\ud7ff\ue000",   # edges of the BMP
    ]
    ids: list = ["", "0", "user-1", "42", "user_12345", "😀", "a" * 1000]
    # known -2**31 hash: the empty flag name and an id hashing to exactly INT32_MIN is rare; fuzz instead
    while len(ids) < n:
        kind = rng.random()
        if kind < 0.15:
            ids.append(rng.randint(0, 10**12))            # numeric ids: JS `+` makes them strings
        else:
            chars = "".join(rng.choice(alphabets[rng.randrange(len(alphabets))]) for _ in range(rng.randint(1, 40)))
            ids.append(chars)
    return ids


def test_bucket_matches_playbook_js_under_node() -> None:
    ids = _ids(12_000)
    flag_names = ["optimized_query_v2", "cache_v3", "ß-flag-😀", ""]
    cases = [[i, flag_names[k % len(flag_names)], [25, 50, 10, 99][k % 4]] for k, i in enumerate(ids)]
    proc = subprocess.run([_node(), "-e", PLAYBOOK_JS + DRIVER], input=json.dumps(cases and {"cases": cases}),
                          capture_output=True, text=True, timeout=60, check=True)
    js = json.loads(proc.stdout)
    mismatches = []
    for (uid, flag, pct), (h, enabled) in zip(cases, js, strict=True):
        s = flags._js_string(uid) + flag
        if flags.js_hash(s) != h or flags.bucket(uid, flag, pct) != enabled:
            mismatches.append((uid, flag, pct, h, enabled, flags.js_hash(s)))
    assert not mismatches, mismatches[:5]
    assert len(cases) >= 10_000


def test_int32_min_hash_gives_positive_2_31() -> None:
    """Math.abs(-2**31) is 2**31 in JS (a double), so bucket = 2**31 % 100 = 48."""
    # found by searching prefixes "user-i" for a final char c with 31*h + c == -2**31 (mod 2**32)
    text = "user-8743000\u8db0"
    out = subprocess.run([_node(), "-e", PLAYBOOK_JS + f"process.stdout.write(String(new PerformanceFeatureFlag('x').hash({json.dumps(text)})))"],
                         capture_output=True, text=True, check=True).stdout
    assert flags.js_hash(text) == int(out) == 2**31
    assert flags.js_hash(text) % 100 == 48


def test_bucket_split_is_close_to_percentage() -> None:
    enabled = sum(flags.bucket(f"user-{i}", "optimized_query_v2", 25) for i in range(20_000))
    assert 0.22 < enabled / 20_000 < 0.28

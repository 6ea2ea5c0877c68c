#!/usr/bin/env python3
"""Regenerate the committed sample videos (deterministic): ``python sample_videos/generate.py``.

Larger benchmark sets: ``edgewatch generate falling --out data/bench/x --count 64 --seed 1000``.
"""

import sys

from edgewatch.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["generate", "samples", *sys.argv[1:]]))

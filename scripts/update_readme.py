#!/usr/bin/env python3
"""Regenerate README.md's results tables from benchmarks/results/*.json.

    python scripts/update_readme.py            # rewrite the tables between <!-- results:NAME:start/end --> markers
    python scripts/update_readme.py --check    # exit 1 if README.md is out of date (for CI)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from readme_tables import MarkerError, update_readme  # scripts/readme_tables.py: repository tooling, not in the wheel

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--readme", default=str(ROOT / "README.md"))
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--check", action="store_true", help="do not write; exit 1 when the README would change")
    args = p.parse_args(argv)
    readme = Path(args.readme)
    if not readme.is_file():
        print(f"error: {readme} not found: pass --readme PATH", file=sys.stderr)
        return 2
    try:
        changed = update_readme(readme, args.results, check=args.check)
    except MarkerError as exc:
        print(f"error: {readme}: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"{readme} is {'out of date: run python scripts/update_readme.py' if changed else 'up to date'}")
        return 1 if changed else 0
    print(f"{readme}: {'tables updated' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Fails when a suite registered again on PostgreSQL (hitl_discover_postgres_tests) would not run
there: every test under each given prefix must carry HITL_TEST_BACKEND=postgres and need the
fixture hitl_pg, and each prefix must have tests. (catch_discover_tests once dropped the variable,
and those suites ran SQLite under PostgreSQL names, passing.) Run by ctest as
lint:postgres-registrations; usage: check_postgres_registrations.py BUILD_DIR PREFIX..."""
import json
import subprocess
import sys


def main(build_dir, prefixes):
    shown = subprocess.run(["ctest", "--show-only=json-v1"], cwd=build_dir, capture_output=True, text=True, check=True)
    tests = json.loads(shown.stdout)["tests"]
    problems = []
    for prefix in prefixes:
        mine = [t for t in tests if t["name"].startswith(prefix + ":")]
        if not mine:
            problems.append(f"{prefix}: no tests registered (is the test binary built?)")
        for t in mine:
            props = {p["name"]: p["value"] for p in t.get("properties", [])}
            if "HITL_TEST_BACKEND=postgres" not in props.get("ENVIRONMENT", []):
                problems.append(f"{t['name']}: no HITL_TEST_BACKEND=postgres in its ENVIRONMENT")
            if "hitl_pg" not in props.get("FIXTURES_REQUIRED", []):
                problems.append(f"{t['name']}: does not require the fixture hitl_pg")
    for p in problems:
        print(p)
    print(f"checked {len(prefixes)} PostgreSQL registrations: {'FAILED' if problems else 'ok'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))

#!/usr/bin/env python3
"""Counts test cases of `bazel test --test_summary=short` runs.

Usage: count_tests.py LOG STATUS [TESTLOGS [LABEL]] [LOG STATUS TESTLOGS LABEL ...]
(one run per group; TESTLOGS defaults to bazel-testlogs; a LABEL prefixes that run's failures).

A group whose TESTLOGS is "fuzz-table" is a tools/fuzz.sh log instead: one case per target
row ("NAME ok ..." passes, "NAME FAILED ..." fails; a failure with no row at all counts once).

Reads the run's summary lines ("//pkg:target   PASSED in 0.1s", "(cached) PASSED",
"FAILED", "FAILED TO BUILD", "NO STATUS", "TIMEOUT"), then each listed target's
bazel-testlogs/<pkg>/<target>/test.xml. Prints skipped cases (GPU tests without a GPU) on
one line, then the closing line "N passed, M failed".
"""
import os
import re
import sys
import xml.etree.ElementTree as ET

SUMMARY = re.compile(r"^(//\S+)\s+(?:\(cached\)\s+)?(PASSED|FAILED TO BUILD|FAILED|NO STATUS|TIMEOUT|FLAKY|SKIPPED)\b")


def count_xml(path):
    passed = failed = skipped = 0
    failures = []
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        name = case.get("classname", "") + "." + case.get("name", "")
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
            failures.append(name)
        elif case.get("result") == "skipped" or case.find("skipped") is not None or case.get("status") == "notrun":
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped, failures


FUZZ_ROW = re.compile(r"^(\S+)\s+(ok|FAILED)\s")


def count_fuzz(log_path, status, label_prefix):
    passed = failed = 0
    names = []
    with open(log_path, errors="replace") as f:
        for line in f:
            m = FUZZ_ROW.match(line)
            if not m:
                continue
            if m.group(2) == "ok":
                passed += 1
            else:
                failed += 1
                names.append(f"{label_prefix}{m.group(1)}: {line.strip()}")
    if passed + failed == 0 and status != 0:
        failed, names = 1, [f"{label_prefix}tools/fuzz.sh exited with {status} before fuzzing (see its message)"]
    elif status != 0 and failed == 0:
        failed, names = 1, [f"{label_prefix}tools/fuzz.sh exited with {status} (a target did not build?)"]
    return passed, failed, 0, names


def count_run(log_path, bazel_status, testlogs, label_prefix):
    if testlogs == "fuzz-table":
        return count_fuzz(log_path, bazel_status, label_prefix)
    passed = failed = skipped = 0
    failed_names = []
    targets = 0
    with open(log_path, errors="replace") as f:
        for line in f:
            m = SUMMARY.match(line.strip())
            if not m:
                continue
            label, result = m.group(1), m.group(2)
            targets += 1
            pkg, _, name = label[2:].partition(":")
            xml = os.path.join(testlogs, pkg, name, "test.xml")
            if result in ("FAILED TO BUILD", "NO STATUS", "TIMEOUT") or not os.path.exists(xml):
                failed += 1
                failed_names.append(f"{label_prefix}{label} ({result})")
                continue
            try:
                p, fl, s, names = count_xml(xml)
            except ET.ParseError as e:
                failed += 1
                failed_names.append(f"{label_prefix}{label} (unreadable test.xml: {e})")
                continue
            if result == "FAILED" and fl == 0:  # crashed after writing passing cases
                fl, names = 1, [f"{label} (target failed)"]
            passed, failed, skipped = passed + p, failed + fl, skipped + s
            failed_names += [f"{label_prefix}{label}: {n}" for n in names]
    if targets == 0 and bazel_status != 0:
        failed += 1
        failed_names.append(f"{label_prefix}bazel exited with {bazel_status} before running tests")
    return passed, failed, skipped, failed_names


def main():
    args = sys.argv[1:]
    runs = []
    i = 0
    while i < len(args):
        log, status = args[i], int(args[i + 1])
        testlogs = args[i + 2] if i + 2 < len(args) else "bazel-testlogs"
        label = args[i + 3] + ": " if i + 3 < len(args) and args[i + 3] else ""
        runs.append((log, status, testlogs, label))
        i += 4
    passed = failed = skipped = 0
    failed_names = []
    for log, status, testlogs, label in runs:
        p, fl, s, names = count_run(log, status, testlogs, label)
        passed, failed, skipped = passed + p, failed + fl, skipped + s
        failed_names += names
    for n in failed_names:
        print(f"FAILED: {n}")
    if skipped:
        print(f"{skipped} skipped (GPU tests on a machine without a usable GPU; they run on the device machine)")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m statemachines.builder [--check]``: write the ASL files, or check they are current and sound."""

from __future__ import annotations

import sys

from statemachines.builder import contract_findings, stale_files, write


def main(argv: list[str]) -> int:
    findings = contract_findings()
    for finding in findings:
        print(f"contract: {finding}", file=sys.stderr)
    if "--check" in argv:
        stale = stale_files()
        for name in stale:
            print(f"statemachines/{name} is stale: run `make asl` and commit it", file=sys.stderr)
        return 1 if stale or findings else 0
    if findings:
        print("not written: fix the contracts first", file=sys.stderr)
        return 1
    for name in write():
        print(f"wrote statemachines/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

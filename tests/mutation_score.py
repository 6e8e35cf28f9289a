"""The score of the last `make mutate` run, by module: mutants killed (a test failed), survived
(every test passed: a gap, or a mutant that changes nothing), timed out (counted as killed),
without a test reaching the mutated function, and not run yet. Reads mutmut's files in
mutants/; `python tests/mutation_score.py`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

# mutmut's exit codes of a mutant's test run.
OUTCOMES = {1: "killed", 0: "survived", 33: "no tests", None: "not run"}
COLUMNS = ("killed", "survived", "timeout", "no tests", "not run")


def outcome(code: int | None) -> str:
    return OUTCOMES.get(code, "timeout" if code in (-24, 24, 36) else f"exit {code}")


def score(counts: Counter[str]) -> str:
    tried = counts["killed"] + counts["survived"] + counts["timeout"]
    return f"{(counts['killed'] + counts['timeout']) / tried:.1%}" if tried else "-"


def main(folder: Path = Path("mutants/src/gameline/tasks")) -> None:
    total: Counter[str] = Counter()
    print(f"| module | {' | '.join(COLUMNS)} | score |\n|---|{'---|' * (len(COLUMNS) + 1)}")
    for meta in sorted(folder.rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        counts = Counter(outcome(c) for c in codes.values())
        total.update(counts)
        name = str(meta.relative_to(folder)).removesuffix(".meta")
        print(f"| {name} | {' | '.join(str(counts[c]) for c in COLUMNS)} | {score(counts)} |")
    print(f"| all | {' | '.join(str(total[c]) for c in COLUMNS)} | {score(total)} |")


if __name__ == "__main__":
    main()

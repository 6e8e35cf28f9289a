"""The bad-input corpus as a table: each case of tests/integration/test_bad_inputs.py ingested
into a store that already holds games, through the same task functions the ingest flow runs:
what Gameline did (the first line of its message, or what it quarantined), the seconds it took,
and whether the stored data (game store, manifests, quarantine) is byte for byte unchanged.
On the command line each failure is that line after `error:`, with exit code 1.

    python bench/bench_faults.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from common import REPO, print_table

sys.path.insert(0, str(REPO))


def main() -> int:
    from gameline.tasks.config import load_config, state_paths
    from gameline.tasks.data.ingest import read_store
    from tests.integration.test_bad_inputs import (
        CASES,
        EXPECTED,
        TEAMS,
        csv,
        good_rows,
        ingest,
        stored_digest,
    )

    rows = []
    for name, (make, _, _) in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            config = load_config(
                REPO / "configs" / "default.yaml",
                overrides={"state_dir": str(folder / "state"), "league": {"teams": TEAMS},
                           "source": {"kind": "csv", "path": str(folder / "september.csv")}},
                environ={},
            )  # fmt: skip
            ingest(config, csv(folder / "september.csv", good_rows(30, "2024-09-01", seed=1)))
            before = stored_digest(config)
            stored = len(read_store(state_paths(config).raw_games))
            file = make(folder / "input.csv")
            started = time.perf_counter()
            try:
                manifest = ingest(config, file)
                did = (
                    f"stored {manifest.new} new; quarantined {manifest.quarantined}, repaired "
                    f"{manifest.repaired}: {', '.join(manifest.rules) or '-'}"
                )
                code, check = "0", f"store {stored} -> {stored + manifest.new} games, readable"
            except EXPECTED as exc:
                did = str(exc).splitlines()[0].replace(str(folder), "<tmp>")[:150]
                code = "1"
                check = "unchanged" if stored_digest(config) == before else "CHANGED"
            rows.append([name, did, code, f"{time.perf_counter() - started:.2f}", check])
    print_table("Bad inputs", ["case", "what Gameline did", "exit", "s", "stored data"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

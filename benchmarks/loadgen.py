"""Closed-loop HTTP load for the benchmarks: `mleditor.advise.loadgen`, which the advisor shares (see there).

    .venv/bin/python benchmarks/loadgen.py --url http://127.0.0.1:8000/predict/v2 --bodies bodies.jsonl \\
        --concurrency 16 --duration 5
"""

from mleditor.advise.loadgen import (
    WRK_SCRIPT,
    LoadGenerator,
    Tally,
    build_requests,
    connection,
    main,
    read_response,
    run,
)

__all__ = ["WRK_SCRIPT", "LoadGenerator", "Tally", "build_requests", "connection", "main", "read_response", "run"]

if __name__ == "__main__":
    main()

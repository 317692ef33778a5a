"""Cold start: `import app` of every function in a fresh process, against the import of exactly the
third-party modules that import loaded (the floor no code of ours can beat), interleaved run by run."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from bench import ROOT, median, table
from local.template import load_template

RUNS = 7
GOAL = 1.10
FLAGS = ("pymongo", "boto3", "botocore")

# The child's preamble is the same in both kinds, so only the timed imports differ.
HANDLER = """
import sys, time
t = time.perf_counter()
import app
ms = (time.perf_counter() - t) * 1000
skip = set(sys.stdlib_module_names) | {"milvus_cloud", "app", "__main__", "__mp_main__"}
mods = sorted(m for m in sys.modules if m.partition(".")[0] not in skip)
sys.stdout.write(f"{ms}\\n" + "\\n".join(mods) + "\\n")
sys.stdout.flush()
import os; os._exit(0)
"""

BASELINE = """
import sys, time, importlib
names = sys.stdin.read().split()
failed = 0
t = time.perf_counter()
for name in names:
    try:
        importlib.import_module(name)
    except Exception:
        failed += 1
ms = (time.perf_counter() - t) * 1000
sys.stdout.write(f"{ms}\\n{failed}\\n")
sys.stdout.flush()
import os; os._exit(0)
"""


def child_env(code_uri: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "AWS_", "POWERTOOLS_", "LOCAL_"))}
    keep.pop("PYTHONPATH", None)
    return {
        **keep,
        "PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{code_uri}",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "MilvusCloud",
        "AWS_REGION": "us-east-1",
    }


def run_child(code: str, env: dict[str, str], stdin: str = "") -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        raise RuntimeError(f"cold-start child failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout.split()


def run() -> dict[str, Any]:
    functions = load_template().functions
    envs = {fid: child_env(str(fn.code_uri)) for fid, fn in functions.items()}
    modules: dict[str, list[str]] = {}
    for fid in functions:  # one listing child each, which is also the warm-up run
        modules[fid] = run_child(HANDLER, envs[fid])[1:]
    handler_ms: dict[str, list[float]] = {fid: [] for fid in functions}
    baseline_ms: dict[str, list[float]] = {fid: [] for fid in functions}
    ratios: dict[str, list[float]] = {fid: [] for fid in functions}
    extra: dict[str, list[float]] = {fid: [] for fid in functions}
    failures: dict[str, int] = {}

    def baseline_run(fid: str) -> float:
        ms, failed = run_child(BASELINE, envs[fid], "\n".join(modules[fid]))
        failures[fid] = int(failed)
        return float(ms)

    for round_ in range(RUNS):  # paired: each handler run next to its baseline run, in alternating order
        for fid in functions:
            if round_ % 2 == 0:
                handler, base = float(run_child(HANDLER, envs[fid])[0]), baseline_run(fid)
            else:
                base, handler = baseline_run(fid), float(run_child(HANDLER, envs[fid])[0])
            handler_ms[fid].append(handler)
            baseline_ms[fid].append(base)
            ratios[fid].append(handler / base)
            extra[fid].append(handler - base)

    results: dict[str, Any] = {}
    rows = []
    for fid in functions:
        mods = modules[fid]
        base, handler = median(baseline_ms[fid]), median(handler_ms[fid])
        ratio, ours = median(ratios[fid]), median(extra[fid])
        floor_ratio = min(handler_ms[fid]) / min(baseline_ms[fid])
        tops = {m.partition(".")[0] for m in mods}
        flags = {name: name in tops for name in FLAGS}
        results[fid] = {
            "baseline_ms": round(base, 1),
            "handler_ms": round(handler, 1),
            "ours_ms": round(ours, 1),
            "ratio": round(ratio, 3),
            "ratio_of_minimums": round(floor_ratio, 3),
            "third_party_modules": len(mods),
            "baseline_import_failures": failures[fid],
            "imports": flags,
        }
        rows.append(
            [
                fid.removesuffix("Function"),
                len(mods),
                base,
                handler,
                ours,
                f"{ratio:.2f}",
                "ok" if ratio <= GOAL else "OVER",
                f"{floor_ratio:.2f}",
                *("yes" if flags[n] else "-" for n in FLAGS),
            ]
        )
    table(
        f"Cold start: import app in a fresh process, median of {RUNS} (ms); goal ratio <= {GOAL}",
        ["function", "3p mods", "baseline ms", "handler ms", "ours ms", "ratio", "goal", "min ratio", *FLAGS],
        rows,
        note="baseline: a fresh process importing exactly the third-party modules the handler's import loaded; "
        f"ratio and ours: medians of the {RUNS} paired runs' handler/baseline and handler-baseline; "
        "min ratio: fastest handler / fastest baseline (least disturbed by other load); "
        f"{len({tuple(m) for m in modules.values()})} distinct module sets; "
        f"baseline import failures: {sum(failures.values())}",
    )
    return {"runs": RUNS, "goal_ratio": GOAL, "ratio": "median of paired handler/baseline runs", "functions": results}

"""`make bench`: every section, a table each, and the figures in bench/results.json.

    python -m bench [cold_start] [scale] [workflow] [throughput] [package_size] [--serial]

The workflow section mostly waits (a simulated 60 s EC2 boot, twice), so it runs in a process of its
own alongside the others unless --serial; the cold-start children run one at a time, leaving it a core.
A section that hits a real error is reported and the run exits 1; a slow figure never fails it."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import RESULTS, ROOT, USER

SECTIONS = ("cold_start", "scale", "workflow", "throughput", "package_size")


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    versions = {name: metadata.version(name) for name in ("moto", "secantusdb", "pymongo", "aws-lambda-powertools")}
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "os": platform.platform(),
        **versions,
    }


def section(name: str, results: dict[str, Any], errors: list[str], call: Callable[[], Any]) -> None:
    start = time.perf_counter()
    try:
        results[name] = call()
    except Exception as exc:  # noqa: BLE001 - a real error in one section must not hide the others' figures
        traceback.print_exc()
        errors.append(f"{name}: {exc}")
        results[name] = {"error": str(exc)}
    print(f"({name}: {time.perf_counter() - start:.0f} s here)", flush=True)


def stack_sections(chosen: list[str], results: dict[str, Any], errors: list[str]) -> None:
    """Scale and throughput share one local stack, started in this process."""
    from local.stack import LocalStack

    stack = LocalStack(port=0)
    try:
        began = time.perf_counter()
        stack.start()
        print(f"\n(local stack started in {time.perf_counter() - began:.1f} s)", flush=True)
        from bench import scale, throughput
        from milvus_cloud.logic.auth import issue_session

        token = issue_session(USER)
        if "scale" in chosen:
            section("scale", results, errors, lambda: scale.run(stack, token))
        if "throughput" in chosen:
            if "scale" not in chosen:
                scale.setup(stack.info["api"], token)
            section("throughput", results, errors, lambda: throughput.run(stack, token))
    except Exception as exc:  # noqa: BLE001 - the stack itself failed: report it, run the other sections
        traceback.print_exc()
        errors.append(f"local stack: {exc}")
    finally:
        stack.stop()


def start_workflow(scratch: Path) -> subprocess.Popen[bytes]:
    log = (scratch / "workflow.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "bench.workflow", str(scratch / "workflow.json")],
        cwd=ROOT,
        env={**os.environ, "LOCAL_STACK_FILE": str(scratch / "workflow-stack.json")},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def finish_workflow(proc: subprocess.Popen[bytes], scratch: Path) -> dict[str, Any]:
    try:
        proc.wait(timeout=420)
    except subprocess.TimeoutExpired:
        proc.kill()  # our own child, by its handle
        raise
    print((scratch / "workflow.log").read_text(), end="", flush=True)
    if proc.returncode != 0:
        raise RuntimeError(f"the workflow benchmark exited with {proc.returncode} (its output is above)")
    result: dict[str, Any] = json.loads((scratch / "workflow.json").read_text())
    return result


def main(argv: list[str]) -> int:
    serial = "--serial" in argv
    chosen = [name for name in argv if name != "--serial"] or list(SECTIONS)
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        print(f"unknown sections: {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="bench-"))
    os.environ["LOCAL_STACK_FILE"] = str(scratch / "stack.json")  # never the file of a `make serve` running here
    results: dict[str, Any] = {"machine": machine(), "started": datetime.now(UTC).isoformat(timespec="seconds")}
    errors: list[str] = []
    start = time.perf_counter()
    print(f"milvus-cloud benchmarks on {results['machine']['cpu']} ({results['machine']['cores']} cores)", flush=True)

    workflow = start_workflow(scratch) if "workflow" in chosen and not serial else None
    if "cold_start" in chosen:
        from bench import cold_start

        section("cold_start", results, errors, cold_start.run)
    if {"scale", "throughput"} & set(chosen):
        stack_sections(chosen, results, errors)
    if "package_size" in chosen:
        from bench import package_size

        section("package_size", results, errors, package_size.run)
    if "workflow" in chosen:
        if workflow is None:
            workflow = start_workflow(scratch)
        proc = workflow
        section("workflow", results, errors, lambda: finish_workflow(proc, scratch))

    shutil.rmtree(scratch, ignore_errors=True)
    results["total_seconds"] = round(time.perf_counter() - start, 1)
    results["errors"] = errors
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\ntotal {results['total_seconds']:.0f} s; figures written to {RESULTS.relative_to(ROOT)}")
    for error in errors:
        print(f"ERROR {error}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

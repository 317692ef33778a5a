"""Package size: `sam build` (offline, into a scratch directory so the project's .aws-sam is left alone),
then the unzipped size of the layer and of each function's artifact, and what the layer bundles."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import ROOT, table

SAM = ROOT / ".venv-sam" / "bin" / "sam"
# What the python3.13 Lambda runtime already provides: bundling them only adds size (and shadows the runtime's).
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six"}
DEV_ONLY = {"secantus", "moto", "pytest", "requests", "werkzeug", "flask"}  # never to be packaged
MiB = 1024 * 1024


def size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def sam_build(build_dir: Path) -> str | None:
    """None on success, else why the section is skipped."""
    if not SAM.exists():
        made = subprocess.run(["make", "sam-venv"], cwd=ROOT, capture_output=True, text=True, timeout=600)
        if made.returncode != 0 or not SAM.exists():
            return f"aws-sam-cli could not be installed (make sam-venv): {made.stderr[-500:]}"
    env = {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "SAM_CLI_TELEMETRY": "0",
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    }
    cmd = [str(SAM), "build", "--build-dir", str(build_dir), "--cache-dir", str(build_dir.parent / "cache")]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return f"sam build failed ({done.returncode}): {(done.stderr or done.stdout)[-800:]}"
    return None


def top_level(site: Path) -> dict[str, int]:
    """Size per distribution in the layer's python/ directory, a package counted with its .dist-info."""
    sizes: dict[str, int] = {}
    for entry in site.iterdir():
        name = entry.name.split("-")[0] if entry.name.endswith(".dist-info") else entry.name.removesuffix(".py")
        sizes[name.lower()] = sizes.get(name.lower(), 0) + size(entry)
    return sizes


def compile_ms(package: Path) -> tuple[int, float]:
    """The layer ships our package without .pyc (the Makefile removes __pycache__), and /opt is read-only on
    Lambda: every cold start compiles the modules it imports. This is what compiling all of them costs."""
    files = sorted(package.rglob("*.py"))
    start = time.perf_counter()
    for file in files:
        compile(file.read_bytes(), str(file), "exec")
    return len(files), (time.perf_counter() - start) * 1000


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-sam-") as scratch:
        build = Path(scratch) / "build"
        start = time.perf_counter()
        skipped = sam_build(build)
        if skipped:
            print(f"\n== Package size: skipped: {skipped}")
            return {"skipped": skipped}
        build_s = time.perf_counter() - start
        layer = build / "CommonLayer"
        site = layer / "python"
        packages = top_level(site)
        artifacts = {d.name: d for d in sorted(build.iterdir()) if d.is_dir() and d.name != "CommonLayer"}
        layer_bytes, layer_files = size(layer), sum(1 for p in layer.rglob("*") if p.is_file())
        fn_bytes = {name: size(d) for name, d in artifacts.items()}
        fn_files = {name: ", ".join(sorted(p.name for p in d.iterdir())) for name, d in artifacts.items()}
        has_pyc = any((site / "milvus_cloud").rglob("*.pyc"))
        n_files, ms = compile_ms(site / "milvus_cloud")

    table(
        f"Package size: sam build (unzipped), built in {build_s:.0f} s",
        ["artifact", "size", "files"],
        [["CommonLayer (layer)", f"{layer_bytes / MiB:.1f} MiB", f"{layer_files} files"]]
        + [[name, f"{fn_bytes[name] / 1024:.1f} KiB", fn_files[name]] for name in artifacts],
    )
    largest = sorted(packages.items(), key=lambda kv: -kv[1])
    table(
        "Package size: the layer's largest top-level packages",
        ["package", "MiB", "note"],
        [
            [
                name,
                f"{bytes_ / MiB:.2f}",
                "runtime provides it" if name in RUNTIME_PROVIDED else "dev only!" if name in DEV_ONLY else "",
            ]
            for name, bytes_ in largest[:10]
        ],
        note=f"runtime-provided packages bundled: {sorted(RUNTIME_PROVIDED & set(packages)) or 'none'}; "
        f"dev-only packages bundled: {sorted(DEV_ONLY & set(packages)) or 'none'}; "
        f"milvus_cloud ships {'with' if has_pyc else 'without'} .pyc: compiling its {n_files} modules takes "
        f"{ms:.0f} ms, paid by the cold starts that import them",
    )
    return {
        "layer_bytes": layer_bytes,
        "functions_bytes": fn_bytes,
        "layer_packages_bytes": dict(largest),
        "runtime_provided_bundled": sorted(RUNTIME_PROVIDED & set(packages)),
        "dev_only_bundled": sorted(DEV_ONLY & set(packages)),
        "milvus_cloud_pyc_shipped": has_pyc,
        "milvus_cloud_compile_ms": round(ms, 1),
    }

"""The local stack's commands: serve, run (the main job), token. See the README."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time

from local.stack import STACK_FILE, LocalStack, read_stack_file


def serve(port: int) -> None:
    started = time.monotonic()
    stack = LocalStack(port=port, mongodb_uri=os.environ.get("MONGODB_URI"))
    info = stack.start()
    print(f"local stack ready in {time.monotonic() - started:.1f}s: API {info['api']}  (Ctrl-C stops it)", flush=True)
    print(f"wrote {STACK_FILE}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
        print("local stack stopped", flush=True)


def token(username: str, ttl_hours: float | None) -> None:
    """Issue a session token; the token is the last line printed."""
    if not os.environ.get("MONGODB_URI"):
        if not STACK_FILE.exists():
            sys.exit("no local stack is running (.local/stack.json is missing) and MONGODB_URI is not set")
        info = read_stack_file()
        os.environ["MONGODB_URI"] = info["mongodb"]
        os.environ.setdefault("MONGODB_DATABASE", info["database"])
    import re

    from milvus_cloud.logic.auth import issue_session
    from milvus_cloud.models import NAME_PATTERN

    if not re.fullmatch(NAME_PATTERN, username):
        sys.exit(f"invalid username {username!r}: lower-case letters, digits and -, 3-40, starting with a letter")
    print(f"session token for {username}:", file=sys.stderr)
    print(issue_session(username, ttl_hours))


def use_stack() -> dict[str, str]:
    """Point this process at the running local stack (AWS and MongoDB), as its handlers are."""
    if not STACK_FILE.exists():
        sys.exit("no local stack is running (.local/stack.json is missing): start one with `make serve`")
    info = read_stack_file()
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": info["aws"],
            "AWS_ACCESS_KEY_ID": "testing",
            # moto's fake credentials
            "AWS_SECRET_ACCESS_KEY": "testing",  # nosec B105
            "AWS_REGION": info["region"],
            "MONGODB_URI": info["mongodb"],
            "MONGODB_DATABASE": info["database"],
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
    )
    return info


def sweep(apply: bool, grace_minutes: float) -> None:
    """The orphan sweep against the local stack; prints its report."""
    from datetime import timedelta

    use_stack()
    from milvus_cloud.logic.sweep import sweep as run_sweep

    report = run_sweep(dry_run=not apply, grace=timedelta(minutes=grace_minutes))
    print(json.dumps(report, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m local")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_p = sub.add_parser("serve", help="serve the API on the local stack until stopped")
    serve_p.add_argument("--port", type=int, default=3000)
    sub.add_parser("run", help="the main job: create search-cats, wait until running, set a whitelist")
    token_p = sub.add_parser("token", help="issue a session token for a user")
    token_p.add_argument("--user", required=True)
    token_p.add_argument("--ttl-hours", type=float, default=None)
    sweep_p = sub.add_parser("sweep", help="the orphan sweep against the local stack (dry-run unless --apply)")
    sweep_p.add_argument("--apply", action="store_true")
    sweep_p.add_argument("--grace-minutes", type=float, default=0)
    args = parser.parse_args()
    if args.command == "serve":
        serve(args.port)
    elif args.command == "sweep":
        sweep(args.apply, args.grace_minutes)
    elif args.command == "token":
        token(args.user, args.ttl_hours)
    else:
        from local.demo import main as run_demo

        sys.exit(run_demo())


if __name__ == "__main__":
    main()

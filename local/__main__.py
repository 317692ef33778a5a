"""The local stack's commands: serve, run (the main job), token. See the README."""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m local")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_p = sub.add_parser("serve", help="serve the API on the local stack until stopped")
    serve_p.add_argument("--port", type=int, default=3000)
    sub.add_parser("run", help="the main job: create search-cats, wait until running, set a whitelist")
    token_p = sub.add_parser("token", help="issue a session token for a user")
    token_p.add_argument("--user", required=True)
    token_p.add_argument("--ttl-hours", type=float, default=None)
    args = parser.parse_args()
    if args.command == "serve":
        serve(args.port)
    elif args.command == "token":
        token(args.user, args.ttl_hours)
    else:
        from local.demo import main as run_demo

        sys.exit(run_demo())


if __name__ == "__main__":
    main()

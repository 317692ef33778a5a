"""`make run`: the main job on the local stack, printing each response and the stored record."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import requests

from local.stack import LocalStack

Json = dict[str, Any]

USER, CLUSTER = "milvus-test", "search-cats"


def show(title: str, response: requests.Response) -> Any:
    body = response.json()
    print(f"\n== {title}: HTTP {response.status_code}\n{json.dumps(body, indent=2)}", flush=True)
    return body


def main() -> int:
    stack = LocalStack(port=0, mongodb_uri=os.environ.get("MONGODB_URI"))
    info = stack.start()
    try:
        return run(info)
    finally:
        stack.stop()


def run(info: dict[str, str]) -> int:
    api = info["api"]
    from milvus_cloud.logic.auth import issue_session

    token = issue_session(USER)
    print(f"local stack up: API {api}, AWS (moto) {info['aws']}, MongoDB {info['mongodb']}")
    print(f"issued a session token for {USER}")
    create: Json = {
        "session-token": token,
        "username": USER,
        "milvus-name": CLUSTER,
        "milvus-type": "M5",
        "disk-size": 50,
    }
    show("POST /milvus", requests.post(f"{api}/milvus", json=create, timeout=30))
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 120
    while True:
        cluster = requests.get(f"{api}/milvus/{CLUSTER}", headers=headers, timeout=30).json()
        print(f"  waiting: state={cluster.get('state')}", flush=True)
        if cluster.get("state") in ("running", "failed") or time.monotonic() > deadline:
            break
        time.sleep(1)
    show(f"GET /milvus/{CLUSTER}", requests.get(f"{api}/milvus/{CLUSTER}", headers=headers, timeout=30))
    if cluster.get("state") != "running":
        print("the cluster did not reach running")
        return 1
    whitelist: Json = {
        "session-token": token,
        "username": USER,
        "milvus-name": CLUSTER,
        "ip-ranges": [
            {"source-ip": "115.236.166.154/32", "port-type": "milvus-port"},
            {"source-ip": "115.236.166.154/32", "port-type": "milvus-em-port"},
        ],
    }
    reply = requests.put(f"{api}/milvus/{CLUSTER}/whitelist", json=whitelist, timeout=30)
    show(f"PUT /milvus/{CLUSTER}/whitelist", reply)
    if reply.status_code == 200:
        show(
            f"GET /milvus/{CLUSTER}/whitelist",
            requests.get(f"{api}/milvus/{CLUSTER}/whitelist", headers=headers, timeout=30),
        )
    from milvus_cloud.dal.clusters import get_cluster

    print("\n== the stored record (MongoDB)")
    print(json.dumps(get_cluster(USER, CLUSTER), indent=2, default=str))
    return 0

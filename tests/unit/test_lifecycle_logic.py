"""Delete, suspend and resume: the state rules (a compare-and-set on the record) and their workflows.

The API handlers run against moto in process and SecantusDB. Step Functions executions are only started
here (moto does not run them in process); the delete and power state machines are then walked by a small
interpreter over the real ASL files, calling the project's own step handlers with the state each Task
receives, so the sample events, the workflow input and the handlers are checked against each other.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from local.template import render_definition
from milvus_cloud.dal import clusters, ec2
from milvus_cloud.dal.mongo import CLUSTER_HISTORY, CLUSTERS
from milvus_cloud.logic import instances, provision, records
from milvus_cloud.logic.create import create_cluster
from milvus_cloud.logic.lifecycle import _workflow_input
from milvus_cloud.models import CreateClusterRequest
from milvus_cloud.workflow import spec_of
from tests.support import Aws, Env
from tests.unit.lambda_support import TEMPLATE, Reply, api_event, assert_failure, call_api, invoke, sample_event

# The names of the sample events, so that call_api(token=...) sends them as they are.
USER = "milvus-test"
NAME = "search-cats"
OTHER = "someone-else"
ALL_STATES = ("creating", "running", "suspending", "suspended", "resuming", "deleting", "failed")
# The contract's state rules, written out (not imported): which states each action may start from.
ALLOWED = {
    "delete": {"running", "suspended", "failed", "suspending", "resuming"},
    "suspend": {"running"},
    "resume": {"suspended"},
}
TRANSIENT = {"delete": "deleting", "suspend": "suspending", "resume": "resuming"}
MACHINE = {
    "delete": "DeleteClusterStateMachine",
    "suspend": "PowerClusterStateMachine",
    "resume": "PowerClusterStateMachine",
}


def make_running(username: str = USER, name: str = NAME, milvus_type: str = "M5") -> dict[str, Any]:
    """A cluster as the create workflow leaves it: record, group, Elastic IP, instances launched and registered."""
    request = CreateClusterRequest.model_validate(
        {"username": username, "milvus-name": name, "milvus-type": milvus_type, "disk-size": 50}
    )
    create_cluster(username, request, None)
    record = clusters.get_cluster(username, name)
    assert record is not None
    spec = spec_of(record)
    nodes = provision.launch_instances(spec, "0123456789abcdef0123456789abcdef")
    instances.tag_resources(spec, nodes)
    network = instances.associate_address(spec, nodes)
    assert records.register_cluster(username, name, network)
    return dict(clusters.get_cluster(username, name) or {})


@pytest.fixture
def running(env: Env, aws: Aws, machines: dict[str, str]) -> dict[str, Any]:
    return make_running()


@pytest.fixture
def token(issue_token: Callable[..., str], running: dict[str, Any]) -> str:
    return issue_token(USER)


def stored(env: Env, username: str = USER, name: str = NAME) -> dict[str, Any] | None:
    return env.db[CLUSTERS].find_one({"username": username, "milvus-name": name}, {"_id": False})


def set_state(env: Env, state: str) -> None:
    env.db[CLUSTERS].update_one({"username": USER, "milvus-name": NAME}, {"$set": {"state": state}})


def act(action: str, token: str | None = None, *, path: str = NAME, body: dict[str, Any] | None = None) -> Reply:
    """delete, suspend or resume through its handler, from its sample event (whose body holds the token)."""
    if body is not None:
        return call_api(f"{action}_cluster", body=body, path_params={"milvus-name": path})
    return call_api(f"{action}_cluster", token=token)


def as_body(token: str, username: str = USER, name: str = NAME) -> dict[str, Any]:
    return {"session-token": token, "username": username, "milvus-name": name}


def executions(aws: Aws, arn: str) -> list[dict[str, Any]]:
    return list(aws.client("stepfunctions").list_executions(stateMachineArn=arn)["executions"])


def execution_input(aws: Aws, arn: str) -> dict[str, Any]:
    return dict(json.loads(aws.client("stepfunctions").describe_execution(executionArn=arn)["input"]))


def instance_states(aws: Aws, record: dict[str, Any]) -> dict[str, str]:
    ids = [i["instance-id"] for i in record["instances"]]
    reservations = aws.ec2.describe_instances(InstanceIds=ids)["Reservations"]
    return {i["InstanceId"]: i["State"]["Name"] for r in reservations for i in r["Instances"]}


# --- a small interpreter for the delete and power state machines ----------------------------------------------


def machine_refs() -> dict[str, str]:
    """What the state machines' substitutions refer to: each function by its logical id, every template
    parameter at its default (waits are not waited here anyway)."""
    params = {name: str(TEMPLATE.parameter_default(name)) for name in TEMPLATE.raw["Parameters"]}
    return params | {f"{lid}.Arn": lid for lid in TEMPLATE.functions}


def _path(data: dict[str, Any], path: str) -> Any:
    assert path.startswith("$"), path
    value: Any = data
    for part in [p for p in path[1:].split(".") if p]:
        value = value[part]
    return value


def _set(data: dict[str, Any], result_path: str | None, result: Any) -> dict[str, Any]:
    if result_path is None:
        return data
    if result_path == "$":
        return dict(result)
    parts = result_path[2:].split(".")
    target = data
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = result
    return data


def task_input(state: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """What a Task receives: the whole state, unless Parameters says otherwise."""
    if "Parameters" not in state:
        return json.loads(json.dumps(data))
    return {
        (key[:-2] if key.endswith(".$") else key): (_path(data, value) if key.endswith(".$") else value)
        for key, value in state["Parameters"].items()
    }


def run_machine(logical_id: str, data: dict[str, Any], max_steps: int = 200) -> tuple[str, list[str], dict[str, Any]]:
    """Walk the real ASL with the real handlers (no waiting, no retries): (end state, states visited, data)."""
    definition = render_definition(TEMPLATE.state_machines[logical_id], machine_refs())
    name, visited = definition["StartAt"], []
    for _ in range(max_steps):
        visited.append(name)
        state = definition["States"][name]
        kind = state["Type"]
        if kind == "Fail":
            return name, visited, data
        if kind == "Task":
            function_dir = TEMPLATE.functions[state["Resource"]].code_uri.name
            try:
                result = invoke(function_dir, task_input(state, data))
            except Exception as exc:  # a Lambda error goes to the state's Catch
                catch = state.get("Catch")
                if not catch:
                    raise
                cause = json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)})
                data = _set(data, catch[0]["ResultPath"], {"Error": type(exc).__name__, "Cause": cause})
                name = catch[0]["Next"]
                continue
            data = _set(data, state.get("ResultPath", "$"), result)
        elif kind == "Pass":
            data = _set(data, state.get("ResultPath", "$"), state.get("Result", data))
        elif kind == "Choice":
            name = next(
                (
                    c["Next"]
                    for c in state["Choices"]
                    if ("BooleanEquals" in c and _path(data, c["Variable"]) is c["BooleanEquals"])
                    or ("StringEquals" in c and _path(data, c["Variable"]) == c["StringEquals"])
                ),
                state["Default"],
            )
            continue
        if state.get("End"):
            return name, visited, data
        name = state["Next"]
    raise AssertionError(f"{logical_id} did not finish in {max_steps} steps: {visited[-10:]}")


# --- the state rules ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ALL_STATES)
@pytest.mark.parametrize("action", ["delete", "suspend", "resume"])
def test_every_transition(
    env: Env, aws: Aws, machines: dict[str, str], running: dict[str, Any], token: str, action: str, state: str
) -> None:
    set_state(env, state)
    before = stored(env)

    reply = act(action, token)

    every = [e for arn in set(machines.values()) for e in executions(aws, arn)]
    if action == "delete" and state == "deleting":
        # A repeated delete answers as the first did, and starts nothing.
        assert reply.status == 202, reply.body
        assert reply.body == {"status": "success", "milvus-name": NAME, "state": "deleting"}
        assert every == []
        assert stored(env) == before
    elif state in ALLOWED[action]:
        assert reply.status == 202, reply.body
        assert reply.body == {"status": "success", "milvus-name": NAME, "state": TRANSIENT[action]}
        doc = stored(env)
        assert doc is not None
        assert doc["state"] == TRANSIENT[action]
        assert doc["state-reason"] is None
        [execution] = every
        assert execution["stateMachineArn"] == machines[MACHINE[action]]
        assert doc[f"{action}-execution-arn"] == execution["executionArn"]
        given = execution_input(aws, execution["executionArn"])
        nodes = [{"node-type": i["node-type"], "instance-id": i["instance-id"]} for i in running["instances"]]
        assert given == {
            "action": action,
            "previous-state": state,
            "username": USER,
            "milvus-name": NAME,
            "milvus-type": "M5",
            "disk-size": 50,
            "allocation-id": running["allocation-id"],
            "security-group-id": running["security-group-id"],
            "launch": {"nodes": nodes, "instance-ids": [n["instance-id"] for n in nodes]},
        }
    else:
        assert_failure(reply, 409, "invalid-state")
        description = reply.body["description"]
        for allowed in ALLOWED[action]:
            assert allowed in description, description
        assert state in description
        assert action in description
        assert stored(env) == before
        assert every == []


def test_a_repeated_delete_starts_one_workflow(env: Env, aws: Aws, machines: dict[str, str], token: str) -> None:
    first = act("delete", token)
    second = act("delete", token)
    third = act("delete", token)
    assert first.status == second.status == third.status == 202
    assert second.body == first.body == {"status": "success", "milvus-name": NAME, "state": "deleting"}
    assert len(executions(aws, machines["DeleteClusterStateMachine"])) == 1
    assert stored(env)["state"] == "deleting"  # type: ignore[index]


def test_nonsensical_transitions_name_the_allowed_states(env: Env, aws: Aws, token: str) -> None:
    resumed_while_running = act("resume", token)
    assert_failure(resumed_while_running, 409, "invalid-state")
    assert "suspended" in resumed_while_running.body["description"]
    assert "running" in resumed_while_running.body["description"]  # the state it is in

    assert act("suspend", token).status == 202
    set_state(env, "suspended")
    suspended_again = act("suspend", token)
    assert_failure(suspended_again, 409, "invalid-state")
    assert "running" in suspended_again.body["description"]
    assert "suspended" in suspended_again.body["description"]


def test_a_workflow_that_cannot_start_puts_the_state_back(
    env: Env, aws: Aws, machines: dict[str, str], token: str, aws_faults: Callable[..., None]
) -> None:
    aws_faults("StartExecution", "AccessDeniedException")

    reply = act("suspend", token)

    assert_failure(reply, 503)
    assert "Retry-After" in reply.headers
    doc = stored(env)
    assert doc is not None and doc["state"] == "running"
    assert "suspend-execution-arn" not in doc
    assert executions(aws, machines["PowerClusterStateMachine"]) == []
    assert act("suspend", token).status == 202  # the fault was once: the next try goes through


def test_a_delete_that_cannot_start_keeps_the_failure_reason(
    env: Env, aws: Aws, machines: dict[str, str], token: str, aws_faults: Callable[..., None]
) -> None:
    """A failed cluster keeps its state and its reason (in words) when its delete could not start."""
    records.mark_failed(USER, NAME, "InsufficientInstanceCapacity: no m5.2xlarge in us-east-1a")
    before = stored(env)
    aws_faults("StartExecution", "AccessDeniedException")

    assert_failure(act("delete", token), 503)

    doc = stored(env)
    assert doc is not None
    assert doc["state"] == "failed"
    assert doc["state-reason"] == before["state-reason"]  # type: ignore[index]
    assert executions(aws, machines["DeleteClusterStateMachine"]) == []


# --- who may act -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["delete", "suspend", "resume"])
def test_only_the_owner_acts_on_a_cluster(
    env: Env, aws: Aws, machines: dict[str, str], token: str, issue_token: Callable[..., str], action: str
) -> None:
    if action == "resume":
        set_state(env, "suspended")
    before = stored(env)
    other = issue_token(OTHER)
    assert_failure(act(action, body=as_body(other, OTHER)), 404, "cluster-not-found")
    assert_failure(act(action, body=as_body(other)), 403)
    assert_failure(act(action, "not-a-token"), 401)
    assert_failure(act(action, body=as_body(token, name="other-name")), 400, "name-mismatch")
    assert_failure(act(action, body={**as_body(token), "force": True}), 400)
    # Without a body, the token may come as a bearer header.
    event = api_event(f"{action}_cluster", headers={"Authorization": f"Bearer {other}"})
    event["body"] = None
    result = invoke(f"{action}_cluster", event)
    assert result["statusCode"] == 404, result
    assert json.loads(result["body"])["code"] == "cluster-not-found"
    assert stored(env) == before
    assert [e for arn in set(machines.values()) for e in executions(aws, arn)] == []

    event = api_event(f"{action}_cluster", headers={"Authorization": f"Bearer {token}"})
    event["body"] = None
    result = invoke(f"{action}_cluster", event)
    assert result["statusCode"] == 202, result


def test_an_unknown_cluster_is_404(env: Env, aws: Aws, machines: dict[str, str], token: str) -> None:
    for action in ("delete", "suspend", "resume"):
        reply = act(action, body=as_body(token, name="no-such"), path="no-such")
        assert_failure(reply, 404, "cluster-not-found")


# --- the workflows, walked over the real state machine definitions ----------------------------------------


def test_suspend_and_resume_keep_the_url(
    env: Env, aws: Aws, machines: dict[str, str], running: dict[str, Any], token: str
) -> None:
    url = running["milvus-url"]
    [address] = aws.ec2.describe_addresses(AllocationIds=[running["allocation-id"]])["Addresses"]
    master = next(i for i in running["instances"] if i["node-type"] == "master")

    assert act("suspend", token).status == 202
    [suspend] = executions(aws, machines["PowerClusterStateMachine"])
    end, visited, _ = run_machine("PowerClusterStateMachine", execution_input(aws, suspend["executionArn"]))
    assert end == "MarkSuspended", visited
    assert visited[:2] == ["Route", "StopInstances"]
    doc = stored(env)
    assert doc is not None and doc["state"] == "suspended"
    assert set(instance_states(aws, doc).values()) == {"stopped"}
    assert doc["milvus-url"] == url

    assert act("resume", token).status == 202
    resume = next(
        e for e in executions(aws, machines["PowerClusterStateMachine"]) if e["executionArn"] != suspend["executionArn"]
    )
    end, visited, _ = run_machine("PowerClusterStateMachine", execution_input(aws, resume["executionArn"]))
    assert end == "MarkRunning", visited
    assert "StartInstances" in visited and "AssociateAddress" in visited
    doc = stored(env)
    assert doc is not None and doc["state"] == "running" and doc["state-reason"] is None
    assert set(instance_states(aws, doc).values()) == {"running"}
    assert doc["milvus-url"] == url
    [after] = aws.ec2.describe_addresses(AllocationIds=[running["allocation-id"]])["Addresses"]
    assert after["InstanceId"] == master["instance-id"]
    assert after["PublicIp"] == address["PublicIp"]
    master_now = next(i for i in doc["instances"] if i["node-type"] == "master")
    assert master_now["public-ip"] == address["PublicIp"]


def test_a_failed_power_change_goes_back_with_the_reason(
    env: Env, aws: Aws, machines: dict[str, str], running: dict[str, Any], token: str
) -> None:
    assert act("suspend", token).status == 202
    [suspend] = executions(aws, machines["PowerClusterStateMachine"])
    given = execution_input(aws, suspend["executionArn"])
    given["launch"]["instance-ids"] = ["i-00000000000000000"]  # StopInstances now fails for good

    end, visited, _ = run_machine("PowerClusterStateMachine", given)

    assert end == "PowerFailed", visited
    assert "RevertState" in visited
    doc = stored(env)
    assert doc is not None and doc["state"] == "running"
    assert doc["state-reason"]
    assert set(instance_states(aws, doc).values()) == {"running"}


def test_delete_leaves_nothing_and_frees_the_name(
    env: Env, aws: Aws, machines: dict[str, str], running: dict[str, Any], token: str
) -> None:
    key = f"{USER}/{NAME}"
    volumes = aws.ec2.describe_volumes(Filters=[{"Name": "tag:milvus-username", "Values": [key]}])["Volumes"]
    assert volumes  # the data volumes exist before

    assert act("delete", token).status == 202
    [execution] = executions(aws, machines["DeleteClusterStateMachine"])
    end, visited, _ = run_machine("DeleteClusterStateMachine", execution_input(aws, execution["executionArn"]))

    assert end == "RemoveCluster", visited
    assert stored(env) is None
    history = env.db[CLUSTER_HISTORY].find_one({"username": USER, "milvus-name": NAME})
    assert history is not None and history["state"] == "deleted"
    live = ec2.find_cluster_instances(key)
    assert live == []
    assert aws.ec2.describe_volumes(Filters=[{"Name": "tag:milvus-username", "Values": [key]}])["Volumes"] == []
    assert aws.ec2.describe_addresses(Filters=[{"Name": "tag:milvus-username", "Values": [key]}])["Addresses"] == []
    groups = aws.ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"sg-{USER}-{NAME}"]}])
    assert groups["SecurityGroups"] == []
    assert_failure(call_api("get_cluster", token=token), 404)

    make_running()  # the same name, again
    again = stored(env)
    assert again is not None and again["state"] == "running"
    assert again["security-group-id"] != running["security-group-id"]


def test_a_failed_cluster_can_be_deleted(
    env: Env, aws: Aws, machines: dict[str, str], running: dict[str, Any], token: str
) -> None:
    records.mark_failed(USER, NAME, "InsufficientInstanceCapacity: no m5 in this zone")
    assert act("delete", token).status == 202
    [execution] = executions(aws, machines["DeleteClusterStateMachine"])
    given = execution_input(aws, execution["executionArn"])
    assert given["previous-state"] == "failed"
    end, visited, _ = run_machine("DeleteClusterStateMachine", given)
    assert end == "RemoveCluster", visited
    assert stored(env) is None


def test_a_delete_that_fails_marks_the_record_failed_and_can_be_retried(
    env: Env, aws: Aws, machines: dict[str, str], running: dict[str, Any], token: str, aws_faults: Callable[..., None]
) -> None:
    assert act("delete", token).status == 202
    [execution] = executions(aws, machines["DeleteClusterStateMachine"])
    aws_faults("TerminateInstances", "UnauthorizedOperation")

    end, visited, _ = run_machine("DeleteClusterStateMachine", execution_input(aws, execution["executionArn"]))

    assert end == "DeleteFailed", visited
    doc = stored(env)
    assert doc is not None and doc["state"] == "failed"
    assert "delete failed" in doc["state-reason"]
    assert doc["security-group-id"] == running["security-group-id"]  # the ids to retry with are kept
    assert act("delete", token).status == 202
    assert stored(env)["state"] == "deleting"  # type: ignore[index]


# --- the sample events are what the state machines pass ---------------------------------------------------


def test_the_step_samples_have_the_shape_the_machines_pass(
    env: Env, aws: Aws, machines: dict[str, str], running: dict[str, Any]
) -> None:
    workflow = _workflow_input(running, "suspend")
    assert set(sample_event("stop_instances")) == set(workflow)
    assert sample_event("stop_instances")["action"] == "suspend"
    assert set(sample_event("start_instances")) == set(_workflow_input(running, "resume"))
    assert sample_event("start_instances")["action"] == "resume"
    assert set(sample_event("remove_cluster")) == set(_workflow_input(running, "delete")) | {"terminated", "check"}
    assert sample_event("remove_cluster")["action"] == "delete"

    power = render_definition(
        TEMPLATE.state_machines["PowerClusterStateMachine"],
        machine_refs(),
    )
    mark_running = {k.removesuffix(".$") for k in power["States"]["MarkRunning"]["Parameters"]}
    assert set(sample_event("set_cluster_state")) == mark_running


def test_the_route_samples_match_their_routes(env: Env) -> None:
    for function_dir, method, resource in [
        ("set_whitelist", "PUT", "/milvus/{milvus-name}/whitelist"),
        ("get_whitelist", "GET", "/milvus/{milvus-name}/whitelist"),
        ("delete_cluster", "DELETE", "/milvus/{milvus-name}"),
        ("suspend_cluster", "POST", "/milvus/{milvus-name}/suspend"),
        ("resume_cluster", "POST", "/milvus/{milvus-name}/resume"),
    ]:
        event = sample_event(function_dir)
        assert (event["httpMethod"], event["resource"]) == (method, resource)
        [fn] = [f for f in TEMPLATE.functions.values() if f.code_uri.name == function_dir]
        assert (method, resource) in fn.routes
        assert event["pathParameters"] == {"milvus-name": NAME}
        assert event["path"] == resource.replace("{milvus-name}", NAME)


def test_the_step_samples_run(env: Env, aws: Aws, machines: dict[str, str], running: dict[str, Any]) -> None:
    """Each step's sample event, with this cluster's ids, does its job."""
    ids = [i["instance-id"] for i in running["instances"]]
    nodes = [{"node-type": i["node-type"], "instance-id": i["instance-id"]} for i in running["instances"]]

    def sample(function_dir: str) -> dict[str, Any]:
        event = sample_event(function_dir)
        event.update({"allocation-id": running["allocation-id"], "security-group-id": running["security-group-id"]})
        event["launch"] = {"nodes": nodes, "instance-ids": ids}
        return event

    set_state(env, "suspending")
    invoke("stop_instances", sample("stop_instances"))
    assert set(instance_states(aws, running).values()) == {"stopped"}
    invoke("start_instances", sample("start_instances"))
    assert set(instance_states(aws, running).values()) == {"running"}

    set_state(env, "resuming")
    state_event = sample_event("set_cluster_state")
    state_event["network"] = instances.describe_nodes(nodes)
    invoke("set_cluster_state", state_event)
    doc = stored(env)
    assert doc is not None and doc["state"] == "running"
    assert [i["instance-id"] for i in doc["instances"]] == ids

    invoke("set_cluster_state", {**sample_event("set_cluster_state"), "state": "failed"})  # not resuming: no change
    assert stored(env)["state"] == "running"  # type: ignore[index]

    invoke("remove_cluster", sample("remove_cluster"))
    assert stored(env) is None
    assert env.db[CLUSTER_HISTORY].count_documents({"username": USER, "milvus-name": NAME}) == 1

"""The sample events in events/: one per function of the create capability, true to template.yaml and the ASL,
and each one accepted by its handler once the token placeholder is replaced."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from milvus_cloud.models import CreateClusterRequest
from tests.support import Aws, Env
from tests.unit.lambda_support import EVENTS, ROOT, TEMPLATE, invoke, sample_event

PLACEHOLDER = "REPLACE-WITH-SESSION-TOKEN"
API_FUNCTIONS = {
    "create_cluster": ("POST", "/milvus"),
    "list_clusters": ("GET", "/milvus"),
    "get_cluster": ("GET", "/milvus/{milvus-name}"),
    "list_milvus_types": ("GET", "/milvus-types"),
}
CREATE_MACHINE = TEMPLATE.state_machines["CreateClusterStateMachine"]
STEP_FUNCTIONS = sorted(
    TEMPLATE.functions[sub["Fn::GetAtt"][0]].code_uri.name
    for sub in CREATE_MACHINE.substitutions.values()
    if isinstance(sub, dict) and "Fn::GetAtt" in sub
)
ASL = yaml.safe_load((ROOT / "statemachines" / "create_cluster.asl.yaml").read_text())


def test_every_create_function_has_a_sample_event() -> None:
    assert {"launch_instances", "check_instances", "register_cluster", "mark_failed"} <= set(STEP_FUNCTIONS)
    for function_dir in [*API_FUNCTIONS, *STEP_FUNCTIONS]:
        path = EVENTS / f"{function_dir}.json"
        assert path.is_file(), f"missing {path}"
        assert isinstance(json.loads(path.read_text()), dict)


@pytest.mark.parametrize("function_dir", sorted(API_FUNCTIONS))
def test_api_samples_match_the_templates_route(function_dir: str) -> None:
    event = sample_event(function_dir)
    method, resource = API_FUNCTIONS[function_dir]
    fn = TEMPLATE.functions[next(i for i, f in TEMPLATE.functions.items() if f.code_uri.name == function_dir)]
    assert (method, resource) in fn.routes
    assert event["httpMethod"] == event["requestContext"]["httpMethod"] == method
    assert event["resource"] == event["requestContext"]["resourcePath"] == resource
    path = resource
    for key, value in (event["pathParameters"] or {}).items():
        path = path.replace("{" + key + "}", value)
    assert "{" not in path, "a path parameter is missing"
    assert event["path"] == path
    assert event["requestContext"]["path"] == f"/{event['requestContext']['stage']}{path}"
    assert event["isBase64Encoded"] is False
    assert event["multiValueHeaders"] == {k: [v] for k, v in event["headers"].items()}
    if method == "POST":
        body = json.loads(event["body"])
        assert body["session-token"] == PLACEHOLDER
        CreateClusterRequest.model_validate(body)
        assert event["headers"]["Content-Type"] == "application/json"
    elif function_dir == "list_milvus_types":
        assert event["body"] is None and "Authorization" not in event["headers"]
    else:
        assert event["body"] is None
        assert event["headers"]["Authorization"] == f"Bearer {PLACEHOLDER}"


def with_token(event: dict[str, Any], token: str) -> dict[str, Any]:
    text = json.dumps(event).replace(PLACEHOLDER, token)
    return dict(json.loads(text))


def test_api_samples_are_accepted_with_a_real_token(env: Env, aws: Aws, issue_token: Callable[..., str]) -> None:
    token = issue_token("milvus-test")
    created = invoke("create_cluster", with_token(sample_event("create_cluster"), token))
    assert created["statusCode"] == 202, created["body"]
    described = invoke("get_cluster", with_token(sample_event("get_cluster"), token))
    assert described["statusCode"] == 200, described["body"]
    assert json.loads(described["body"])["milvus-name"] == "search-cats"
    listed = invoke("list_clusters", with_token(sample_event("list_clusters"), token))
    assert [c["milvus-name"] for c in json.loads(listed["body"])["clusters"]] == ["search-cats"]
    assert invoke("list_milvus_types", sample_event("list_milvus_types"))["statusCode"] == 200


@pytest.mark.parametrize("function_dir", ["create_cluster", "list_clusters", "get_cluster"])
def test_api_samples_with_the_placeholder_are_401(env: Env, aws: Aws, function_dir: str) -> None:
    reply = invoke(function_dir, sample_event(function_dir))
    assert reply["statusCode"] == 401
    assert json.loads(reply["body"])["status"] == "failed"


def test_check_instances_sample_has_the_asls_parameters() -> None:
    for state in ("CheckRunning", "CheckTerminated"):
        params = {key.removesuffix(".$") for key in ASL["States"][state]["Parameters"]}
        assert params == set(sample_event("check_instances"))


def test_launch_sample_is_what_create_starts_the_workflow_with() -> None:
    from milvus_cloud.spec import ClusterSpec

    event = sample_event("launch_instances")
    spec = ClusterSpec.from_input(event)
    assert set(spec.to_input()) | {"launch-token"} == set(event)


@pytest.mark.parametrize(
    ("function_dir", "result_paths"),
    [
        ("tag_resources", {"launch", "check"}),
        ("associate_address", {"launch", "check"}),
        ("register_cluster", {"launch", "check", "network"}),
        ("terminate_instances", {"launch", "check", "error"}),
        ("release_network", {"launch", "check", "error", "terminated"}),
        ("mark_failed", {"launch", "check", "error", "terminated"}),
    ],
)
def test_step_samples_carry_the_results_the_asl_put_before_them(function_dir: str, result_paths: set[str]) -> None:
    event = sample_event(function_dir)
    assert set(event) == set(sample_event("launch_instances")) | result_paths
    declared = {
        s["ResultPath"].removeprefix("$.")
        for s in ASL["States"].values()
        if isinstance(s.get("ResultPath"), str) and s["ResultPath"].startswith("$.")
    }
    declared |= {c["ResultPath"].removeprefix("$.") for s in ASL["States"].values() for c in s.get("Catch", [])}
    assert result_paths <= declared


def test_every_function_in_the_template_has_a_sample_event() -> None:
    missing = [
        fn.code_uri.name for fn in TEMPLATE.functions.values() if not (EVENTS / f"{fn.code_uri.name}.json").is_file()
    ]
    assert missing == []

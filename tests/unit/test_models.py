"""Request models: names, strict types, unknown fields, and no MongoDB operators smuggled into strings."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from milvus_cloud.models import CreateClusterRequest, CreateClusterResponse
from milvus_cloud.spec import ClusterSpec

VALID: dict[str, Any] = {
    "session-token": "tok",
    "username": "milvus-test",
    "milvus-name": "search-cats",
    "milvus-type": "M5",
    "disk-size": 50,
}


def parse(**changes: Any) -> CreateClusterRequest:
    return CreateClusterRequest.model_validate({**VALID, **changes})


def test_the_original_request_parses() -> None:
    request = parse()
    assert (request.username, request.milvus_name, request.milvus_type, request.disk_size) == (
        "milvus-test",
        "search-cats",
        "M5",
        50,
    )
    assert request.session_token == "tok"


def test_the_token_may_come_as_a_header_instead() -> None:
    body = dict(VALID)
    del body["session-token"]
    assert CreateClusterRequest.model_validate(body).session_token is None


@pytest.mark.parametrize("name", ["abc", "a" * 40, "search-cats", "a1-2-3", "x--y", "db-"])
@pytest.mark.parametrize("field", ["username", "milvus-name"])
def test_good_names(field: str, name: str) -> None:
    parse(**{field: name})


@pytest.mark.parametrize(
    "name",
    [
        "ab",  # too short
        "a" * 41,  # too long
        "Search-cats",  # upper case
        "1search",  # starts with a digit
        "-search",  # starts with a dash
        "search_cats",  # underscore
        "search.cats",
        "search cats",
        "séarch",
        "search-cats\n",  # a trailing newline must not slip past the end anchor
        "",
    ],
)
@pytest.mark.parametrize("field", ["username", "milvus-name"])
def test_bad_names_are_refused(field: str, name: str) -> None:
    with pytest.raises(ValidationError):
        parse(**{field: name})


@pytest.mark.parametrize("disk", ["50", 50.0, True, None, [50], {"$gt": 0}])
def test_disk_size_must_be_a_json_integer(disk: Any) -> None:
    with pytest.raises(ValidationError):
        parse(**{"disk-size": disk})


@pytest.mark.parametrize("field", ["username", "milvus-name", "milvus-type", "session-token"])
@pytest.mark.parametrize("value", [{"$ne": None}, {"$gt": ""}, ["a"], 5, True])
def test_string_fields_refuse_operators_and_other_types(field: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        parse(**{field: value})


@pytest.mark.parametrize("extra", ["milvus_name", "instances", "state", "diskSize", "$where"])
def test_unknown_fields_are_refused(extra: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse(**{extra: "x"})
    assert any(err["type"] == "extra_forbidden" for err in info.value.errors())


@pytest.mark.parametrize("missing", ["username", "milvus-name", "milvus-type", "disk-size"])
def test_every_original_field_is_required(missing: str) -> None:
    body = dict(VALID)
    del body[missing]
    with pytest.raises(ValidationError):
        CreateClusterRequest.model_validate(body)


def test_responses_serialise_with_hyphenated_keys_and_string_ports() -> None:
    answer = CreateClusterResponse.model_validate(
        {
            "milvus-name": "search-cats",
            "milvus-url": "ec2-1-2-3-4.compute-1.amazonaws.com",
            "milvus-port": "19530",
            "milvus-em-port": "19531",
            "state": "creating",
        }
    ).model_dump(by_alias=True)
    assert answer == {
        "status": "success",
        "milvus-name": "search-cats",
        "milvus-url": "ec2-1-2-3-4.compute-1.amazonaws.com",
        "milvus-port": "19530",
        "milvus-em-port": "19531",
        "state": "creating",
    }


def test_cluster_spec_key_is_username_slash_name() -> None:
    spec = ClusterSpec.from_input(
        {
            "username": "alice",
            "milvus-name": "cats",
            "milvus-type": "M5",
            "disk-size": 20,
            "security-group-id": "sg-1",
            "allocation-id": "eipalloc-1",
        }
    )
    assert spec.key == "alice/cats"

"""The whitelist: normalisation and refusals, and the declarative diff against the group's actual rules.

moto runs in process and SecantusDB holds the records. A botocore hook on the code's own session counts
every EC2 call (and can make one fail), so "no AWS write" and "only the difference" are checked on the
calls themselves, and the group's rules are read back from moto after each change.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from milvus_cloud.dal import clusters
from milvus_cloud.dal.mongo import CLUSTERS
from milvus_cloud.errors import BadRequest, QuotaExceeded
from milvus_cloud.logic.create import create_cluster
from milvus_cloud.logic.whitelist import OPEN_STATES, desired_rules, normalise_cidr
from milvus_cloud.models import CreateClusterRequest, WhitelistRequest
from milvus_cloud.settings import Settings
from tests.support import Aws, Env, reset_caches
from tests.unit.lambda_support import Reply, assert_failure, call_api

USER = "alice"
NAME = "cats"
OTHER = "bob"
PORTS = {"milvus-port": 19530, "milvus-em-port": 19531}
ALL_STATES = ("creating", "running", "suspending", "suspended", "resuming", "deleting", "failed")
Key = tuple[str, int, str | None]  # (cidr, port, description) as the group holds a rule


@dataclass
class Ec2Spy:
    """Every EC2 call the code makes, with its parameters; failures maps an operation to an error code."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def writes(self) -> list[str]:
        return [name for name in self.names() if not name.startswith("Describe")]

    def params(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == operation]


@pytest.fixture
def ec2_spy(aws: Aws) -> Iterator[Ec2Spy]:
    """Hook the default boto3 session the code's clients come from (the tests' own aws.ec2 is not hooked)."""
    spy = Ec2Spy()

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        spy.calls.append((model.name, copy.deepcopy(params)))

    def fail(model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        code = spy.failures.get(model.name)
        if code is None:
            return None
        body = {"Error": {"Code": code, "Message": "injected by the test"}, "ResponseMetadata": {"HTTPStatusCode": 400}}
        return AWSResponse("http://injected", 400, {}, None), body

    boto3.setup_default_session()
    boto3.DEFAULT_SESSION.events.register("before-parameter-build.ec2.*", record)
    boto3.DEFAULT_SESSION.events.register("before-call.ec2.*", fail)
    reset_caches()
    yield spy
    boto3.DEFAULT_SESSION = None
    reset_caches()


@pytest.fixture
def cluster(env: Env, aws: Aws, ec2_spy: Ec2Spy) -> dict[str, Any]:
    """alice's cluster, made by the real create (its own group, no whitelist yet); the spy starts empty."""
    request = CreateClusterRequest.model_validate(
        {"username": USER, "milvus-name": NAME, "milvus-type": "M5", "disk-size": 50}
    )
    create_cluster(USER, request, None)
    ec2_spy.calls.clear()
    return stored(env)


@pytest.fixture
def token(issue_token: Callable[..., str], cluster: dict[str, Any]) -> str:
    return issue_token(USER)


def stored(env: Env, username: str = USER, name: str = NAME) -> dict[str, Any]:
    doc = env.db[CLUSTERS].find_one({"username": username, "milvus-name": name}, {"_id": False})
    assert doc is not None
    return doc


def entry(source_ip: str, port_type: str = "milvus-port", description: str | None = None) -> dict[str, Any]:
    item = {"source-ip": source_ip, "port-type": port_type}
    if description is not None:
        item["description"] = description
    return item


def applied(source_ip: str, port_type: str = "milvus-port", description: str | None = None) -> dict[str, Any]:
    """An entry as the API answers it and the record stores it."""
    return {"source-ip": source_ip, "port-type": port_type, "description": description}


def put(token: str | None, entries: list[dict[str, Any]], *, path: str = NAME, **overrides: Any) -> Reply:
    """PUT the whitelist through the handler; overrides replace fields of the body."""
    body: dict[str, Any] = {"username": USER, "milvus-name": NAME, "ip-ranges": entries}
    if token is not None:
        body["session-token"] = token
    body.update(overrides)
    return call_api("set_whitelist", body=body, path_params={"milvus-name": path})


def get(token: str, name: str = NAME) -> Reply:
    return call_api("get_whitelist", token=token, path_params={"milvus-name": name})


def group_rules(aws: Aws, group_id: str) -> dict[Key, dict[str, Any]]:
    """The group's CIDR ingress rules, by (cidr, port, description); each must be tcp on one port."""
    rules = aws.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    found: dict[Key, dict[str, Any]] = {}
    for rule in rules["SecurityGroupRules"]:
        if rule["IsEgress"] or not rule.get("CidrIpv4"):
            continue
        assert rule["IpProtocol"] == "tcp", rule
        assert rule["FromPort"] == rule["ToPort"], rule
        key = (rule["CidrIpv4"], rule["FromPort"], rule.get("Description") or None)
        assert key not in found, rule
        found[key] = rule
    return found


def self_rule_ids(aws: Aws, group_id: str) -> list[str]:
    rules = aws.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    return [
        r["SecurityGroupRuleId"]
        for r in rules["SecurityGroupRules"]
        if not r["IsEgress"] and r.get("ReferencedGroupInfo", {}).get("GroupId") == group_id
    ]


def as_keys(entries: list[dict[str, Any]]) -> set[Key]:
    return {(e["source-ip"], PORTS[e["port-type"]], e.get("description")) for e in entries}


def assert_group_matches_record(env: Env, aws: Aws) -> dict[Key, dict[str, Any]]:
    doc = stored(env)
    rules = group_rules(aws, doc["security-group-id"])
    assert set(rules) == as_keys(doc["whitelist"])
    assert len(doc["whitelist"]) == len(rules)
    return rules


def whitelist_request(entries: list[dict[str, Any]]) -> WhitelistRequest:
    return WhitelistRequest.model_validate({"username": USER, "milvus-name": NAME, "ip-ranges": entries})


# --- normalisation and refusals (no AWS, no database) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("115.236.166.154", "115.236.166.154/32"),  # a bare address is one host
        ("115.236.166.154/32", "115.236.166.154/32"),
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("192.168.1.0/24", "192.168.1.0/24"),
        ("198.51.100.128/25", "198.51.100.128/25"),
    ],
)
def test_valid_cidrs_are_normalised(env: Env, given: str, expected: str) -> None:
    assert normalise_cidr(given) == expected


@pytest.mark.parametrize(
    ("given", "hint"),
    [
        ("10.1.2.3/24", "10.1.2.0/24"),  # host bits set: refused with the network it probably means
        ("115.236.166.154/16", "115.236.0.0/16"),
        ("300.1.2.3/32", None),
        ("10.0.0.0/33", None),
        ("10.0.0.1/-1", None),
        ("not-an-ip", None),
        ("", None),
        ("2001:db8::/32", None),  # IPv6 is not an IPv4 CIDR
        ("010.1.2.3/32", None),
    ],
)
def test_invalid_cidrs_are_refused(env: Env, given: str, hint: str | None) -> None:
    with pytest.raises(BadRequest) as caught:
        normalise_cidr(given)
    assert caught.value.status_code == 400
    assert caught.value.code == "invalid-cidr"
    assert given in caught.value.description
    if hint:
        assert f"did you mean {hint}" in caught.value.description


def test_the_open_cidr_is_refused_unless_configured(env: Env) -> None:
    with pytest.raises(BadRequest) as caught:
        normalise_cidr("0.0.0.0/0")
    assert caught.value.code == "open-whitelist"
    assert "0.0.0.0/0" in caught.value.description
    env.set(ALLOW_OPEN_WHITELIST="true")
    assert normalise_cidr("0.0.0.0/0") == "0.0.0.0/0"


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("milvus-port", "milvus-port"),
        ("milvus-em-port", "milvus-em-port"),
        ("miluvs-port", "milvus-port"),  # the original design's spellings
        ("miluvs-em-port", "milvus-em-port"),
    ],
)
def test_port_types_including_the_original_spellings(env: Env, given: str, canonical: str) -> None:
    assert desired_rules(whitelist_request([entry("1.2.3.4/32", given)])) == [("1.2.3.4/32", canonical, None)]


@pytest.mark.parametrize("port_type", ["milvus", "MILVUS-PORT", "19530", "", "em-port", "milvus-port "])
def test_an_unsupported_port_type_is_refused_with_its_value(env: Env, port_type: str) -> None:
    with pytest.raises(BadRequest) as caught:
        desired_rules(whitelist_request([entry("1.2.3.4/32", port_type)]))
    assert caught.value.description == f"unsupported port-type: {port_type}"


def test_duplicates_count_once(env: Env) -> None:
    rules = desired_rules(
        whitelist_request(
            [
                entry("1.2.3.4", "milvus-port", "first"),
                entry("1.2.3.4/32", "miluvs-port", "second"),
                entry("1.2.3.4/32", "milvus-port"),
                entry("1.2.3.4/32", "milvus-em-port"),
            ]
        )
    )
    assert rules == [("1.2.3.4/32", "milvus-port", "first"), ("1.2.3.4/32", "milvus-em-port", None)]


def test_the_entry_quota_counts_distinct_rules(env: Env) -> None:
    env.set(MAX_WHITELIST_ENTRIES=3)
    three = [entry(f"10.0.0.{i}/32") for i in range(3)]
    assert len(desired_rules(whitelist_request([*three, *three, entry("10.0.0.0")]))) == 3
    with pytest.raises(QuotaExceeded) as caught:
        desired_rules(whitelist_request([*three, entry("10.0.0.3/32")]))
    assert caught.value.status_code == 429
    assert "3" in caught.value.description


def test_the_default_entry_quota_is_50(env: Env) -> None:
    fifty = [entry(f"10.0.{i // 2}.{i % 2}/32", ("milvus-port", "milvus-em-port")[i % 2]) for i in range(50)]
    assert len(desired_rules(whitelist_request(fifty))) == 50
    with pytest.raises(QuotaExceeded) as caught:
        desired_rules(whitelist_request([*fifty, entry("10.1.0.0/16")]))
    assert "50" in caught.value.description


# --- applying the list to the group --------------------------------------------------------------------------


def test_a_whitelist_becomes_the_groups_rules(env: Env, aws: Aws, ec2_spy: Ec2Spy, token: str) -> None:
    group_id = stored(env)["security-group-id"]
    self_rules = self_rule_ids(aws, group_id)
    assert len(self_rules) == 1
    assert group_rules(aws, group_id) == {}  # nothing is reachable before a whitelist

    reply = put(
        token,
        [
            entry("115.236.166.154/32", "milvus-port", "office"),
            entry("115.236.166.154", "miluvs-em-port"),
            entry("198.51.100.0/24", "milvus-port"),
        ],
    )

    assert reply.status == 200, reply.body
    expected = [
        applied("115.236.166.154/32", "milvus-port", "office"),
        applied("115.236.166.154/32", "milvus-em-port"),
        applied("198.51.100.0/24", "milvus-port"),
    ]
    assert reply.body["status"] == "success"
    assert reply.body["milvus-name"] == NAME
    assert sorted(reply.body["ip-ranges"], key=str) == sorted(expected, key=str)
    assert set(group_rules(aws, group_id)) == {
        ("115.236.166.154/32", 19530, "office"),
        ("115.236.166.154/32", 19531, None),
        ("198.51.100.0/24", 19530, None),
    }
    assert self_rule_ids(aws, group_id) == self_rules  # the cluster's own traffic is untouched
    doc = stored(env)
    assert sorted(doc["whitelist"], key=str) == sorted(expected, key=str)
    assert doc["whitelist-lease"] is None and doc["whitelist-pending"] is False
    assert ec2_spy.writes() == ["AuthorizeSecurityGroupIngress"]
    assert ec2_spy.params("AuthorizeSecurityGroupIngress")[0]["GroupId"] == group_id
    [base] = aws.ec2.describe_security_groups(GroupIds=[aws.base_group_id])["SecurityGroups"]
    assert [r["CidrIp"] for p in base["IpPermissions"] for r in p["IpRanges"]] == ["203.0.113.0/24"]

    read = get(token)
    assert read.status == 200, read.body
    assert read.body["ip-ranges"] == doc["whitelist"]
    assert read.body["milvus-name"] == NAME


def test_an_unchanged_list_makes_no_aws_write(env: Env, aws: Aws, ec2_spy: Ec2Spy, token: str) -> None:
    first = put(token, [entry("1.2.3.4/32", "milvus-port", "home"), entry("10.0.0.0/8", "milvus-em-port")])
    assert first.status == 200, first.body
    before = {
        key: rule["SecurityGroupRuleId"] for key, rule in group_rules(aws, stored(env)["security-group-id"]).items()
    }
    ec2_spy.calls.clear()

    # The same list in another order and spelling, with a duplicate.
    again = put(
        token,
        [
            entry("10.0.0.0/8", "miluvs-em-port"),
            entry("1.2.3.4", "miluvs-port", "home"),
            entry("10.0.0.0/8", "milvus-em-port"),
        ],
    )

    assert again.status == 200, again.body
    assert sorted(again.body["ip-ranges"], key=str) == sorted(first.body["ip-ranges"], key=str)
    assert ec2_spy.writes() == []
    after = {
        key: rule["SecurityGroupRuleId"] for key, rule in group_rules(aws, stored(env)["security-group-id"]).items()
    }
    assert after == before


def test_the_diff_revokes_only_removed_rules_and_authorizes_only_new_ones(
    env: Env, aws: Aws, ec2_spy: Ec2Spy, token: str
) -> None:
    group_id = stored(env)["security-group-id"]
    assert put(token, [entry("1.1.1.1/32"), entry("2.2.2.2/32"), entry("2.2.2.2/32", "milvus-em-port")]).status == 200
    ids = {key: rule["SecurityGroupRuleId"] for key, rule in group_rules(aws, group_id).items()}
    ec2_spy.calls.clear()

    reply = put(token, [entry("2.2.2.2/32"), entry("2.2.2.2/32", "milvus-em-port"), entry("3.3.3.0/24")])

    assert reply.status == 200, reply.body
    rules = group_rules(aws, group_id)
    assert set(rules) == {("2.2.2.2/32", 19530, None), ("2.2.2.2/32", 19531, None), ("3.3.3.0/24", 19530, None)}
    for kept in [("2.2.2.2/32", 19530, None), ("2.2.2.2/32", 19531, None)]:
        assert rules[kept]["SecurityGroupRuleId"] == ids[kept]  # kept rules are never touched
    assert ec2_spy.writes() == ["RevokeSecurityGroupIngress", "AuthorizeSecurityGroupIngress"]
    [revoke] = ec2_spy.params("RevokeSecurityGroupIngress")
    assert revoke["SecurityGroupRuleIds"] == [ids[("1.1.1.1/32", 19530, None)]]
    [authorize] = ec2_spy.params("AuthorizeSecurityGroupIngress")
    assert authorize["IpPermissions"] == [
        {"IpProtocol": "tcp", "FromPort": 19530, "ToPort": 19530, "IpRanges": [{"CidrIp": "3.3.3.0/24"}]}
    ]
    assert_group_matches_record(env, aws)


def test_a_description_change_is_made_in_place(env: Env, aws: Aws, ec2_spy: Ec2Spy, token: str) -> None:
    group_id = stored(env)["security-group-id"]
    assert put(token, [entry("1.1.1.1/32", description="office"), entry("2.2.2.2/32", description="vpn")]).status == 200
    ids = {key: rule["SecurityGroupRuleId"] for key, rule in group_rules(aws, group_id).items()}
    ec2_spy.calls.clear()

    reply = put(token, [entry("1.1.1.1/32", description="home office"), entry("2.2.2.2/32", description="vpn")])

    assert reply.status == 200, reply.body
    rules = group_rules(aws, group_id)
    assert set(rules) == {("1.1.1.1/32", 19530, "home office"), ("2.2.2.2/32", 19530, "vpn")}
    # Access never drops: the rule keeps its id, and only its description changes.
    assert rules[("1.1.1.1/32", 19530, "home office")]["SecurityGroupRuleId"] == ids[("1.1.1.1/32", 19530, "office")]
    assert rules[("2.2.2.2/32", 19530, "vpn")]["SecurityGroupRuleId"] == ids[("2.2.2.2/32", 19530, "vpn")]
    assert ec2_spy.params("RevokeSecurityGroupIngress") == []
    assert ec2_spy.params("AuthorizeSecurityGroupIngress") == []
    [update] = ec2_spy.params("UpdateSecurityGroupRuleDescriptionsIngress")
    assert update["IpPermissions"][0]["IpRanges"] == [{"CidrIp": "1.1.1.1/32", "Description": "home office"}]
    assert {r["description"] for r in stored(env)["whitelist"]} == {"home office", "vpn"}


def test_an_empty_description_is_no_description(env: Env, aws: Aws, ec2_spy: Ec2Spy, token: str) -> None:
    """EC2 keeps no difference between an empty description and none: the list is unchanged."""
    assert put(token, [entry("1.1.1.1/32")]).status == 200
    ec2_spy.calls.clear()

    reply = put(token, [entry("1.1.1.1/32", description="")])

    assert reply.status == 200, reply.body
    assert ec2_spy.writes() == []
    assert_group_matches_record(env, aws)


def test_an_empty_list_closes_the_cluster_again(env: Env, aws: Aws, ec2_spy: Ec2Spy, token: str) -> None:
    group_id = stored(env)["security-group-id"]
    self_rules = self_rule_ids(aws, group_id)
    assert put(token, [entry("1.1.1.1/32"), entry("1.1.1.1/32", "milvus-em-port")]).status == 200
    ec2_spy.calls.clear()

    reply = put(token, [])

    assert reply.status == 200, reply.body
    assert reply.body["ip-ranges"] == []
    assert group_rules(aws, group_id) == {}
    assert self_rule_ids(aws, group_id) == self_rules
    assert stored(env)["whitelist"] == []
    assert ec2_spy.writes() == ["RevokeSecurityGroupIngress"]
    assert get(token).body["ip-ranges"] == []


def test_the_open_cidr_is_applied_when_configured(env: Env, aws: Aws, ec2_spy: Ec2Spy, token: str) -> None:
    env.set(ALLOW_OPEN_WHITELIST="true")
    reply = put(token, [entry("0.0.0.0/0")])
    assert reply.status == 200, reply.body
    assert set(group_rules(aws, stored(env)["security-group-id"])) == {("0.0.0.0/0", 19530, None)}


@pytest.mark.parametrize("state", ALL_STATES)
def test_the_states_that_allow_a_whitelist(env: Env, aws: Aws, ec2_spy: Ec2Spy, token: str, state: str) -> None:
    env.db[CLUSTERS].update_one({"username": USER, "milvus-name": NAME}, {"$set": {"state": state}})
    reply = put(token, [entry("1.1.1.1/32")])
    group_id = stored(env)["security-group-id"]
    if state in ("deleting", "failed"):
        assert_failure(reply, 409, "invalid-state")
        assert state in reply.body["description"]
        for allowed in ("creating", "running", "suspended"):
            assert allowed in reply.body["description"]
        assert group_rules(aws, group_id) == {}
        assert stored(env)["whitelist"] == []
        assert ec2_spy.writes() == []
    else:
        assert reply.status == 200, reply.body
        assert reply.body["state"] == state
        assert set(group_rules(aws, group_id)) == {("1.1.1.1/32", 19530, None)}


REFUSALS = [
    pytest.param(
        {"ip-ranges": [{"source-ip": "9.9.9.9/32", "port-type": "http"}]},
        400,
        "unsupported port-type: http",
        id="port-type",
    ),
    pytest.param(
        {
            "ip-ranges": [
                {"source-ip": "9.9.9.9/32", "port-type": "miluvs-port"},
                {"source-ip": "9.9.9.9/33", "port-type": "milvus-port"},
            ]
        },
        400,
        None,
        id="cidr",
    ),
    pytest.param({"ip-ranges": [{"source-ip": "9.9.9.9/24", "port-type": "milvus-port"}]}, 400, None, id="host-bits"),
    pytest.param({"ip-ranges": [{"source-ip": "0.0.0.0/0", "port-type": "milvus-port"}]}, 400, None, id="open"),
    pytest.param({"milvus-name": "dogs"}, 400, None, id="name-mismatch"),
    pytest.param({"ip-ranges": [{"source-ip": "9.9.9.9/32"}]}, 400, None, id="missing-port-type"),
    pytest.param(
        {"ip-ranges": [{"source-ip": "9.9.9.9/32", "port-type": "milvus-port", "port": "19530"}]},
        400,
        None,
        id="unknown-field",
    ),
    pytest.param(
        {"ip-ranges": [{"source-ip": "9.9.9.9/32", "port-type": "milvus-port", "description": "<script>"}]},
        400,
        None,
        id="bad-description",
    ),
    pytest.param({"ip-ranges": "9.9.9.9/32"}, 400, None, id="not-a-list"),
    pytest.param(
        {"ip-ranges": [{"source-ip": f"10.9.{i}.0/24", "port-type": "milvus-port"} for i in range(51)]},
        429,
        None,
        id="too-many",
    ),
]


@pytest.mark.parametrize(("overrides", "status", "description"), REFUSALS)
def test_a_refused_whitelist_changes_nothing(
    env: Env, aws: Aws, ec2_spy: Ec2Spy, token: str, overrides: dict[str, Any], status: int, description: str | None
) -> None:
    assert put(token, [entry("1.1.1.1/32")]).status == 200
    group_id = stored(env)["security-group-id"]
    before_rules = {k: r["SecurityGroupRuleId"] for k, r in group_rules(aws, group_id).items()}
    before_doc = stored(env)
    ec2_spy.calls.clear()

    reply = put(token, [entry("8.8.8.8/32")], **overrides)

    assert_failure(reply, status)
    if description is not None:
        assert reply.body["description"] == description
    if status == 429:
        assert "50" in reply.body["description"]
    assert ec2_spy.writes() == []
    assert {k: r["SecurityGroupRuleId"] for k, r in group_rules(aws, group_id).items()} == before_rules
    assert stored(env) == before_doc


def test_the_path_name_must_match_the_body(env: Env, aws: Aws, ec2_spy: Ec2Spy, token: str) -> None:
    reply = put(token, [entry("8.8.8.8/32")], path="dogs")  # body says cats, path says dogs
    assert_failure(reply, 400, "name-mismatch")
    assert group_rules(aws, stored(env)["security-group-id"]) == {}


def test_another_users_token_changes_nothing(
    env: Env, aws: Aws, ec2_spy: Ec2Spy, token: str, issue_token: Callable[..., str]
) -> None:
    bob = issue_token(OTHER)
    group_id = stored(env)["security-group-id"]
    assert_failure(put(bob, [entry("8.8.8.8/32")], username=OTHER), 404)  # bob has no cluster named cats
    assert_failure(put(bob, [entry("8.8.8.8/32")]), 403)  # bob's token for alice's username
    assert_failure(put(None, [entry("8.8.8.8/32")]), 401)
    assert_failure(put("not-a-token", [entry("8.8.8.8/32")]), 401)
    assert_failure(get(bob), 404)
    assert_failure(call_api("get_whitelist", path_params={"milvus-name": NAME}), 401)
    assert group_rules(aws, group_id) == {}
    assert stored(env)["whitelist"] == []
    assert ec2_spy.writes() == []


def test_an_unknown_cluster_is_404(env: Env, aws: Aws, ec2_spy: Ec2Spy, token: str) -> None:
    assert_failure(put(token, [entry("8.8.8.8/32")], path="dogs", **{"milvus-name": "dogs"}), 404, "cluster-not-found")
    assert_failure(get(token, "dogs"), 404, "cluster-not-found")


def test_any_configured_entry_quota_fits_in_the_group(env: Env, aws: Aws, ec2_spy: Ec2Spy, token: str) -> None:
    """However high the deployment sets MAX_WHITELIST_ENTRIES, a full list fits in the security group (AWS, and
    moto, allow 60 inbound rules per group by default, one of them the cluster's own): never a 5xx for it."""
    field = next(f for f in fields(Settings) if f.name == "max_whitelist_entries")
    highest = int(field.metadata["le"])
    env.set(MAX_WHITELIST_ENTRIES=highest)
    full = [entry(f"10.{i // 250}.{i % 250}.0/24") for i in range(highest)]

    reply = put(token, full)

    assert reply.status == 200, reply.body
    assert len(group_rules(aws, stored(env)["security-group-id"])) == highest


# --- the lease and the partial-failure guarantee -------------------------------------------------------------


def test_a_held_lease_refuses_a_second_writer(env: Env, aws: Aws, ec2_spy: Ec2Spy, token: str) -> None:
    assert put(token, [entry("1.1.1.1/32")]).status == 200
    key = {"username": USER, "milvus-name": NAME}
    env.db[CLUSTERS].update_one(key, {"$set": {"whitelist-lease": datetime.now(UTC) + timedelta(seconds=60)}})
    ec2_spy.calls.clear()

    reply = put(token, [entry("2.2.2.2/32")])

    assert_failure(reply, 409, "whitelist-busy")
    assert ec2_spy.writes() == []
    assert set(group_rules(aws, stored(env)["security-group-id"])) == {("1.1.1.1/32", 19530, None)}
    assert stored(env)["whitelist"] == [applied("1.1.1.1/32")]

    # A lease left behind by a writer that crashed expires.
    env.db[CLUSTERS].update_one(key, {"$set": {"whitelist-lease": datetime.now(UTC) - timedelta(seconds=1)}})
    reply = put(token, [entry("2.2.2.2/32")])
    assert reply.status == 200, reply.body
    assert set(group_rules(aws, stored(env)["security-group-id"])) == {("2.2.2.2/32", 19530, None)}
    assert stored(env)["whitelist-lease"] is None


def test_the_lease_is_one_writer_at_a_time(env: Env, aws: Aws, cluster: dict[str, Any]) -> None:
    assert clusters.take_whitelist_lease(USER, NAME, OPEN_STATES, 60) is True
    assert clusters.take_whitelist_lease(USER, NAME, OPEN_STATES, 60) is False
    assert stored(env)["whitelist-pending"] is True
    clusters.release_whitelist_lease(USER, NAME)
    assert clusters.take_whitelist_lease(USER, NAME, OPEN_STATES, 60) is True
    clusters.release_whitelist_lease(USER, NAME)
    assert clusters.take_whitelist_lease(USER, NAME, ("deleting",), 60) is False  # the state is part of the guard
    assert clusters.take_whitelist_lease(OTHER, NAME, OPEN_STATES, 60) is False


def test_a_partial_failure_stores_what_the_group_holds(env: Env, aws: Aws, ec2_spy: Ec2Spy, token: str) -> None:
    group_id = stored(env)["security-group-id"]
    assert put(token, [entry("1.1.1.1/32"), entry("2.2.2.2/32")]).status == 200
    ec2_spy.calls.clear()
    ec2_spy.failures["AuthorizeSecurityGroupIngress"] = "InternalError"

    reply = put(token, [entry("2.2.2.2/32"), entry("3.3.3.3/32")])

    assert_failure(reply, 503, "whitelist-partial")
    assert int(reply.headers["Retry-After"]) >= 1
    names = ec2_spy.writes()
    assert names == ["RevokeSecurityGroupIngress", "AuthorizeSecurityGroupIngress"]  # revoke went through first
    rules = group_rules(aws, group_id)
    assert set(rules) == {("2.2.2.2/32", 19530, None)}
    assert_group_matches_record(env, aws)
    doc = stored(env)
    assert doc["whitelist"] == [applied("2.2.2.2/32")]
    assert doc["whitelist-pending"] is False
    assert doc["whitelist-lease"] is None
    assert get(token).body["ip-ranges"] == [applied("2.2.2.2/32")]

    # Once AWS recovers, the same request completes the list.
    ec2_spy.failures.clear()
    reply = put(token, [entry("2.2.2.2/32"), entry("3.3.3.3/32")])
    assert reply.status == 200, reply.body
    assert set(group_rules(aws, group_id)) == {("2.2.2.2/32", 19530, None), ("3.3.3.3/32", 19530, None)}
    assert_group_matches_record(env, aws)


def test_a_failed_revoke_keeps_record_and_group_in_agreement(env: Env, aws: Aws, ec2_spy: Ec2Spy, token: str) -> None:
    group_id = stored(env)["security-group-id"]
    assert put(token, [entry("1.1.1.1/32"), entry("2.2.2.2/32")]).status == 200
    ec2_spy.failures["RevokeSecurityGroupIngress"] = "UnauthorizedOperation"

    reply = put(token, [entry("2.2.2.2/32"), entry("3.3.3.3/32")])

    assert_failure(reply, 503, "whitelist-partial")
    assert set(group_rules(aws, group_id)) == {("1.1.1.1/32", 19530, None), ("2.2.2.2/32", 19530, None)}
    assert_group_matches_record(env, aws)
    assert stored(env)["whitelist-lease"] is None


def test_a_pending_change_is_reconciled_from_the_group(env: Env, aws: Aws, ec2_spy: Ec2Spy, token: str) -> None:
    """A writer that died mid-way leaves whitelist-pending: the next call diffs against the group, not the record."""
    group_id = stored(env)["security-group-id"]
    assert put(token, [entry("1.1.1.1/32")]).status == 200
    aws.ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 19531, "ToPort": 19531, "IpRanges": [{"CidrIp": "6.6.6.6/32"}]}
        ],
    )
    env.db[CLUSTERS].update_one({"username": USER, "milvus-name": NAME}, {"$set": {"whitelist-pending": True}})
    ec2_spy.calls.clear()

    reply = put(token, [entry("1.1.1.1/32")])

    assert reply.status == 200, reply.body
    assert set(group_rules(aws, group_id)) == {("1.1.1.1/32", 19530, None)}
    assert ec2_spy.writes() == ["RevokeSecurityGroupIngress"]
    assert stored(env)["whitelist-pending"] is False

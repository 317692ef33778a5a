"""Pydantic models: the one source of request validation, response shapes and the OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

NAME_PATTERN = r"^[a-z][a-z0-9-]{2,39}$"
Name = Annotated[
    StrictStr, Field(pattern=NAME_PATTERN, description="lower-case letters, digits and -, 3-40, starts with a letter")
]
Token = Annotated[StrictStr, Field(min_length=1, max_length=256)]
ClusterState = Literal["creating", "running", "suspending", "suspended", "resuming", "deleting", "failed"]


class ApiModel(BaseModel):
    """Hyphenated JSON keys as in the original requests; unknown fields are refused. Each model is built
    on first use (defer_build): a function builds only the few models it uses, not all at import."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", serialize_by_alias=True, defer_build=True)


class AuthenticatedRequest(ApiModel):
    session_token: Token | None = Field(None, alias="session-token")
    username: Name


class CreateClusterRequest(AuthenticatedRequest):
    milvus_name: Name = Field(alias="milvus-name")
    milvus_type: Annotated[StrictStr, Field(min_length=1, max_length=40)] = Field(alias="milvus-type")
    disk_size: StrictInt = Field(alias="disk-size", description="GiB, within the type's bounds")


class Failure(ApiModel):
    status: Literal["failed"] = "failed"
    description: str
    code: str


class CreateClusterResponse(ApiModel):
    status: Literal["success"] = "success"
    milvus_name: str = Field(alias="milvus-name")
    milvus_url: str = Field(alias="milvus-url")
    milvus_port: str = Field(alias="milvus-port")
    milvus_em_port: str = Field(alias="milvus-em-port")
    state: ClusterState


class SecurityGroupRef(ApiModel):
    group_name: str = Field(alias="group-name")


class InstanceRecord(ApiModel):
    node_type: Literal["master", "worker"] = Field(alias="node-type")
    instance_id: str = Field(alias="instance-id")
    key_pair: str = Field(alias="key-pair")
    public_ip: str | None = Field(None, alias="public-ip")
    private_ip: str | None = Field(None, alias="private-ip")


class WhitelistEntry(ApiModel):
    source_ip: str = Field(alias="source-ip")
    port_type: Literal["milvus-port", "milvus-em-port"] = Field(alias="port-type")
    description: str | None = None


class ClusterView(ApiModel):
    """A cluster as users see it: the record without internal AWS ids."""

    model_config = ConfigDict(extra="ignore")

    username: str
    milvus_name: str = Field(alias="milvus-name")
    milvus_type: str = Field(alias="milvus-type")
    disk_size: int = Field(alias="disk-size")
    state: ClusterState
    state_reason: str | None = Field(None, alias="state-reason")
    milvus_url: str = Field(alias="milvus-url")
    milvus_port: str = Field(alias="milvus-port")
    milvus_em_port: str = Field(alias="milvus-em-port")
    subnet_id: str = Field(alias="subnet-id")
    security_groups: list[SecurityGroupRef] = Field(alias="security-groups")
    instances: list[InstanceRecord] = []
    whitelist: list[WhitelistEntry] = []
    created_at: str = Field(alias="created-at")
    updated_at: str = Field(alias="updated-at")


class ClusterResponse(ClusterView):
    model_config = ConfigDict(extra="ignore")
    status: Literal["success"] = "success"


class ClusterListResponse(ApiModel):
    status: Literal["success"] = "success"
    clusters: list[ClusterView]


class MilvusTypeView(ApiModel):
    milvus_type: str = Field(alias="milvus-type")
    description: str
    master_instance_type: str = Field(alias="master-instance-type")
    worker_instance_type: str | None = Field(alias="worker-instance-type")
    worker_count: int = Field(alias="worker-count")
    vcpus: int
    memory_gib: int = Field(alias="memory-gib")
    gpus: int
    min_disk_size: int = Field(alias="min-disk-size")
    max_disk_size: int = Field(alias="max-disk-size")


class MilvusTypesResponse(ApiModel):
    status: Literal["success"] = "success"
    milvus_types: list[MilvusTypeView] = Field(alias="milvus-types")


class IpRangeRequest(ApiModel):
    source_ip: Annotated[StrictStr, Field(max_length=43)] = Field(alias="source-ip", description="an IPv4 CIDR")
    port_type: Annotated[StrictStr, Field(max_length=40)] = Field(
        alias="port-type", description="milvus-port or milvus-em-port (miluvs-port, miluvs-em-port accepted)"
    )
    # The characters EC2 accepts in a rule description.
    description: (
        Annotated[StrictStr, Field(max_length=255, pattern=r"^[A-Za-z0-9. _\-:/()#,@\[\]+=&;{}!$*]*$")] | None
    ) = None


class WhitelistRequest(AuthenticatedRequest):
    milvus_name: Name = Field(alias="milvus-name")
    ip_ranges: Annotated[list[IpRangeRequest], Field(max_length=1000)] = Field(alias="ip-ranges")


class WhitelistResponse(ApiModel):
    status: Literal["success"] = "success"
    milvus_name: str = Field(alias="milvus-name")
    ip_ranges: list[WhitelistEntry] = Field(alias="ip-ranges")
    state: ClusterState


class ClusterActionResponse(ApiModel):
    """The answer to delete, suspend and resume: the work goes on in the background."""

    status: Literal["success"] = "success"
    milvus_name: str = Field(alias="milvus-name")
    state: ClusterState


class ClusterActionRequest(ApiModel):
    """Optional body of delete, suspend and resume: the token may come here instead of the header."""

    session_token: Token | None = Field(None, alias="session-token")
    username: Name | None = None
    milvus_name: Name | None = Field(None, alias="milvus-name")

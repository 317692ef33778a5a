"""Read template.yaml as the local stack needs it: functions, routes, state machines, intrinsics."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags turned into their long forms."""


def _tag(name: str, split_getatt: bool = False) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if split_getatt:
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    return construct


for _short, _long in {
    "Ref": "Ref",
    "Sub": "Fn::Sub",
    "GetAtt": "Fn::GetAtt",
    "Join": "Fn::Join",
    "If": "Fn::If",
}.items():
    _CfnLoader.add_constructor(f"!{_short}", _tag(_long, split_getatt=_short == "GetAtt"))


@dataclass
class Function:
    logical_id: str
    code_uri: Path
    handler: str
    environment: dict[str, Any] = field(default_factory=dict)
    routes: list[tuple[str, str]] = field(default_factory=list)  # (METHOD, /path/{param})


@dataclass
class StateMachine:
    logical_id: str
    definition_uri: Path
    substitutions: dict[str, Any]


@dataclass
class Template:
    raw: dict[str, Any]
    functions: dict[str, Function]
    state_machines: dict[str, StateMachine]

    def parameter_default(self, name: str) -> Any:
        return self.raw["Parameters"][name].get("Default")

    def resource(self, logical_id: str) -> dict[str, Any]:
        return dict(self.raw["Resources"][logical_id])


def load_template(path: Path = TEMPLATE) -> Template:
    # _CfnLoader is a SafeLoader subclass
    raw = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506  # nosec B506
    globals_fn = raw.get("Globals", {}).get("Function", {})
    functions, machines = {}, {}
    for logical_id, res in raw["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::Serverless::Function":
            env = {
                **globals_fn.get("Environment", {}).get("Variables", {}),
                **props.get("Environment", {}).get("Variables", {}),
            }
            routes = [
                (ev["Properties"]["Method"].upper(), ev["Properties"]["Path"])
                for ev in props.get("Events", {}).values()
                if ev["Type"] == "Api"
            ]
            functions[logical_id] = Function(
                logical_id, ROOT / props["CodeUri"], props.get("Handler", globals_fn.get("Handler")), env, routes
            )
        elif res["Type"] == "AWS::Serverless::StateMachine":
            machines[logical_id] = StateMachine(
                logical_id, ROOT / props["DefinitionUri"], props.get("DefinitionSubstitutions", {})
            )
    return Template(raw, functions, machines)


def resolve(value: Any, refs: dict[str, str]) -> str:
    """Resolve the intrinsics the template uses against the local stack's names (refs)."""
    if isinstance(value, dict):
        if "Ref" in value:
            return refs[value["Ref"]]
        if "Fn::GetAtt" in value:
            return refs[".".join(value["Fn::GetAtt"])]
        if "Fn::Sub" in value:
            return re.sub(r"\$\{([^}]+)\}", lambda m: refs[m.group(1)], value["Fn::Sub"])
        raise ValueError(f"unsupported intrinsic: {value}")
    return str(value)


def render_definition(machine: StateMachine, refs: dict[str, str]) -> dict[str, Any]:
    """The ASL file with DefinitionSubstitutions applied, as Step Functions would receive it."""
    subs = {key: resolve(val, refs) for key, val in machine.substitutions.items()}
    text = re.sub(r"\$\{(\w+)\}", lambda m: subs.get(m.group(1), m.group(0)), machine.definition_uri.read_text())
    return dict(yaml.safe_load(text))

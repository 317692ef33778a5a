"""Run the project's own handlers for the local stack, as Lambda would: by template.yaml's names."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from local.template import Function


@dataclass
class LocalContext:
    """The LambdaContext fields the handlers (and Powertools) read."""

    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = ""
    timeout_ms: int = 30_000
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self.timeout_ms - (time.monotonic() - self.started) * 1000))


class HandlerRegistry:
    def __init__(self, functions: dict[str, Function], account: str, region: str):
        self.functions = functions
        self.account, self.region = account, region
        self._modules: dict[str, ModuleType] = {}
        self._lock = threading.Lock()
        self._api_lock = threading.Lock()

    def arn(self, logical_id: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{logical_id}"

    def module(self, fn: Function) -> ModuleType:
        with self._lock:
            if fn.logical_id not in self._modules:
                module_name, _ = fn.handler.rsplit(".", 1)
                path = fn.code_uri / f"{module_name.replace('.', '/')}.py"
                spec = importlib.util.spec_from_file_location(f"fn_{fn.logical_id}", path)
                if spec is None or spec.loader is None:
                    raise ImportError(f"cannot load {path}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[spec.name] = module
                spec.loader.exec_module(module)
                self._modules[fn.logical_id] = module
            return self._modules[fn.logical_id]

    def invoke(self, logical_id: str, event: Any) -> Any:
        fn = self.functions[logical_id]
        handler = getattr(self.module(fn), fn.handler.rsplit(".", 1)[1])
        context = LocalContext(function_name=logical_id, invoked_function_arn=self.arn(logical_id))
        if not fn.routes:
            return handler(event, context)
        # Powertools keeps the current event on a class shared by every resolver: one API call at a time,
        # as each Lambda container would. Workflow steps do not use it and run concurrently.
        with self._api_lock:
            return handler(event, context)

    def moto_invoke(self, function_name: str, body: Any, response_headers: dict[str, str]) -> bytes:
        """Stands in for moto's echoing Lambda: a raised error becomes a Lambda function error."""
        logical_id = function_name.rsplit(":", 1)[-1] if function_name.startswith("arn:") else function_name
        event = json.loads(body) if body else {}
        try:
            result = self.invoke(logical_id, event)
        except Exception as exc:  # noqa: BLE001 - every error is reported to the state machine
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()
        return json.dumps(result).encode()

"""Execution roles that do not exist: accepted as LocalStack accepts them, or refused as AWS refuses them.

Deploy scripts written for LocalStack (seed 001's ``deploy-local.sh``) name roles nothing creates
(``role/lambda-role``). By default the local cloud accepts a function, a state machine or a schedule whose
role does not exist, and says in its log that AWS would refuse it; ``up --strict-iam``
(``SFN_CALLBACK_STRICT_IAM=1``) keeps AWS's refusal:

| resource | AWS's refusal |
| --- | --- |
| Lambda CreateFunction | ``InvalidParameterValueException``: The role defined for the function cannot be assumed by Lambda. |
| Step Functions CreateStateMachine / UpdateStateMachine | ``AccessDeniedException``: Neither the global service principal states.amazonaws.com, nor the regional one is authorized to assume the provided role. |
| Scheduler CreateSchedule / UpdateSchedule | ``ValidationException``: The execution role you provide must allow AWS EventBridge Scheduler to assume the role. |

A malformed role ARN, or one in another account, is refused either way (moto's checks).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from sfn_callback.localcloud.patching import replace

log = logging.getLogger("sfn_callback.localcloud")

LAMBDA_REFUSAL = "The role defined for the function cannot be assumed by Lambda."
STATES_REFUSAL = ("Neither the global service principal states.amazonaws.com, nor the regional one is authorized "
                  "to assume the provided role.")
SCHEDULER_REFUSAL = "The execution role you provide must allow AWS EventBridge Scheduler to assume the role."


class RolePolicy:
    """Whether missing roles are refused, and which were accepted (for ``/health``)."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self._lock = threading.Lock()
        self.accepted: list[dict[str, str]] = []

    def health(self) -> dict[str, Any]:
        with self._lock:
            return {"strict": self.strict, "missing_roles_accepted": len(self.accepted),
                    "missing_roles": self.accepted[-20:]}

    def missing(self, account_id: str, role_arn: str) -> bool:
        from moto.iam.exceptions import NotFoundException as IAMNotFoundException
        from moto.iam.models import iam_backends

        partition = role_arn.split(":")[1] if role_arn.count(":") >= 5 else "aws"
        try:
            iam_backends[account_id][partition or "aws"].get_role_by_arn(role_arn)
        except IAMNotFoundException:
            return True
        except Exception:  # a malformed ARN: the service's own validation answers it
            return False
        return False

    def accept(self, kind: str, name: str, role_arn: str, refusal: str) -> None:
        with self._lock:
            self.accepted.append({"resource": f"{kind} {name}", "role": role_arn})
        log.warning("%s %s names role %s, which does not exist: accepted, as LocalStack accepts it. AWS would "
                    "refuse it (%s); `sfn-callback up --strict-iam` refuses it here too.", kind, name, role_arn,
                    refusal)


def _access_denied() -> type:
    from moto.core.exceptions import AWSError

    class AccessDeniedException(AWSError):
        TYPE = "AccessDeniedException"
        STATUS = 400

    return AccessDeniedException


def install(policy: RolePolicy) -> None:
    _install_lambda(policy)
    _install_states(policy)
    _install_scheduler(policy)


def _install_lambda(policy: RolePolicy) -> None:
    from moto.awslambda.exceptions import InvalidParameterValueException, InvalidRoleFormat
    from moto.awslambda.models import LambdaStorage

    original = LambdaStorage.put_function

    def put_function(self: Any, fn: Any) -> None:
        valid = re.match(InvalidRoleFormat.pattern, fn.role or "")
        if not valid or valid.group(2) != self.account_id or not policy.missing(self.account_id, fn.role):
            return original(self, fn)  # moto's own checks: format, account, an existing role
        if policy.strict:
            raise InvalidParameterValueException(LAMBDA_REFUSAL)
        policy.accept("function", fn.function_name, fn.role, f"InvalidParameterValueException: {LAMBDA_REFUSAL}")
        # moto's storage step, without its role lookup.
        if fn.function_name in self._functions:
            self._functions[fn.function_name]["latest"] = fn
        else:
            self._functions[fn.function_name] = {"latest": fn, "versions": []}
        self._arns[fn.function_arn] = fn

    replace(LambdaStorage, "put_function", put_function)


def _install_states(policy: RolePolicy) -> None:
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    AccessDenied = _access_denied()
    original_create = StepFunctionsParserBackend.create_state_machine
    original_update = StepFunctionsParserBackend.update_state_machine

    def check(backend: Any, name: str, role_arn: str | None) -> None:
        if role_arn and policy.missing(backend.account_id, role_arn):
            if policy.strict:
                raise AccessDenied(STATES_REFUSAL)
            policy.accept("state machine", name, role_arn, f"AccessDeniedException: {STATES_REFUSAL}")

    def create_state_machine(self: Any, name: str, definition: str, roleArn: str, *args: Any, **kwargs: Any) -> Any:
        check(self, name, roleArn)
        return original_create(self, name, definition, roleArn, *args, **kwargs)

    def update_state_machine(self: Any, arn: str, definition: Any = None, role_arn: Any = None, *args: Any,
                             **kwargs: Any) -> Any:
        check(self, arn.rsplit(":", 1)[-1], role_arn)
        return original_update(self, arn, definition, role_arn, *args, **kwargs)

    replace(StepFunctionsParserBackend, "create_state_machine", create_state_machine)
    replace(StepFunctionsParserBackend, "update_state_machine", update_state_machine)


def _install_scheduler(policy: RolePolicy) -> None:
    from moto.scheduler.exceptions import ValidationException
    from moto.scheduler.models import EventBridgeSchedulerBackend

    original_create = EventBridgeSchedulerBackend.create_schedule
    original_update = EventBridgeSchedulerBackend.update_schedule

    def check(backend: Any, kwargs: dict[str, Any]) -> None:
        role_arn = (kwargs.get("target") or {}).get("RoleArn")
        if role_arn and policy.missing(backend.account_id, role_arn):
            if policy.strict:
                raise ValidationException(SCHEDULER_REFUSAL)
            policy.accept("schedule", f"{kwargs.get('group_name') or 'default'}/{kwargs.get('name')}", role_arn,
                          f"ValidationException: {SCHEDULER_REFUSAL}")

    def create_schedule(self: Any, **kwargs: Any) -> Any:
        check(self, kwargs)
        return original_create(self, **kwargs)

    def update_schedule(self: Any, **kwargs: Any) -> Any:
        check(self, kwargs)
        return original_update(self, **kwargs)

    replace(EventBridgeSchedulerBackend, "create_schedule", create_schedule)
    replace(EventBridgeSchedulerBackend, "update_schedule", update_schedule)

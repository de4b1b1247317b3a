"""Step Functions calls moto 5.2 lacks and the AWS provider for Terraform makes.

* ``ValidateStateMachineDefinition`` (called at ``terraform plan`` for every ``aws_sfn_state_machine``):
  the definition is checked as AWS checks it and the answer has AWS's shape, ``result`` ``OK``/``FAIL`` and
  ``diagnostics`` with ``severity``, ``code``, ``message`` and ``location`` (a JSON pointer such as
  ``/States/Wait/Next``). The checks (:func:`diagnostics`): the JSON itself, the structure AWS requires
  (``StartAt`` and ``States``, a ``Type`` per state, ``Next`` or ``End`` where the state type needs one,
  transition targets that exist in their scope, at least one terminal state, state names unique across the
  whole machine and at most 80 characters, Task resources that are ARNs, no ``.waitForTaskToken``/``.sync``
  or activities in an EXPRESS machine, recursively through Parallel branches and Map processors), then
  moto's own ASL grammar (``moto/stepfunctions/parser/asl``), whose syntax errors are mapped back to the
  location they point at. ``NO_DOLLAR`` warnings for payload fields that look like paths.
* ``CreateStateMachine`` / ``UpdateStateMachine`` refuse a definition with an error diagnostic with AWS's
  ``InvalidDefinition`` (moto only ran the grammar).
* ``ListStateMachineVersions`` (read after every create and update): the published versions, newest first.
* **Distributed Map** as on AWS: each item runs as a child workflow execution with its own history
  (``ListExecutions(mapRunArn=...)``, ``DescribeExecution``, ``GetExecutionHistory``; ``$$.Execution.Id`` inside
  it is the child's ARN, ``<machine>/<label>:<uuid>``), and more failed items than ``ToleratedFailureCount`` /
  ``ToleratedFailurePercentage`` allow fail the Map with ``States.ExceedToleratedFailureThreshold`` (moto ran
  the items with one discarded history and never failed the run). The threshold is judged once every item of
  the run has ended (AWS stops the run as soon as it is passed).
* A JSONPath filter (``$.items[?(@.status == 'FAILED')]``) that matches nothing is ``[]``, as on AWS (moto
  failed the state with ``States.Runtime``).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, cast

from sfn_callback.localcloud.patching import replace

if TYPE_CHECKING:
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

STATE_TYPES = ("Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map")
TERMINAL_TYPES = ("Succeed", "Fail")
MAX_STATE_NAME = 80
DEFAULT_MAX_RESULTS = 100
_ANTLR_ERROR = re.compile(r"^line (\d+):(\d+), (?:at (.*?), )?(.*)$", re.S)
_LONG_EXPECTING = re.compile(r" expecting \{[^}]*\}$", re.S)
_PATH_LIKE = re.compile(r"^\$\$?(\.|\[|$)|^States\.[A-Za-z]+\(")


class _Object(dict[str, Any]):
    """A JSON object that remembers the keys it held twice (``json`` keeps the last value silently)."""

    duplicates: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    seen: list[str] = []
    for key, value in pairs:
        if key in obj and key not in seen:
            seen.append(key)
        obj[key] = value
    obj.duplicates = tuple(seen)
    return obj


def _pointer(path: str, key: str | int) -> str:
    """JSON pointer of ``key`` under ``path`` (``~`` and ``/`` escaped as RFC 6901 says)."""
    return f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"


def _diag(code: str, message: str, location: str | None, severity: str = "ERROR") -> dict[str, Any]:
    out: dict[str, Any] = {"severity": severity, "code": code, "message": message}
    if location is not None:
        out["location"] = location
    return out


# ------------------------------------------------------------------------------------- structure
class _Checker:
    def __init__(self, machine_type: str) -> None:
        self.express = machine_type == "EXPRESS"
        self.found: list[dict[str, Any]] = []
        self.names: dict[str, str] = {}  # state name -> where it was first defined

    def add(self, code: str, message: str, location: str | None, severity: str = "ERROR") -> None:
        self.found.append(_diag(code, message, location, severity))

    def machine(self, doc: Any, path: str, query_language: str) -> None:
        """A state machine, a Parallel branch or a Map processor: ``StartAt`` and ``States``."""
        here = path or "/"
        if not isinstance(doc, dict):
            self.add("SCHEMA_VALIDATION_FAILED", f"Expected an object at {here}", here)
            return
        self._duplicates(doc, path)
        query_language = doc.get("QueryLanguage", query_language)
        missing = [f for f in ("StartAt", "States") if f not in doc]
        if missing:
            self.add("SCHEMA_VALIDATION_FAILED", f"These fields are required: [{', '.join(missing)}] at {here}", here)
        states = doc.get("States")
        if "States" in doc and (not isinstance(states, dict) or not states):
            self.add("SCHEMA_VALIDATION_FAILED", f"States must be a non-empty object at {_pointer(path, 'States')}",
                     _pointer(path, "States"))
            states = None
        start = doc.get("StartAt")
        if "StartAt" in doc and not isinstance(start, str):
            self.add("SCHEMA_VALIDATION_FAILED", f"StartAt must be a string at {_pointer(path, 'StartAt')}",
                     _pointer(path, "StartAt"))
        elif isinstance(states, dict) and isinstance(start, str) and start not in states:
            self.add("MISSING_TRANSITION_TARGET", f"Missing 'Next' target: {start} at {_pointer(path, 'StartAt')}",
                     _pointer(path, "StartAt"))
        if not isinstance(states, dict):
            return
        if isinstance(states, _Object):
            for name in states.duplicates:
                where = _pointer(_pointer(path, "States"), name)
                self.add("DUPLICATE_STATE_NAME", f"Duplicate State name: {name} at {where}", where)
        terminal = False
        for name, state in states.items():
            where = _pointer(_pointer(path, "States"), name)
            terminal |= self.state(name, state, where, states, query_language)
        if not terminal:
            self.add("MISSING_END_STATE", f"Workflow has no terminal state at {_pointer(path, 'States')}",
                     _pointer(path, "States"))

    def _duplicates(self, obj: dict[str, Any], path: str) -> None:
        for key in getattr(obj, "duplicates", ()):
            self.add("SCHEMA_VALIDATION_FAILED", f"Duplicate field: {key} at {_pointer(path, key)}",
                     _pointer(path, key))

    def _target(self, target: Any, where: str, states: dict[str, Any]) -> None:
        if not isinstance(target, str):
            self.add("SCHEMA_VALIDATION_FAILED", f"Expected a state name at {where}", where)
        elif target not in states:
            self.add("MISSING_TRANSITION_TARGET", f"Missing 'Next' target: {target} at {where}", where)

    def state(self, name: str, state: Any, where: str, states: dict[str, Any], query_language: str) -> bool:
        """Check one state; True when it ends its scope (``End``, Succeed, Fail)."""
        if not 1 <= len(name) <= MAX_STATE_NAME:
            self.add("INVALID_STATE_NAME", f"State name must be 1 to {MAX_STATE_NAME} characters at {where}", where)
        if name in self.names:
            self.add("DUPLICATE_STATE_NAME", f"Duplicate State name: {name} at {where}", where)
        else:
            self.names[name] = where
        if not isinstance(state, dict):
            self.add("SCHEMA_VALIDATION_FAILED", f"Expected an object at {where}", where)
            return False
        self._duplicates(state, where)
        query_language = state.get("QueryLanguage", query_language)
        kind = state.get("Type")
        if kind is None:
            self.add("SCHEMA_VALIDATION_FAILED", f"These fields are required: [Type] at {where}", where)
            return False
        if kind not in STATE_TYPES:
            self.add("SCHEMA_VALIDATION_FAILED", f"Unknown state type {kind!r}; expected one of "
                     f"{', '.join(STATE_TYPES)} at {_pointer(where, 'Type')}", _pointer(where, "Type"))
            return False
        has_next, ends = "Next" in state, state.get("End") is True
        if "End" in state and not isinstance(state["End"], bool):
            self.add("SCHEMA_VALIDATION_FAILED", f"End must be a boolean at {_pointer(where, 'End')}",
                     _pointer(where, "End"))
        if kind in TERMINAL_TYPES or kind == "Choice":
            for field in ("Next", "End"):
                if field in state:
                    self.add("SCHEMA_VALIDATION_FAILED", f"Field '{field}' is not supported for {kind} states at "
                             f"{_pointer(where, field)}", _pointer(where, field))
        elif has_next and ends:
            self.add("SCHEMA_VALIDATION_FAILED", f"Only one of 'Next' or 'End' may be given at {where}", where)
        elif not has_next and not ends:
            self.add("SCHEMA_VALIDATION_FAILED", f"One of 'Next' or 'End' is required at {where}", where)
        if has_next and kind not in TERMINAL_TYPES and kind != "Choice":
            self._target(state["Next"], _pointer(where, "Next"), states)
        if kind == "Choice":
            self._choice(state, where, states)
        for i, catcher in enumerate(state.get("Catch") or []):
            at = _pointer(_pointer(where, "Catch"), i)
            if isinstance(catcher, dict) and "Next" in catcher:
                self._target(catcher["Next"], _pointer(at, "Next"), states)
            else:
                self.add("SCHEMA_VALIDATION_FAILED", f"These fields are required: [Next] at {at}", at)
        if kind == "Task":
            self._resource(state, where)
        if kind == "Parallel":
            branches = state.get("Branches")
            if not isinstance(branches, list) or not branches:
                self.add("SCHEMA_VALIDATION_FAILED", f"Branches must be a non-empty array at "
                         f"{_pointer(where, 'Branches')}", _pointer(where, "Branches"))
            else:
                for i, branch in enumerate(branches):
                    self.machine(branch, _pointer(_pointer(where, "Branches"), i), query_language)
        if kind == "Map":
            field = "ItemProcessor" if "ItemProcessor" in state else "Iterator"
            if field not in state:
                self.add("SCHEMA_VALIDATION_FAILED", f"These fields are required: [ItemProcessor] at {where}", where)
            else:
                self.machine(state[field], _pointer(where, field), query_language)
        if query_language != "JSONata":
            for field in ("Parameters", "ResultSelector"):
                if field in state:
                    self._no_dollar(state[field], _pointer(where, field))
        return ends or kind in TERMINAL_TYPES

    def _choice(self, state: dict[str, Any], where: str, states: dict[str, Any]) -> None:
        choices = state.get("Choices")
        if not isinstance(choices, list) or not choices:
            self.add("SCHEMA_VALIDATION_FAILED", f"Choices must be a non-empty array at {_pointer(where, 'Choices')}",
                     _pointer(where, "Choices"))
            choices = []
        for i, rule in enumerate(choices):
            at = _pointer(_pointer(where, "Choices"), i)
            if isinstance(rule, dict) and "Next" in rule:
                self._target(rule["Next"], _pointer(at, "Next"), states)
            else:
                self.add("SCHEMA_VALIDATION_FAILED", f"These fields are required: [Next] at {at}", at)
        if "Default" in state:
            self._target(state["Default"], _pointer(where, "Default"), states)

    def _resource(self, state: dict[str, Any], where: str) -> None:
        at = _pointer(where, "Resource")
        resource = state.get("Resource")
        if resource is None:
            self.add("SCHEMA_VALIDATION_FAILED", f"These fields are required: [Resource] at {where}", where)
            return
        if not isinstance(resource, str) or not re.match(r"^arn:aws[a-zA-Z-]*:[a-z0-9-]+:", resource):
            self.add("INVALID_RESOURCE", f"Value is not a valid resource ARN at {at}", at)
            return
        if self.express:
            if resource.endswith((".waitForTaskToken", ".sync", ".sync:2")):
                self.add("SCHEMA_VALIDATION_FAILED", f"Express state machine does not support "
                         f"'.{resource.rsplit('.', 1)[1]}' service integration at {at}", at)
            elif ":activity:" in resource:
                self.add("SCHEMA_VALIDATION_FAILED", f"Express state machine does not support Activity ARN at {at}",
                         at)

    def _no_dollar(self, value: Any, where: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, str) and not key.endswith(".$") and _PATH_LIKE.match(item):
                    at = _pointer(where, key)
                    self.add("NO_DOLLAR", f"The value for the field '{key}' must end with '.$' to be read as a path "
                             f"or intrinsic function at {at}", at, severity="WARNING")
                elif isinstance(item, (dict, list)):
                    self._no_dollar(item, _pointer(where, key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self._no_dollar(item, _pointer(where, i))


# ---------------------------------------------------------------------- moto's grammar, located
def _compact_with_spans(doc: Any) -> tuple[str, list[tuple[int, int, str]]]:
    """The document as one line of compact JSON, and (start, end, pointer) of every member in it, so that a
    column the grammar reports maps back to the member it falls in."""
    parts: list[str] = []
    spans: list[tuple[int, int, str]] = []
    offset = 0

    def emit(text: str) -> None:
        nonlocal offset
        parts.append(text)
        offset += len(text)

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            emit("{")
            for i, (key, item) in enumerate(value.items()):
                if i:
                    emit(",")
                start = offset
                emit(json.dumps(key) + ":")
                walk(item, _pointer(path, key))
                spans.append((start, offset, _pointer(path, key)))
            emit("}")
        elif isinstance(value, list):
            emit("[")
            for i, item in enumerate(value):
                if i:
                    emit(",")
                start = offset
                walk(item, _pointer(path, i))
                spans.append((start, offset, _pointer(path, i)))
            emit("]")
        else:
            emit(json.dumps(value))

    walk(doc, "")
    return "".join(parts), spans


def _grammar(doc: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """Diagnostics from moto's ASL grammar, and the preprocessor's complaint (reported only if nothing else is)."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser, ASLParserException

    text, spans = _compact_with_spans(doc)
    try:
        AmazonStateLanguageParser.parse(text)
    except ASLParserException as exc:
        return [_grammar_diag(error, spans) for error in exc.errors or ["the definition does not parse"]], None
    except Exception as exc:  # the preprocessor's ValueError and the like: a definition it cannot build
        return [], f"{type(exc).__name__}: {exc}"
    return [], None


def _grammar_diag(error: str, spans: list[tuple[int, int, str]]) -> dict[str, Any]:
    match = _ANTLR_ERROR.match(error)
    if not match:
        return _diag("SCHEMA_VALIDATION_FAILED", error, None)
    column, token, message = int(match.group(2)), match.group(3), match.group(4)
    inside = [s for s in spans if s[0] <= column < s[1]]
    location = min(inside, key=lambda s: s[1] - s[0])[2] if inside else "/"
    if message.count("'") > 16:  # the grammar lists every alternative; name the culprit instead
        message = _LONG_EXPECTING.sub("", message)
    if message.startswith("mismatched input") and token:
        message = f"Unexpected {token}"
    detail = f"{message} ({token})" if token and token not in message else message
    return _diag("SCHEMA_VALIDATION_FAILED", f"{detail} at {location}", location)


# ----------------------------------------------------------------------------------------- entry
def diagnostics(definition: Any, machine_type: str | None = None) -> list[dict[str, Any]]:
    """Every diagnostic for ``definition`` (the JSON text), errors and warnings, in document order."""
    if definition is None or (isinstance(definition, str) and not definition.strip()):
        return [_diag("MISSING_DESCRIPTION", "The definition is empty", None)]
    if not isinstance(definition, str):
        return [_diag("INVALID_JSON_DESCRIPTION", "The definition must be a string of JSON", None)]
    try:
        doc = json.loads(definition, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        return [_diag("INVALID_JSON_DESCRIPTION", f"{exc.msg} at (line: {exc.lineno}, column: {exc.colno})", None)]
    checker = _Checker((machine_type or "STANDARD").upper())
    checker.machine(doc, "", doc.get("QueryLanguage", "JSONPath") if isinstance(doc, dict) else "JSONPath")
    found = checker.found
    if isinstance(doc, dict):
        grammar, complaint = _grammar(doc)
        known = {d.get("location") for d in found}
        found += [d for d in grammar if d.get("location") not in known]
        if complaint and not any(d["severity"] == "ERROR" for d in found):
            found.append(_diag("SCHEMA_VALIDATION_FAILED", complaint, None))
    return found


def validate(definition: Any, machine_type: str | None = None, severity: str | None = None,
             max_results: int | None = None) -> dict[str, Any]:
    """The ValidateStateMachineDefinition answer: ``result``, ``diagnostics`` (errors, plus warnings when
    ``severity`` is WARNING; at most ``max_results``, default 100) and ``truncated``."""
    found = diagnostics(definition, machine_type)
    result = "FAIL" if any(d["severity"] == "ERROR" for d in found) else "OK"
    if (severity or "ERROR") == "ERROR":
        found = [d for d in found if d["severity"] == "ERROR"]
    limit = max_results or DEFAULT_MAX_RESULTS
    return {"result": result, "diagnostics": found[:limit], "truncated": len(found) > limit}


def install() -> None:
    from moto.core.exceptions import AWSError
    from moto.core.responses import ActionResult
    from moto.stepfunctions.exceptions import InvalidArn, StateMachineDoesNotExist
    from moto.stepfunctions.exceptions import ValidationException as SfnValidationException
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    class InvalidDefinition(AWSError):  # moto's own sets ``code``, which its serializer ignores (no error code)
        TYPE = "InvalidDefinition"
        STATUS = 400
    from moto.stepfunctions.responses import StepFunctionResponse

    def validate_state_machine_definition(self: Any) -> Any:
        severity = self._get_param("severity")
        if severity not in (None, "ERROR", "WARNING"):
            raise SfnValidationException(f"Value '{severity}' at 'severity' failed to satisfy constraint: "
                                         "Member must satisfy enum value set: [ERROR, WARNING]")
        max_results = self._get_param("maxResults")
        if max_results is not None and not 0 <= int(max_results) <= 100:
            raise SfnValidationException(f"Value '{max_results}' at 'maxResults' failed to satisfy constraint: "
                                         "Member must have value between 0 and 100")
        return ActionResult(validate(self._get_param("definition"), self._get_param("type"), severity,
                                     int(max_results) if max_results else None))

    def validate_definition(definition: str) -> None:
        errors = [d for d in diagnostics(definition) if d["severity"] == "ERROR"]
        if errors:
            first = errors[0]
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise InvalidDefinition(f"Invalid State Machine Definition: '{first['code']}: {first['message']}'{more}")

    def list_state_machine_versions(self: Any) -> Any:
        arn = self._get_param("stateMachineArn")
        if not arn or ":stateMachine:" not in arn or len(arn.split(":")) != 7:
            raise InvalidArn(f"Invalid Arn: 'Resource type not valid in this context: {arn}'")
        machine = next((m for m in self.stepfunction_backend.state_machines if m.arn == arn), None)
        if machine is None:
            raise StateMachineDoesNotExist(f"State Machine Does Not Exist: '{arn}'")
        versions = sorted(machine.versions.values(), key=lambda v: v.version, reverse=True)
        start = int(self._get_param("nextToken") or 0)
        limit = int(self._get_param("maxResults") or 0) or 1000
        page = versions[start:start + limit]
        body: dict[str, Any] = {"stateMachineVersions": [
            {"stateMachineVersionArn": v.arn, "creationDate": v.creation_date} for v in page]}
        if start + limit < len(versions):
            body["nextToken"] = str(start + limit)
        return ActionResult(body)

    replace(StepFunctionResponse, "validate_state_machine_definition", validate_state_machine_definition)
    replace(StepFunctionResponse, "list_state_machine_versions", list_state_machine_versions)
    replace(StepFunctionsParserBackend, "_validate_definition", staticmethod(validate_definition))
    _install_distributed_map()
    _install_filter_paths()


# ---------------------------------------------------------------------------------- Distributed Map
# moto's interpreter runs a Distributed Map's items in threads with one throwaway event history, so nothing of
# an item is visible afterwards, and it counts failed items without ever failing the Map Run. On AWS each item
# is a child workflow execution, listed by ``ListExecutions(mapRunArn=...)`` and read with
# ``DescribeExecution`` / ``GetExecutionHistory`` like any execution (``$$.Execution.Id`` inside it is the child's
# ARN), and the run fails with ``States.ExceedToleratedFailureThreshold`` when more items fail than
# ``ToleratedFailureCount`` / ``ToleratedFailurePercentage`` allow (both 0 when neither is declared).


def _event_details(**details: Any) -> EventDetails:
    """One history event's details: moto's ``EventDetails`` declares every key required, an event has one."""
    return cast("EventDetails", details)


class _Undeclared(int):
    """A tolerance the definition did not declare: it reads as 0 (as DescribeMapRun shows it) and limits nothing."""


class _UndeclaredPercentage(float):
    """Like :class:`_Undeclared`, for ``ToleratedFailurePercentage``."""


class ChildExecution:
    """One item of a Distributed Map run: a child workflow execution with its own history."""

    def __init__(self, map_run: Any, index: int, role_arn: str | None) -> None:
        import datetime
        import uuid

        from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

        self.name = str(uuid.uuid4())
        self.map_run_arn: str = map_run.map_run_arn
        self.state_machine_arn: str = map_run.map_state_machine_arn  # <machine ARN>/<label>
        self.arn = f"{self.state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{self.name}"
        self.parent_arn: str = map_run.execution_arn
        self.index = index
        self.role_arn = role_arn
        self.status = "RUNNING"
        self.start_date = datetime.datetime.now(tz=datetime.UTC)
        self.stop_date: Any = None
        self.input = "{}"
        self.output: str | None = None
        self.error: str | None = None
        self.cause: str | None = None
        self.events = EventManager()

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "executionArn": self.arn, "stateMachineArn": self.state_machine_arn, "name": self.name,
            "status": self.status, "startDate": self.start_date, "input": self.input,
            "inputDetails": {"included": True}, "mapRunArn": self.map_run_arn,
        }
        if self.stop_date is not None:
            out["stopDate"] = self.stop_date
        if self.output is not None:
            out.update(output=self.output, outputDetails={"included": True})
        if self.error is not None:
            out["error"] = self.error
        if self.cause is not None:
            out["cause"] = self.cause
        return out

    def list_item(self) -> dict[str, Any]:
        out = {k: v for k, v in self.describe().items() if k in (
            "executionArn", "stateMachineArn", "name", "status", "startDate", "stopDate", "mapRunArn")}
        out["itemCount"] = 1
        return out


class ChildExecutions:
    """The child executions of every Distributed Map run since the local cloud started."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._by_arn: dict[str, ChildExecution] = {}
        self._by_map_run: dict[str, list[ChildExecution]] = {}

    def add(self, child: ChildExecution) -> None:
        with self._lock:
            self._by_arn[child.arn] = child
            self._by_map_run.setdefault(child.map_run_arn, []).append(child)

    def get(self, arn: str | None) -> ChildExecution | None:
        with self._lock:
            return self._by_arn.get(arn or "")

    def of_map_run(self, map_run_arn: str) -> list[ChildExecution] | None:
        with self._lock:
            children = self._by_map_run.get(map_run_arn)
            return None if children is None else list(children)


CHILDREN = ChildExecutions()


def _install_distributed_map() -> None:
    import datetime

    from moto.stepfunctions.parser.api import HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
    from moto.stepfunctions.parser.asl.component.state.exec.state_map import state_map, tolerated_failure
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        distributed_iteration_component as dic,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        distributed_item_processor_worker as dipw,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventHistoryContext
    from moto.stepfunctions.parser.asl.eval.program_state import (
        ProgramEnded,
        ProgramError,
        ProgramStopped,
        ProgramTimedOut,
    )
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
    from moto.stepfunctions.responses import StepFunctionResponse

    worker_cls = dipw.DistributedItemProcessorWorker
    original_eval_job = worker_cls._eval_job
    original_eval_input = worker_cls._eval_input

    def eval_input(self: Any, env_frame: Any) -> None:
        original_eval_input(self, env_frame)
        child: ChildExecution | None = getattr(env_frame, "_sfn_callback_child", None)
        if child is None:
            return
        child.input = to_json_str(env_frame.states.get_input(), separators=(",", ":"))
        execution = dict(env_frame.states.context_object.context_object_data["Execution"])
        execution.update(Id=child.arn, Name=child.name, Input=env_frame.states.get_input(),
                         StartTime=child.start_date.isoformat().replace("+00:00", "Z"))
        env_frame.states.context_object.context_object_data["Execution"] = execution
        details: dict[str, Any] = {"input": child.input, "inputDetails": {"truncated": False}}
        if child.role_arn:
            details["roleArn"] = child.role_arn
        child.events.add_event(context=env_frame.event_history_context, event_type=HistoryEventType.ExecutionStarted,
                               event_details=_event_details(executionStartedEventDetails=details))

    def eval_job(self: Any, env: Any, job: Any) -> None:
        role = (env.states.context_object.context_object_data.get("Execution") or {}).get("RoleArn")
        child = ChildExecution(self._map_run_record, job.job_index, role)
        CHILDREN.add(child)
        env._sfn_callback_child = child
        env.event_manager = child.events
        env.event_history_context = EventHistoryContext.of_program_start()
        try:
            original_eval_job(self, env, job)
        finally:
            state = env.program_state()
            context = env.event_history_context
            if isinstance(state, ProgramError):
                error: dict[str, Any] = dict(state.error or {})
                child.status, child.error, child.cause = "FAILED", error.get("error"), error.get("cause")
                child.events.add_event(context=context, event_type=HistoryEventType.ExecutionFailed,
                                       event_details=_event_details(executionFailedEventDetails={
                                           k: v for k, v in error.items() if k in ("error", "cause") and v}))
            elif isinstance(state, ProgramTimedOut):
                child.status = "TIMED_OUT"
                child.events.add_event(context=context, event_type=HistoryEventType.ExecutionTimedOut,
                                       event_details=_event_details(executionTimedOutEventDetails={}))
            elif isinstance(state, ProgramStopped):
                child.status = "ABORTED"
                child.events.add_event(context=context, event_type=HistoryEventType.ExecutionAborted,
                                       event_details=_event_details(executionAbortedEventDetails={}))
            elif isinstance(state, ProgramEnded) and job.job_output is not None:
                child.status = "SUCCEEDED"
                child.output = to_json_str(job.job_output, separators=(",", ":"))
                child.events.add_event(context=context, event_type=HistoryEventType.ExecutionSucceeded,
                                       event_details=_event_details(executionSucceededEventDetails={
                                           "output": child.output, "outputDetails": {"truncated": False}}))
            else:
                child.status, child.error = "FAILED", "States.Runtime"
                child.events.add_event(context=context, event_type=HistoryEventType.ExecutionFailed,
                                       event_details=_event_details(executionFailedEventDetails={
                                           "error": "States.Runtime"}))
            child.stop_date = datetime.datetime.now(tz=datetime.UTC)

    replace(worker_cls, "_eval_job", eval_job)
    replace(worker_cls, "_eval_input", eval_input)

    # Tolerances: an undeclared one limits nothing, unless neither is declared (then any failure fails the run).
    original_from_props = state_map.StateMap.from_state_props

    def from_state_props(self: Any, state_props: Any) -> None:
        original_from_props(self, state_props)
        count = state_props.get(tolerated_failure.ToleratedFailureCountDecl)
        percentage = state_props.get(tolerated_failure.ToleratedFailurePercentageDecl)
        if count is None and percentage is not None:
            self.tolerated_failure_count_decl = tolerated_failure.ToleratedFailureCountInt(_Undeclared(0))
        if percentage is None and count is not None:
            self.tolerated_failure_percentage_decl = tolerated_failure.ToleratedFailurePercentage(
                _UndeclaredPercentage(0.0))

    replace(state_map.StateMap, "from_state_props", from_state_props)

    original_map_run = dic.DistributedIterationComponent._map_run

    def map_run(self: Any, env: Any, eval_input: Any) -> None:
        original_map_run(self, env, eval_input)
        record = eval_input.map_run_record
        items = record.item_counter
        failed = items.failed.get() + items.timed_out.get() + items.aborted.get()
        total = items.total.get()
        count, percentage = record.tolerated_failure_count, record.tolerated_failure_percentage
        over_count = not isinstance(count, _Undeclared) and failed > count
        over_percentage = (not isinstance(percentage, _UndeclaredPercentage) and total > 0
                           and failed * 100.0 / total > percentage)
        if failed and (over_count or over_percentage):
            error = StatesErrorName(typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold)
            raise FailureEventException(FailureEvent(
                env=env, error_name=error, event_type=HistoryEventType.MapRunFailed,
                event_details=_event_details(mapRunFailedEventDetails={
                    "error": error.error_name,
                    "cause": "The specified tolerated failure threshold was exceeded"})))

    replace(dic.DistributedIterationComponent, "_map_run", map_run)

    # The child executions through the API.
    original_list = StepFunctionResponse.list_executions
    original_describe = StepFunctionResponse.describe_execution
    original_history = StepFunctionResponse.get_execution_history

    def list_executions(self: Any) -> Any:
        from moto.core.responses import ActionResult
        from moto.stepfunctions.exceptions import ResourceNotFound

        map_run_arn = self._get_param("mapRunArn")
        if not map_run_arn:
            return original_list(self)
        children = CHILDREN.of_map_run(map_run_arn)
        if children is None:
            raise ResourceNotFound(map_run_arn)
        status = self._get_param("statusFilter")
        items = [c.list_item() for c in sorted(children, key=lambda c: c.start_date, reverse=True)
                 if not status or c.status == status]
        start = int(self._get_param("nextToken") or 0)
        limit = int(self._get_param("maxResults") or 0) or 100
        body: dict[str, Any] = {"executions": items[start:start + limit]}
        if start + limit < len(items):
            body["nextToken"] = str(start + limit)
        return ActionResult(body)

    def describe_execution(self: Any) -> Any:
        from moto.core.responses import ActionResult

        child = CHILDREN.get(self._get_param("executionArn"))
        return ActionResult(child.describe()) if child else original_describe(self)

    def get_execution_history(self: Any) -> Any:
        from moto.core.responses import ActionResult

        child = CHILDREN.get(self._get_param("executionArn"))
        if child is None:
            return original_history(self)
        events = child.events.get_event_history()
        if self._get_param("reverseOrder"):
            events.reverse()
        start = int(self._get_param("nextToken") or 0)
        limit = int(self._get_param("maxResults") or 0) or 1000
        body: dict[str, Any] = {"events": events[start:start + limit]}
        if start + limit < len(events):
            body["nextToken"] = str(start + limit)
        return ActionResult(body)

    replace(StepFunctionResponse, "list_executions", list_executions)
    replace(StepFunctionResponse, "describe_execution", describe_execution)
    replace(StepFunctionResponse, "get_execution_history", get_execution_history)


def _install_filter_paths() -> None:
    """A JSONPath filter (``$.items[?(@.status == 'FAILED')]``) that matches nothing is ``[]``, as on AWS; moto
    raised States.Runtime ("could not be found") for it, as for a missing field."""
    from moto.stepfunctions.parser.asl.utils import json_path

    original = json_path._contains_slice_or_wildcard_array

    def contains_slice_wildcard_or_filter(path: str) -> bool:
        return original(path) or "[?(" in path

    replace(json_path, "_contains_slice_or_wildcard_array", contains_slice_wildcard_or_filter)

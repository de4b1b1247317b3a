"""A task has one outcome: its callback and its timers decide it atomically, whichever comes first.

On AWS, once a task's ``TimeoutSeconds`` or ``HeartbeatSeconds`` has lapsed, SendTaskSuccess, SendTaskFailure
and SendTaskHeartbeat answer ``TaskTimedOut`` and change nothing; once a callback was accepted the timers do
nothing, and a later callback answers ``TaskDoesNotExist``.

moto decides neither atomically. Its callback endpoint (``moto/stepfunctions/parser/asl/eval/callback/
callback.py``) takes any outcome until the task's own thread reports the task gone, while three timers run
apart from it:

* the state's ``TimeoutSeconds`` in ``ExecutionState._evaluate_with_timeout``, in the thread that runs the
  state; when it lapses that thread records ``TaskTimedOut`` and takes the Catch;
* the same timeout again where the task's thread waits for the callback (``CallbackEndpoint.wait``), started
  later (after the task's message was sent), so the endpoint keeps accepting callbacks for a while after the
  state timed out: the caller gets 200 and the task's thread records a ``TaskSucceeded`` after the
  ``TaskTimedOut`` (``state_task_service_callback.py``);
* ``HeartbeatSeconds`` in ``HeartbeatEndpoint.clear_and_wait``, in the task's thread; a heartbeat or a
  callback arriving as it lapses is answered 200 and then ignored.

Here every endpoint holds a lock and a decision, and knows its deadlines (the state's ``TimeoutSeconds`` from
when the state started; ``HeartbeatSeconds`` from the last heartbeat, or from when the task began waiting). A
callback, a heartbeat and each timer take the lock and decide before acting:

* a callback is accepted only while the task is undecided and its deadlines have not passed, and decides it;
* a heartbeat likewise, and moves the heartbeat deadline;
* a timer that lapses decides "timed out" only if no callback (for the heartbeat clock: no heartbeat either)
  came first, and otherwise lets the task finish with what came, however late its thread gets there.

A callback that arrives after a deadline is refused even when the timer's thread has not woken yet (a busy
process wakes threads late), so "came first" means first by the clock, not by thread scheduling. The API
answers follow the decision: ``TaskTimedOut`` after a timer won, ``TaskDoesNotExist`` after the task ended
otherwise, or when its execution is no longer running (stopped, failed), where moto would take the callback
into a dead execution.

StopExecution takes effect at once, as on AWS: moto's state went on waiting for its task (up to
TimeoutSeconds) and the execution stayed RUNNING; here the state's wait ends when its execution is stopped,
fails or times out.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

from sfn_callback.localcloud.patching import mark, replace

_INSTALLED = False


def install() -> None:
    """Patch moto's callback endpoint, the state timer and the SendTask* operations (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    _install_endpoint_decision()
    _install_state_timer()
    _install_api_answers()
    _INSTALLED = True


# -- the endpoint's decision -----------------------------------------------------------------------------------
def _timed_out() -> Any:
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackConsumerTimeout

    return CallbackConsumerTimeout()


def _past_deadline(endpoint: Any, now: float) -> bool:
    """Has a deadline of ``endpoint``'s task passed with no beat in time? (call with its lock held)"""
    deadline = getattr(endpoint, "_deadline", None)
    if deadline is not None and now >= deadline:
        return True
    heartbeat = endpoint._heartbeat_endpoint
    beat_deadline = getattr(heartbeat, "_deadline", None) if heartbeat is not None else None
    return beat_deadline is not None and now >= beat_deadline and not heartbeat._next_heartbeat_event.is_set()


def timer_lapsed(endpoint: Any, heartbeat: Any = None) -> bool:
    """A timer of ``endpoint``'s task lapsed: True if it decides the task (timed out), False if a callback came
    first (or, for the heartbeat clock ``heartbeat``, a heartbeat did)."""
    with endpoint._outcome_lock:
        if endpoint._outcome is not None:
            return False
        if heartbeat is not None and heartbeat._next_heartbeat_event.is_set() and endpoint.consumer_error is None:
            return False
        if endpoint.consumer_error is None:
            endpoint.consumer_error = _timed_out()
        return True


def set_deadline(endpoint: Any, deadline: float) -> None:
    """The state's TimeoutSeconds ends at ``deadline`` (``time.monotonic()`` seconds)."""
    with endpoint._outcome_lock:
        endpoint._deadline = deadline


def _install_endpoint_decision() -> None:
    from moto.stepfunctions.parser.asl.eval.callback.callback import (
        CallbackConsumerLeft,
        CallbackConsumerTimeout,
        CallbackEndpoint,
        CallbackNotifyConsumerError,
        HeartbeatEndpoint,
    )

    original_init = CallbackEndpoint.__init__
    original_interrupt_all = CallbackEndpoint.interrupt_all
    original_setup_heartbeat = CallbackEndpoint.setup_heartbeat_endpoint

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._outcome_lock = threading.Lock()
        self._deadline = None

    def refuse_if_decided(self: Any) -> None:
        if self.consumer_error is None and self._outcome is None and _past_deadline(self, time.monotonic()):
            self.consumer_error = CallbackConsumerTimeout()  # the deadline passed: the timer won, awake or not
        if self.consumer_error is not None:
            raise CallbackNotifyConsumerError(callback_consumer_error=self.consumer_error)
        if self._outcome is not None:  # a callback already decided it
            raise CallbackNotifyConsumerError(callback_consumer_error=CallbackConsumerLeft())

    def notify(self: Any, outcome: Any) -> None:
        with self._outcome_lock:
            refuse_if_decided(self)
            self._outcome = outcome
            self._notify_event.set()
            if self._heartbeat_endpoint is not None:
                self._heartbeat_endpoint.notify()

    def notify_heartbeat(self: Any) -> bool:
        # A task without HeartbeatSeconds (or not waiting yet) accepts heartbeats too, as on AWS.
        with self._outcome_lock:
            refuse_if_decided(self)
            heartbeat = self._heartbeat_endpoint
            if heartbeat is not None:
                heartbeat._deadline = time.monotonic() + heartbeat._heartbeat_seconds
                heartbeat.notify()
            return True

    def wait(self: Any, timeout: float | None = None) -> Any:
        self._notify_event.wait(timeout=timeout)
        with self._outcome_lock:
            if self._outcome is None and self.consumer_error is None:
                # The wait lapsed with nothing decided: this timer decides (the task's thread times out now).
                self.consumer_error = CallbackConsumerTimeout()
            return self._outcome

    def interrupt_all(self: Any) -> None:
        with self._outcome_lock:
            if self.consumer_error is None:
                # The task stopped waiting without a timer deciding: it ended with its outcome (or an error).
                self.consumer_error = CallbackConsumerLeft()
        original_interrupt_all(self)

    def setup_heartbeat_endpoint(self: Any, heartbeat_seconds: int) -> Any:
        heartbeat: Any = original_setup_heartbeat(self, heartbeat_seconds)  # moto's, with our two attributes
        heartbeat._owner = self
        heartbeat._deadline = None
        return heartbeat

    def clear_and_wait(self: Any) -> bool:
        with self._mutex:
            if self._next_heartbeat_event.is_set():
                self._next_heartbeat_event.clear()
                return True
        owner = getattr(self, "_owner", None)
        if owner is not None:
            with owner._outcome_lock:  # the heartbeat clock (re)starts now
                self._deadline = max(self._deadline or 0.0, time.monotonic() + self._heartbeat_seconds)
        if self._next_heartbeat_event.wait(timeout=self._heartbeat_seconds):
            return True
        # Lapsed: "received" (False) only if the heartbeat clock decides the task, else what came first stands.
        return owner is not None and not timer_lapsed(owner, heartbeat=self)

    replace(CallbackEndpoint, "__init__", __init__)
    replace(CallbackEndpoint, "notify", notify)
    replace(CallbackEndpoint, "notify_heartbeat", notify_heartbeat)
    replace(CallbackEndpoint, "wait", wait)
    replace(CallbackEndpoint, "interrupt_all", interrupt_all)
    replace(CallbackEndpoint, "setup_heartbeat_endpoint", setup_heartbeat_endpoint)
    replace(HeartbeatEndpoint, "clear_and_wait", clear_and_wait)


# -- the state's TimeoutSeconds -------------------------------------------------------------------------------
def _task_endpoint(frame: Any) -> Any:
    """The callback endpoint of the task running in ``frame`` (None for states without a task token)."""
    task = frame.states.context_object.context_object_data.get("Task") or {}
    token = task.get("Token")
    return frame.callback_pool_manager.get(token) if token else None


def _install_state_timer() -> None:
    from threading import Thread

    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import EvalTimeoutError
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState

    # A state waiting for its task wakes when its execution is stopped, fails or times out, as on AWS, where
    # StopExecution takes effect at once. moto's state went on waiting (up to TimeoutSeconds), and the
    # execution stayed RUNNING.
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.utils import TMP_THREADS

    for name in ("set_stop", "set_error", "set_timed_out"):
        original = getattr(Environment, name)
        if getattr(original, "_wakes_waiters", False):
            continue

        def wake_waiters(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> None:
            _original(self, *args, **kwargs)
            for event in list(self.__dict__.get("_state_waiters", ())):
                event.set()

        mark(wake_waiters, "_wakes_waiters")
        setattr(Environment, name, wake_waiters)

    def _evaluate_with_timeout(self: Any, env: Any) -> None:
        # moto 5.2's ExecutionState._evaluate_with_timeout, but for a task with a token the lapse of
        # TimeoutSeconds is decided through the task's callback endpoint (a callback that came first wins), and
        # the wait ends when the execution stops.
        self.timeout.eval(env=env)
        timeout_seconds: int = env.stack.pop()

        frame = env.open_frame()
        frame.states.reset(input_value=env.states.get_input())
        frame.stack = copy.deepcopy(env.stack)
        execution_outputs: list[Any] = []
        execution_exceptions: list[Exception | None] = [None]
        terminated_event = threading.Event()

        def _exec_and_notify() -> None:
            try:
                self._eval_execution(frame)
                execution_outputs.extend(frame.stack)
            except Exception as ex:
                execution_exceptions.append(ex)
            terminated_event.set()

        endpoint = _task_endpoint(frame)
        if endpoint is not None:
            set_deadline(endpoint, time.monotonic() + timeout_seconds)

        thread = Thread(target=_exec_and_notify, daemon=True)
        TMP_THREADS.append(thread)
        thread.start()

        waiters = env.__dict__.setdefault("_state_waiters", [])
        waiters.append(terminated_event)
        try:
            finished_on_time: bool = terminated_event.wait(timeout_seconds)
        finally:
            waiters.remove(terminated_event)
        if not env.is_running():
            # Stopped, failed or timed out meanwhile: the state is abandoned and its task takes no callback.
            if endpoint is not None:
                endpoint.interrupt_all()
            frame.set_ended()
            env.close_frame(frame)
            return
        if endpoint is not None and not finished_on_time:
            if timer_lapsed(endpoint):
                endpoint.interrupt_all()  # wake the task's thread: its task is over
            else:
                # The callback came first: the task ends with it, however late its thread gets there.
                while not terminated_event.wait(1.0) and frame.is_running():
                    pass
                finished_on_time = terminated_event.is_set()
        frame.set_ended()
        env.close_frame(frame)

        execution_exception = execution_exceptions.pop()
        if execution_exception:
            raise execution_exception

        if not finished_on_time:
            raise EvalTimeoutError()

        execution_output = execution_outputs.pop()
        env.stack.append(execution_output)

        if not self._is_language_query_jsonpath():
            env.states.set_result(execution_output)

        if self.assign_decl:
            self.assign_decl.eval(env=env)

        if self.result_selector:
            self.result_selector.eval(env=env)

        if self.result_path:
            self.result_path.eval(env)
        else:
            res = env.stack.pop()
            env.states.reset(input_value=res)

    replace(ExecutionState, "_evaluate_with_timeout", _evaluate_with_timeout)


# -- what SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat answer ----------------------------------------
def _install_api_answers() -> None:
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.exceptions import InvalidToken
    from moto.stepfunctions.parser import models as parser_models
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.asl.eval.callback.callback import (
        CallbackConsumerLeft,
        CallbackConsumerTimeout,
        CallbackNotifyConsumerError,
        CallbackOutcomeFailure,
        CallbackOutcomeSuccess,
    )

    # moto's interpreter raises these as exceptions its server cannot render (HTTP 500): give them AWS's shape.
    class TaskTimedOut(AWSError):
        TYPE = "TaskTimedOut"
        STATUS = 400

        def __init__(self) -> None:
            super().__init__("Task Timed Out: the task of this token timed out")

    class TaskDoesNotExist(AWSError):
        TYPE = "TaskDoesNotExist"
        STATUS = 400

        def __init__(self) -> None:
            super().__init__("Task Does Not Exist: the task of this token is no longer waiting")

    def deliver(backend: Any, task_token: str, send: Any) -> None:
        # moto tests the wrapper exception instead of the consumer error it carries, so it never
        # answers TaskTimedOut; this is its loop with that test corrected. A task of an execution that is no
        # longer running (stopped, failed) takes no callback: moto would accept it into a dead execution.
        for execution in backend._get_executions():
            pool = execution.exec_worker.env.callback_pool_manager
            endpoint = pool.get(task_token)
            if endpoint is None:
                continue
            if execution.exec_status != ExecutionStatus.RUNNING:
                with endpoint._outcome_lock:
                    if endpoint.consumer_error is None:
                        endpoint.consumer_error = CallbackConsumerLeft()
            try:
                if send(pool):
                    return
            except CallbackNotifyConsumerError as error:
                if isinstance(error.callback_consumer_error, CallbackConsumerTimeout):
                    raise TaskTimedOut() from None
                raise TaskDoesNotExist() from None
        raise InvalidToken()

    def send_task_success(self: Any, task_token: str, outcome: str) -> Any:
        result = CallbackOutcomeSuccess(callback_id=task_token, output=outcome)
        deliver(self, task_token, lambda pool: pool.notify(callback_id=task_token, outcome=result))
        return {}

    def send_task_failure(self: Any, task_token: str, error: Any = None, cause: Any = None) -> Any:
        result = CallbackOutcomeFailure(callback_id=task_token, error=error, cause=cause)
        deliver(self, task_token, lambda pool: pool.notify(callback_id=task_token, outcome=result))
        return {}

    def send_task_heartbeat(self: Any, task_token: str) -> Any:
        deliver(self, task_token, lambda pool: pool.heartbeat(callback_id=task_token))
        return {}

    backend_cls = parser_models.StepFunctionsParserBackend
    replace(backend_cls, "send_task_success", send_task_success)
    replace(backend_cls, "send_task_failure", send_task_failure)
    replace(backend_cls, "send_task_heartbeat", send_task_heartbeat)

    # moto's response handler drops SendTaskFailure's cause; AWS hands it to the Catch.
    from moto.core.responses import EmptyResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure_response(self: Any) -> Any:
        self.stepfunction_backend.send_task_failure(self._get_param("taskToken"), error=self._get_param("error"),
                                                    cause=self._get_param("cause"))
        return EmptyResult()

    replace(StepFunctionResponse, "send_task_failure", send_task_failure_response)

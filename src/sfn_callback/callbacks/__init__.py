"""The one callback core: a port (:class:`TaskCallbacks`), one boto3 adapter (:class:`StepFunctionsCallbacks`) with
the one retry layer, and one result type (:class:`CallbackResult`, :class:`CallbackStatus`).

Every component sends its task callbacks through it and maps the result to its own semantics."""

from sfn_callback.callbacks.port import TaskCallbacks
from sfn_callback.callbacks.result import CallbackResult, CallbackStatus
from sfn_callback.callbacks.retry import CALLBACK_MAX_ATTEMPTS, FINISHED_CODES, THROTTLING_CODES
from sfn_callback.callbacks.stepfunctions import MAX_OUTPUT_BYTES, StepFunctionsCallbacks, encode_output

__all__ = ["CALLBACK_MAX_ATTEMPTS", "FINISHED_CODES", "MAX_OUTPUT_BYTES", "THROTTLING_CODES", "CallbackResult",
           "CallbackStatus", "StepFunctionsCallbacks", "TaskCallbacks", "encode_output"]

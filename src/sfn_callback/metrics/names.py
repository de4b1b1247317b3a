"""Every name the monitoring of the stack uses: namespace, metrics, dimensions, alarms, topic, dashboard.

These are stable: the dashboard page, the report and the deployed alarms read them from here.

Metrics are CloudWatch Embedded Metric Format documents written by Powertools Metrics (``emit``). Every
component metric is in :data:`NAMESPACE` with the dimension :data:`COMPONENT_DIMENSION` (Powertools'
``service`` dimension) set to the component (:data:`COMPONENTS`); a few carry one more dimension, named in
:data:`EXTRA_DIMENSIONS`. The export service keeps its own namespace (:data:`EXPORT_NAMESPACE`, metrics
listed in ``sfn_callback.export.adapters.metrics``), with ``service`` = ``poc-export``.
"""

from __future__ import annotations

NAMESPACE = "SfnCallback"
EXPORT_NAMESPACE = "SfnCallback/Export"
COMPONENT_DIMENSION = "service"

# -- components (the value of the ``service`` dimension) ------------------------------------------------
# Fixed words, not resource names: a Terraform ``name_prefix`` renames resources, never these.
POLLER = "poller"  # per-job polls fired by each job's schedule (function poc-poller)
SWEEP = "sweep"  # the sweep poller (function poc-sweep-poller)
CREATE_JOB = "create-job"  # function poc-create-job
APPROVAL_CONSUMER = "approval-consumer"  # function poc-approval-consumer
APPROVAL_SERVICE = "approval-service"  # the approval API process
TOKEN_METRICS = "token-metrics"  # the scheduled function poc-token-metrics
EXPORT = "poc-export"  # the export consumer's POWERTOOLS_SERVICE_NAME (renamed with the prefix, like its env)
TOKEN_METRICS_FUNCTION = "poc-token-metrics"
COMPONENTS = (POLLER, SWEEP, CREATE_JOB, APPROVAL_CONSUMER, APPROVAL_SERVICE, TOKEN_METRICS)
CALLBACK_SENDERS = (POLLER, SWEEP, APPROVAL_SERVICE)  # plus the export service in its own namespace

# -- callbacks (every SendTaskSuccess / SendTaskFailure sender: poller, sweep, approval service) ---------
CALLBACK_SUCCESS = "CallbackSuccess"  # a callback that reached Step Functions (Count)
CALLBACK_FAILURE = "CallbackFailure"  # a callback that could not be sent after its retries (Count)
CALLBACK_ERRORS = "CallbackErrors"  # the same failures, dimension ErrorType (Count)
CALLBACK_LATENCY = "CallbackLatencyMs"  # from the first SendTask* call to its answer, retries included
CALLBACKS = "Callbacks"  # callbacks by outcome, dimension Outcome (Count)
OUTCOME_SUCCEEDED = "TaskSuccess"  # SendTaskSuccess accepted
OUTCOME_FAILED = "TaskFailure"  # SendTaskFailure accepted
OUTCOME_FINISHED = "AlreadyFinished"  # the token was closed before (timed out, or closed by an earlier send)
OUTCOME_ERROR = "Error"  # not sent (the CallbackFailure above)
OUTCOMES = (OUTCOME_SUCCEEDED, OUTCOME_FAILED, OUTCOME_FINISHED, OUTCOME_ERROR)

# -- poller and sweep ------------------------------------------------------------------------------------
POLLS = "Polls"  # poll invocations (one job) (Count)
POLL_ATTEMPTS = "PollAttempts"  # polls not skipped: they counted an attempt, or finished a claimed callback
POLLS_SKIPPED = "PollsSkipped"  # polls that found their slot polled already (Count)
POLLER_ERRORS = "PollerErrors"  # polls that ended in an error (the invocation fails, a later poll retries)
RECONNECT_LATENCY = "ReconnectLatencyMs"  # per-job poller: the poll that saw the job's end, to the workflow resumed

# -- create-job ------------------------------------------------------------------------------------------
JOBS_CREATED = "JobsCreated"
JOBS_REJECTED = "JobsRejected"  # bad events (InvalidEvent), dimension ErrorType
JOB_CREATE_FAILURES = "JobCreateFailures"  # StoringFailed / SchedulingFailed / other, dimension ErrorType

# -- approval --------------------------------------------------------------------------------------------
APPROVAL_REQUESTS = "ApprovalRequests"  # requests the consumer stored (Count)
DECISIONS = "Decisions"  # dimension Decision (approve | reject)
TIME_TO_DECISION = "TimeToDecisionSeconds"  # from the request stored to the decision
DECISION_CONFLICTS = "DecisionConflicts"  # a second, different decision for a decided request
LATE_DECISIONS = "LateDecisions"  # a decision after the task timed out or the execution ended

# -- waiting tokens (published by the scheduled poc-token-metrics function) -------------------------------
TOKENS_WAITING = "TokensWaiting"  # token records still waiting for their callback
OLDEST_TOKEN_AGE = "OldestTokenAgeSeconds"  # age of the oldest of them
TOKENS_PAST_TIMEOUT = "TokensPastPollingTimeout"  # waiting records older than their own polling timeout

# -- extra dimensions ------------------------------------------------------------------------------------
ERROR_TYPE_DIMENSION = "ErrorType"
OUTCOME_DIMENSION = "Outcome"
DECISION_DIMENSION = "Decision"
EXTRA_DIMENSIONS = {
    CALLBACK_ERRORS: ERROR_TYPE_DIMENSION,
    CALLBACKS: OUTCOME_DIMENSION,
    JOBS_REJECTED: ERROR_TYPE_DIMENSION,
    JOB_CREATE_FAILURES: ERROR_TYPE_DIMENSION,
    DECISIONS: DECISION_DIMENSION,
}

# -- alarms, topic, dashboard (deployed by both routes) ---------------------------------------------------
ALERTS_TOPIC = "poc-alerts"
DASHBOARD = "poc-callbacks"
ALARM_CALLBACK_FAILURE_RATE = "CallbackFailureRate"  # seed 004: > 5 % of callbacks failing over 300 s
ALARM_STEP_FUNCTION_TIMEOUTS = "StepFunctionTimeouts"  # seed 004: >= 1 AWS/States ExecutionsTimedOut over 3600 s
ALARM_POLLER_ERRORS = "PollerErrors"  # >= 1 PollerErrors (poller or sweep) in a period
ALARM_TOKEN_PAST_TIMEOUT = "TokenPastPollingTimeout"  # a waiting token older than its polling timeout
DLQ_ALARM_PREFIX = "DeadLetterQueueNotEmpty-"  # one per dead-letter queue: DeadLetterQueueNotEmpty-<queue>


def dlq_alarm(queue: str) -> str:
    return DLQ_ALARM_PREFIX + queue

"""Export adapters: DynamoDB, Step Functions, HTTP, local folder and S3, EMF metrics."""

from sfn_callback.export.adapters.dynamodb_repository import DynamoDbJobRepository
from sfn_callback.export.adapters.http_source import HttpFileSource
from sfn_callback.export.adapters.metrics import EmfExportMetrics
from sfn_callback.export.adapters.sinks import LocalFolderSink, S3Sink
from sfn_callback.export.adapters.stepfunctions_callback import (
    StepFunctionsCallbackAdapter,
    callback_client_config,
    classify_error,
)

__all__ = [
    "DynamoDbJobRepository",
    "EmfExportMetrics",
    "HttpFileSource",
    "LocalFolderSink",
    "S3Sink",
    "StepFunctionsCallbackAdapter",
    "callback_client_config",
    "classify_error",
]

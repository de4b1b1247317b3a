"""Export adapters: DynamoDB, HTTP, local folder and S3, EMF metrics (callbacks go through ``sfn_callback.callbacks``)."""

from sfn_callback.export.adapters.dynamodb_repository import DynamoDbJobRepository
from sfn_callback.export.adapters.http_source import HttpFileSource
from sfn_callback.export.adapters.metrics import EmfExportMetrics
from sfn_callback.export.adapters.sinks import LocalFolderSink, S3Sink

__all__ = [
    "DynamoDbJobRepository",
    "EmfExportMetrics",
    "HttpFileSource",
    "LocalFolderSink",
    "S3Sink",
]

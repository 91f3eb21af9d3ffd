"""The Deadline notification processor (the Lambda's code, imported by lambda_function)."""

from .batch import BatchProcessor, ConfigurationError, InvalidEvent
from .store import CLIENT_OPTIONS, dynamodb_client

__all__ = ["CLIENT_OPTIONS", "BatchProcessor", "ConfigurationError", "InvalidEvent", "dynamodb_client"]

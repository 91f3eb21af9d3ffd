"""The Deadline notification processor (the Lambda's code, imported by lambda_function)."""

from .batch import BatchProcessor
from .store import CLIENT_OPTIONS, dynamodb_client

__all__ = ["BatchProcessor", "CLIENT_OPTIONS", "dynamodb_client"]

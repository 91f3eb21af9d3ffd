"""The facts of the synthesized stack the benchmarks depend on: tables, redrive, function settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from local_pipeline.spec import PipelineSpec

# Lambda's ApplicationLogLevel values, as the Python runtime applies them to the root logger.
LAMBDA_LOG_LEVELS = {
    "TRACE": logging.DEBUG,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
    "FATAL": logging.CRITICAL,
}


@dataclass(frozen=True)
class Deployment:
    spec: PipelineSpec
    memory_mb: int
    timeout_seconds: int
    architecture: str  # "x86_64" or "arm64"
    log_format: str  # "Text" or "JSON"
    application_log_level: int

    @classmethod
    def from_template(cls, template: dict) -> Deployment:
        spec = PipelineSpec.from_template(template)
        (function,) = [
            resource["Properties"]
            for resource in template["Resources"].values()
            if resource.get("Type") == "AWS::Lambda::Function"
            and resource["Properties"].get("Handler") == "lambda_function.main"
        ]
        logging_config = function.get("LoggingConfig", {})
        return cls(
            spec=spec,
            memory_mb=int(function.get("MemorySize", 128)),  # CloudFormation's defaults
            timeout_seconds=int(function.get("Timeout", 3)),
            architecture=function.get("Architectures", ["x86_64"])[0],
            log_format=logging_config.get("LogFormat", "Text"),
            application_log_level=LAMBDA_LOG_LEVELS[logging_config.get("ApplicationLogLevel", "INFO")],
        )

    @classmethod
    def synthesized(cls) -> Deployment:
        """From the stack as the repository's source and cdk.json define it now (in-process synthesis)."""
        from stacks.synth import synthesize_template  # imports the CDK: only when needed

        return cls.from_template(synthesize_template())

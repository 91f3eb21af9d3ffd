"""Local tooling for the Deadline SQS notifications pipeline: engines, traffic, operator commands."""

"""The local harness: the synthesized stack on DynamoDB Local and moto's SQS, generated traffic, the demo.

Tooling above the product: it uses stacks/, the processor package and deadline_sqs/,
and none of them imports it. Its commands (demo, local, generate) join `deadline-sqs`
through the `deadline_sqs.commands` entry point.
"""

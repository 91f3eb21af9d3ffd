"""Imports the stacks package before any test module imports aws_cdk: the package sets jsii's
switch for the Node end-of-life banner, which must precede the first `import aws_cdk`."""

import stacks  # noqa: F401

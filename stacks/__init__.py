"""The CDK app's stack, its constructs (one per capability) and its typed configuration."""

import os

# jsii (the bridge to the CDK's JavaScript) prints a large banner on every synthesis while
# Node 20 is past its end of life; the variable (a list of Node majors) silences only that
# banner, and only for Node 20. Set here so it precedes the first `import aws_cdk`.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

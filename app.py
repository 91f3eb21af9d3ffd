#!/usr/bin/env python3
"""The CDK app: `npx cdk synth|diff|deploy [-c config=studios/<name>.json] [-c key=value ...]`.

Everything is built in stacks/ (stacks/synth.py), the same way the tests build it in-process.
"""

from stacks.synth import main

main()

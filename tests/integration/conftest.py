"""Fixtures of the integration tests on the local engines that several modules share."""

from __future__ import annotations

import itertools

import pytest

_suffix = itertools.count()


@pytest.fixture
def state_table(dynamodb_local, pipeline_spec):
    """A fresh table with the sender's state table's key schema (its name, numbered), deleted afterwards."""
    client = dynamodb_local.client()
    spec = pipeline_spec.deliveries.state_table
    name = f"{spec.name}-{next(_suffix)}"
    client.create_table(**spec.create_table_kwargs(name))
    yield name
    client.delete_table(TableName=name)

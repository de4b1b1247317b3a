from __future__ import annotations

import pytest

from .fakes import FakeClock, FakeFileSource, FakeMetrics, FakeRepository, FakeSink, FakeStepFunctions


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def repo() -> FakeRepository:
    return FakeRepository()


@pytest.fixture
def sfn() -> FakeStepFunctions:
    return FakeStepFunctions()


@pytest.fixture
def metrics() -> FakeMetrics:
    return FakeMetrics()


@pytest.fixture
def source() -> FakeFileSource:
    return FakeFileSource()


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()

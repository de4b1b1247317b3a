"""EMF documents (pure): what the specification turns into metrics, and what it refuses."""

from __future__ import annotations

import json

import pytest

from sfn_callback.localcloud.emf import EmfError, parse

NOW_MS = 1_800_000_000_000


def document(**root: object) -> dict:
    doc = {"_aws": {"Timestamp": NOW_MS - 1000, "CloudWatchMetrics": [
        {"Namespace": "App", "Dimensions": [["service"], ["service", "ErrorType"], []],
         "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}, {"Name": "Errors", "Unit": "Count",
                                                                    "StorageResolution": 1}]}]},
           "service": "poller", "ErrorType": "Timeout", "Latency": [12.5, 30, 7], "Errors": 1, "requestId": "r-1"}
    doc.update(root)
    return doc


def test_each_dimension_set_publishes_each_metric_with_its_values():
    found = parse(json.dumps(document()), now_ms=NOW_MS)
    assert len(found) == 6  # 3 dimension sets x 2 metrics
    latency = [m for m in found if m.name == "Latency"]
    assert {m.dimensions for m in latency} == {(("service", "poller"),),
                                               (("ErrorType", "Timeout"), ("service", "poller")), ()}
    assert all(m.values == (12.5, 30.0, 7.0) and m.unit == "Milliseconds" and m.storage_resolution == 60
               for m in latency)
    errors = [m for m in found if m.name == "Errors"]
    assert all(m.values == (1.0,) and m.storage_resolution == 1 and m.namespace == "App" for m in errors)
    assert all(m.timestamp_ms == NOW_MS - 1000 for m in found)


def test_powertools_output_and_a_lambda_prefix_are_documents():
    powertools = ('{"_aws":{"Timestamp":' + str(NOW_MS - 5) + ',"CloudWatchMetrics":[{"Namespace":'
                  '"SfnCallback/Export","Dimensions":[["service"]],"Metrics":[{"Name":"JobsStarted","Unit":"Count"}]}]},'
                  '"service":"export","JobsStarted":[1.0]}')
    assert [(m.name, m.values) for m in parse(powertools, now_ms=NOW_MS)] == [("JobsStarted", (1.0,))]
    prefixed = f"2027-01-15T08:00:00.000Z\t6f1d-request\tINFO\t{powertools}"
    assert len(parse(prefixed, now_ms=NOW_MS)) == 1


@pytest.mark.parametrize("message", ["plain text line", '{"level": "INFO", "message": "no metrics here"}',
                                     "[ERROR] something _aws-ish but not JSON", ""])
def test_events_that_are_not_emf_publish_nothing(message):
    assert parse(message, now_ms=NOW_MS) == []


def _broken(mutate) -> str:
    doc = document()
    mutate(doc)
    return json.dumps(doc)


@pytest.mark.parametrize("mutate,fragment", [
    (lambda d: d.update(Latency=list(range(101))), "more than 100"),
    (lambda d: d.update(Latency="fast"), "must be a number"),
    (lambda d: d.update(Errors=True), "must be a number"),
    (lambda d: d.pop("Errors"), "no member of that name"),
    (lambda d: d.update(service=7), "must be a string"),
    (lambda d: d["_aws"].pop("Timestamp"), "Timestamp"),
    (lambda d: d["_aws"].update(Timestamp=NOW_MS - 15 * 86400 * 1000), "14 days"),
    (lambda d: d["_aws"].update(Timestamp=NOW_MS + 3 * 3600 * 1000), "2 hours"),
    (lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Namespace=""), "Namespace"),
    (lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Dimensions=[[f"k{i}" for i in range(31)]]), "more than 30"),
    (lambda d: d["_aws"]["CloudWatchMetrics"][0].update(
        Metrics=[{"Name": f"m{i}"} for i in range(101)]), "more than 100"),
    (lambda d: d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(Unit="Furlongs"), "not a CloudWatch unit"),
    (lambda d: d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(StorageResolution=5), "StorageResolution"),
    (lambda d: d["_aws"].update(CloudWatchMetrics={}), "CloudWatchMetrics"),
])
def test_a_document_that_breaks_the_specification_publishes_nothing(mutate, fragment):
    with pytest.raises(EmfError) as raised:
        parse(_broken(mutate), now_ms=NOW_MS)
    assert raised.value.kind == "validation" and fragment in str(raised.value)


def test_values_at_the_limits_are_accepted():
    doc = document(Latency=list(range(100)))
    doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = [[f"k{i}" for i in range(30)]]
    doc.update({f"k{i}": "v" for i in range(30)})
    found = parse(json.dumps(doc), now_ms=NOW_MS)
    assert len(found[0].values) == 100 and len(found[0].dimensions) == 30


def test_invalid_json_that_claims_to_be_emf_is_a_parsing_error():
    with pytest.raises(EmfError) as raised:
        parse('{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [}', now_ms=NOW_MS)
    assert raised.value.kind == "parsing"
    with pytest.raises(EmfError):
        parse('{"_aws": {"Timestamp": ' + str(NOW_MS) + ', "CloudWatchMetrics": []}, "x": NaN}', now_ms=NOW_MS)


def test_every_write_path_of_motos_logs_backend_is_extracted(monkeypatch):
    """Client ``PutLogEvents`` and the local cloud's own writes (through the backend or a stream) all pass the hook."""
    import time

    from moto.logs.models import LogsBackend, LogStream

    from sfn_callback.localcloud import emf

    monkeypatch.setattr(LogStream, "put_log_events", LogStream.put_log_events)  # undone after the test

    published: list[tuple[str, str, list]] = []
    errors: list[tuple] = []
    stats = emf.EmfStats()
    emf.install(lambda account, region, metrics: published.append((account, region, metrics)),
                lambda *args: errors.append(args), stats)
    backend = LogsBackend("us-east-1", "000000000000")
    backend.create_log_group("/aws/lambda/fn", {})
    backend.create_log_stream("/aws/lambda/fn", "s")
    now_ms = int(time.time() * 1000)
    line = json.dumps({**document(), "_aws": {**document()["_aws"], "Timestamp": now_ms}})
    backend.put_log_events("/aws/lambda/fn", "s", [{"timestamp": now_ms, "message": line}])  # the API's path
    backend.groups["/aws/lambda/fn"].streams["s"].put_log_events([{"timestamp": now_ms, "message": line}])
    backend.put_log_events("/aws/lambda/fn", "s", [{"timestamp": now_ms, "message": '{"_aws": 1}'}])
    assert [(a, r, len(m)) for a, r, m in published] == [("000000000000", "us-east-1", 6)] * 2
    assert errors == [("000000000000", "us-east-1", "/aws/lambda/fn", "validation")]
    assert stats.as_dict() == {"documents": 2, "metrics": 12, "invalid": 1}
    assert len(backend.groups["/aws/lambda/fn"].streams["s"].events) == 3  # every event stored as written

"""``sfn-callback dashboard``: a page on loopback showing what the CloudWatch dashboard shows and what a person
asks first (waiting workflows and their masked tokens, executions by status, metric graphs, alarms and their
notifications), read from any target through the AWS APIs; and the report's monitoring section.

* :mod:`collect`: the document the page polls (one per refresh), section by section;
* :mod:`graphs`: which metric graphs, and the GetMetricData queries for them (pure logic);
* :mod:`app`: the FastAPI app serving the page (``web/``) and the document;
* :mod:`report_section`: the monitoring section of ``sfn-callback report`` (matplotlib graphs, alarm history).
"""

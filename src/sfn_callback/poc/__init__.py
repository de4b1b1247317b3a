"""The callback-pattern PoC of seeds 000-002, built on the toolkit (``sfn_callback.polling``).

Layout: ``domain/simulated_api.py`` is the simulated external job system; ``adapters/`` its DynamoDB job store
and the Lambda protocol the poller and create-job use to reach it; ``entrypoints/`` the Lambda handlers named for
the seed's functions (``poc_simulated_api``, ``poc_create_job``, ``poc_poller``, ``poc_sweep_poller``);
``bootstrap`` the composition root; ``workflow.asl.json`` the state machine; ``stack`` and ``sweep_stack`` the
deployable resources; ``scenarios`` and ``bench`` what ``sfn-callback run`` and ``bench poc`` run.
"""

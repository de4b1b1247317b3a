"""The components' metrics: the stack's metric names (``names``), the one helper that publishes them through
Powertools Metrics (``emit``), what each component measures (``components``) and the callback core's port with
its metrics (``callbacks``). Below the toolkit in the layers, so every component and the toolkit may use it."""

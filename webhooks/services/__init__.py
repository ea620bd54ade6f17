"""Every write in the webhooks app, one module per kind: ``subscriptions`` (integrations' own
webhooks), ``inbound`` (providers' callbacks, received then processed) and ``outbound``
(deliveries of Latchkey's events). Callers import the module they mean; nothing is re-exported
here."""

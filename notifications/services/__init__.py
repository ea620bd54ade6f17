"""Notifications' writes, split by subdomain with no facade: ``channels`` (Apprise URLs and
rules), ``outbox`` (queueing and sending), ``alerts`` (the problems sweep), ``digest`` (the
morning digest) and ``guests`` (the guest's code)."""

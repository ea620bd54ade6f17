"""Every write to an access code goes through here: the admin, the API and the scheduler's tasks
call these services, so a rule checked here holds everywhere.

Import the module you mean (``from codes.services import access_codes``, then
``access_codes.access_code_create(...)``); this package re-exports nothing.

- ``checks``: the request (``AccessCodeRequest``) and every rule it is checked against.
- ``access_codes``: create, create for many locks, update, update many, delete; action attempts.
- ``history``: events, and the errors and warnings raised and cleared on codes and locks.
- ``ledger``: what a lock answered, a window over, a pre-flight's findings (the ``Ledger``).
- ``drift``: codes changed or removed outside Latchkey, and codes set on the lock outside it.
- ``staff``: the review queue's steps, retry now, PIN reveals.
- ``reports``: what a lock's provider reports by itself; a lock's connection and removal.
- ``backup_pool``: the spare codes a lock keeps for guests whose own code was not set in time.

When things happen is decided in ``codes.lifecycle``.
"""

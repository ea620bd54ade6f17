"""Which connected account a callback's URL names, with its signing secret, remembered per
process for a few seconds (``common.remembered``).

Every callback needs the account to check its signature; looking it up was a query and the ORM's
work to build it, as much as storing the callback itself. A change to an account in this process
forgets at once; one made in another process is seen within ``ACCOUNT_CACHE_SECONDS``. Until
then a callback for an account deleted elsewhere fails to store (its foreign key is gone) and is
answered 500, so the provider sends it again and then hears 404; one signed with a secret
changed elsewhere is answered 401 and sent again.
"""

from common.remembered import Remembered
from devices.models import ConnectedAccount

ACCOUNT_CACHE_SECONDS = 5.0

_accounts: Remembered[ConnectedAccount] = Remembered(seconds=ACCOUNT_CACHE_SECONDS, size=1000)


def callback_account(*, source: str, connected_account_id) -> ConnectedAccount | None:
    """The ``source`` provider's connected account ``connected_account_id``, or None."""
    return _accounts.get(
        (source, str(connected_account_id)),
        lambda: ConnectedAccount.objects.filter(pk=connected_account_id, provider=source).first(),
    )


forget_all = _accounts.forget_all
_accounts.forget_when_saved_or_deleted(ConnectedAccount, name="webhooks.accounts")

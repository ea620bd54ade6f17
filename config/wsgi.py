import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# What the process holds from here on (settings, apps, models, every route) lives as long as
# it does. Frozen, Python's cycle collector stops walking those objects: unfrozen, each full
# collection walked about 147,000 of them, some 100 ms every few hundred list requests
# (bench/RESULTS.md, issue 21).
get_resolver().url_patterns  # noqa: B018 (imports every route's module now, to freeze it too)
gc.freeze()

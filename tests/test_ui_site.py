"""The site around the pages: its start page, its icon, and error pages that carry the site's
header and a way back instead of Django's bare ones (issue 18)."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse
from django.views.defaults import server_error

from devices.models import Membership
from devices.selectors import REVIEWER
from tests.devices.factories import PropertyFactory

pytestmark = pytest.mark.django_db


def test_the_root_leads_to_the_days_page_or_to_the_login(client, admin_user):
    response = client.get("/", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0].startswith(reverse("admin:login"))
    client.force_login(admin_user)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == reverse("latchkey:today")


def test_the_admins_view_site_link_leads_somewhere_real(admin_client):
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert 'href="/"' in page  # "View site"
    assert admin_client.get("/", follow=True).status_code == 200


def test_favicon_is_served_and_every_page_names_it(client, admin_client):
    response = client.get("/favicon.ico", follow=True)
    assert response.status_code == 200
    assert b"".join(response.streaming_content if response.streaming else [response.content])[:4] == (
        b"\x00\x00\x01\x00"  # an ICO file's header
    )
    assert finders.find("latchkey/favicon.svg")
    page = admin_client.get(reverse("latchkey:dashboard")).content.decode()
    assert 'rel="icon"' in page


def test_a_403_carries_the_site_header_and_a_way_back(client):
    call_command("setup_roles", stdout=io.StringIO())
    prop = PropertyFactory()
    reviewer = get_user_model().objects.create_user("rui", is_staff=True)
    reviewer.groups.add(Group.objects.get(name=REVIEWER))
    Membership.objects.create(user=reviewer, workspace=prop.workspace)
    client.force_login(reviewer)
    response = client.get(reverse("latchkey:code_create"))  # reviewers do not create codes
    page = response.content.decode()
    assert response.status_code == 403
    assert 'id="site-name"' in page and "Latchkey" in page
    assert "You may not open this page" in page
    assert 'href="/">Back to Latchkey' in page
    assert "ui.css" in page


def test_a_404_carries_the_site_header_and_a_way_back(admin_client):
    response = admin_client.get(
        reverse("latchkey:timeline") + "?property=00000000-0000-0000-0000-000000000000"
    )
    page = response.content.decode()
    assert response.status_code == 404
    assert 'id="site-name"' in page and "There is nothing here" in page
    assert 'href="/">Back to Latchkey' in page


def test_a_500_stands_alone_with_the_site_header_and_a_way_back():
    response = server_error(RequestFactory().get("/anything/"))
    page = response.content.decode()
    assert response.status_code == 500
    assert 'id="site-name"' in page and "Something went wrong on our side" in page
    assert 'href="/">Back to Latchkey' in page and "ui.css" in page

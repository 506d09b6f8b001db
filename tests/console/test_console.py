"""The web console in Chromium: the documented journey end to end, keyboard only, sessions,
refusals, each change cross-checked with boto3. Elements are found by role and accessible name,
as a person with a screen reader would find them."""

import datetime
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from botocore.exceptions import ClientError
from playwright.sync_api import expect

from conftest import ROOT_KEY, ROOT_SECRET

SECRET_RE = re.compile(r"^[A-Za-z0-9+/]{40}$")
KEY_ID_RE = re.compile(r"^AKIA[A-Z2-7]{16}$")
ONLY_TIME = (
    "This is the only time the secret access key can be viewed or downloaded. You cannot recover "
    "it later, but you can create a new access key at any time."
)


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def sign_in(page, server, key=ROOT_KEY, secret=ROOT_SECRET):
    page.goto(server.console)
    expect(page).to_have_url(f"{server.console}/signin")
    page.get_by_label("Access key ID").fill(key)
    page.get_by_label("Secret access key").fill(secret)
    page.get_by_role("button", name="Sign in", exact=True).click()


def create_user(page, name):
    page.get_by_role("button", name="Create user", exact=True).click()
    dialog = page.get_by_role("dialog", name="Create user")
    dialog.get_by_label("User name").fill(name)
    dialog.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


def toolbar(page):
    return page.get_by_role("toolbar", name="Access key actions")


def error_code(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"]


def test_the_documented_journey_end_to_end(server, page, shot):
    iam = server.iam()
    page.goto(server.console)
    shot(page, "00-sign-in")
    sign_in(page, server)
    expect(page.get_by_role("heading", name="Users", level=1)).to_be_visible()
    expect(page.get_by_text("Signed in as root (account 123456789012)")).to_be_visible()

    name = unique("alice")
    page.get_by_role("button", name="Create user", exact=True).click()
    dialog = page.get_by_role("dialog", name="Create user")
    dialog.get_by_label("User name").fill(name)
    shot(page, "02-create-user")
    dialog.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.get_by_role("status")).to_have_text(f"User {name} created.")
    assert iam.get_user(UserName=name)["User"]["UserName"] == name
    expect(page.get_by_text("No access keys")).to_be_visible()

    toolbar(page).get_by_role("button", name="Create access key").click()
    dialog = page.get_by_role("dialog", name="Create access key")
    dialog.get_by_label("Expiration (UTC, optional)").fill("2099-01-31T12:00")
    dialog.get_by_label("Description").fill("CI deploy")
    shot(page, "03-create-access-key")
    dialog.get_by_role("button", name="Create access key").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Retrieve access keys")
    expect(page.get_by_role("alert")).to_have_text(ONLY_TIME)
    key_id = page.locator("#access-key-id").inner_text()
    assert KEY_ID_RE.match(key_id)
    secret_box = page.locator("#secret-value")
    expect(secret_box).to_be_hidden()
    show = page.get_by_role("button", name="Show secret access key")
    expect(show).to_have_attribute("aria-expanded", "false")
    show.click()
    hide = page.get_by_role("button", name="Hide secret access key")
    expect(hide).to_have_attribute("aria-expanded", "true")
    expect(secret_box).to_be_visible()
    secret = secret_box.inner_text()
    assert SECRET_RE.match(secret)
    shot(page, "04-retrieve-access-keys")

    page.get_by_role("button", name="Copy secret access key").click()
    expect(page.get_by_role("status")).to_have_text("Secret access key copied.")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    page.get_by_role("button", name="Copy access key ID").click()
    expect(page.get_by_role("status")).to_have_text("Access key ID copied.")
    assert page.evaluate("navigator.clipboard.readText()") == key_id

    with page.expect_download() as download:
        page.get_by_role("link", name="Download .csv file").click()
    assert download.value.suggested_filename == f"{name}_accessKeys.csv"
    with open(download.value.path(), encoding="utf-8", newline="") as f:
        assert f.read() == f"Access key ID,Secret access key\r\n{key_id},{secret}\r\n"

    # The new key works at once through the AWS API, and the console shows its use.
    as_user = server.iam(key_id, secret)
    assert as_user.get_user()["User"]["UserName"] == name
    page.get_by_role("link", name="Done").click()
    table = page.get_by_role("table", name=f"Access keys for {name}")
    row = table.get_by_role("row").filter(has_text=key_id)
    expect(row.get_by_role("cell").nth(2)).to_have_text("CI deploy")
    expect(row.get_by_role("cell").nth(3)).to_have_text("Active")
    expect(row.get_by_role("cell").nth(5)).to_have_text("Less than a day")
    expect(row.get_by_role("cell").nth(6)).to_have_text("2099-01-31 12:00:00 UTC")
    expect(row.get_by_role("cell").nth(8)).to_have_text("us-east-1")
    expect(row.get_by_role("cell").nth(9)).to_have_text("iam")
    for header in ["Access key ID", "Status", "Created", "Age", "Expires", "Last used"]:
        expect(table.get_by_role("columnheader", name=header, exact=True)).to_have_count(1)
    shot(page, "05-user-details")

    # Update: Inactive, expiration kept; the aws face refuses the key at once.
    page.get_by_role("radio", name=f"Select access key {key_id}").check()
    toolbar(page).get_by_role("button", name="Update").click()
    dialog = page.get_by_role("dialog", name="Update access key")
    expect(dialog.get_by_label("Expiration (UTC)", exact=True)).to_have_value("2099-01-31T12:00")
    expect(dialog.get_by_label("No expiration")).not_to_be_checked()
    dialog.get_by_label("Status").select_option("Inactive")
    shot(page, "06-update-access-key")
    dialog.get_by_role("button", name="Update").click()
    expect(page.get_by_role("status")).to_have_text(f"Access key {key_id} updated.")
    expect(row.get_by_role("cell").nth(3)).to_have_text("Inactive")
    expect(row.get_by_role("cell").nth(6)).to_have_text("2099-01-31 12:00:00 UTC")
    assert error_code(lambda: as_user.get_user()) == "InvalidClientTokenId"
    meta = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in meta] == [(key_id, "Inactive")]

    # Delete after typing the id.
    page.get_by_role("radio", name=f"Select access key {key_id}").check()
    toolbar(page).get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete access key")
    expect(dialog).to_contain_text(
        f"Access key {key_id} will be deleted permanently. Applications that use it will stop working."
    )
    dialog.get_by_label("To confirm, enter the access key ID").fill(key_id)
    shot(page, "07-delete-access-key")
    dialog.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_have_text(f"Access key {key_id} deleted.")
    expect(page.get_by_text("No access keys")).to_be_visible()
    assert iam.list_access_keys(UserName=name)["AccessKeyMetadata"] == []

    # And the other way round: what the API does, the console shows.
    made = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    page.reload()
    expect(page.get_by_role("radio", name=f"Select access key {made}")).to_be_visible()
    iam.delete_access_key(UserName=name, AccessKeyId=made)
    page.reload()

    page.get_by_role("button", name="Delete user", exact=True).click()
    dialog = page.get_by_role("dialog", name="Delete user")
    dialog.get_by_label("To confirm, enter the user name").fill(name)
    shot(page, "08-delete-user")
    dialog.get_by_role("button", name="Delete user").click()
    expect(page.get_by_role("status")).to_have_text(f"User {name} deleted.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Users")
    shot(page, "01-users")
    assert error_code(lambda: iam.get_user(UserName=name)) == "NoSuchEntity"

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to iamlite")
    page.goto(f"{server.console}/users")
    expect(page).to_have_url(f"{server.console}/signin")


def focus_by_tab(page, locator, limit=80):
    """Presses Tab until `locator` has the focus, as a keyboard user would."""
    for _ in range(limit):
        if locator.evaluate("e => e === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"never reached by Tab: {locator}")


def test_create_update_and_delete_with_the_keyboard_only(server, page, shot):
    page.goto(f"{server.console}/signin")
    expect(page.get_by_label("Access key ID")).to_be_focused()
    page.keyboard.type(ROOT_KEY)
    page.keyboard.press("Tab")
    page.keyboard.type(ROOT_SECRET)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Users")
    # The first Tab stop is the skip link, and it moves the focus to the content.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("main")).to_be_focused()

    name = unique("keys")
    focus_by_tab(page, page.get_by_role("button", name="Create user", exact=True))
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Create user")
    expect(dialog.get_by_label("User name")).to_be_focused()
    page.keyboard.type(name)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(name)

    focus_by_tab(page, toolbar(page).get_by_role("button", name="Create access key"))
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Create access key")
    expect(dialog.get_by_label("Expiration (UTC, optional)")).to_be_focused()
    focus_by_tab(page, dialog.get_by_role("button", name="Create access key"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Retrieve access keys")
    key_id = page.locator("#access-key-id").inner_text()
    focus_by_tab(page, page.get_by_role("button", name="Show secret access key"))
    page.keyboard.press("Space")
    expect(page.get_by_role("button", name="Hide secret access key")).to_be_focused()
    focus_by_tab(page, page.get_by_role("link", name="Done"))
    page.keyboard.press("Enter")

    radio = page.get_by_role("radio", name=f"Select access key {key_id}")
    focus_by_tab(page, radio)
    page.keyboard.press("Space")
    expect(radio).to_be_checked()
    focus_by_tab(page, toolbar(page).get_by_role("button", name="Update"))
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Update access key")
    status = dialog.get_by_label("Status")
    expect(status).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(status).to_have_value("Inactive")
    focus_by_tab(page, dialog.get_by_role("button", name="Update"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text(f"Access key {key_id} updated.")
    assert server.iam().list_access_keys(UserName=name)["AccessKeyMetadata"][0]["Status"] == "Inactive"

    # Escape closes a dialog without changing anything.
    radio = page.get_by_role("radio", name=f"Select access key {key_id}")
    focus_by_tab(page, radio)
    page.keyboard.press("Space")
    focus_by_tab(page, toolbar(page).get_by_role("button", name="Delete"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog", name="Delete access key")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert len(server.iam().list_access_keys(UserName=name)["AccessKeyMetadata"]) == 1

    radio = page.get_by_role("radio", name=f"Select access key {key_id}")
    focus_by_tab(page, radio)
    page.keyboard.press("Space")
    focus_by_tab(page, toolbar(page).get_by_role("button", name="Delete"))
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Delete access key")
    expect(dialog.get_by_label("To confirm, enter the access key ID")).to_be_focused()
    page.keyboard.type(key_id)
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text(f"Access key {key_id} deleted.")
    assert server.iam().list_access_keys(UserName=name)["AccessKeyMetadata"] == []


def test_the_quota_disables_create_and_an_active_key_cannot_be_deleted(server, page, shot):
    iam = server.iam()
    name = unique("full")
    iam.create_user(UserName=name)
    keys = [iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"] for _ in range(2)]
    sign_in(page, server)
    page.goto(f"{server.console}/users/{name}")
    create = toolbar(page).get_by_role("button", name="Create access key")
    expect(create).to_be_disabled()
    expect(create).to_have_accessible_description(
        "This user already has 2 access keys, the maximum. Delete one to create another."
    )
    page.get_by_role("radio", name=f"Select access key {keys[0]}").check()
    toolbar(page).get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete access key")
    expect(dialog).to_contain_text("This key is active. Deactivate the key first")
    expect(dialog.get_by_role("button", name="Delete")).to_have_count(0)
    shot(page, "09-delete-active-key-refused")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    toolbar(page).get_by_role("button", name="Update").click()
    expect(page.get_by_role("alert")).to_have_text("Select an access key first.")
    # The users table counts keys in words.
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Users").click()
    row = page.get_by_role("table", name="Users").get_by_role("row").filter(has_text=name)
    expect(row.get_by_role("cell").nth(1)).to_have_text("2 active")
    expect(row.get_by_role("cell").nth(2)).to_have_text("Less than a day")


def test_an_expired_key_says_so_and_stops_working(make_server, page):
    server = make_server()
    sign_in(page, server)
    name = unique("exp")
    create_user(page, name)
    toolbar(page).get_by_role("button", name="Create access key").click()
    dialog = page.get_by_role("dialog", name="Create access key")
    # Twenty minutes ahead; the clock then moves 25 (less than the console's 30-minute idle limit).
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=20)
    dialog.get_by_label("Expiration (UTC, optional)").fill(soon.strftime("%Y-%m-%dT%H:%M"))
    dialog.get_by_role("button", name="Create access key").click()
    key_id = page.locator("#access-key-id").inner_text()
    secret = page.locator("#secret-value").inner_text()
    assert server.iam(key_id, secret).get_user()["User"]["UserName"] == name
    server.advance_clock("25m")
    assert error_code(lambda: server.iam(key_id, secret).get_user()) == "InvalidClientTokenId"
    page.get_by_role("link", name="Done").click()
    row = page.get_by_role("table", name=f"Access keys for {name}").get_by_role("row").filter(has_text=key_id)
    expect(row.get_by_role("cell").nth(2)).to_have_text("Expired")


def test_a_session_ends_when_the_aws_api_deactivates_its_key(server, page):
    iam = server.iam()
    name = unique("self")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    sign_in(page, server, key["AccessKeyId"], key["SecretAccessKey"])
    expect(page.get_by_text(f"Signed in as {name} (account 123456789012)")).to_be_visible()
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to iamlite")
    expect(page.get_by_role("alert")).to_have_text(
        "Your session ended because the access key you signed in with is no longer active."
    )


def test_failed_sign_ins_get_one_message(server, page, shot):
    iam = server.iam()
    name = unique("off")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    for key_id, secret in [
        ("AKIANOSUCHKEY0000000", "x"),
        (ROOT_KEY, "wrong"),
        (key["AccessKeyId"], key["SecretAccessKey"]),
    ]:
        sign_in(page, server, key_id, secret)
        expect(page.get_by_role("alert")).to_have_text("Incorrect access key ID or secret access key.")
    shot(page, "10-sign-in-failed")


def test_reloading_the_secret_page_creates_no_second_key(server, page):
    name = unique("reload")
    server.iam().create_user(UserName=name)
    sign_in(page, server)
    page.goto(f"{server.console}/users/{name}")
    toolbar(page).get_by_role("button", name="Create access key").click()
    page.get_by_role("dialog", name="Create access key").get_by_role("button", name="Create access key").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Retrieve access keys")
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Access key already created")
    expect(page.locator("#secret-value")).to_have_count(0)
    assert len(server.iam().list_access_keys(UserName=name)["AccessKeyMetadata"]) == 1


class _Attacker(BaseHTTPRequestHandler):
    """A page on another port of 127.0.0.1 that posts a form to the console on load."""

    target = ""

    def do_GET(self):
        body = (
            "<!DOCTYPE html><html><body>"
            f'<form id="f" method="post" action="{self.target}/users">'
            '<input name="UserName" value="mallory"><input name="csrf_token" value="guess"></form>'
            "<script>document.getElementById('f').submit()</script></body></html>"
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_another_sites_page_cannot_post_to_the_console(server, page):
    sign_in(page, server)
    expect(page.get_by_role("heading", level=1)).to_have_text("Users")
    handler = type("Attacker", (_Attacker,), {"target": server.console})
    attacker = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        page.goto(f"http://127.0.0.1:{attacker.server_address[1]}/")
        expect(page.get_by_role("alert")).to_have_text(
            "This form was sent by another site's page. Nothing was changed."
        )
    finally:
        attacker.shutdown()
    assert error_code(lambda: server.iam().get_user(UserName="mallory")) == "NoSuchEntity"


def test_the_root_login_and_password_sign_in(make_server, page):
    server = make_server("--root-login", "admin@example.com", "--root-password", "correct horse")
    page.goto(f"{server.console}/signin")
    form = page.get_by_role("form", name="Sign in with email and password")
    form.get_by_label("Email").fill("admin@example.com")
    form.get_by_label("Password").fill("wrong")
    form.get_by_role("button", name="Sign in with password").click()
    expect(page.get_by_role("alert")).to_have_text("Incorrect email or password.")
    form = page.get_by_role("form", name="Sign in with email and password")
    form.get_by_label("Email").fill("admin@example.com")
    form.get_by_label("Password").fill("correct horse")
    form.get_by_role("button", name="Sign in with password").click()
    expect(page.get_by_text("Signed in as root (account 123456789012)")).to_be_visible()


def test_every_form_works_without_javascript(server, browser):
    context = browser.new_context(java_script_enabled=False, accept_downloads=True)
    try:
        page = context.new_page()
        sign_in(page, server)
        name = unique("nojs")
        create_user(page, name)
        toolbar(page).get_by_role("button", name="Create access key").click()
        page.get_by_role("dialog", name="Create access key").get_by_role(
            "button", name="Create access key"
        ).click()
        key_id = page.locator("#access-key-id").inner_text()
        with page.expect_download() as download:
            page.get_by_role("link", name="Download .csv file").click()
        with open(download.value.path(), encoding="utf-8", newline="") as f:
            lines = f.read().split("\r\n")
        assert lines[1].split(",")[0] == key_id and SECRET_RE.match(lines[1].split(",")[1])
        page.get_by_role("link", name="Done").click()
        page.get_by_role("radio", name=f"Select access key {key_id}").check()
        toolbar(page).get_by_role("button", name="Update").click()
        dialog = page.get_by_role("dialog", name="Update access key")
        dialog.get_by_label("Status").select_option("Inactive")
        dialog.get_by_role("button", name="Update").click()
        expect(page.get_by_role("status")).to_have_text(f"Access key {key_id} updated.")
        page.get_by_role("radio", name=f"Select access key {key_id}").check()
        toolbar(page).get_by_role("button", name="Delete").click()
        dialog = page.get_by_role("dialog", name="Delete access key")
        dialog.get_by_label("To confirm, enter the access key ID").fill(key_id)
        dialog.get_by_role("button", name="Delete").click()
        expect(page.get_by_role("status")).to_have_text(f"Access key {key_id} deleted.")
        assert server.iam().list_access_keys(UserName=name)["AccessKeyMetadata"] == []
    finally:
        context.close()


def test_the_root_user_creates_and_retires_its_own_key(make_server, page, shot):
    server = make_server()
    sign_in(page, server)
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Root user").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Root user")
    toolbar(page).get_by_role("button", name="Create access key").click()
    page.get_by_role("dialog", name="Create access key").get_by_role(
        "button", name="Create access key"
    ).click()
    key_id = page.locator("#access-key-id").inner_text()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download .csv file").click()
    assert download.value.suggested_filename == "rootkey.csv"
    iam = server.iam()
    assert sorted(k["AccessKeyId"] for k in iam.list_access_keys()["AccessKeyMetadata"]) == sorted(
        [ROOT_KEY, key_id]
    )
    page.get_by_role("link", name="Done").click()
    create = toolbar(page).get_by_role("button", name="Create access key")
    expect(create).to_have_accessible_description(
        "The root user already has 2 access keys, the maximum. Delete one to create another."
    )
    shot(page, "11-root-user")
    page.get_by_role("radio", name=f"Select access key {key_id}").check()
    toolbar(page).get_by_role("button", name="Update").click()
    dialog = page.get_by_role("dialog", name="Update access key")
    dialog.get_by_label("Status").select_option("Inactive")
    dialog.get_by_role("button", name="Update").click()
    page.get_by_role("radio", name=f"Select access key {key_id}").check()
    toolbar(page).get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete access key")
    dialog.get_by_label("To confirm, enter the access key ID").fill(key_id)
    dialog.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_have_text(f"Access key {key_id} deleted.")
    assert [k["AccessKeyId"] for k in iam.list_access_keys()["AccessKeyMetadata"]] == [ROOT_KEY]

#!/usr/bin/env python3
"""The operator console in a real headless Chromium (Selenium), against the real bridge binary.

Started by ConsoleBrowserTests (Swift), which runs `serve` and the upstream simulator and passes:
  CONSOLE_URL   the bridge's base URL (http://127.0.0.1:PORT)
  KEY_A, KEY_B  two API keys of different tenants
  SCREENSHOTS   a directory for the screenshots
This script runs the receiver itself (so it can make it fail and recover), drives the page, checks
every callback's signature with the official Standard Webhooks library, and checks the browser's
network log (no request leaves the bridge's origin) and console (no CSP violation, no script error).
Every wait is bounded (WAIT seconds); the browser and the receiver are stopped on every exit,
SIGTERM included. Exit status 0 means every check passed.
"""

import base64
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from standardwebhooks.webhooks import Webhook

BASE = os.environ["CONSOLE_URL"].rstrip("/")
KEY_A = os.environ["KEY_A"]
KEY_B = os.environ["KEY_B"]
SHOTS = os.environ.get("SCREENSHOTS", "/tmp/console-screenshots")
WAIT = 45.0  # generous: the suite runs beside other tests on 2 cores


def log(message):
    print(f"[console] {message}", flush=True)


class Receiver:
    """A webhook receiver on loopback that records every callback and fails while told to."""

    def __init__(self):
        self.failing = False
        self.received = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.received.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                    failing = receiver.failing
                if failing:
                    answer = b"receiver is down for maintenance"
                    self.send_response(500)
                    self.send_header("content-type", "text/plain")
                    self.send_header("content-length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                else:
                    self.send_response(204)
                    self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def calls(self):
        with self.lock:
            return list(self.received)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def wait_for(what, condition, timeout=WAIT):
    """Polls `condition` until it returns something truthy; fails the test with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except (StaleElementReferenceException, WebDriverException) as error:  # the live view re-rendered
            last_error = error
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}" + (f" (last error: {last_error})" if last_error else ""))


def check(condition, message):
    if not condition:
        raise AssertionError(message)
    log(f"ok: {message}")


def verified(secret, call):
    """The callback verifies with `secret` (the official library), returning its payload."""
    headers = {k: v for k, v in call["headers"].items() if k.startswith("webhook-")}
    return Webhook(secret).verify(call["body"], headers)


class Console:
    def __init__(self, driver):
        self.driver = driver

    def find(self, selector):
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def all(self, selector):
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def visible(self, selector):
        elements = self.all(selector)
        return elements[0] if elements and elements[0].is_displayed() else None

    def text(self, selector):
        """The element's text; read again when the live view re-rendered it meanwhile."""
        for _ in range(20):
            try:
                element = self.visible(selector)
                return element.text if element else ""
            except StaleElementReferenceException:
                time.sleep(0.05)
        return ""

    def click(self, selector):
        """Clicks the element, finding it again when the live view re-rendered it meanwhile."""
        wait_for(f"a click on {selector}", lambda: self.find(selector).click() or True)

    def shot(self, name):
        path = os.path.join(SHOTS, f"{name}.png")
        self.driver.save_screenshot(path)
        log(f"screenshot {path}")

    def sign_in(self, key):
        field = wait_for("the API key field", lambda: self.visible("#api-key"))
        field.clear()
        field.send_keys(key)
        field.send_keys(Keys.ENTER)  # by keyboard

    def sign_out(self):
        self.find("#sign-out").click()
        wait_for("the sign-in form", lambda: self.visible("#api-key"))

    def nav(self, section):
        self.find(f'#nav a[data-section="{section}"]').click()
        wait_for(f"the {section} view", lambda: self.driver.execute_script("return location.hash").startswith(f"#/{section}"))

    def delivery_rows(self):
        rows = []
        for row in self.all("#deliveries-body tr[data-delivery]"):
            rows.append({"id": row.get_attribute("data-delivery"), "status": row.get_attribute("data-status"), "outcome": row.find_element(By.CSS_SELECTOR, "td.outcome").text})
        return rows

    def secret_dialog(self):
        value = wait_for("the secret dialog", lambda: self.visible("dialog[open] #secret-value"))
        secret = value.get_attribute("value")
        return secret


def run(driver, receiver):
    console = Console(driver)
    driver.get(f"{BASE}/console")
    check(driver.title.startswith("Talking Photo Bridge"), "the console page loads from the binary")

    # A wrong key is refused in words.
    console.sign_in("not-a-key")
    wait_for("the refusal", lambda: "not accepted" in console.text("#problem"))
    check(True, "a wrong key is refused in words")

    # Sign in by keyboard; no subscriptions yet.
    console.sign_in(KEY_A)
    wait_for("the subscriptions view", lambda: "No subscriptions yet" in console.text("#view"))
    check(driver.execute_script("return sessionStorage.length") == 1 and driver.execute_script("return localStorage.length") == 0, "the key is kept in sessionStorage only")

    # Create a subscription: the secret is shown once, with a copy button, and the key is not left in the page.
    check(console.find("#api-key").get_attribute("value") == "", "the key field is emptied after sign-in")
    form = console.find("#create-subscription")
    form.find_element(By.CSS_SELECTOR, "input[name=url]").send_keys(receiver.url)
    form.find_element(By.CSS_SELECTOR, "input[name=description]").send_keys("console test receiver")
    form.find_element(By.CSS_SELECTOR, "textarea[name=headers]").send_keys("X-Gateway-Token: console-gateway-token-42")
    operational = [box.get_attribute("value") for box in form.find_elements(By.CSS_SELECTOR, "input[name=events]")]
    check({"subscription.disabled", "delivery.failed", "subscription.recovered"} <= set(operational), "operational event types can be ticked")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    secret = console.secret_dialog()
    check(secret.startswith("whsec_"), "the new secret is shown once")
    console.find("#secret-copy").click()
    wait_for("the copy answer", lambda: console.text("#secret-copied"))
    console.find("#secret-value").send_keys(Keys.ESCAPE)
    check(console.visible("dialog[open] #secret-value") is not None, "Escape does not dismiss the one-time secret")
    console.shot("secret")
    console.find("#secret-done").click()
    wait_for("the subscription view", lambda: console.visible("#subscription"))
    subscription_id = driver.execute_script("return location.hash").split("/")[2]
    check(subscription_id.startswith("sub_"), f"created {subscription_id}")

    # A test ping appears in the deliveries view on its own (no reload), signed with the secret shown.
    driver.execute_script("window.__noReload = 'still here'")
    console.click("#send-ping")
    first = wait_for("the ping's delivery, succeeded", lambda: [r for r in console.delivery_rows() if r["status"] == "succeeded"])
    check("HTTP 204" in first[0]["outcome"], "its attempt shows the receiver's 204")
    check(driver.execute_script("return window.__noReload") == "still here", "the view updated without reloading the page")
    payload = verified(secret, wait_for("the ping at the receiver", lambda: receiver.calls())[0])
    check(payload["type"] == "ping", "the ping verifies with the secret the console showed (standardwebhooks)")
    check(receiver.calls()[0]["headers"].get("x-gateway-token") == "console-gateway-token-42", "the custom header reaches the receiver")
    check(console.text("#subscription-headers") == "X-Gateway-Token: ****n-42", "the header is shown back masked")

    # The receiver fails: the attempt's status code and answer show up.
    receiver.failing = True
    console.click("#send-ping")
    failing = wait_for("a delivery whose attempt got HTTP 500", lambda: [r for r in console.delivery_rows() if "HTTP 500" in r["outcome"]])
    failing_id = failing[0]["id"]
    check("receiver is down for maintenance" in failing[0]["outcome"], "the receiver's answer is shown")
    check(failing[0]["status"] == "pending", "the failed delivery waits for its next try")
    driver.execute_script("document.getElementById('deliveries').scrollIntoView()")
    console.shot("failing")  # the README's picture

    # Fixed: retry it now; it succeeds, and both attempts are listed.
    receiver.failing = False
    console.click(f'button[aria-label="Retry delivery {failing_id}"]')
    wait_for("the retried delivery to succeed", lambda: [r for r in console.delivery_rows() if r["id"] == failing_id and r["status"] == "succeeded"])
    check(True, "retry after the fix: succeeded")
    console.click(f'tr[data-delivery="{failing_id}"] details.attempts summary')

    def attempt_log():
        items = [li.text for li in console.all(f'tr[data-delivery="{failing_id}"] ol.attempt-log li')]
        return items if len(items) >= 2 else None

    attempts = wait_for("both attempts in the attempt log", attempt_log)
    check("HTTP 500" in attempts[0] and "HTTP 204" in attempts[-1], f"every attempt is listed: {attempts}")

    # Filter by status.
    status = console.find("#filter-status")
    for option in status.find_elements(By.TAG_NAME, "option"):
        if option.get_attribute("value") == "succeeded":
            option.click()
    console.click("form.filters button[type=submit]")
    wait_for("the filtered list", lambda: "status=succeeded" in driver.execute_script("return location.hash") and console.delivery_rows())
    rows = wait_for("the filtered rows", lambda: console.delivery_rows())
    check(all(r["status"] == "succeeded" for r in rows), "the status filter shows only succeeded deliveries")

    # Disable, then enable.
    console.click("#toggle-enabled")
    wait_for("the disabled state", lambda: "disabled" in console.text("#subscription-state"))
    check(wait_for("the Enable button", lambda: console.text("#toggle-enabled") == "Enable"), "disabled; the button now enables")
    console.click("#toggle-enabled")
    wait_for("the enabled state", lambda: "enabled" in console.text("#subscription-state"))
    check(True, "enabled again")

    # Rotate the secret (confirmed first); the next callback verifies with the new one.
    console.click("#rotate-secret")
    wait_for("the confirmation", lambda: console.visible("dialog[open] #confirm-yes")).click()
    rotated = console.secret_dialog()
    check(rotated.startswith("whsec_") and rotated != secret, "rotation shows a new secret once")
    console.find("#secret-done").click()
    before = len(receiver.calls())
    console.click("#send-ping")
    newest = wait_for("the ping after rotation", lambda: receiver.calls()[before:] if len(receiver.calls()) > before else None)
    check(verified(rotated, newest[-1])["type"] == "ping", "the callback after rotation verifies with the new secret")
    console.shot("subscription")

    # Edit the description.
    console.click("details.edit summary")
    description = console.find("#edit-subscription input[name=description]")
    description.clear()
    description.send_keys("edited in the console")
    console.find("#edit-subscription textarea[name=headers]").send_keys("X-Other: replaced")
    console.find("#edit-subscription input[name=rate_limit]").send_keys("25")
    console.click("#edit-subscription button[type=submit]")
    wait_for("the saved description", lambda: "edited in the console" in console.text("#subscription"))
    check(console.text("#subscription-headers") == "X-Other: ****", "the headers were replaced")
    check(console.text("#subscription-rate") == "25 callbacks per second", "the rate limit was set")

    # The event log with payloads.
    console.nav("events")
    entry = wait_for("an event entry", lambda: console.visible("details.event"))
    entry.find_element(By.CSS_SELECTOR, "summary").click()
    check('"type": "ping"' in entry.find_element(By.CSS_SELECTOR, "pre.payload").text, "the event log shows payloads")

    # Health: the queue, the poller's last cycle, success per subscription.
    console.nav("health")
    wait_for("the health tiles", lambda: console.visible("#health-pending"))
    wait_for("a recorded poll cycle", lambda: "ago" in console.text("#health-poller") or "just now" in console.text("#health-poller"))
    check(wait_for("a success rate", lambda: "%" in console.text("#view")), "health shows the success rate")
    check(console.text("#health-account").startswith("shared"), "health names the key's upstream account: the shared one")
    console.shot("health")

    # Delete asks first: cancel keeps it, yes removes it.
    console.nav("subscriptions")
    form = wait_for("the create form", lambda: console.visible("#create-subscription"))
    form.find_element(By.CSS_SELECTOR, "input[name=url]").send_keys(receiver.url + "/second")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    console.secret_dialog()
    console.find("#secret-done").click()
    wait_for("the second subscription", lambda: console.visible("#subscription") and "/second" in console.text("#subscription-url"))
    second = driver.execute_script("return location.hash").split("/")[2]
    console.click("#delete-subscription")
    wait_for("the confirmation", lambda: console.visible("dialog[open] #confirm-no")).click()
    check(console.visible("#subscription") is not None, "cancel keeps the subscription")
    console.click("#delete-subscription")
    wait_for("the confirmation", lambda: console.visible("dialog[open] #confirm-yes")).click()
    wait_for("the list without it", lambda: console.driver.execute_script("return location.hash") == "#/subscriptions" and console.visible("#view table"))
    wait_for("the list to show one subscription", lambda: len(console.all("#view tr[data-subscription]")) == 1)
    check(second not in console.text("#view"), "deleted after confirming")
    check(wait_for("the deleted notice", lambda: "Subscription deleted" in console.text("#notice")), "the list says it was deleted")

    # Narrow screens: nothing wider than 360 px.
    driver.set_window_size(360, 800)
    driver.get(f"{BASE}/console#/subscriptions/{subscription_id}")
    wait_for("the subscription view at 360 px", lambda: console.visible("#subscription"))
    wait_for("its deliveries", lambda: console.delivery_rows())
    overflow = driver.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    check(overflow <= 1, f"readable at 360 px (horizontal overflow {overflow} px)")
    console.shot("narrow")
    driver.set_window_size(1280, 900)

    # Another key sees none of the first key's things, and a foreign id is an error in words.
    console.sign_out()
    console.sign_in(KEY_B)
    wait_for("B's empty subscriptions", lambda: "No subscriptions yet" in console.text("#view"))
    console.nav("deliveries")
    wait_for("B's empty deliveries", lambda: "No deliveries match" in console.text("#view"))
    console.nav("events")
    wait_for("B's empty event log", lambda: "No events match" in console.text("#view"))
    console.nav("health")
    wait_for("B's own upstream account", lambda: console.text("#health-account").startswith("own"))
    driver.execute_script(f"location.hash = '#/subscriptions/{subscription_id}'")
    wait_for("the 404 in words", lambda: "no such subscription" in console.text("#problem") and "404" in console.text("#problem"))
    check(True, "another key sees nothing of the first; a foreign id reads 'no such subscription (HTTP 404…)'")
    console.shot("other-key")
    return subscription_id


def network_and_console_checks(driver):
    """No request left the bridge's origin; no CSP violation or script error was logged."""
    urls = []
    deletes = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            request = message["params"]["request"]
            urls.append(request["url"])
            if request["method"] == "DELETE":
                deletes.append(request["url"])
    foreign = [u for u in urls if not (u.startswith(BASE + "/") or u.startswith("data:"))]
    check(len(urls) > 20, f"the network log holds the page's {len(urls)} requests")
    check(not foreign, f"no request leaves the bridge's origin (foreign: {foreign[:5]})")
    check(len(deletes) == 1, f"one DELETE in the whole session, the confirmed one; cancel sent none ({deletes})")
    problems = []
    for entry in driver.get_log("browser"):
        text = entry.get("message", "")
        if "Content Security Policy" in text or "Refused to" in text or "Uncaught" in text or "TypeError" in text:
            problems.append(text)
    check(not problems, f"no CSP violation or script error in the browser console ({problems[:3]})")
    # A positive control: an inline style the page never uses is refused, and the log shows it, so the
    # two checks above can fail (the policy is enforced and its violations reach this log).
    driver.execute_script("document.body.setAttribute('style', 'outline: 1px solid red')")
    refused = wait_for("the canary's CSP violation in the log", lambda: [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e.get("message", "")], timeout=15)
    check(refused, "an inline style injected on purpose is refused by the CSP and logged")


def main():
    os.makedirs(SHOTS, exist_ok=True)
    receiver = Receiver()
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-default-apps", "--disable-extensions", "--metrics-recording-only", "--no-default-browser-check"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = None

    def stop(signum, frame):
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    try:
        driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
        driver.set_page_load_timeout(WAIT)
        driver.set_script_timeout(WAIT)
        run(driver, receiver)
        network_and_console_checks(driver)
        log("PASS")
        return 0
    except Exception as error:  # an assertion, or the script's own fault: either way a failure, with evidence
        log(f"FAIL: {type(error).__name__}: {error}")
        if driver:
            try:
                Console(driver).shot("failure")
                log("page text at failure:\n" + driver.find_element(By.TAG_NAME, "body").text[:3000])
            except WebDriverException:
                pass
        return 1
    finally:
        if driver:
            try:
                driver.quit()
            except WebDriverException:
                pass
        receiver.stop()


if __name__ == "__main__":
    sys.exit(main())

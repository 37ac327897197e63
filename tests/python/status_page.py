"""The status page in headless Chromium, driven by selenium (tests/status_page.rs
starts the gateway and the charge points, and answers the Reset).

usage: status_page.py ADMIN_URL TOKEN OUT_DIR

Asserts that what the page shows matches the admin API, that search and
paging work, and that a Reset sent from the charge point's form comes back
answered on the page. Saves screenshots in OUT_DIR; prints one JSON line
{"ok": true, ...} at the end (anything else is a failure).
"""

import json
import os
import sys
import tempfile
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ADMIN, TOKEN, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
WAIT = 20


def api(path):
    request = urllib.request.Request(ADMIN + path, headers={"Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1400,1100",
                 "--user-data-dir=" + tempfile.mkdtemp(prefix="chromium-")]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)


def text(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def wait_until(driver, what, check):
    try:
        return WebDriverWait(driver, WAIT, poll_frequency=0.1,
                             ignored_exceptions=(StaleElementReferenceException,)).until(check)
    except Exception as e:
        raise AssertionError(f"timed out waiting for {what}") from e


def row_ids(driver):
    # In one script: the page re-renders the rows while they are read.
    return driver.execute_script(
        "return [...document.querySelectorAll('#connections tbody tr')].map(r => r.dataset.id)")


def page_ids(query):
    return [c["id"] for c in api("/connections?limit=20&" + query)["connections"]]


def shot(driver, name):
    path = os.path.join(OUT, name)
    driver.save_screenshot(path)
    return path


def main():
    driver = browser()
    shots = []
    try:
        started = time.monotonic()
        driver.get(ADMIN + "/")
        # A token is set: the page asks for it before showing anything.
        wait_until(driver, "the login form", lambda d: d.find_element(By.ID, "token").is_displayed())
        assert not driver.find_element(By.ID, "overview").is_displayed()
        driver.find_element(By.ID, "token").send_keys(TOKEN)
        driver.find_element(By.CSS_SELECTOR, "#login-form button").click()

        status = api("/status")
        total = status["totals"]["connections"]
        wait_until(driver, f"{total} connections on the page",
                   lambda d: text(d, "total-connections") == f"{total:,}")
        wait_until(driver, "the first page of the list", lambda d: len(row_ids(d)) == 20)
        loaded = time.monotonic() - started
        first = page_ids("offset=0")
        assert row_ids(driver) == first, (row_ids(driver), first)
        assert text(driver, "list-range") == f"1–20 of {total}", text(driver, "list-range")
        reactors = driver.find_elements(By.CSS_SELECTOR, "#reactors tbody tr")
        assert len(reactors) == len(status["reactors"]), "one row per reactor"
        assert text(driver, "health") == "ok"
        # The chart has had a few samples by now.
        time.sleep(2.5)
        shots.append(shot(driver, "overview.png"))

        driver.find_element(By.ID, "next").click()
        second = page_ids("offset=20")
        wait_until(driver, "the second page", lambda d: row_ids(d) == second)

        search = driver.find_element(By.ID, "search")
        search.send_keys("page-01")
        wanted = page_ids("search=page-01")
        assert len(wanted) == 10, wanted
        wait_until(driver, "the search's rows", lambda d: row_ids(d) == wanted)
        assert text(driver, "list-range").startswith("1–10 of 10"), text(driver, "list-range")

        search.clear()
        search.send_keys("RESET-ME")
        wait_until(driver, "the one match", lambda d: row_ids(d) == ["RESET-ME"])
        driver.find_element(By.CSS_SELECTOR, "#connections tbody tr").click()
        wait_until(driver, "the charge point's page", lambda d: text(d, "cp-id") == "RESET-ME")
        wait_until(driver, "its details", lambda d: "ocpp1.6" in text(d, "cp-details"))
        assert "ResetVendor" in text(driver, "cp-details"), text(driver, "cp-details")
        wait_until(driver, "the Reset action", lambda d: d.find_element(By.ID, "action").get_attribute("value") == "Reset")
        wait_until(driver, "a payload from the schema",
                   lambda d: json.loads(d.find_element(By.ID, "payload").get_attribute("value") or "null") == {"type": "Hard"})
        schema = driver.find_element(By.ID, "schema").get_attribute("textContent")
        assert "ResetRequest" in schema, schema[:200]

        driver.find_element(By.ID, "trace-start").click()
        wait_until(driver, "the trace to start", lambda d: "tracing" in text(d, "cp-action-result"))
        driver.find_element(By.ID, "send").click()
        wait_until(driver, "the answer", lambda d: text(d, "answer-status") == "200 answered")
        answer = json.loads(driver.find_element(By.ID, "answer").text)
        assert answer["payload"] == {"status": "Accepted"}, answer
        wait_until(driver, "the traced Reset in the frames",
                   lambda d: "Reset" in d.find_element(By.ID, "frames").text)
        shots.append(shot(driver, "charge-point.png"))

        # No script error and no CSP violation; of failed requests, only the
        # 401 before signing in and the 404 of a trace file not yet written.
        def expected(entry):
            message = entry.get("message", "")
            return entry.get("source") == "network" and (
                "status of 401" in message or ("/trace?" in message and "status of 404" in message))
        severe = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE" and not expected(e)]
        assert not severe, f"browser errors: {severe}"
        print(json.dumps({"ok": True, "screenshots": shots, "load_seconds": round(loaded, 2)}), flush=True)
    except BaseException:
        try:
            shot(driver, "failure.png")
            print(driver.get_log("browser"), file=sys.stderr)
        finally:
            raise
    finally:
        driver.quit()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The dashboard in a real browser: headless Chromium driven over WebDriver (Debian's chromium
and chromium-driver, Python selenium). Run by tests/ui.rs against a seeded server:

    dashboard.py <base url> <tenant> <key> <other tenant's key> <from> <to> <screenshot dir>

Signs in, opens every page, and checks that the figures on the pages equal the API's, that a
chart is drawn over the range asked for with gaps where days have no data, that an empty range
says where the data is, that sorting and the CSV download work, that replay and discard work, that the alerts page shows the API's rules, alerts and deliveries
and replays a delivery, that the
browser logged no error, and that another tenant's key sees nothing of this tenant. Saves a
screenshot of each page and prints its path. Exits non-zero on the first failed check.
"""

import datetime
import json
import os
import re
import sys
import urllib.request
from decimal import Decimal

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

import chromium

base, tenant, key, other_key, date_from, date_to, shots = sys.argv[1:8]
os.makedirs(shots, exist_ok=True)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def api(path, token=key):
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def number(text):
    """'$1,234.50' / '−€12.30' / '12.34%' → Decimal('1234.50') / Decimal('-12.30') / Decimal('12.34')."""
    t = text.replace("−", "-")
    m = re.search(r"-?[\d,]+(\.\d+)?", t.replace(" ", ""))
    check(m is not None, f"no number in {text!r}")
    s = m.group(0).replace(",", "")
    neg = t.strip().startswith("-") and not s.startswith("-")
    return -Decimal(s) if neg else Decimal(s)


driver = chromium.start(1400, 1000)
wait = WebDriverWait(driver, 15)
console = []


def visit(path):
    driver.get(base + path)
    console.extend(e for e in driver.get_log("browser") if e["level"] == "SEVERE")


def shot(name):
    path = os.path.join(shots, f"{name}.png")
    driver.save_screenshot(path)
    print(f"screenshot {name}: {path}")


try:
    # Not signed in: every page sends you to the sign-in page.
    visit("/ui/performance")
    check(driver.current_url.endswith("/ui/login"), f"not sent to sign in: {driver.current_url}")
    driver.find_element(By.ID, "key").send_keys("amsk_not_a_key")
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    refused = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".error")))
    check("not an API key" in refused.text, "a wrong key is refused")
    driver.get_log("browser")  # the 401 of that deliberate failure is not an error of the page
    shot("login")
    driver.find_element(By.ID, "key").clear()
    driver.find_element(By.ID, "key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait.until(EC.url_contains("/ui/overview"))
    session = driver.get_cookie("ams_session")
    check(session and session.get("httpOnly") and session.get("sameSite") == "Strict", f"the session cookie: {session}")
    check(driver.execute_script("return document.cookie").find("ams_session") < 0, "scripts cannot read the session")

    # Overview: every account of the API, with its queue.
    accounts = api(f"/v1/tenants/{tenant}/accounts")
    table = driver.find_element(By.ID, "accounts").text
    for a in accounts:
        check(a["name"] in table, f"account {a['name']} on the overview")
    check("acme-ams" in table and "running" in table, f"the queue and its running consumer: {table}")
    shot("overview")

    # Performance: totals, the chart, the campaign table, sorting, the CSV.
    q = f"from={date_from}&to={date_to}"
    visit(f"/ui/performance?{q}")
    total = api(f"/v1/tenants/{tenant}/reports/performance?{q}&granularity=total")["rows"]
    check(len(total) == 1, f"one currency in the seed: {total}")
    for metric in ["cost", "sales", "orders", "clicks"]:
        shown = number(driver.find_element(By.CSS_SELECTOR, f"#totals dd[data-metric={metric}]").text)
        check(shown == Decimal(str(total[0][metric])).quantize(shown), f"total {metric}: page {shown}, API {total[0][metric]}")
    roas = number(driver.find_element(By.CSS_SELECTOR, "#totals dd[data-metric=roas]").text)
    check(roas == Decimal(total[0]["roas"]).quantize(Decimal("0.01")), f"ROAS: page {roas}, API {total[0]['roas']}")
    wait.until(lambda d: d.find_element(By.ID, "chart").get_attribute("data-drawn") == "true")
    painted = driver.execute_script(
        """const c = document.querySelector('#chart canvas'); if (!c || !c.width) return 0;
           const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
           for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n;"""
    )
    check(painted > 1000, f"the chart's canvas is drawn ({painted} painted pixels)")
    by_campaign = api(f"/v1/tenants/{tenant}/reports/performance?{q}&granularity=total&group_by=product,marketplace,campaign&sort=-cost")["rows"]
    rows = driver.find_elements(By.CSS_SELECTOR, "#campaigns tbody tr")
    check(len(rows) == len(by_campaign), f"campaign rows: page {len(rows)}, API {len(by_campaign)}")
    for row, want in zip(rows, by_campaign):
        check(row.get_attribute("data-campaign") == want["campaign_id"], "the API's order (most spend first)")
        cost = number(row.find_element(By.CSS_SELECTOR, "td[data-metric=cost]").text)
        check(cost == Decimal(want["cost"]).quantize(cost), f"campaign {want['campaign_id']} spend: page {cost}, API {want['cost']}")
        check((want.get("campaign_name") or want["campaign_id"]) in row.text, "the campaign's name")
    shot("performance")
    driver.find_element(By.LINK_TEXT, "Spend ▼").click()
    wait.until(EC.url_contains("sort=cost"))
    first = driver.find_element(By.CSS_SELECTOR, "#campaigns tbody tr").get_attribute("data-campaign")
    check(first == by_campaign[-1]["campaign_id"], "sorted by spend, least first")
    href = driver.find_element(By.CSS_SELECTOR, "a.download").get_attribute("href")
    req = urllib.request.Request(href, headers={"Cookie": f"ams_session={session['value']}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        check(r.headers["Content-Type"].startswith("text/csv"), "the download is CSV")
        lines = r.read().decode().strip().splitlines()
    check(len(lines) == len(by_campaign) + 1, f"CSV lines: {len(lines)}")
    visit(f"/ui/performance?{q}&granularity=hour")
    wait.until(lambda d: d.find_element(By.ID, "chart").get_attribute("data-drawn") == "true")
    shot("performance-hourly")
    # One day with data, by day: a single point. The x axis spans that day, not years.
    day = api(f"/v1/tenants/{tenant}/reports/performance?{q}&granularity=day")["rows"][0]["date"]
    visit(f"/ui/performance?from={day}&to={day}")
    wait.until(lambda d: d.find_element(By.ID, "chart").get_attribute("data-drawn") == "true")
    chart = driver.find_element(By.ID, "chart")
    start = int(datetime.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=datetime.timezone.utc).timestamp())
    span = (float(chart.get_attribute("data-x-min")), float(chart.get_attribute("data-x-max")))
    check(span == (start, start + 86400), f"a single day's chart spans that day: {span}, want {(start, start + 86400)}")
    # Days without data are gaps: a point for every day of the range, null where there is none.
    visit(f"/ui/performance?{q}")
    series = json.loads(driver.find_element(By.ID, "series").get_attribute("textContent"))
    days = {r["date"] for r in api(f"/v1/tenants/{tenant}/reports/performance?{q}&granularity=day")["rows"]}
    wanted = [datetime.date.fromisoformat(date_from) + datetime.timedelta(days=i) for i in range(len(series["t"]))]
    check(wanted[-1].isoformat() == date_to and len(days) < len(wanted), f"one point per day of the range: {series['t']}")
    for t, cost, day in zip(series["t"], series["cost"], wanted):
        check(datetime.datetime.fromtimestamp(t, datetime.timezone.utc).date() == day, f"point {t} is {day}")
        check((cost is None) == (day.isoformat() not in days), f"{day}: spend {cost}, days with data {sorted(days)}")
    # An empty range says when the latest data is, and links to the week that ends with it.
    visit("/ui/performance?from=2026-05-01&to=2026-05-07")
    latest = max(days)
    said = driver.find_element(By.ID, "no-data").text
    check("No data in this range" in said and f"latest data is from {latest}" in said, f"the empty range says where the data is: {said}")
    shot("performance-empty")
    driver.find_element(By.ID, "latest-data").click()
    wait.until(EC.url_contains(f"to={latest}"))
    check(driver.find_elements(By.CSS_SELECTOR, "#campaigns tbody tr[data-campaign]"), "the link shows data")

    # Budgets: each scope's usage as the API reports it.
    visit("/ui/budgets")
    budgets = api(f"/v1/tenants/{tenant}/reports/budgets")["rows"]
    shown = driver.find_elements(By.CSS_SELECTOR, "#budgets tbody tr")
    check(len(shown) == len(budgets) and budgets, f"budget rows: page {len(shown)}, API {len(budgets)}")
    for row, want in zip(shown, budgets):
        used = number(row.find_element(By.CSS_SELECTOR, "td[data-metric=used]").text)
        check(used == Decimal(want["budget_usage_percentage"]).quantize(used), f"usage: page {used}, API {want['budget_usage_percentage']}")
    shot("budgets")

    # Quarantine: the API's entries; one replayed (still unreadable: it says so), one discarded.
    visit("/ui/quarantine")
    entries = api(f"/v1/tenants/{tenant}/quarantine")["items"]
    rows = driver.find_elements(By.CSS_SELECTOR, "#quarantine tbody tr[data-id]")
    check(len(rows) == len(entries) >= 2, f"quarantine rows: page {len(rows)}, API {len(entries)}")
    shot("quarantine")
    first_id = rows[0].get_attribute("data-id")
    visit(f"/ui/quarantine/{first_id}")
    check(entries[0]["body"][:40] in driver.find_element(By.CSS_SELECTOR, "pre.body").text, "the body is shown")
    shot("quarantine-entry")
    driver.find_element(By.XPATH, "//button[text()='Replay']").click()
    wait.until(EC.url_contains("msg="))
    check("not replayed" in driver.find_element(By.CSS_SELECTOR, ".flash").text, "an unreadable body stays, and the page says why")
    driver.find_element(By.CSS_SELECTOR, f"tr[data-id='{first_id}'] button.danger").click()
    wait.until(EC.url_contains("discarded"))
    check(len(api(f"/v1/tenants/{tenant}/quarantine")["items"]) == len(entries) - 1, "discarded through the page")
    check(not driver.find_elements(By.CSS_SELECTOR, f"tr[data-id='{first_id}']"), "gone from the page")

    # Alerts: the rules, the alerts raised and each webhook's deliveries as the API has them;
    # a delivery replayed from the page is sent again, under the same message id.
    visit("/ui/alerts")
    rules = api(f"/v1/tenants/{tenant}/alert-rules")
    shown = [r.get_attribute("data-id") for r in driver.find_elements(By.CSS_SELECTOR, "#rules tbody tr[data-id]")]
    check(shown == [r["id"] for r in rules] and len(rules) == 2, f"rules: page {shown}, API {[r['id'] for r in rules]}")
    check("budget 50% used" in driver.find_element(By.ID, "rules").text, "a rule's line in words")
    raised = api(f"/v1/tenants/{tenant}/alerts")
    rows = driver.find_elements(By.CSS_SELECTOR, "#alerts tbody tr")
    check(len(rows) == len(raised) == 2, f"alerts: page {len(rows)}, API {len(raised)}")
    for row, a in zip(rows, raised):
        check(a["scope"] in row.text and a["kind"] in row.text, f"alert {a['scope']} on the page: {row.text}")
    hooks = api(f"/v1/tenants/{tenant}/webhooks")
    sections = driver.find_elements(By.CSS_SELECTOR, "section.webhook")
    check([h.get_attribute("data-id") for h in sections] == [h["id"] for h in hooks], "a section per webhook")
    deliveries = api(f"/v1/tenants/{tenant}/webhooks/{hooks[0]['id']}/deliveries")
    rows = sections[0].find_elements(By.CSS_SELECTOR, "table.deliveries tbody tr[data-id]")
    check([(r.get_attribute("data-id"), r.get_attribute("data-status")) for r in rows] == [(d["id"], d["status"]) for d in deliveries],
          f"deliveries: page {[(r.get_attribute('data-id'), r.get_attribute('data-status')) for r in rows]}, API {[(d['id'], d['status']) for d in deliveries]}")
    check(any(len(d["attempts"]) == 2 for d in deliveries), "the delivery that met an error was tried again")
    shot("alerts")
    first = deliveries[0]
    rows[0].find_element(By.XPATH, ".//button[text()='Replay']").click()
    wait.until(EC.url_contains("msg="))
    check(f"queued to be sent again ({first['message_id']})" in driver.find_element(By.CSS_SELECTOR, ".flash").text, "the page says the replay was queued")

    def replayed(_):
        again = [d for d in api(f"/v1/tenants/{tenant}/webhooks/{hooks[0]['id']}/deliveries") if d["id"] == first["id"]][0]
        return again["status"] == "succeeded" and len(again["attempts"]) == len(first["attempts"]) + 1

    wait.until(replayed)

    check(not console, f"the browser logged errors: {console}")

    # Another tenant's key sees nothing of this tenant.
    driver.find_element(By.CSS_SELECTOR, "form.logout button").click()
    wait.until(EC.url_contains("/ui/login"))
    driver.find_element(By.ID, "key").send_keys(other_key)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait.until(EC.url_contains("/ui/overview"))
    for a in accounts:
        check(a["name"] not in driver.page_source, f"another tenant sees {a['name']}")
    visit(f"/ui/performance?{q}")
    check("No data in this range" in driver.page_source and "Nothing has arrived" in driver.page_source, "another tenant's performance is empty, and says so")
    for c in by_campaign:
        check(c["campaign_id"] not in driver.page_source, "another tenant sees a campaign")
    visit(f"/ui/quarantine/{entries[1]['id']}")
    check("not found" in driver.page_source, "another tenant cannot open an entry")
    shot("other-tenant")
    print("dashboard: every check passed")
finally:
    driver.quit()

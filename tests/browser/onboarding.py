#!/usr/bin/env python3
"""Onboarding a brand in a real browser: headless Chromium over WebDriver (Debian's chromium and
chromium-driver, Python selenium). Run by tests/ui_onboarding.rs against a server whose Amazon
is the test suite's stand-in (LwA and its consent page, the Ads API, SNS) and whose AWS is moto:

    onboarding.py <base url> <write key> <read key> <records JSON file> <screenshot dir>

Environment: AWS_ENDPOINT_URL (moto), DEPLOYER (the brand's deployer role in moto), the venv's
python runs it (boto3 is there, and scripts/cfn_deploy.py is run with it).

From an empty tenant, as an account manager would: connect the Amazon login through the consent
flow, import its profile, fetch the brand's template, deploy it (what the page's command does),
paste describe-stacks' output (a wrong paste first: the page says what is wrong), tick a
dataset, watch the subscription go ACTIVE and the checklist turn ready without reloading, as
Amazon's confirmation and then the brand's data arrive; then the performance page shows the
data. A `read` key then sees the pages without a single form. A screenshot of each step.
"""
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

import boto3
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

import chromium

base, write_key, read_key, records_file, shots = sys.argv[1:6]
deployer = os.environ["DEPLOYER"]
repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.makedirs(shots, exist_ok=True)
records = json.load(open(records_file))


def check(cond, what):
    if not cond:
        raise AssertionError(what)


driver = chromium.start(1400, 1100)
wait = WebDriverWait(driver, 15)
slow = WebDriverWait(driver, 90)
console = []


def visit(path):
    driver.get(base + path)


def errors():
    console.extend(e for e in driver.get_log("browser") if e["level"] == "SEVERE")


def shot(name):
    path = os.path.join(shots, f"{name}.png")
    driver.save_screenshot(path)
    print(f"screenshot {name}: {path}")


def flash():
    return driver.find_element(By.CSS_SELECTOR, "p.flash").text


def sign_in(key):
    visit("/ui/login")
    driver.find_element(By.ID, "key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait.until(EC.url_contains("/ui/overview"))


def gone(element):
    """Whether `element`'s page was replaced. Selenium's staleness_of knows only the stale
    element error; Chromium also answers a node of the old page with an inspector error ("Node
    with given id does not belong to the document") while the next page loads."""
    def check(_):
        try:
            element.is_enabled()
            return False
        except WebDriverException:
            return True
    return check


def submit(form_id):
    """Posts the form and waits for the page it leads to (the one before may have a flash too)."""
    before = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, f"#{form_id} button[type=submit]").click()
    wait.until(gone(before))
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "p.flash")))


try:
    sign_in(write_key)
    check("No accounts yet" in driver.page_source, "an empty tenant's overview says so")
    driver.find_element(By.LINK_TEXT, "onboard a brand").click()
    wait.until(EC.url_contains("/ui/onboarding"))
    check("No Amazon login connected yet." in driver.page_source, "no login yet")
    shot("onboarding-1-start")

    # 1. Connect with Amazon: ams-hub's page (naming the tenant), Amazon's, and back here.
    driver.find_element(By.CSS_SELECTOR, "#connect input[name=name]").send_keys("main")
    driver.find_element(By.CSS_SELECTOR, "#connect button[type=submit]").click()
    wait.until(EC.url_contains("/oauth/amazon/start"))
    check("main" in driver.page_source, "the consent page names the connection")
    shot("onboarding-2-consent")
    driver.find_element(By.ID, "continue").click()
    wait.until(EC.presence_of_element_located((By.ID, "allow"))).click()
    wait.until(EC.url_contains("/ui/onboarding"))
    check("Connected the Amazon login \"main\": 1 profiles" in flash(), f"the connection, in words: {flash()}")
    check("main" in driver.find_element(By.ID, "connections").text, "the login is listed")
    shot("onboarding-3-connected")

    # 2. Import: the profile, not imported yet, ticked.
    driver.find_element(By.LINK_TEXT, "Profiles and import").click()
    box = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "input[name=profile]")))
    check(box.is_selected(), "a profile not imported yet is ticked")
    check("no" == driver.find_element(By.CSS_SELECTOR, "#profiles td.imported").text, "not imported yet")
    shot("onboarding-4-import")
    submit("import")
    check("Imported 1 brand(s)" in flash(), f"the import, in words: {flash()}")
    brand_row = driver.find_element(By.CSS_SELECTOR, "#brands tr[data-id]")
    check(brand_row.get_attribute("data-status") == "incomplete", "the new brand is not ready")
    brand_row.find_element(By.TAG_NAME, "a").click()

    # 3. The AWS side: the template the page links, deployed as its command would.
    pre = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "pre.command"))).text
    first = driver.find_element(By.ID, "next-step").text
    check(first.startswith("download the template for us-east-1 below"), f"the next step, in the page's words: {first}")
    check("aws cloudformation deploy" in pre and "describe-stacks" in pre, f"the commands: {pre}")
    link = driver.find_element(By.XPATH, "//a[@class='template' and text()='JSON']").get_attribute("href")
    cookie = driver.get_cookie("ams_session")["value"]
    with urllib.request.urlopen(urllib.request.Request(link, headers={"Cookie": f"ams_session={cookie}"}), timeout=30) as r:
        check(r.status == 200, "the template downloads")
        template = r.read().decode()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(template)
    deployed = subprocess.run([sys.executable, os.path.join(repo, "scripts/cfn_deploy.py"), deployer, f.name, "ams-hub-browser", "us-east-1"],
                              capture_output=True, text=True, timeout=120)
    os.unlink(f.name)
    check(deployed.returncode == 0, f"the stack deployed: {deployed.stderr}")
    described = deployed.stdout.strip()
    outputs = {o["OutputKey"]: o["OutputValue"] for o in json.loads(described)["Stacks"][0]["Outputs"]}
    driver.find_element(By.CSS_SELECTOR, "#stack textarea").send_keys("hello")
    submit("stack")
    bad = driver.find_element(By.CSS_SELECTOR, "p.flash-error").text
    check("neither a role ARN nor a queue URL" in bad, f"a wrong paste is explained: {bad}")
    shot("onboarding-5-stack-refused")
    area = driver.find_element(By.CSS_SELECTOR, "#stack textarea")
    area.clear()
    area.send_keys(described)
    submit("stack")
    check("Verified the stack" in flash(), f"the stack, verified: {flash()}")
    check(outputs["RoleArn"] in driver.find_element(By.ID, "role").text, "the role shows")
    shot("onboarding-6-aws")

    # 4. Datasets: ticked and saved; Amazon's status shows as it changes, without a reload.
    driver.find_element(By.CSS_SELECTOR, "input[name=dataset][value='sp-traffic']").click()
    submit("datasets")
    check("Declared 1 dataset(s)" in flash(), f"the datasets, in words: {flash()}")
    driver.execute_script("document.body.setAttribute('data-loaded', 'once')")
    slow.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#subscriptions tr[data-status='ACTIVE']")))
    check(driver.execute_script("return document.body.getAttribute('data-loaded')") == "once", "updated in place, not reloaded")
    next_step = driver.find_element(By.ID, "next-step").text
    check("wait for the first data" in next_step, f"the next step: {next_step}")
    driver.execute_script("arguments[0].scrollIntoView()", driver.find_element(By.ID, "step-datasets"))
    shot("onboarding-7-subscribed")

    # 5. The brand's data arrives (Amazon sends it to the brand's queue): ready, in place.
    c = boto3.client("sts", region_name="us-east-1").assume_role(RoleArn=deployer, RoleSessionName="amazon")["Credentials"]
    sqs = boto3.client("sqs", region_name="us-east-1", aws_access_key_id=c["AccessKeyId"],
                       aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
    for body in records:
        sqs.send_message(QueueUrl=outputs["QueueUrl"], MessageBody=body)
    slow.until(EC.text_to_be_present_in_element((By.ID, "status"), "ready"))
    check(driver.execute_script("return document.body.getAttribute('data-loaded')") == "once", "updated in place, not reloaded")
    rows = driver.find_element(By.ID, "data").text
    check("sp-traffic" in rows, f"the data received: {rows}")
    driver.set_window_size(1400, 2000)  # the whole page: checklist, AWS side, datasets, data
    shot("onboarding-8-ready")
    driver.set_window_size(1400, 1100)

    visit("/ui/overview")
    cell = driver.find_element(By.CSS_SELECTOR, "#accounts td.onboarding")
    check(cell.text.startswith("ready") and cell.get_attribute("data-ready") == "yes", f"the overview: {cell.text}")
    visit("/ui/performance?from=2026-06-10&to=2026-06-10")
    totals = driver.find_element(By.CSS_SELECTOR, "section.totals").text
    check("$7.50" in totals, f"the brand's spend on the performance page: {totals}")
    shot("onboarding-9-performance")
    errors()
    check(not console, f"the browser logged errors: {console}")

    # A read key: every page, no form.
    driver.find_element(By.CSS_SELECTOR, "form.logout button").click()
    wait.until(EC.url_contains("/ui/login"))
    sign_in(read_key)
    visit("/ui/onboarding")
    check(not driver.find_elements(By.ID, "connect") and not driver.find_elements(By.ID, "paste"), "no connect forms for a read key")
    driver.find_element(By.CSS_SELECTOR, "#brands tr[data-id] a").click()
    wait.until(EC.presence_of_element_located((By.ID, "checklist")))
    for form in ["stack", "datasets"]:
        check(not driver.find_elements(By.ID, form), f"no {form} form for a read key")
    check(not driver.find_elements(By.CSS_SELECTOR, "a.template"), "no template for a read key")
    check("ready" in driver.find_element(By.ID, "status").text, "a read key sees the checklist")
    shot("onboarding-10-read-key")
    print("onboarding: every check passed")
finally:
    driver.quit()

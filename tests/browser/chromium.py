"""Headless Chromium for the browser tests: Debian's chromium and chromium-driver (CHROMIUM and
CHROMEDRIVER override their paths), the browser's console kept for the tests to check. Tests
reach loopback only, so Chromium's own traffic (component and field-trial updates, safe
browsing, sync, pings) is switched off: the pages it is sent to are the only requests it makes."""
import os

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service


def start(width, height):
    opts = Options()
    quiet = ["--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
             "--disable-domain-reliability", "--disable-client-side-phishing-detection", "--no-pings", "--no-first-run",
             "--dns-prefetch-disable", "--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication"]
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--window-size={width},{height}", *quiet]:
        opts.add_argument(a)
    opts.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=opts)
    driver.set_page_load_timeout(30)
    return driver

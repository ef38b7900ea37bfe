#!/usr/bin/python3
"""Browser test of the Secure Forward wp-admin screens (run by tests/browser/run.sh).

Headless Debian chromium through Debian's chromedriver and python3-selenium, against the
suite's own php -S + real WordPress + MariaDB + the REAL extension. Exits non-zero on the
first failed check. Saves screenshots (1280 px and phone width) to SF_SHOTS.
"""
import json, os, shlex, subprocess, sys, tempfile, time, urllib.parse

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

BASE = os.environ["SF_BASE"]
SEED = json.loads(os.environ["SF_SEED"])
SHOTS = os.environ["SF_SHOTS"]
WORK = os.environ["SF_WORK"]
FLUSH = shlex.split(os.environ["SF_FLUSH"])
PAGE = BASE + "/wp-admin/admin.php?page=secure-forward"
ORDER = BASE + "/wp-admin/admin.php?page=wc-orders&action=edit&id=%d" % SEED["dead_order_id"]
with open(os.path.join(WORK, "sf", "api.key")) as f:
    API_KEY = f.read().strip()

checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        print("FAIL: " + what, file=sys.stderr)
        try:
            driver.save_screenshot(os.path.join(WORK, "failure.png"))
            print("page: " + driver.current_url, file=sys.stderr)
            print(driver.find_element(By.TAG_NAME, "body").text[:3000], file=sys.stderr)
        except Exception:  # noqa: BLE001 - best effort diagnostics
            pass
        sys.exit(1)
    print("ok   " + what)


def no_secret_on_page():
    src = driver.page_source
    check(API_KEY not in src, "the API key is nowhere in the page")
    check("secure-forward.toml" not in src or "key_file" not in src, "no configuration content in the page")


def flush():
    out = subprocess.run(FLUSH, capture_output=True, text=True, env=os.environ, timeout=120)
    check(out.returncode == 0, "the scheduled drain ran (%s)" % out.stderr.strip()[-300:])
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def login(user, password):
    driver.delete_all_cookies()
    driver.get(BASE + "/wp-login.php")
    WebDriverWait(driver, 20).until(EC.presence_of_element_located((By.ID, "user_login")))
    time.sleep(0.3)  # wp-login focuses the field after load
    driver.find_element(By.ID, "user_login").clear()
    driver.find_element(By.ID, "user_login").send_keys(user)
    driver.find_element(By.ID, "user_pass").send_keys(password)
    driver.find_element(By.ID, "wp-submit").click()
    WebDriverWait(driver, 20).until(lambda d: "wp-login.php" not in d.current_url)


def shot(name, width):
    """A full-page screenshot at this width (the window grows to the page's height)."""
    driver.set_window_size(width, 900)
    time.sleep(0.2)
    h = driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
    driver.set_window_size(width, min(max(int(h) + 140, 600), 6000))
    time.sleep(0.3)
    path = os.path.join(SHOTS, name)
    driver.save_screenshot(path)
    driver.set_window_size(1280, 1000)
    print("     screenshot " + path)


def dead_ids():
    return [e.get_attribute("value") for e in driver.find_elements(By.CSS_SELECTOR, "#sf-bulk-form input[name='event_ids[]']")]


def post_without_nonce(fields):
    """A form POST from the logged-in browser that carries no nonce; returns the HTTP status."""
    return driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        fetch(arguments[0], {method: 'POST', credentials: 'same-origin',
              headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: arguments[1]})
          .then(r => done(r.status)).catch(e => done(String(e)));
        """,
        BASE + "/wp-admin/admin-post.php",
        urllib.parse.urlencode(fields),
    )


opts = webdriver.ChromeOptions()
opts.binary_location = "/usr/bin/chromium"
profile = tempfile.mkdtemp(prefix="sf-chromium-", dir=WORK)
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--disable-dev-shm-usage", "--user-data-dir=" + profile, "--window-size=1280,1000",
          "--hide-scrollbars", "--force-device-scale-factor=1"):
    opts.add_argument(a)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
driver.set_script_timeout(30)
driver.set_page_load_timeout(60)
try:
    # --- the shop manager sees the screen and each destination's health ---
    login(SEED["users"]["manager"]["user"], SEED["users"]["manager"]["pass"])
    driver.get(PAGE)
    check(driver.find_element(By.CSS_SELECTOR, ".wrap.secure-forward h1").text == "Secure Forward", "the Secure Forward screen opens for a shop manager")
    menu = driver.find_elements(By.CSS_SELECTOR, "#toplevel_page_woocommerce a[href*='page=secure-forward']")
    check(len(menu) == 1, "it is a submenu of WooCommerce")
    rows = {r.get_attribute("data-destination"): r for r in driver.find_elements(By.CSS_SELECTOR, "tr.sf-destination")}
    check(sorted(rows) == ["default", "flaky"], "both destinations are listed: %s" % sorted(rows))
    check("Healthy" in rows["default"].text, "default is healthy")
    check(rows["flaky"].find_element(By.CSS_SELECTOR, "td.sf-dead").text.strip() == "1", "flaky shows one dead letter")
    check("localhost" in rows["flaky"].text, "the destination's host is shown")
    fp = rows["flaky"].find_elements(By.XPATH, ".//dt[normalize-space()='Key fingerprint']/following-sibling::dd[1]")
    check(fp and len(fp[0].text.strip()) == 12, "the key fingerprint is shown (12 hex)")
    no_secret_on_page()

    # --- the dead letter made by the 422 ---
    ids = dead_ids()
    check(ids == [SEED["dead_event_id"]], "the dead letter is listed: %s" % ids)
    dead_row = driver.find_element(By.XPATH, "//form[@id='sf-bulk-form']//tr[.//input[@value='%s']]" % SEED["dead_event_id"])
    check("422" in dead_row.text and "flaky" in dead_row.text, "its row says flaky and HTTP 422")
    link = dead_row.find_element(By.CSS_SELECTOR, "td.column-order_id a")
    check("id=%d" % SEED["dead_order_id"] in link.get_attribute("href"), "the order is linked to its screen")

    # --- "Check authentication" shows facts ---
    rows["default"].find_element(By.XPATH, ".//button[normalize-space()='Check authentication']").click()
    WebDriverWait(driver, 20).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".sf-auth-result")))
    res = driver.find_element(By.CSS_SELECTOR, "tr[data-destination='default'] .sf-auth-result").text
    check("Credential usable" in res and "yes" in res, "Check authentication: the key is usable (%s)" % res.replace("\n", " | "))
    no_secret_on_page()

    shot("admin-secure-forward-1280.png", 1280)
    shot("admin-secure-forward-phone.png", 390)

    # --- a request without a nonce changes nothing ---
    st = post_without_nonce({"action": "secure_forward_row", "sf_op": "requeue:" + SEED["dead_event_id"]})
    check(st == 403, "a requeue POST without a nonce is refused (HTTP %s)" % st)
    st = post_without_nonce({"action": "secure_forward_row", "sf_op": "purge:" + SEED["dead_event_id"]})
    check(st == 403, "a purge POST without a nonce is refused (HTTP %s)" % st)
    driver.get(BASE + "/wp-admin/admin-post.php?action=secure_forward_row&sf_op=purge:" + SEED["dead_event_id"])
    check("form submission" in driver.find_element(By.TAG_NAME, "body").text, "a GET action is refused")
    driver.get(PAGE)
    check(dead_ids() == [SEED["dead_event_id"]], "the dead letter is still there")

    # --- told by email after the drain: one message, facts only ---
    flush()
    mails = []
    mail_log = os.path.join(WORK, "mail.jsonl")
    if os.path.exists(mail_log):
        with open(mail_log) as f:
            mails = [json.loads(line) for line in f if line.strip()]
    mails = [m for m in mails if "Secure Forward" in m.get("subject", "")]  # not WordPress's install notice
    check(len(mails) == 1, "the drain sent one alert (%d)" % len(mails))
    m = mails[0]
    to = m["to"] if isinstance(m["to"], list) else [m["to"]]
    check("admin@example.org" in to, "to the site's admin email")
    check("flaky" in m["subject"] and SEED["dead_event_id"] in m["message"], "naming the destination and the event id")
    check(API_KEY not in json.dumps(m) and "billing" not in m["message"], "no key and no order data in the alert")

    # --- requeue from the row action, then the flush delivers it (the path now answers 200) ---
    driver.get(PAGE)
    dead_row = driver.find_element(By.XPATH, "//form[@id='sf-bulk-form']//tr[.//input[@value='%s']]" % SEED["dead_event_id"])
    ActionChains(driver).move_to_element(dead_row).perform()
    btn = dead_row.find_element(By.XPATH, ".//button[normalize-space()='Requeue']")
    ActionChains(driver).move_to_element(btn).click(btn).perform()
    WebDriverWait(driver, 20).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".sf-notice")))
    check("1 dead letter requeued" in driver.find_element(By.CSS_SELECTOR, ".sf-notice").text, "the notice says it was requeued")
    check(dead_ids() == [], "no dead letter left")
    counts = flush()
    check(counts and counts.get("delivered") == 1, "the flush delivered it: %s" % counts)
    driver.get(PAGE)
    recent = driver.find_element(By.ID, "sf-recent").find_element(By.XPATH, "following-sibling::table[1]")
    flaky = [r for r in recent.find_elements(By.CSS_SELECTOR, "tbody tr") if "flaky" in r.text]
    check(flaky and "Delivered" in flaky[0].text and "200" in flaky[0].text, "recent deliveries: flaky delivered with HTTP 200")
    row = driver.find_element(By.CSS_SELECTOR, "tr[data-destination='flaky']")
    check(row.find_element(By.CSS_SELECTOR, "td.sf-dead").text.strip() == "0", "flaky has no dead letter left")

    # --- the order's box: its forwards, Resend, Preview what leaves ---
    driver.get(ORDER)
    box = driver.find_element(By.ID, "secure-forward")
    check("Secure Forward" in box.text, "the order screen has the Secure Forward box")
    forwards = box.find_elements(By.CSS_SELECTOR, "table.sf-order-forwards tbody tr")
    check(any("flaky" in r.text and "Delivered" in r.text for r in forwards), "the box lists this order's delivery to flaky")
    dests = box.find_elements(By.CSS_SELECTOR, ".sf-order-destination")
    check(len(dests) == 2, "one Resend/Preview block per destination")
    summary = dests[0].find_element(By.CSS_SELECTOR, "details.sf-preview summary")
    summary.click()
    body = dests[0].find_element(By.CSS_SELECTOR, "pre.sf-preview-body").text
    prepared = json.loads(body)
    check(str(prepared.get("id")) == str(SEED["dead_order_id"]), "Preview what leaves shows the body for this order")
    no_secret_on_page()

    # --- Resend: delivered again, as a new event marked as a resend ---
    before = len([r for r in box.find_elements(By.CSS_SELECTOR, "table.sf-order-forwards tbody tr") if "default" in r.text])
    block = driver.find_element(By.CSS_SELECTOR, ".sf-order-destination[data-destination='default']")
    block.find_element(By.XPATH, ".//button[starts-with(normalize-space(), 'Resend')]").click()
    WebDriverWait(driver, 20).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".sf-notice")))
    check("Resent" in driver.find_element(By.CSS_SELECTOR, ".sf-notice").text, "Resend: the notice says the destination accepted it")
    check("page=wc-orders" in driver.current_url and "id=%d" % SEED["dead_order_id"] in driver.current_url, "back on the order")
    box = driver.find_element(By.ID, "secure-forward")
    after = [r for r in box.find_elements(By.CSS_SELECTOR, "table.sf-order-forwards tbody tr") if "default" in r.text]
    check(len(after) == before + 1 and "Delivered" in after[0].text, "the box lists the resend as a new delivery to default")
    st = post_without_nonce({"action": "secure_forward_resend", "order_id": SEED["dead_order_id"], "destination": "default"})
    check(st == 403, "a resend POST without a nonce is refused (HTTP %s)" % st)
    driver.get(ORDER)
    box = driver.find_element(By.ID, "secure-forward")
    check(len([r for r in box.find_elements(By.CSS_SELECTOR, "table.sf-order-forwards tbody tr") if "default" in r.text]) == before + 1, "and sent nothing")
    box.find_element(By.CSS_SELECTOR, ".sf-order-destination details.sf-preview summary").click()
    shot("order-box-1280.png", 1280)
    shot("order-box-phone.png", 390)

    # --- a subscriber gets no access ---
    login(SEED["users"]["subscriber"]["user"], SEED["users"]["subscriber"]["pass"])
    driver.get(PAGE)
    text = driver.find_element(By.TAG_NAME, "body").text
    check("not allowed" in text and not driver.find_elements(By.CSS_SELECTOR, "tr.sf-destination"), "a subscriber gets no access to the screen")
    driver.get(ORDER)
    check(not driver.find_elements(By.ID, "secure-forward"), "nor to the order box")
    st = post_without_nonce({"action": "secure_forward_requeue_all", "destination": "flaky"})
    check(st in (403, 405), "nor to the actions (HTTP %s)" % st)
    print("browser test: %d checks passed" % checks)
finally:
    driver.quit()

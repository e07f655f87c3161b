// End-to-end tests of silo's web app in Debian's Chromium, driven by
// playwright-core (no downloaded browser). internal/e2e's TestWebApp starts
// `silo serve` with a generated model and runs this file with:
//
//   SILO_URL        https://localhost:PORT (passkeys need a domain: localhost)
//   SILO_TOKEN      the one-time bootstrap token
//   SILO_CERT       the server's self-signed certificate (PEM); Chromium
//                   trusts exactly its public key (--ignore-certificate-errors-spki-list)
//   SILO_PULL_URL   a GGUF served slowly, for the model-pull progress test
//   SILO_ARTIFACTS  where screenshots go
//
// Passkeys come from Chrome DevTools Protocol virtual authenticators: the
// admin's supports PRF (its device key is derived from the passkey), the
// invited user's does not (a key made and kept in the browser).

import assert from "node:assert/strict";
import { X509Certificate, createHash, createHmac } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { chromium } from "playwright-core";

const url = process.env.SILO_URL;
const token = process.env.SILO_TOKEN;
const pullURL = process.env.SILO_PULL_URL;
const artifacts = process.env.SILO_ARTIFACTS || "artifacts";
mkdirSync(artifacts, { recursive: true });
const origin = new URL(url).origin;

function spki(pemFile) {
  const der = new X509Certificate(readFileSync(pemFile)).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(der).digest("base64");
}

// watch records every request a page makes and every document's response
// headers, to check that nothing leaves the server's origin.
function watch(page, log) {
  page.on("request", (req) => {
    log.requests.push(req.url());
    if (req.method() === "POST" && /\/(finish|keys\/devices)$/.test(req.url())) log.bodies.push({ url: req.url(), body: req.postData() || "" });
  });
  page.on("response", (res) => {
    if (process.env.SILO_WEB_DEBUG && res.url().includes("/api/")) console.log("DEBUG", res.request().method(), res.url(), res.status());
    if (res.request().resourceType() === "document") log.documents.push({ url: res.url(), csp: res.headers()["content-security-policy"] });
  });
  page.on("console", (msg) => {
    if (msg.type() === "error") log.console.push(msg.text());
  });
  page.on("pageerror", (err) => log.console.push(String(err)));
}

async function authenticator(context, page, prf) {
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
      hasPrf: prf,
    },
  });
  return { cdp, authenticatorId };
}

// exchange clicks button and waits until the chat request it starts has
// been answered in full and the page has shown it (a button present before
// the click is no sign of the new answer).
async function exchange(page, button) {
  const answered = page.waitForResponse((r) => r.url().endsWith("/v1/chat/completions"), { timeout: 120_000 });
  await button.click();
  await (await answered).finished();
  await page.waitForFunction(() => document.querySelector('[data-testid="messages"]')?.getAttribute("aria-busy") === "false");
}

// totp is the RFC 6238 code (SHA-1, 6 digits, 30 s) of a base32 secret at
// time t (ms).
function totp(secret, t) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const ch of secret.replace(/=+$/, "").toUpperCase()) bits += alphabet.indexOf(ch).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(t / 30_000)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const off = mac[19] & 15;
  return String((mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

// unlabeled lists the form controls on the page that have no accessible
// name (a <label for>, a wrapping label or aria-label).
async function unlabeled(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll("input, select, textarea, button")]
      .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label") && !(el.tagName === "BUTTON" && el.textContent.trim()))
      .map((el) => el.outerHTML.slice(0, 120)),
  );
}

// adminTab opens a tab of the admin console through its links.
async function adminTab(page, name) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Admin" }).click();
  await page.getByRole("navigation", { name: "Admin" }).getByRole("link", { name, exact: true }).click();
}

async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

// observeAnswers records, in the page, the length of the last answer's
// text at every change of the message list, so that a test sees whether
// an answer arrived piece by piece.
async function observeAnswers(page) {
  await page.evaluate(() => {
    const log = document.querySelector('[data-testid="messages"]');
    window.__answerLengths = [];
    new MutationObserver(() => {
      const answers = log.querySelectorAll('[data-testid="msg-assistant"] .md');
      if (answers.length) window.__answerLengths.push(answers[answers.length - 1].textContent.length);
    }).observe(log, { childList: true, subtree: true, characterData: true });
  });
}

test("web app end to end", { timeout: 300_000 }, async (t) => {
  const browser = await chromium.launch({
    executablePath: process.env.SILO_CHROMIUM || "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--ignore-certificate-errors-spki-list=${spki(process.env.SILO_CERT)}`,
    ],
  });
  t.after(() => browser.close());
  const log = { requests: [], documents: [], console: [], bodies: [] };
  const pages = {};
  // step runs one part of the story; after a failure the rest is skipped
  // (each part needs the ones before), with screenshots of every page.
  let failed = false;
  const step = (name, fn) =>
    t.test(name, { skip: failed && "an earlier step failed" }, async () => {
      try {
        await fn();
      } catch (e) {
        failed = true;
        for (const [who, page] of Object.entries(pages)) await shot(page, `failed-${who}`).catch(() => undefined);
        e.message += `\nbrowser console: ${JSON.stringify(log.console)}`;
        throw e;
      }
    });

  // The admin, with a PRF-capable passkey.
  const adminCtx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const admin = await adminCtx.newPage();
  watch(admin, log);
  pages.admin = admin;
  await authenticator(adminCtx, admin, true);

  await step("bootstrap the first admin with a passkey", async () => {
    await admin.goto(`${url}/#/bootstrap`);
    await admin.getByLabel("One-time token").fill(token);
    await admin.getByLabel("Your user name").fill("admin");
    await admin.getByRole("button", { name: "Create admin and passkey" }).click();
    await admin.getByTestId("bootstrap-api-key").waitFor();
    assert.match(await admin.getByTestId("bootstrap-api-key").textContent(), /^sk-silo-/);
    await shot(admin, "01-bootstrap");
    await admin.getByRole("button", { name: "Continue" }).click();
    await admin.getByRole("link", { name: "Admin", exact: true }).waitFor();
  });

  await step("the admin's device key comes from the passkey's PRF", async () => {
    await admin.getByRole("link", { name: "Account" }).click();
    await admin.getByText("your passkey (PRF)").waitFor();
    assert.equal(await admin.getByTestId("device-key-state").textContent(), "live");
  });

  await step("the admin adds TOTP, then signs in with the passkey and a code", async () => {
    await admin.getByRole("button", { name: "Set up an authenticator app" }).click();
    const secret = (await admin.getByTestId("totp-secret").textContent()).trim();
    const now = Date.now();
    await admin.getByLabel("Code from the app").fill(totp(secret, now));
    await admin.getByRole("button", { name: "Confirm" }).click();
    await admin.getByText("Two-factor sign-in is on").waitFor();
    await admin.getByRole("button", { name: "Sign out", exact: true }).click();
    await admin.getByRole("button", { name: "Sign in with a passkey" }).click();
    await admin.getByLabel("Authenticator code").waitFor();
    // Each code works once: the next step's code (the server allows one step of skew).
    await admin.getByLabel("Authenticator code").fill(totp(secret, now + 30_000));
    await admin.getByRole("button", { name: "Sign in with a passkey" }).click();
    await admin.getByRole("link", { name: "Admin", exact: true }).waitFor();
  });

  await step("set the organisation admin key, made in the browser", async () => {
    await admin.getByRole("link", { name: "Chat", exact: true }).click();
    await admin.getByTestId("admin-key-warning").getByRole("link", { name: "Set the admin key" }).click();
    await admin.getByRole("button", { name: "Generate admin key" }).click();
    const identity = await admin.getByTestId("admin-identity").textContent();
    assert.match(identity, /AGE-SECRET-KEY-PQ-1/);
    await admin.getByRole("button", { name: "Set as admin key" }).click();
    await admin.getByTestId("admin-key").waitFor();
    await shot(admin, "02-admin-key");
  });

  let link;
  await step("invite a user", async () => {
    await adminTab(admin, "Users");
    await admin.getByLabel("Invitee email").fill("alice@example.com");
    await admin.getByRole("button", { name: "Create invitation" }).click();
    link = (await admin.getByTestId("invitation-link").textContent()).trim();
    assert.ok(link.startsWith(`${origin}/#/invite/inv-silo-`), link);
    await shot(admin, "03-invitation");
  });

  // The invited user, in another browser profile, with a passkey without PRF.
  const userCtx = await browser.newContext({ viewport: { width: 390, height: 844 } }); // phone width
  const user = await userCtx.newPage();
  watch(user, log);
  pages.user = user;
  const userAuth = await authenticator(userCtx, user, false);

  await step("accept the invitation and sign in as the user", async () => {
    await user.goto(link);
    await user.getByLabel("User name").fill("alice");
    await user.getByLabel(/Email/).fill("alice@example.com");
    await user.getByRole("button", { name: "Accept and make a passkey" }).click();
    await user.getByRole("button", { name: "Sign out", exact: true }).waitFor();
    // Sign out and in again with the new passkey.
    await user.getByRole("button", { name: "Sign out", exact: true }).click();
    await user.getByRole("button", { name: "Sign in with a passkey" }).click();
    await user.getByRole("button", { name: "Sign out", exact: true }).waitFor();
    const creds = await userAuth.cdp.send("WebAuthn.getCredentials", { authenticatorId: userAuth.authenticatorId });
    assert.equal(creds.credentials.length, 1);
    await shot(user, "04-user-signed-in");
  });

  let answerText;
  await step("chat with the generated model and see the answer stream", async () => {
    await user.goto(`${url}/#/chat`);
    await user.getByLabel("Model").selectOption("tiny");
    // Short answers: the generated model talks nonsense until its context is full.
    await user.getByRole("button", { name: "Settings" }).click();
    await user.getByLabel("Max answer tokens").fill("24");
    await user.getByLabel("Message").fill("Hello there");
    await observeAnswers(user);
    await exchange(user, user.getByRole("button", { name: "Send" }));
    await user.getByRole("button", { name: "Regenerate" }).waitFor();
    answerText = (await user.getByTestId("msg-assistant").last().locator(".md").textContent()).trim();
    assert.ok(answerText.length > 0, "empty answer");
    const lengths = [...new Set(await user.evaluate(() => window.__answerLengths))].filter((n) => n > 0);
    assert.ok(lengths.length >= 2, `the answer arrived in one piece (lengths seen: ${lengths})`);
    assert.deepEqual(await unlabeled(user), []);
    assert.ok(await user.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), "the chat is wider than the phone");
    await shot(user, "05-chat");
  });

  await step("reload and see the history opened in the browser", async () => {
    await user.reload();
    await user.getByTestId("msg-assistant").first().waitFor();
    assert.equal((await user.getByTestId("msg-user").first().textContent()).includes("Hello there"), true);
    assert.equal((await user.getByTestId("msg-assistant").first().locator(".md").textContent()).trim(), answerText);
    await user.getByRole("link", { name: "Hello there" }).waitFor();
    await shot(user, "06-history");
  });

  await step("regenerate the answer; the history keeps the latest", async () => {
    await exchange(user, user.getByRole("button", { name: "Regenerate" }));
    await user.getByRole("button", { name: "Regenerate" }).waitFor();
    const again = (await user.getByTestId("msg-assistant").last().locator(".md").textContent()).trim();
    await user.reload();
    await user.getByText("regenerated (1 earlier)").waitFor();
    assert.equal(await user.getByTestId("msg-user").count(), 1);
    assert.equal((await user.getByTestId("msg-assistant").last().locator(".md").textContent()).trim(), again);
    answerText = again;
  });

  await step("stop an answer midway: it is not stored", async () => {
    await user.getByRole("link", { name: "New chat" }).click();
    await user.getByLabel("Model").selectOption("long");
    await user.getByRole("button", { name: "Settings" }).click();
    await user.getByLabel("Max answer tokens").fill("");
    await user.getByLabel("Message").fill("Tell me everything");
    await user.getByRole("button", { name: "Send" }).click();
    const answer = user.getByTestId("msg-assistant").last().locator(".md");
    await user.waitForFunction((el) => el && el.textContent.length > 0, await answer.elementHandle());
    await user.getByRole("button", { name: "Stop" }).click();
    await user.getByText("stopped, not saved").waitFor();
    assert.ok(!(await user.getByText("answering…").count()));
    await user.reload();
    await user.getByRole("link", { name: "(empty)" }).waitFor();

    // Opening another conversation while an answer streams stops it, and
    // nothing of it shows in the conversation opened.
    await user.getByRole("link", { name: "New chat" }).click();
    await user.getByLabel("Message").fill("And another thing");
    await user.getByRole("button", { name: "Send" }).click();
    await user.waitForFunction((el) => el && el.textContent.length > 0, await user.getByTestId("msg-assistant").last().locator(".md").elementHandle());
    await user.getByRole("link", { name: "Hello there" }).click();
    await user.getByTestId("msg-user").filter({ hasText: "Hello there" }).waitFor();
    assert.equal(await user.getByTestId("msg-user").count(), 1);
    assert.equal(await user.getByText("answering…").count(), 0);
    assert.equal(await user.getByTestId("messages").getAttribute("aria-busy"), "false");
    await user.waitForTimeout(300); // a late chunk of the stopped answer must not land here
    assert.equal(await user.getByTestId("msg-assistant").count(), 1);
    assert.equal(await user.getByRole("button", { name: "Send" }).count(), 1);

    await user.getByLabel("Model").selectOption("tiny");
    await user.getByRole("button", { name: "Settings" }).click();
    await user.getByLabel("Max answer tokens").fill("24");
  });

  await step("answers render as Markdown, sanitised", async () => {
    await user.getByRole("link", { name: "New chat" }).click();
    await user.getByLabel("Model").selectOption("echo"); // the upstream double repeats the prompt
    await user.getByLabel("Message").fill('**bold** `x := 1` <img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> [click](javascript:window.__xss=3) [site](https://example.com)');
    await exchange(user, user.getByRole("button", { name: "Send" }));
    await user.getByRole("button", { name: "Regenerate" }).waitFor();
    const md = user.getByTestId("msg-assistant").last().locator(".md");
    assert.equal(await md.locator("strong").textContent(), "bold");
    assert.equal(await md.locator("code").textContent(), "x := 1");
    assert.equal(await md.locator("img, script").count(), 0);
    assert.match(await md.textContent(), /<img src=x onerror=/); // shown as text
    assert.equal(await md.getByRole("link", { name: "site" }).getAttribute("href"), "https://example.com");
    const click = md.getByText("click");
    if (await click.count()) await click.click();
    assert.equal(await user.evaluate(() => window.__xss), undefined);
    await user.getByLabel("Model").selectOption("tiny");
    // Delete that conversation: it leaves the list, and stays gone on reload.
    const links = user.locator(".conversations li a");
    const before = await links.count();
    await user.getByRole("button", { name: "Delete this conversation" }).click();
    await user.getByRole("button", { name: "Delete it for good" }).click();
    await user.waitForFunction((n) => document.querySelectorAll(".conversations li a").length === n, before - 1);
    await user.reload();
    await user.getByRole("link", { name: "Hello there" }).waitFor();
    assert.equal(await links.count(), before - 1);
  });

  await step("export the device key and open the history with it in another browser", async () => {
    await user.goto(`${url}/#/account`);
    assert.deepEqual(await unlabeled(user), []);
    // The user sees who else can open their chats: the admin key, by fingerprint.
    await user.getByTestId("readers").getByText(/^SHA256:/).first().waitFor();
    const [download] = await Promise.all([user.waitForEvent("download"), user.getByRole("button", { name: "Export key" }).click()]);
    const exported = readFileSync(await download.path(), "utf8");
    assert.match(exported, /^AGE-SECRET-KEY-PQ-1[0-9A-Z]+$/m);

    // Another browser profile with the same passkey (copied between the
    // virtual authenticators) but none of this one's storage.
    const otherCtx = await browser.newContext({ viewport: { width: 1024, height: 800 } });
    const other = await otherCtx.newPage();
    watch(other, log);
    pages.other = other;
    const otherAuth = await authenticator(otherCtx, other, false);
    const { credentials } = await userAuth.cdp.send("WebAuthn.getCredentials", { authenticatorId: userAuth.authenticatorId });
    await otherAuth.cdp.send("WebAuthn.addCredential", { authenticatorId: otherAuth.authenticatorId, credential: credentials[0] });
    await other.goto(`${url}/`);
    await other.getByLabel(/User name/).fill("alice");
    await other.getByRole("button", { name: "Sign in with a passkey" }).click();
    // This browser made its own key: the earlier history is not sealed to it.
    await other.getByRole("link", { name: "(sealed to another key)" }).last().click(); // the oldest: "Hello there"
    await other.getByTestId("locked").first().waitFor();
    await other.getByRole("link", { name: "Account" }).click();
    await other.getByRole("button", { name: "Import key" }).click();
    await other.getByLabel(/Paste an exported key/).fill(exported);
    await other.getByRole("button", { name: "Use this key" }).click();
    await other.getByText("an imported key").waitFor();
    await other.getByRole("link", { name: "Chat" }).click();
    await other.getByRole("link", { name: "Hello there" }).click();
    await other.getByTestId("msg-assistant").first().locator(".md").waitFor();
    assert.equal((await other.getByTestId("msg-assistant").first().locator(".md").textContent()).trim(), answerText);
    await other.emulateMedia({ colorScheme: "dark" });
    await shot(other, "07-imported-key-dark");
    await otherCtx.close();
    delete pages.other;
  });

  await step("the admin revokes the user's device key", async () => {
    await adminTab(admin, "Sealing keys");
    await admin.getByLabel("User", { exact: true }).selectOption({ label: "alice" });
    // Alice has two: the first browser's and the one the other profile made.
    const revoke = admin.getByRole("button", { name: /^Revoke device key .* of alice$/ });
    await revoke.nth(1).waitFor();
    assert.equal(await revoke.count(), 2);
    for (let n = 2; n > 0; n--) {
      await revoke.first().click();
      await admin.waitForFunction((want) => document.querySelectorAll('button[aria-label$=" of alice"]').length === want, n - 1);
    }
    await shot(admin, "08-device-revoked");

    // The user's browser learns it at its next load, and what is written
    // afterwards is not sealed to its key.
    await user.reload();
    await user.getByTestId("device-key-state").filter({ hasText: "revoked" }).waitFor();
    await user.getByRole("link", { name: "Chat" }).click();
    await user.getByTestId("key-warning").waitFor();
    await user.getByRole("link", { name: "Hello there" }).click();
    await user.getByTestId("msg-assistant").first().locator(".md").waitFor();
    await user.getByLabel("Message").fill("Second question");
    await exchange(user, user.getByRole("button", { name: "Send" }));
    await user.getByRole("button", { name: "Regenerate" }).waitFor();
    await user.reload();
    await user.getByTestId("locked").first().waitFor();
    assert.equal(await user.getByTestId("locked").count(), 2, "the exchange after revocation opens in the browser");
    assert.equal((await user.getByTestId("msg-assistant").first().locator(".md").textContent()).trim(), answerText);
    await shot(user, "09-after-revocation");
  });

  await step("pull a model and watch its progress", async () => {
    await adminTab(admin, "Models");
    await admin.getByLabel("Source URL").fill(pullURL);
    await admin.getByLabel("Model name").fill("pulled");
    await admin.getByRole("button", { name: "Pull" }).click();
    const bar = admin.getByTestId("pull-progress");
    await bar.waitFor();
    const seen = new Set();
    const deadline = Date.now() + 60_000;
    while (!(await admin.getByTestId("pull-done").count())) {
      if (await bar.count()) {
        const v = await bar.getAttribute("value");
        if (v) seen.add(v);
        if (seen.size === 2) await shot(admin, "10-pull-progress");
      }
      assert.ok(Date.now() < deadline, "the pull did not finish within 60 s");
      await admin.waitForTimeout(20);
    }
    assert.match(await admin.getByTestId("pull-done").textContent(), /pulled/);
    assert.ok(seen.size >= 2, `no progress between start and end (values seen: ${[...seen]})`);
    await shot(admin, "11-pull-done");
  });

  await step("the admin console: usage, quotas, API keys, roles, policy, audit, model details", async () => {
    await adminTab(admin, "Usage");
    await admin.getByRole("img", { name: /alice: [0-9,]+ tokens/ }).first().waitFor();
    await admin.getByRole("cell", { name: "alice" }).first().waitFor();
    assert.ok((await admin.getByRole("cell", { name: "tiny" }).count()) >= 1);
    await shot(admin, "12-usage");

    await adminTab(admin, "Quotas");
    await admin.getByLabel("Tokens per day for alice").fill("50000");
    await admin.getByLabel("Requests per minute for alice").fill("30");
    await admin.getByRole("button", { name: "Save limits of alice" }).click();
    await admin.getByText("Saved").waitFor();
    await admin.reload();
    await admin.getByLabel("Tokens per day for alice").waitFor();
    await admin.waitForFunction(() => document.querySelector('input[aria-label="Tokens per day for alice"]')?.value === "50000");
    assert.equal(await admin.getByLabel("Requests per minute for alice").inputValue(), "30");

    await adminTab(admin, "API keys");
    await admin.getByLabel("For", { exact: true }).selectOption({ label: "alice" });
    await admin.getByLabel("Key name").fill("alice-recovery");
    await admin.getByRole("button", { name: "Create key" }).click();
    const recoveryKey = (await admin.getByTestId("api-key-secret").textContent()).trim();
    assert.match(recoveryKey, /^sk-silo-/);

    // Alice lost her passkeys: on a new device, the key adds one, signs her
    // in, and is revoked.
    const phoneCtx = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const phone = await phoneCtx.newPage();
    watch(phone, log);
    pages.phone = phone;
    await authenticator(phoneCtx, phone, true);
    await phone.goto(`${url}/`);
    await phone.getByRole("link", { name: "Recover with an API key" }).click();
    await phone.getByLabel("API key").fill(recoveryKey);
    await phone.getByRole("button", { name: "Add a passkey and sign in" }).click();
    await phone.getByRole("button", { name: "Sign out", exact: true }).waitFor();
    assert.equal(await phone.locator(".who").textContent(), "alice");
    const keys = await phone.evaluate(async () => (await (await fetch("/api/v1/keys")).json()).keys);
    assert.ok(keys.some((k) => k.name === "alice-recovery" && k.revoked), "the recovery key is still live");
    await shot(phone, "15-recovered");
    await phoneCtx.close();
    delete pages.phone;

    await adminTab(admin, "Users");
    await admin.getByRole("button", { name: "Make alice an admin" }).click();
    await admin.getByText("alice is now an admin.").waitFor();
    await admin.getByRole("button", { name: "Make alice a regular user" }).click();
    await admin.getByText("alice is now a regular user.").waitFor();
    await admin.getByLabel("Two-factor sign-in (TOTP) required for").selectOption("admins");
    await admin.getByRole("button", { name: "Save policy" }).click();
    await admin.getByText("Saved.").waitFor();
    await admin.reload();
    await admin.waitForFunction(() => document.getElementById("policy-totp")?.value === "admins");

    await adminTab(admin, "Sealing keys");
    await admin.getByLabel("Backup key name").fill("vault");
    await admin.getByRole("button", { name: "Generate backup key" }).click();
    assert.match(await admin.getByTestId("backup-identity").textContent(), /AGE-SECRET-KEY-PQ-1/);
    await admin.getByRole("button", { name: "Add this backup key" }).click();
    await admin.getByRole("button", { name: "I have saved it" }).click();
    await admin.getByRole("button", { name: "Revoke backup key vault" }).click();
    await admin.getByRole("button", { name: "Revoke now" }).click();
    await admin.getByRole("row", { name: /vault .*revoked/ }).waitFor();

    // Replace the admin key (lost or exposed): revoke and set, in the browser.
    const before = (await admin.getByTestId("admin-key").textContent()).trim();
    await admin.getByRole("button", { name: "Make a new admin key" }).click();
    assert.match(await admin.getByTestId("new-admin-identity").textContent(), /AGE-SECRET-KEY-PQ-1/);
    await admin.getByRole("button", { name: "Replace the admin key" }).click();
    await admin.getByRole("button", { name: "Revoke the old key and set the new one" }).click();
    await admin.getByTestId("admin-key-replaced").waitFor();
    // The key shown is reloaded after the replacement: wait for the new one.
    await admin.waitForFunction((old) => document.querySelector('[data-testid="admin-key"]')?.textContent.trim() !== old, before);

    await adminTab(admin, "Audit log");
    assert.match(await admin.getByTestId("audit-verify").textContent(), /Chain intact/);
    await shot(admin, "13-audit");

    await adminTab(admin, "Models");
    await admin.getByRole("link", { name: "tiny" }).click();
    await admin.getByText(/[0-9a-f]{64}/).first().waitFor();

    // Phone width: nothing wider than the screen.
    await admin.setViewportSize({ width: 390, height: 844 });
    await adminTab(admin, "Users");
    await admin.getByRole("button", { name: "Make alice an admin" }).waitFor();
    assert.ok(await admin.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), "the Users tab is wider than a phone");
    await shot(admin, "14-users-phone");
    assert.deepEqual(await unlabeled(admin), []);
  });

  await step("no request leaves the server's origin; every page has a CSP", async () => {
    // A PRF output is a device key: it never goes to the server.
    assert.ok(log.bodies.length >= 4, `only ${log.bodies.length} sign-in bodies seen`);
    for (const b of log.bodies) assert.doesNotMatch(b.body, /"prf"|"results"|AGE-SECRET-KEY/, b.url);
    const foreign = log.requests.filter((u) => !u.startsWith(origin + "/") && !u.startsWith("data:") && !u.startsWith("blob:"));
    assert.deepEqual(foreign, []);
    assert.ok(log.documents.length >= 3);
    for (const d of log.documents) {
      assert.ok(d.csp, `${d.url} has no Content-Security-Policy`);
      assert.match(d.csp, /script-src 'self'/);
      assert.doesNotMatch(d.csp, /unsafe-inline|unsafe-eval/);
    }
    assert.deepEqual(
      log.console.filter((m) => !/Failed to load resource: the server responded with a status of 40[14]/.test(m)),
      [],
    );
  });
});

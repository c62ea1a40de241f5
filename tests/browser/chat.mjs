// The chat app (pipelines/chat.toml) in headless Chromium, as users would try it.
//
//   node tests/browser/chat.mjs http://127.0.0.1:8090 <token>
//
// Prints one line per check and exits non-zero at the first failure. Started by tests/chat.rs,
// which runs the pipeline; Chromium is Debian's (/usr/bin/chromium), driven by playwright-core.

import { chromium } from "playwright-core";

const [base, token] = process.argv.slice(2);
const TIMEOUT = 15_000;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});

const pages = [];
const errors = [];

async function open(user, room, key = token) {
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on("pageerror", (error) => errors.push(`${user}: ${error.message}`));
  const query = new URLSearchParams({ token: key, user, room });
  await page.goto(`${base}/?${query}`);
  pages.push(page);
  return page;
}

const connected = (page) => page.waitForSelector("body[data-state=open]");

async function say(page, text) {
  await page.fill("#compose input[name=text]", text);
  await page.click("#compose button");
}

// The messages a page shows: [{text, kind, history}].
const messages = (page) =>
  page.$$eval("#messages li", (items) =>
    items.map((li) => ({ text: li.textContent, kind: li.className, history: li.dataset.history === "true" })));

async function sees(page, text, { kind, history } = {}) {
  const handle = await page.waitForFunction(
    ([wanted, kind, history]) =>
      [...document.querySelectorAll("#messages li")].find((li) =>
        li.textContent.includes(wanted)
        && (kind === undefined || li.className === kind)
        && (history === undefined || (li.dataset.history === "true") === history)),
    [text, kind, history],
  );
  return handle;
}

async function never(page, text) {
  const found = (await messages(page)).filter((m) => m.text.includes(text));
  if (found.length > 0) throw new Error(`unexpected "${text}": ${JSON.stringify(found)}`);
}

function check(name) {
  console.log(`ok - ${name}`);
}

try {
  const ann = await open("ann", "lobby");
  await connected(ann);
  const bob = await open("bob", "lobby");
  await connected(bob);
  check("two pages connect to the lobby");

  await sees(ann, "bob joined", { kind: "system" });
  check("the first page sees the second join");

  await say(ann, "hello from ann");
  await sees(bob, "hello from ann");
  await say(bob, "hi ann, bob here");
  await sees(ann, "hi ann, bob here");
  check("they see each other's messages");

  const dan = await open("dan", "garden");
  await connected(dan);
  await say(ann, "/whoami");
  await sees(ann, "you are ann", { kind: "private" });
  check("a /command is answered privately");

  const cat = await open("cat", "lobby");
  await connected(cat);
  await sees(cat, "hello from ann", { history: true });
  await sees(cat, "hi ann, bob here", { history: true });
  check("a page joining later gets the history");

  await say(ann, "after cat came");
  await sees(cat, "after cat came", { history: false });
  await sees(bob, "after cat came");
  await say(dan, "only in the garden");
  await sees(dan, "only in the garden");
  for (const text of ["hello from ann", "hi ann, bob here", "after cat came", "bob joined"]) await never(dan, text);
  await never(bob, "you are ann");
  await never(ann, "only in the garden");
  check("a page in another room sees nothing of the lobby, and private answers stay private");

  await bob.close();
  await sees(ann, "bob left", { kind: "system" });
  check("closing a page is a leave notice");

  const eve = await open("eve", "lobby", "not-the-token");
  await eve.waitForSelector("body[data-state=refused]");
  if ((await messages(eve)).length !== 0) throw new Error("a refused page got messages");
  await never(ann, "eve joined");
  check("an unauthenticated page is refused");
  if (errors.length > 0) throw new Error(`the page raised errors: ${errors.join("; ")}`);
  check("the page raised no errors");
} catch (error) {
  console.log(`not ok - ${error.message}`);
  for (const page of pages) {
    if (!page.isClosed()) console.log(`  ${page.url()}: ${JSON.stringify(await messages(page))}`);
  }
  await browser.close();
  process.exit(1);
}
await browser.close();

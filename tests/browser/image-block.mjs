// The image block app (pipelines/image-block.toml) in headless Chromium, as users would try it:
// two pages in one room, one uploads a photo through the page's form, both show its variants.
//
//   node tests/browser/image-block.mjs http://127.0.0.1:8093 http://127.0.0.1:8094/rooms/r1/photos photo.png
//
// Prints the variants the second page shows as one JSON line ([{name, width, height, type,
// loaded}], `loaded` being the size the browser decoded from the variant's URL), and exits
// non-zero at the first failure. Started by tests/image_app.rs, which runs the pipeline.

import { chromium } from "playwright-core";

const [base, upload, photo] = process.argv.slice(2);
const TIMEOUT = 30_000;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const errors = [];

async function open(name) {
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on("pageerror", (error) => errors.push(`${name}: ${error.message}`));
  const query = new URLSearchParams({ room: "r1", upload });
  await page.goto(`${base}/?${query}`);
  await page.waitForSelector("body[data-state=open]");
  return page;
}

try {
  const uploader = await open("uploader");
  const watcher = await open("watcher");
  await uploader.setInputFiles("#upload input[type=file]", photo);
  await uploader.click("#upload button");
  await uploader.waitForSelector("#upload-status[data-status='202']");
  for (const page of [uploader, watcher]) {
    await page.waitForFunction(() => document.querySelectorAll("#photos figure").length === 3);
    // Every variant's image loads in the browser.
    await page.waitForFunction(() => [...document.querySelectorAll("#photos figure img")].every((img) => img.complete && img.naturalWidth > 0));
  }
  const variants = await watcher.$$eval("#photos figure", (figures) =>
    figures.map((figure) => {
      const img = figure.querySelector("img");
      return {
        name: figure.dataset.name,
        width: Number(figure.dataset.width),
        height: Number(figure.dataset.height),
        caption: figure.querySelector("figcaption").textContent,
        loaded: [img.naturalWidth, img.naturalHeight],
      };
    }));
  if (errors.length > 0) throw new Error(errors.join("; "));
  console.log(JSON.stringify(variants));
} catch (error) {
  console.error(`FAILED: ${error.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}

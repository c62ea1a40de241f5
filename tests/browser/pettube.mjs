// PetTube (pipelines/pettube.toml) in headless Chromium, as a user would try it: ann signs in,
// uploads a video through the page's form, sees its three sizes and poster appear, and plays one;
// bob signs in and sees none of ann's files.
//
//   node tests/browser/pettube.mjs http://127.0.0.1:8090 <ann's token> <bob's token> video.mp4
//
// Prints "ok - ..." for each check, and exits non-zero at the first failure. Started by
// tests/pettube.rs, which runs the pipeline.

import { chromium } from "playwright-core";

const [base, annToken, bobToken, video] = process.argv.slice(2);
const TIMEOUT = 120_000;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
  ],
});
const errors = [];

async function signIn(name, token) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on("pageerror", (error) => errors.push(`${name}: ${error.message}`));
  await page.goto(`${base}/`);
  await page.fill("#token", token);
  await page.click("#sign-in button");
  await page.waitForSelector("body[data-state=signed-in]");
  await page.waitForSelector("#media[data-count]", { state: "attached" });
  return page;
}

try {
  const ann = await signIn("ann", annToken);
  console.log("ok - ann signs in");
  await ann.setInputFiles("#upload input[type=file]", video);
  await ann.click("#upload button");
  await ann.waitForSelector("#upload-status[data-status='201']");
  console.log("ok - the upload is stored (201)");
  await ann.waitForSelector("#media[data-count='4']", { state: "attached" });
  const sizes = await ann.$$eval("#media li", (items) => items.map((li) => li.dataset.size).sort());
  if (sizes.join(",") !== "144p,240p,360p,poster") throw new Error(`sizes shown: ${sizes}`);
  await ann.waitForFunction(() => {
    const poster = document.querySelector("#media li[data-size=poster] img");
    return poster && poster.complete && poster.naturalWidth === 640;
  });
  console.log("ok - the three sizes and the poster appear");
  // Plays the 360p video: it must decode and advance (WebM/VP8, which every Chromium plays).
  const played = await ann.evaluate(async () => {
    const player = document.querySelector("#media li[data-size='360p'] video");
    player.muted = true;
    await player.play();
    await new Promise((resolve) => {
      const check = () => (player.currentTime > 0.3 ? resolve() : player.requestVideoFrameCallback(check));
      player.requestVideoFrameCallback(check);
    });
    return { width: player.videoWidth, height: player.videoHeight, time: player.currentTime };
  });
  if (played.width !== 640 || played.height !== 360) throw new Error(`played ${JSON.stringify(played)}`);
  console.log(`ok - the 360p video plays (${played.width}x${played.height}, at ${played.time.toFixed(2)} s)`);
  const bob = await signIn("bob", bobToken);
  const count = await bob.$eval("#media", (list) => list.dataset.count);
  if (count !== "0") throw new Error(`bob sees ${count} files`);
  console.log("ok - bob sees none of ann's files");
  if (errors.length) throw new Error(errors.join("\n"));
} catch (error) {
  console.log(`not ok - ${error.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}

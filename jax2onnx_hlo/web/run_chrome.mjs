// node run_chrome.mjs URL WORKDIR NODE_MODULES CHROMIUM: opens URL (page.html served with the
// manifest and the ort files) in headless Chromium through playwright-core, runs the model
// in the page and writes WORKDIR/outputs.json.
import { readManifest, reportAndExit, requireFrom, writeOutputs } from "./node_io.mjs";

const [url, workdir, nodeModules, executablePath] = process.argv.slice(2);

async function runInPage(browser) {
  const page = await browser.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") pageErrors.push(m.text()); });
  await page.goto(url);
  await page.waitForFunction(() => window.runJax2OnnxHlo !== undefined || window.loadError);
  const loadError = await page.evaluate(() => window.loadError);
  if (loadError) throw new Error(`the page could not load onnxruntime-web: ${loadError}`);
  try {
    return await page.evaluate(async (manifest) => window.runJax2OnnxHlo(manifest),
                               readManifest(workdir));
  } catch (e) {
    throw new Error([e.message, ...pageErrors].join("\n"));
  }
}

try {
  const { chromium } = requireFrom(nodeModules)("playwright-core");
  // No background traffic (the network may be closed); playwright makes a fresh profile.
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const encoded = await runInPage(browser);
    writeOutputs(workdir, encoded.map((o) => ({ ...o, bytes: Buffer.from(o.base64, "base64") })));
  } finally {
    await browser.close();
  }
} catch (error) {
  reportAndExit(error);
}

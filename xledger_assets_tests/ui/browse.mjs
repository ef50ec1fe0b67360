// Drives headless Chromium (Debian's, through playwright-core) through the Dagster UI and
// prints what it saw as one JSON line; test_browser.py makes the assertions.
//
//   node browse.mjs <plan.json>
//
// plan: {base, chromium, userDataDir, outDir, phase: "main" | "token", runId, asset, assetCount}
// Screenshots go to outDir. On an error the JSON has "error" and a screenshot "error-<phase>.png".

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const plan = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const FLAGS = [
  '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic',
];
const out = { phase: plan.phase, screenshots: [], seconds: {} };
const t0 = Date.now();
const mark = (name) => { out.seconds[name] = (Date.now() - t0) / 1000; };

// What the UI remembers between visits, set before any page script runs: no newsletter
// prompt, both asset groups open, a top-to-bottom graph, the node facets worth a screenshot.
function uiPreferences() {
  localStorage.setItem('communityNux', '"1"');
  localStorage.setItem('asset-graph-direction', '"horizontal"');
  localStorage.setItem('asset-node-facets', JSON.stringify(['checks', 'freshness', 'status', 'kind-tag']));
  localStorage.setItem(
    'asset-graph-open-graph-nodes-global-__GLOBAL__',
    JSON.stringify({ expanded: 'global@global:xledger,global@global:xledger_flexlinks' }),
  );
}

async function shot(page, name) {
  const file = path.join(plan.outDir, name);
  await page.screenshot({ path: file });
  out.screenshots.push(file);
}

async function open(page, route, readyText) {
  await page.goto(plan.base + route, { waitUntil: 'domcontentloaded' });
  if (readyText) await page.getByText(readyText, { exact: true }).first().waitFor({ timeout: 30000 });
}

const nodeNames = (page) => page.$$eval('[class*="AssetNode_assetName"]', (els) =>
  [...new Set(els.map((e) => e.textContent.trim()))]);

// Boxes of the rendered asset nodes, and whether all of them are inside the graph's viewport
// (the nearest ancestor of the graph's <svg> that clips its content).
async function nodesInView(page) {
  return page.evaluate(() => {
    const nodes = [...document.querySelectorAll('[class*="AssetNode_assetNodeContainer"]')];
    let host = nodes.length ? nodes[0].closest('svg') : null;
    while (host && host.parentElement && getComputedStyle(host).overflow !== 'hidden') {
      host = host.parentElement;
    }
    const v = (host || document.body).getBoundingClientRect();
    const view = { x: v.left, y: v.top, width: v.width, height: v.height };
    const boxes = nodes
      .map((e) => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })
      .filter(([l, t, r, b]) => r > l && b > t);
    const inside = boxes.every(([l, t, r, b]) =>
      l >= v.left && t >= v.top && r <= v.right && b <= v.bottom);
    return { view, boxes, inside };
  });
}

async function assetGraph(page) {
  await open(page, '/asset-groups');
  await page.locator('[class*="AssetNode_assetNodeContainer"]').first().waitFor({ timeout: 30000 });
  // Zoom out (ctrl + wheel, around the middle of the nodes) until every node is in view.
  let margin = 1; // one more step once everything fits, so group headers fit too
  for (let i = 0; i < 20; i++) {
    const { view, boxes, inside } = await nodesInView(page);
    if (inside && boxes.length >= plan.assetCount && margin-- <= 0) break;
    const xs = boxes.flatMap(([l, , r]) => [l, r]);
    const ys = boxes.flatMap(([, t, , b]) => [t, b]);
    const x = xs.length ? (Math.min(...xs) + Math.max(...xs)) / 2 : view.x + view.width / 2;
    const y = ys.length ? (Math.min(...ys) + Math.max(...ys)) / 2 : view.y + view.height / 2;
    await page.mouse.move(
      Math.min(Math.max(x, view.x + 5), view.x + view.width - 5),
      Math.min(Math.max(y, view.y + 5), view.y + view.height - 5),
    );
    await page.keyboard.down('Control');
    await page.mouse.wheel(0, 100);
    await page.keyboard.up('Control');
    await page.waitForTimeout(250);
  }
  await page.mouse.move(0, 0);
  await page.waitForTimeout(500);
  out.graph = { nodes: await nodeNames(page), allInView: (await nodesInView(page)).inside };
  await shot(page, 'asset-graph.png');
}

async function assetPage(page) {
  await open(page, `/assets/${plan.asset}`, 'Columns');
  await page.locator('table tr td').first().waitFor({ timeout: 30000 });
  // the freshness daemon's first verdict (reloading: the page shows it once loaded)
  for (let i = 0; i < 10 && !(await page.getByText('Passing', { exact: true }).count()); i++) {
    await page.waitForTimeout(2000);
    if (i % 3 === 2) await open(page, `/assets/${plan.asset}`, 'Columns');
  }
  out.asset = {
    columns: await page.$$eval('table tr', (rows) => rows
      .map((r) => [...r.querySelectorAll('td')].map((c) => c.innerText.trim()))
      .filter((cells) => cells.length >= 2)),
    text: await page.evaluate(() => document.body.innerText),
  };
  await shot(page, `asset-${plan.asset}.png`);
}

async function eventsTab(page) {
  await open(page, `/assets/${plan.asset}?view=events`, 'cursor_after');
  out.events = { text: await page.evaluate(() => document.body.innerText) };
  await shot(page, `asset-${plan.asset}-events.png`);
}

async function checksTab(page, file) {
  await open(page, `/assets/${plan.asset}?view=checks`, 'xledger_token_health');
  await page.getByText('Latest execution', { exact: true }).first().waitFor({ timeout: 30000 });
  if (plan.check) {
    await page.getByText(plan.check, { exact: true }).first().click();
    await page.getByText(plan.expectText).first().waitFor({ timeout: 30000 });
  }
  out.checks = { text: await page.evaluate(() => document.body.innerText) };
  await shot(page, file);
}

async function runPage(page) {
  await open(page, `/runs/${plan.runId}`, 'Success');
  await page.getByText('RUN_SUCCESS', { exact: true }).first().waitFor({ timeout: 30000 }).catch(() => {});
  out.run = { text: await page.evaluate(() => document.body.innerText) };
  await shot(page, 'run.png');
}

async function jobsPage(page) {
  await open(page, '/jobs', 'xledger_state_reset');
  out.jobs = { text: await page.evaluate(() => document.body.innerText) };
  await shot(page, 'jobs.png');
}

const context = await chromium.launchPersistentContext(plan.userDataDir, {
  executablePath: plan.chromium,
  headless: true,
  args: FLAGS,
  viewport: { width: 1440, height: 1000 },
});
await context.addInitScript(uiPreferences);
const page = context.pages()[0] || (await context.newPage());
page.setDefaultTimeout(30000);
try {
  if (plan.phase === 'main') {
    mark('browser');
    await assetGraph(page);
    mark('graph');
    await assetPage(page);
    mark('asset');
    await eventsTab(page);
    mark('events');
    await checksTab(page, `asset-${plan.asset}-checks.png`);
    mark('checks');
    await runPage(page);
    mark('run');
    await jobsPage(page);
    mark('jobs');
  } else {
    mark('browser');
    await checksTab(page, 'token-rejected.png');
    mark('checks');
  }
} catch (err) {
  out.error = String(err && err.stack ? err.stack : err);
  try {
    await shot(page, `error-${plan.phase}.png`);
  } catch {}
} finally {
  await context.close();
}
process.stdout.write(JSON.stringify(out) + '\n');

#!/usr/bin/env node
/**
 * Are the packages publish-ready? For every package that is not private:
 *
 * 1. `pnpm pack` it (workspace:* and catalog: become real versions, as on publish);
 * 2. publint and are-the-types-wrong judge the tarball;
 * 3. npm installs it into an empty project, with the tarballs of the @indiepm packages it
 *    depends on (they are not on the registry yet) and nothing else of this repository;
 * 4. it is imported from ESM, and `require`d from CommonJS where its exports offer it;
 * 5. the install's size is printed (packages added, MB on disk).
 *
 *   node scripts/check-packages.mjs [--keep DIR] [--only NAME]
 *
 * Exits 1 with one line per failure. Needs the registry (npm install); CI runs it.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const args = process.argv.slice(2);
const keep = args.includes("--keep") ? resolve(args[args.indexOf("--keep") + 1]) : undefined;
const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : undefined;
const work = keep ?? mkdtempSync(join(tmpdir(), "indiepm-packs-"));
mkdirSync(work, { recursive: true });
const tarballs = join(work, "tarballs");
mkdirSync(tarballs, { recursive: true });

const run = (cmd, argv, cwd, extra = {}) => execFileSync(cmd, argv, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...extra });

/** Every package folder under packages/ whose package.json is not private. */
const packages = readdirSync(join(root, "packages"))
  .map((dir) => ({ dir: join(root, "packages", dir), manifest: JSON.parse(readFileSync(join(root, "packages", dir, "package.json"), "utf8")) }))
  .filter((p) => !p.manifest.private);
const byName = new Map(packages.map((p) => [p.manifest.name, p]));

const failures = [];
const fail = (name, text) => {
  failures.push(`${name}: ${text}`);
  console.log(`  ✗ ${text}`);
};

console.log(`== packing ${packages.length} packages into ${tarballs}`);
for (const p of packages) {
  const out = run("pnpm", ["pack", "--pack-destination", tarballs], p.dir).trim().split("\n").pop();
  p.tarball = out.endsWith(".tgz")
    ? out
    : join(
        tarballs,
        readdirSync(tarballs).find((f) => f.startsWith(p.manifest.name.replace("@", "").replace("/", "-"))),
      );
}

/** The @indiepm packages `name` needs at run time, itself included, depth first. */
function closure(name, seen = new Set()) {
  if (seen.has(name)) return seen;
  seen.add(name);
  const p = byName.get(name);
  for (const dep of Object.keys(p?.manifest.dependencies ?? {})) if (byName.has(dep)) closure(dep, seen);
  return seen;
}

function du(dir) {
  let bytes = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) bytes += du(path);
    else if (entry.isFile()) bytes += statSync(path).size;
  }
  return bytes;
}

for (const p of packages) {
  const name = p.manifest.name;
  if (only && !name.endsWith(only)) continue;
  console.log(`== ${name}`);
  try {
    run("pnpm", ["exec", "publint", "run", "--strict", p.tarball], root);
    console.log("  ✓ publint");
  } catch (error) {
    fail(name, `publint: ${(error.stdout || error.message).trim()}`);
  }
  try {
    // ESM-only packages are judged as such: no CommonJS entry to resolve under node10/node16-cjs.
    const cjs = JSON.stringify(p.manifest.exports ?? {}).includes('"require"');
    run("pnpm", ["exec", "attw", p.tarball, "--format", "ascii", ...(cjs ? [] : ["--profile", "esm-only"])], root);
    console.log(`  ✓ are-the-types-wrong (${cjs ? "ESM and CJS" : "ESM only"})`);
  } catch (error) {
    fail(name, `are-the-types-wrong: ${(error.stdout || error.message).trim()}`);
  }

  const project = join(work, `install-${name.replace("@", "").replace("/", "-")}`);
  rmSync(project, { recursive: true, force: true });
  mkdirSync(project, { recursive: true });
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "empty-project", private: true, version: "1.0.0" }));
  const peers = Object.keys(p.manifest.peerDependencies ?? {});
  const locals = [...closure(name)].map((n) => byName.get(n).tarball);
  try {
    // Peers first, as the site or app that adds the package already has them.
    if (peers.length > 0) run("npm", ["install", "--no-audit", "--no-fund", ...peers.map((peer) => `${peer}@${p.manifest.peerDependencies[peer]}`)], project);
    const before = existsModules(project);
    const added = run("npm", ["install", "--no-audit", "--no-fund", ...locals], project).match(/added (\d+) package/);
    const after = existsModules(project);
    console.log(
      `  ✓ npm install: ${added ? added[1] : 0} packages added${peers.length ? ` beside ${peers.join(", ")}` : ""}, ${((after - before) / 1e6).toFixed(1)} MB`,
    );
  } catch (error) {
    fail(name, `npm install: ${(error.stderr || error.message).trim().split("\n").slice(-3).join(" ")}`);
    continue;
  }
  try {
    run(
      "node",
      ["--input-type=module", "-e", `const m = await import(${JSON.stringify(name)}); if (Object.keys(m).length === 0) throw new Error("no exports");`],
      project,
    );
    console.log("  ✓ import() from ESM");
  } catch (error) {
    fail(name, `import from ESM: ${(error.stderr || error.message).trim().split("\n").slice(-2).join(" ")}`);
  }
  if (JSON.stringify(p.manifest.exports ?? {}).includes('"require"')) {
    try {
      run("node", ["--input-type=commonjs", "-e", `const m = require(${JSON.stringify(name)}); if (m == null) throw new Error("nothing exported");`], project);
      console.log("  ✓ require() from CommonJS");
    } catch (error) {
      fail(name, `require from CommonJS: ${(error.stderr || error.message).trim().split("\n").slice(-2).join(" ")}`);
    }
  }
}

function existsModules(project) {
  try {
    return du(join(project, "node_modules"));
  } catch {
    return 0;
  }
}

if (!keep) rmSync(work, { recursive: true, force: true });
if (failures.length > 0) {
  console.log(`\n${failures.length} packaging problem(s):\n${failures.map((f) => `- ${f}`).join("\n")}`);
  process.exit(1);
}
console.log("\nevery package packs, installs from its tarball and imports");

/**
 * Fixture sites for real Eleventy builds: each test writes its files into a fresh
 * temporary folder, builds it from code, and reads what Eleventy returned or wrote.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import Eleventy from "@11ty/eleventy";

const run = promisify(execFile);

export const PACKAGE_DIR = fileURLToPath(new URL("../..", import.meta.url));

export interface Site {
  root: string;
  input: string;
  output: string;
  /** A file of the written output, as text. */
  read(path: string): Promise<string>;
  remove(): Promise<void>;
}

export type EleventyConfigCallback = (eleventyConfig: any) => unknown;

export interface BuildOptions {
  config?: EleventyConfigCallback;
  configPath?: string;
  pathPrefix?: string;
}

/**
 * Writes `files` (path → contents) under `<tmp>/src`. With `linkPackage`, `<tmp>/node_modules`
 * holds this package and Eleventy as an install would, for config files that import them.
 */
export async function createSite(files: Record<string, string>, options: { linkPackage?: boolean } = {}): Promise<Site> {
  const root = await mkdtemp(join(tmpdir(), "indiepm-11ty-"));
  const input = join(root, "src");
  const output = join(root, "_site");
  for (const [path, contents] of Object.entries(files)) {
    await mkdir(dirname(join(input, path)), { recursive: true });
    await writeFile(join(input, path), contents);
  }
  if (options.linkPackage) {
    await mkdir(join(root, "node_modules", "@indiepm"), { recursive: true });
    await mkdir(join(root, "node_modules", "@11ty"), { recursive: true });
    await symlink(PACKAGE_DIR, join(root, "node_modules", "@indiepm", "eleventy-plugin"), "dir");
    await symlink(join(PACKAGE_DIR, "node_modules", "@11ty", "eleventy"), join(root, "node_modules", "@11ty", "eleventy"), "dir");
  }
  return {
    root,
    input,
    output,
    read: (path) => readFile(join(output, path), "utf8"),
    remove: () => rm(root, { recursive: true, force: true }),
  };
}

function eleventy(site: Site, options: BuildOptions): Eleventy {
  const elev = new Eleventy(site.input, site.output, {
    quietMode: true,
    ...(options.configPath ? { configPath: options.configPath } : {}),
    ...(options.pathPrefix ? { pathPrefix: options.pathPrefix } : {}),
    ...(options.config ? { config: options.config } : {}),
  });
  elev.disableLogger();
  return elev;
}

export interface JsonPage {
  url: string | false;
  inputPath: string;
  outputPath: string | false;
  content: string;
}

/** `toJSON()`: the pages Eleventy would write, transforms applied, nothing written. */
export async function buildJson(site: Site, options: BuildOptions = {}): Promise<JsonPage[]> {
  return (await eleventy(site, options).toJSON()) as JsonPage[];
}

/** `write()`: a build into `site.output`. */
export async function buildWrite(site: Site, options: BuildOptions = {}): Promise<void> {
  await eleventy(site, options).write();
}

/** The error a build failed with (Eleventy wraps a plugin's error; `originalError` is ours). */
export async function buildError(site: Site, options: BuildOptions): Promise<Error & { originalError?: Error & { code?: string } }> {
  try {
    await buildJson(site, options);
  } catch (error) {
    return error as Error & { originalError?: Error & { code?: string } };
  }
  throw new Error("The build did not fail.");
}

const CHILD_BUILD = `
import Eleventy from "@11ty/eleventy";
const elev = new Eleventy("src", "_site", { quietMode: true, configPath: process.env.CONFIG_FILE });
elev.disableLogger();
process.stdout.write(JSON.stringify(await elev.toJSON()));
`;

/**
 * \`toJSON()\` in a plain \`node\` child process with the site's folder as its working
 * directory: the config file loads the package as an installed site would (its built
 * \`dist\`), not through the test runner's "source" condition.
 */
export async function buildJsonInChild(site: Site, configFile: string): Promise<JsonPage[]> {
  const { stdout } = await run(process.execPath, ["--input-type=module", "-e", CHILD_BUILD], {
    cwd: site.root,
    env: { ...process.env, CONFIG_FILE: configFile, NODE_OPTIONS: "" },
  });
  return JSON.parse(stdout) as JsonPage[];
}

/** How many times `needle` occurs in `haystack`. */
export function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

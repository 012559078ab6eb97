/**
 * The small glob dialect of the `pages` option, matched against output paths relative to
 * the output folder with `/` separators (`index.html`, `blog/2024/post/index.html`):
 * `*` (any characters but `/`), `**` (any number of folders), `?` (one character but
 * `/`) and `{a,b}` (either). Everything else is literal. Node 20's `path.matchesGlob` is
 * experimental and warns on stderr, and Eleventy's own matcher is not a public export.
 */

/** Compiles `pattern` (a leading `/` or `./` is ignored) to an anchored RegExp. */
export function globToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/^\.?\//, "");
  return new RegExp(`^${translate(body)}$`);
}

function translate(glob: string): string {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") {
      if (glob[i + 1] === "*") {
        const atStart = i === 0 || glob[i - 1] === "/";
        i++;
        if (atStart && glob[i + 1] === "/") {
          out += "(?:[^/]*/)*"; // `**/`: zero or more folders
          i++;
        } else {
          out += ".*";
        }
      } else {
        out += "[^/]*";
      }
    } else if (c === "?") {
      out += "[^/]";
    } else if (c === "{") {
      const close = glob.indexOf("}", i);
      if (close === -1) {
        out += "\\{";
        continue;
      }
      const alternatives = glob
        .slice(i + 1, close)
        .split(",")
        .map(translate);
      out += `(?:${alternatives.join("|")})`;
      i = close;
    } else {
      out += c.replace(/[.+^$|()[\]\\{}]/g, "\\$&");
    }
  }
  return out;
}

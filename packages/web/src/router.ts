/**
 * The route table's matcher: a route is a method and a path pattern, where `:id` is one
 * segment of `[A-Za-z0-9_-]` (a conversation ID) and a trailing `*` the rest of the path.
 * `GET` routes answer `HEAD` too. First match wins.
 */

export type Method = "GET" | "POST";

export interface Route<C> {
  method: Method;
  path: string;
  handle(request: Request, params: Record<string, string>, context: C): Promise<Response>;
}

export interface Match<C> {
  route: Route<C>;
  params: Record<string, string>;
}

export function route<C>(method: Method, path: string, handle: Route<C>["handle"]): Route<C> {
  return { method, path, handle };
}

function compile(path: string): { pattern: RegExp; names: string[] } {
  const names: string[] = [];
  const source = path
    .split("/")
    .map((segment) => {
      if (segment === "*") {
        names.push("rest");
        return "(.*)";
      }
      if (segment.startsWith(":")) {
        names.push(segment.slice(1));
        return "([A-Za-z0-9_-]+)";
      }
      return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("/");
  return { pattern: new RegExp(`^${source}$`), names };
}

/** Compiles a table once; `match` finds the route for a method and a path. */
export function createRouter<C>(routes: readonly Route<C>[]): (method: string, path: string) => Match<C> | undefined {
  const compiled = routes.map((r) => ({ route: r, ...compile(r.path) }));
  return (method, path) => {
    const wanted = method === "HEAD" ? "GET" : method;
    for (const { route: r, pattern, names } of compiled) {
      if (r.method !== wanted) continue;
      const found = pattern.exec(path);
      if (found) return { route: r, params: Object.fromEntries(names.map((n, i) => [n, found[i + 1]!])) };
    }
    return undefined;
  };
}

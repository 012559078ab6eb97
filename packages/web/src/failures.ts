/**
 * Issue 12 "Sending": deliveries that failed or are stuck, for the signed-in owner. Rows of
 * the route table in inbox.ts:
 * - `GET deliveries`: the Not delivered page (pages/failures.ts);
 * - `POST deliveries/retry` and `deliveries/cancel` (`id`, `back`: the page they were on):
 *   CSRF-checked, only a delivery of the signed-in site, then a redirect back (POST, then GET).
 * Beside them what every page shows (`undeliveredFrame`): the navigation's count and the
 * list rows' notes.
 */
import type { PmServer } from "@indiepm/core";
import type { Forms } from "./forms.js";
import type { Frame } from "./pages.js";
import { deliveriesPage, failuresBack, problemsBy } from "./pages/failures.js";
import { withPeople } from "./people.js";
import { page, redirect } from "./responses.js";
import { withNotice } from "./return-to.js";
import type { Session } from "./sign-in.js";

type OwnerRequest = { session: Session; query: URLSearchParams };
type Handler = (request: Request, params: Record<string, string>, owner: OwnerRequest) => Promise<Response>;

/** How many problems the list's row notes look at (the latest changes first). */
const ROW_NOTES_LIMIT = 200;

/**
 * What every signed-in page shows of the site's failed and stuck deliveries: their count
 * (the navigation), and when there are any, those of each conversation and of each chat
 * (the list rows' notes). Two indexed reads, and one more listing them when there are some.
 */
export async function undeliveredFrame(pm: PmServer, site: string): Promise<Pick<Frame, "undelivered" | "undeliveredBy" | "undeliveredByChat">> {
  const { failed, stuck } = await pm.deliveryProblemCounts({ site });
  const undelivered = failed + stuck;
  if (undelivered === 0) return { undelivered };
  const problems = await pm.deliveryProblems({ site, limit: ROW_NOTES_LIMIT });
  return { undelivered, undeliveredBy: problemsBy(problems, "conversation"), undeliveredByChat: problemsBy(problems, "chat") };
}

export function createFailurePages(pm: PmServer, base: string, forms: Forms, frameFor: (session: Session, notice?: string | null) => Promise<Frame>) {
  /** Retry or cancel: the delivery must be the signed-in site's (core checks `site`). */
  function action(run: (id: string, site: string) => Promise<unknown>, done: string): Handler {
    return async (request, _params, { session }) => {
      const form = await forms.readChecked(request, session.csrf);
      const back = failuresBack(form.get("back"));
      const id = form.get("id") ?? "";
      const changed = id ? await run(id, session.site) : null;
      return redirect(`${base}${withNotice(back, changed ? done : "delivery-gone")}`);
    };
  }

  return {
    list: (async (_request, _params, { session, query }) => {
      const [frame, problems] = await Promise.all([frameFor(session, query.get("notice")), pm.deliveryProblems({ site: session.site, limit: 500 })]);
      const named = await withPeople(
        pm,
        frame,
        problems.map((p) => p.recipient),
      );
      return page(deliveriesPage(named, problems));
    }) satisfies Handler,
    retry: action((id, site) => pm.retryDelivery(id, { site }), "retrying"),
    cancel: action((id, site) => pm.cancelDelivery(id, { site }), "delivery-cancelled"),
  };
}

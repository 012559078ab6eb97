/** The public surface is deliberate (STYLE.md practice 10): a new export shows up here. */
import { expect, it } from "vitest";
import * as api from "../src/index.js";

it("exports exactly these names", () => {
  expect(Object.keys(api).sort()).toEqual(["EXPRESS_ERROR_CODES", "IndiePmExpressError", "indiepm", "indiepmInbox", "linkNamesPm", "pmLink"]);
});

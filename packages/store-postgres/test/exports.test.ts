/** The public surface is deliberate (STYLE.md practice 10): adding or removing an export changes this snapshot. */
import { expect, it } from "vitest";
import * as storePostgres from "../src/index.js";

it("@indiepm/store-postgres exports exactly these names", () => {
  expect(Object.keys(storePostgres).sort()).toMatchInlineSnapshot(`
    [
      "POSTGRES_STORE_DEFAULTS",
      "QUERY_SHAPES",
      "importDocuments",
      "isListedShape",
      "openPostgresStore",
    ]
  `);
});
